//! Reports (統計表) print every row, in order, under a header repeated on each sheet, and a
//! character the font cannot print is refused, naming where it is.

use crate::common;
use crate::pdf_tools;

use murakumo_documents::{DocumentError, Report, ReportTable};

fn report(rows: usize, town: &str) -> Report {
    Report {
        title: "人口・世帯数".into(),
        subtitle: "令和8年11月30日現在　北海道深川市".into(),
        tables: vec![ReportTable {
            caption: "町字別".into(),
            columns: ["町字", "世帯数", "男", "女", "計"]
                .map(String::from)
                .to_vec(),
            rows: (1..=rows)
                .map(|i| {
                    vec![
                        format!("{town}{i}丁目"),
                        (i * 10).to_string(),
                        (i * 11).to_string(),
                        (i * 12).to_string(),
                        (i * 23).to_string(),
                    ]
                })
                .collect(),
        }],
        created: common::date(2026, 12, 5),
    }
}

#[test]
fn a_report_prints_every_row_under_its_header_on_each_sheet() {
    let pdf = common::renderer()
        .report(&report(60, "納内町"))
        .expect("rendered");
    assert_eq!(pdf_tools::page_count(&pdf), 2);
    let text = pdf_tools::pdftotext(&pdf);
    assert!(text.contains("人口・世帯数"), "{text}");
    assert!(text.contains("令和8年11月30日現在"), "{text}");
    let compact: String = text.split_whitespace().collect();
    assert!(compact.contains("1/2") && compact.contains("2/2"), "{text}");
    // The header once per sheet; every row once, in order.
    assert_eq!(
        text.matches("世帯数").count(),
        1 + 2,
        "title + a header per sheet"
    );
    let mut at = 0;
    for i in 1..=60 {
        let label = format!("納内町{i}丁目");
        let found = text[at..]
            .find(&label)
            .unwrap_or_else(|| panic!("{label} after offset {at}"));
        at += found + label.len();
        assert!(text.contains(&(i * 23).to_string()), "{i}");
    }
    if std::env::var_os("MURAKUMO_WRITE_SAMPLES").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        std::fs::write(dir.join("statistics-report.pdf"), &pdf).expect("write sample");
    }
    // The same report gives the same bytes.
    let again = common::renderer()
        .report(&report(60, "納内町"))
        .expect("rendered");
    assert_eq!(pdf, again);
}

#[test]
fn a_character_the_font_lacks_is_refused_with_where_it_is() {
    let e = common::renderer()
        .report(&report(2, "\u{E000}町"))
        .expect_err("a private-use character");
    assert!(
        matches!(
            e,
            DocumentError::MissingGlyph {
                field: "cell",
                codepoint: 0xE000
            }
        ),
        "{e:?}"
    );
}

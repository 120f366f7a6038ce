//! Tabular reports staff print (統計表 and the like): A4 portrait, a title and a subtitle, then
//! tables whose rows continue on further sheets under their repeated header, and "n / m" at
//! the foot of each sheet. Numbers are right-aligned. A report certifies nothing: it is not
//! signed and carries no QR code. As with certificates, a character the font cannot print is
//! an error, never a blank box.

use chrono::NaiveDate;
use krilla::Document;
use krilla::geom::Size;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use skrifa::FontRef;

use crate::error::DocumentError;
use crate::render::{
    Align, LINE, PAGE_H, PAGE_W, Painter, Renderer, TextKit, check_glyphs, pdf_datetime, pdf_error,
};

/// A report: what [`Renderer::report`] prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// e.g. 「人口・世帯数」.
    pub title: String,
    /// e.g. 「令和8年11月30日現在　北海道深川市」.
    pub subtitle: String,
    pub tables: Vec<ReportTable>,
    /// The day it was made (the PDF's creation date).
    pub created: NaiveDate,
}

/// One table: a caption, the column headings and the rows. The first column is the rows'
/// label (left-aligned); the others are numbers (right-aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTable {
    pub caption: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const MARGIN: f32 = 50.0;
const ROW_H: f32 = 16.0;
const TEXT_SIZE: f32 = 9.5;
/// Where the first sheet's tables start (under the title and subtitle).
const FIRST_TOP: f32 = 110.0;
/// Where a following sheet's rows start.
const NEXT_TOP: f32 = MARGIN;
const BOTTOM: f32 = PAGE_H - MARGIN;

/// What a sheet shows.
enum Item<'r> {
    Caption(&'r str),
    Header(&'r [String]),
    Row(&'r [String]),
}

/// The items of each sheet with the y of each: a table's caption and header start together
/// with its first row, and a table continued on a new sheet repeats its header.
fn paginate(report: &Report) -> Vec<Vec<(f32, Item<'_>)>> {
    let mut sheets: Vec<Vec<(f32, Item<'_>)>> = vec![Vec::new()];
    let mut y = FIRST_TOP;
    for table in &report.tables {
        if y + 3.0 * ROW_H + 6.0 > BOTTOM {
            sheets.push(Vec::new());
            y = NEXT_TOP;
        }
        let mut sheet = sheets.pop().unwrap_or_default();
        sheet.push((y, Item::Caption(&table.caption)));
        y += ROW_H + 6.0;
        sheet.push((y, Item::Header(&table.columns)));
        y += ROW_H;
        for row in &table.rows {
            if y + ROW_H > BOTTOM {
                sheets.push(std::mem::take(&mut sheet));
                y = NEXT_TOP;
                sheet.push((y, Item::Header(&table.columns)));
                y += ROW_H;
            }
            sheet.push((y, Item::Row(row)));
            y += ROW_H;
        }
        sheets.push(sheet);
        // A blank line between tables.
        y += ROW_H;
    }
    sheets
}

/// The x and width of each column: the label column takes what the numbers leave.
fn columns(count: usize) -> Vec<(f32, f32)> {
    let width = PAGE_W - 2.0 * MARGIN;
    let number_w = 70.0_f32.min(width / count.max(1) as f32);
    let label_w = width - number_w * count.saturating_sub(1) as f32;
    (0..count)
        .map(|i| {
            if i == 0 {
                (MARGIN, label_w)
            } else {
                (MARGIN + label_w + number_w * (i - 1) as f32, number_w)
            }
        })
        .collect()
}

impl Painter<'_, '_, '_> {
    fn report_row(&mut self, cells: &[String], y: f32, heading: bool) {
        let cols = columns(cells.len());
        for (i, (cell, (x, w))) in cells.iter().zip(cols).enumerate() {
            self.stroke_rect(x, y, w, ROW_H, LINE);
            let align = match (heading, i) {
                (true, _) => Align::Center,
                (false, 0) => Align::Left,
                (false, _) => Align::Right,
            };
            self.fitted(cell, (x + 3.0, y, w - 6.0, ROW_H), TEXT_SIZE, align);
        }
    }
}

impl Renderer {
    /// Renders `report` as a PDF. The output is a pure function of the input.
    pub fn report(&self, report: &Report) -> Result<Vec<u8>, DocumentError> {
        let f = FontRef::new(self.font_data()).map_err(|e| DocumentError::BadFont {
            reason: e.to_string(),
        })?;
        let charmap = skrifa::MetadataProvider::charmap(&f);
        check_glyphs(&charmap, "title", &report.title)?;
        check_glyphs(&charmap, "subtitle", &report.subtitle)?;
        for t in &report.tables {
            check_glyphs(&charmap, "caption", &t.caption)?;
            for text in t.columns.iter().chain(t.rows.iter().flatten()) {
                check_glyphs(&charmap, "cell", text)?;
            }
        }
        let text = TextKit::new(self.font_data(), self.font())?;
        let sheets = paginate(report);
        let mut doc = Document::new();
        let size = Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| pdf_error("page size"))?;
        for (index, items) in sheets.iter().enumerate() {
            let mut page = doc.start_page_with(PageSettings::new(size));
            let mut surface = page.surface();
            let mut p = Painter::measuring(&text);
            p.s = Some(&mut surface);
            if index == 0 {
                let w = text.width(&report.title, 16.0);
                p.text_at(&report.title, (PAGE_W - w) / 2.0, 62.0, 16.0);
                let w = text.width(&report.subtitle, 10.0);
                p.text_at(&report.subtitle, (PAGE_W - w) / 2.0, 84.0, 10.0);
            }
            for (y, item) in items {
                match item {
                    Item::Caption(caption) => p.text_at(caption, MARGIN, y + ROW_H - 4.0, 11.0),
                    Item::Header(cells) => p.report_row(cells, *y, true),
                    Item::Row(cells) => p.report_row(cells, *y, false),
                }
            }
            if sheets.len() > 1 {
                let label = format!("{} / {}", index + 1, sheets.len());
                let w = text.width(&label, 9.0);
                p.text_at(&label, (PAGE_W - w) / 2.0, PAGE_H - 20.0, 9.0);
            }
            surface.finish();
            page.finish();
        }
        doc.set_metadata(
            Metadata::new()
                .title(report.title.clone())
                .creator("Murakumo".to_owned())
                .producer("Murakumo".to_owned())
                .language("ja".to_owned())
                .creation_date(pdf_datetime(report.created, None)),
        );
        doc.finish().map_err(|e| pdf_error(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize) -> ReportTable {
        ReportTable {
            caption: "町字別".into(),
            columns: vec!["町字".into(), "男".into(), "女".into()],
            rows: (0..rows)
                .map(|i| vec![format!("{i}条"), "1".into(), "2".into()])
                .collect(),
        }
    }

    #[test]
    fn a_long_table_continues_on_the_next_sheet_under_its_header() {
        let report = Report {
            title: "人口".into(),
            subtitle: String::new(),
            tables: vec![table(100), table(3)],
            created: NaiveDate::from_ymd_opt(2026, 12, 5).expect("date"),
        };
        let sheets = paginate(&report);
        assert!(sheets.len() >= 3, "{} sheets", sheets.len());
        let rows: Vec<&str> = sheets
            .iter()
            .flatten()
            .filter_map(|(_, i)| match i {
                Item::Row(r) => Some(r[0].as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(rows.len(), 103, "every row printed once");
        assert_eq!(&rows[..2], ["0条", "1条"]);
        for sheet in &sheets[1..] {
            assert!(
                matches!(sheet.first(), Some((_, Item::Header(_) | Item::Caption(_)))),
                "a continued sheet starts with the header"
            );
        }
        for sheet in &sheets {
            let mut last = 0.0;
            for (y, _) in sheet {
                assert!(*y > last && y + ROW_H <= BOTTOM, "y {y} after {last}");
                last = *y;
            }
        }
    }

    #[test]
    fn the_label_column_takes_what_the_numbers_leave() {
        let cols = columns(6);
        assert_eq!(cols[0].0, MARGIN);
        let end = cols[5].0 + cols[5].1;
        assert!((end - (PAGE_W - MARGIN)).abs() < 0.01, "{end}");
        assert!(cols[0].1 > cols[1].1);
    }
}

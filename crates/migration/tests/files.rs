//! Writing and reading whole data sets through real files.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_migration::synth::{self, Options};
use murakumo_migration::{
    Encoding, Form, Inputs, ReadError, ReadOptions, WriteOptions, read, write_dir,
};

fn tokushima() -> TenantCode {
    TenantCode::parse("362018").expect("code")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")
}

fn generated(population: usize) -> synth::Generated {
    synth::generate(&Options {
        municipality: tokushima(),
        population,
        seed: 11,
        as_of: NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"),
        history_days: 365,
    })
}

fn read_dir(dir: &Path) -> Result<murakumo_migration::Dataset, ReadError> {
    let inputs = Inputs::find(&[dir.to_path_buf()])?;
    read(
        &inputs,
        &ReadOptions {
            municipality: tokushima(),
            encoding: None,
            today: today(),
        },
        &mut |_| {},
    )
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_form_and_encoding_round_trips_byte_for_byte() {
    let g = generated(2_000);
    for (encoding, form) in [
        (Encoding::Cp932, Form::Fixed),
        (Encoding::Utf8, Form::Fixed),
        (Encoding::Cp932, Form::Csv),
        (Encoding::Utf8, Form::Csv),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let opts = WriteOptions { encoding, form };
        write_dir(&a, &tokushima(), &g.gaiji, &g.events, opts).expect("write");
        let ds = read_dir(&a).unwrap_or_else(|e| match e {
            ReadError::Rejected(r) => {
                panic!("{:?}: {:#?}", opts, &r.problems[..r.problems.len().min(5)])
            }
            e => panic!("{e}"),
        });
        assert_eq!(ds.events, g.events, "{opts:?}");
        assert_eq!(ds.gaiji, g.gaiji);
        write_dir(&b, &tokushima(), &ds.gaiji, &ds.events, opts).expect("write again");
        assert_eq!(files(&a), files(&b), "{opts:?}");
        if encoding == Encoding::Cp932 {
            // 外字 went out through the table (F040–) and as MJ escapes.
            let hist = std::fs::read(a.join(format!("01-02_idorireki.{}", form.extension())))
                .expect("read");
            assert!(
                hist.windows(2)
                    .any(|w| w[0] == 0xF0 && (0x40..=0x47).contains(&w[1]))
            );
            assert!(hist.windows(10).any(|w| w == b"&MJ026200;"));
        }
    }
}

/// Replaces `n` bytes at `at` of `line` (1-based) in a fixed-length file.
fn patch(path: &PathBuf, line: usize, at: usize, bytes: &[u8]) {
    let data = std::fs::read(path).expect("read");
    let mut lines: Vec<Vec<u8>> = data
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    lines[line - 1][at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, lines.concat()).expect("write");
}

#[test]
fn bad_records_are_reported_with_file_line_field_value_and_reason() {
    let g = generated(300);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    let opts = WriteOptions {
        encoding: Encoding::Cp932,
        form: Form::Fixed,
    };
    write_dir(&dir, &tokushima(), &g.gaiji, &g.events, opts).expect("write");
    std::fs::remove_file(dir.join("manifest.json")).expect("rm");
    let hist = dir.join("01-02_idorireki.dat");
    let base = dir.join("01-01_juminkihon.dat");
    // Line 3: 性別 "7"; line 5: an unmapped 外字 F0 50 at the start of 氏.
    let layout = &murakumo_migration::layout::history::LAYOUT;
    let off = |key: &str| {
        let i = layout
            .fields
            .iter()
            .position(|f| f.key == key)
            .expect("field");
        layout.offsets()[i]
    };
    patch(&hist, 3, off("Sex"), b"7");
    patch(&hist, 5, off("FamilyName"), &[0xF0, 0x50]);
    // 01-01 line 2: 住所 differs from what 01-02 replays to.
    let b = &murakumo_migration::layout::base::LAYOUT;
    let i = b
        .fields
        .iter()
        .position(|f| f.key == "Address")
        .expect("field");
    patch(&base, 2, b.offsets()[i], b"X");
    let Err(ReadError::Rejected(r)) = read_dir(&dir) else {
        panic!("bad data accepted");
    };
    let find = |file: &str, line: u64| {
        r.problems
            .iter()
            .find(|p| p.file == file && p.line == line)
            .unwrap_or_else(|| panic!("no problem at {file}:{line} in {:#?}", r.problems))
    };
    let p = find("01-02_idorireki.dat", 3);
    assert_eq!((p.field.as_str(), p.value.as_str()), ("性別", "7"));
    assert!(p.reason.contains("性別"), "{}", p.reason);
    let p = find("01-02_idorireki.dat", 5);
    assert_eq!(p.field, "氏");
    assert!(p.reason.contains("F050"), "{}", p.reason);
    assert_eq!(r.unmapped.get("F050 (U+E010)"), Some(&1));
    let p = find("01-01_juminkihon.dat", 2);
    assert_eq!(p.field, "住所");
    assert!(p.reason.contains("replayed"), "{}", p.reason);
}

#[test]
fn a_changed_file_is_caught_by_the_manifest_and_a_wrong_municipality_refused() {
    let g = generated(100);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    let opts = WriteOptions {
        encoding: Encoding::Utf8,
        form: Form::Csv,
    };
    write_dir(&dir, &tokushima(), &g.gaiji, &g.events, opts).expect("write");
    // Drop the last 01-02 record: still valid data, but not what was exported.
    let hist = dir.join("01-02_idorireki.csv");
    let text = std::fs::read_to_string(&hist).expect("read");
    let cut: Vec<&str> = text.split_inclusive("\r\n").collect();
    let last = cut.last().expect("line");
    assert!(last.contains("10"), "{last}");
    std::fs::write(&hist, cut[..cut.len() - 1].concat()).expect("write");
    let Err(ReadError::Rejected(r)) = read_dir(&dir) else {
        panic!("a cut file was accepted");
    };
    assert!(
        r.problems.iter().any(|p| p.reason.contains("manifest")),
        "{:#?}",
        r.problems
    );
    let inputs = Inputs::find(std::slice::from_ref(&dir)).expect("inputs");
    let other = read(
        &inputs,
        &ReadOptions {
            municipality: TenantCode::parse("012289").expect("code"),
            encoding: None,
            today: today(),
        },
        &mut |_| {},
    );
    assert!(matches!(other, Err(ReadError::Inputs(m)) if m.contains("362018")));
}

#[test]
fn csv_quotes_commas_and_quotes_and_checks_the_header() {
    let mut g = generated(50);
    let mut changed = 0;
    for d in &mut g.events {
        if let murakumo_resident::ResidentEvent::Entered { katagaki, .. } = &mut d.event {
            *katagaki = "コーポ\"A,B\" 1号室".into();
            changed += 1;
        }
    }
    assert!(changed > 0);
    for encoding in [Encoding::Cp932, Encoding::Utf8] {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("d");
        let opts = WriteOptions {
            encoding,
            form: Form::Csv,
        };
        write_dir(&dir, &tokushima(), &g.gaiji, &g.events, opts).expect("write");
        let ds = read_dir(&dir).expect("reads");
        assert_eq!(ds.events, g.events);
        // A header that does not name the items is refused.
        std::fs::remove_file(dir.join("manifest.json")).expect("rm");
        let path = dir.join("01-01_juminkihon.csv");
        let bytes = std::fs::read(&path).expect("read");
        let mut broken = b"a,b\r\n".to_vec();
        broken.extend_from_slice(&bytes[bytes.iter().position(|b| *b == b'\n').expect("nl") + 1..]);
        std::fs::write(&path, broken).expect("write");
        let Err(ReadError::Rejected(r)) = read_dir(&dir) else {
            panic!("a wrong header was accepted");
        };
        assert!(
            r.problems
                .iter()
                .any(|p| p.line == 1 && p.reason.contains("header row")),
            "{:#?}",
            r.problems
        );
    }
}

//! Writing and reading whole data sets through real files.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_migration::layout::{self, Layout};
use murakumo_migration::read::{Problem, Rejected};
use murakumo_migration::synth::{self, Options};
use murakumo_migration::{
    Encoding, Form, Inputs, ReadError, ReadOptions, WriteOptions, read, write_dir,
};
use murakumo_testkit::fixtures::{files, patch};

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

/// `g` written as one data set in `d/` of a new temporary directory
/// (returned too, for what else the test puts there).
fn written(g: &synth::Generated, encoding: Encoding, form: Form) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    write_dir(
        &dir,
        &tokushima(),
        g.contents(),
        WriteOptions { encoding, form },
    )
    .expect("write");
    (tmp, dir)
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

/// The report on the data set in `dir`, which must be rejected; `what`
/// says what is wrong with it.
fn rejected(dir: &Path, what: &str) -> Rejected {
    match read_dir(dir) {
        Err(ReadError::Rejected(r)) => r,
        Err(e) => panic!("{what} was not rejected but refused: {e}"),
        Ok(_) => panic!("{what} was accepted"),
    }
}

/// The problem `r` reports at `file`:`line`.
fn problem_at<'a>(r: &'a Rejected, file: &str, line: u64) -> &'a Problem {
    r.problems
        .iter()
        .find(|p| p.file == file && p.line == line)
        .unwrap_or_else(|| panic!("no problem at {file}:{line} in {:#?}", r.problems))
}

/// Asserts that `r` reports a problem that `is_it` picks out.
fn assert_reported(r: &Rejected, is_it: impl Fn(&Problem) -> bool) {
    assert!(r.problems.iter().any(is_it), "{:#?}", r.problems);
}

/// The bytes of item `key` in a fixed-length record of `layout`.
fn span(layout: &Layout, key: &str) -> Range<usize> {
    let i = layout
        .fields
        .iter()
        .position(|f| f.key == key)
        .expect("field");
    let at = layout.offsets()[i];
    at..at + layout.fields[i].bytes
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
        let (tmp, a) = written(&g, encoding, form);
        let b = tmp.path().join("b");
        let opts = WriteOptions { encoding, form };
        let ds = read_dir(&a).unwrap_or_else(|e| match e {
            ReadError::Rejected(r) => {
                panic!("{:?}: {:#?}", opts, &r.problems[..r.problems.len().min(5)])
            }
            e => panic!("{e}"),
        });
        assert_eq!(ds.events, g.events, "{opts:?}");
        assert_eq!(ds.seals, g.seals, "{opts:?}");
        assert_eq!(ds.official_seal, g.official_seal);
        assert_eq!(ds.gaiji, g.gaiji);
        write_dir(&b, &tokushima(), ds.contents(), opts).expect("write again");
        assert_eq!(files(&a), files(&b), "{opts:?}");
        // Each 印影 is a file named in 02-01 and listed in the manifest.
        let written = files(&a);
        let manifest = std::fs::read_to_string(a.join("manifest.json")).expect("manifest");
        let images: Vec<&(String, Vec<u8>)> = written
            .iter()
            .filter(|(n, _)| n.starts_with("02-01_inkan/"))
            .collect();
        assert!(images.len() > 100, "{} images", images.len());
        for (name, bytes) in images.iter().take(20) {
            assert!(
                manifest.contains(&format!("\"name\": \"{name}\"")),
                "{name}"
            );
            assert!(manifest.contains(blake3::hash(bytes).to_hex().as_str()));
        }
        assert!(written.iter().any(|(n, _)| n == "koin.png"));
        assert!(manifest.contains("\"version\": \"1.3\""));
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

#[test]
fn bad_records_are_reported_with_file_line_field_value_and_reason() {
    let (_tmp, dir) = written(&generated(300), Encoding::Cp932, Form::Fixed);
    std::fs::remove_file(dir.join("manifest.json")).expect("rm");
    let hist = dir.join("01-02_idorireki.dat");
    let base = dir.join("01-01_juminkihon.dat");
    // Line 3: 性別 "7"; line 5: an unmapped 外字 F0 50 at the start of 氏.
    let history = &layout::history::LAYOUT;
    patch(&hist, 3, span(history, "Sex").start, b"7");
    patch(&hist, 5, span(history, "FamilyName").start, &[0xF0, 0x50]);
    // 01-01 line 1 (the first resident, whose 01-02 rows — its entry and its 宛名番号 — come
    // before the bad line 3): 住所 differs from what 01-02 replays to.
    patch(&base, 1, span(&layout::base::LAYOUT, "Address").start, b"X");
    let r = rejected(&dir, "bad data");
    let p = problem_at(&r, "01-02_idorireki.dat", 3);
    assert_eq!((p.field.as_str(), p.value.as_str()), ("性別", "7"));
    assert!(p.reason.contains("性別"), "{}", p.reason);
    let p = problem_at(&r, "01-02_idorireki.dat", 5);
    assert_eq!(p.field, "氏");
    assert!(p.reason.contains("F050"), "{}", p.reason);
    assert_eq!(r.unmapped.get("F050 (U+E010)"), Some(&1));
    let p = problem_at(&r, "01-01_juminkihon.dat", 1);
    assert_eq!(p.field, "住所");
    assert!(p.reason.contains("replayed"), "{}", p.reason);
    // Items are decoded on another thread than the records are checked on;
    // the report is still in file order.
    for w in r.problems.windows(2) {
        if w[0].file == w[1].file {
            assert!(w[0].line <= w[1].line, "out of order: {w:#?}");
        }
    }
}

#[test]
fn a_changed_file_is_caught_by_the_manifest_and_a_wrong_municipality_refused() {
    let (_tmp, dir) = written(&generated(100), Encoding::Utf8, Form::Csv);
    // Drop the last 01-02 record: still valid data, but not what was exported.
    let hist = dir.join("01-02_idorireki.csv");
    let text = std::fs::read_to_string(&hist).expect("read");
    let cut: Vec<&str> = text.split_inclusive("\r\n").collect();
    let last = cut.last().expect("line");
    assert!(last.contains("10"), "{last}");
    std::fs::write(&hist, cut[..cut.len() - 1].concat()).expect("write");
    let r = rejected(&dir, "a cut file");
    assert_reported(&r, |p| p.reason.contains("manifest"));
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
        let (_tmp, dir) = written(&g, encoding, Form::Csv);
        let ds = read_dir(&dir).expect("reads");
        assert_eq!(ds.events, g.events);
        // A header that does not name the items is refused.
        std::fs::remove_file(dir.join("manifest.json")).expect("rm");
        let path = dir.join("01-01_juminkihon.csv");
        let bytes = std::fs::read(&path).expect("read");
        let mut broken = b"a,b\r\n".to_vec();
        broken.extend_from_slice(&bytes[bytes.iter().position(|b| *b == b'\n').expect("nl") + 1..]);
        std::fs::write(&path, broken).expect("write");
        let r = rejected(&dir, "a wrong header");
        assert_reported(&r, |p| p.line == 1 && p.reason.contains("header row"));
    }
}

/// The bytes of item `key` in a fixed-length 02-01 record.
fn seal_span(key: &str) -> Range<usize> {
    span(&layout::seal::LAYOUT, key)
}

/// The items of a fixed-length 02-01 line (CP932 or UTF-8: all X and 9
/// items are ASCII), by key.
fn seal_item<'a>(line: &'a [u8], key: &str) -> &'a str {
    std::str::from_utf8(&line[seal_span(key)])
        .unwrap_or("")
        .trim_end()
}

#[test]
fn bad_seal_records_and_images_are_reported_with_file_line_field_and_reason() {
    let g = generated(1_500);
    let (_tmp, dir) = written(&g, Encoding::Cp932, Form::Fixed);
    // Valid as written.
    let ds = read_dir(&dir).expect("valid");
    assert_eq!(ds.seals, g.seals);
    std::fs::remove_file(dir.join("manifest.json")).expect("rm");
    let path = dir.join("02-01_inkan.dat");
    let data = std::fs::read(&path).expect("read");
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // The last registration that is never cancelled, and a 職権抹消.
    let (reg_line, reg) = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| seal_item(l, "Event") == "01")
        .rfind(|(_, l)| {
            let n = seal_item(l, "Number");
            !lines
                .iter()
                .any(|o| seal_item(o, "Number") == n && seal_item(o, "Event") != "01")
        })
        .expect("a registration in force");
    let number = seal_item(reg, "Number").to_string();
    let (ex_line, _) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| seal_item(l, "Event") == "13")
        .expect("a 職権抹消");
    // An extra registration (a copy of that one under a new number) of
    // someone not in the register.
    let unknown = murakumo_core::ResidentCode::from_ten_digits("1999999999")
        .expect("code")
        .as_str()
        .to_string();
    let mut extra = reg.to_vec();
    let serial = format!("{:010}", lines.len() + 1);
    extra[seal_span("Serial")].copy_from_slice(serial.as_bytes());
    extra[seal_span("ResidentCode")].copy_from_slice(unknown.as_bytes());
    let new_number = format!("{:<20}", "Z-1");
    extra[seal_span("Number")].copy_from_slice(new_number.as_bytes());
    let image = format!("{:<40}", "02-01_inkan/Z-1.png");
    extra[seal_span("Image")].copy_from_slice(image.as_bytes());
    let mut patched: Vec<u8> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let mut l = l.to_vec();
        if i == ex_line {
            // 処理区分 13 → 11: 職権抹消事由 is then an item 11 does not use.
            l[seal_span("Event")].copy_from_slice(b"11");
        }
        patched.extend_from_slice(&l);
        patched.push(b'\n');
    }
    patched.extend_from_slice(&extra);
    patched.push(b'\n');
    std::fs::write(&path, patched).expect("write");
    std::fs::copy(
        dir.join(format!("02-01_inkan/{number}.png")),
        dir.join("02-01_inkan/Z-1.png"),
    )
    .expect("copy");
    // The registration in force: its 印影 was changed after the export.
    std::fs::write(
        dir.join(format!("02-01_inkan/{number}.png")),
        murakumo_seal::sample_impression(999_999),
    )
    .expect("write");
    // A file no record names.
    std::fs::write(dir.join("02-01_inkan/S-9999999.png"), b"x").expect("write");

    let r = rejected(&dir, "bad seals");
    let p = problem_at(&r, "02-01_inkan.dat", ex_line as u64 + 1);
    assert_eq!(p.field, "職権抹消事由");
    assert!(
        p.reason.contains("must be blank for 処理区分 11"),
        "{}",
        p.reason
    );
    let p = problem_at(&r, "02-01_inkan.dat", reg_line as u64 + 1);
    assert_eq!(p.field, "印影BLAKE3");
    assert!(
        p.reason.contains(&format!("02-01_inkan/{number}.png")),
        "{}",
        p.reason
    );
    let p = problem_at(&r, "02-01_inkan.dat", lines.len() as u64 + 1);
    assert_eq!(
        (p.field.as_str(), p.value.as_str()),
        ("住民票コード", unknown.as_str())
    );
    assert!(p.reason.contains("住民記録にありません"), "{}", p.reason);
    let p = problem_at(&r, "02-01_inkan/S-9999999.png", 0);
    assert!(p.reason.contains("no 02-01"), "{}", p.reason);
    assert_eq!(r.total, 4, "{:#?}", r.problems);
}

#[test]
fn a_format_1_0_data_set_has_no_seals_and_a_1_1_one_must_be_whole() {
    let g = generated(200);
    let (tmp, dir) = written(&g, Encoding::Utf8, Form::Fixed);
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("read"))
            .expect("json");

    // 1.1 without its 02-01 file: incomplete, refused.
    std::fs::rename(dir.join("02-01_inkan.dat"), tmp.path().join("seals.dat")).expect("mv");
    let r = rejected(&dir, "a data set without its 02-01 file");
    assert_reported(&r, |p| {
        p.file == "02-01_inkan.dat" && p.reason.contains("incomplete")
    });
    // … and its images are not silently left behind.
    assert_reported(&r, |p| {
        p.file == "02-01_inkan/" && p.reason.contains("no 02-01")
    });

    // The same data set as 1.0 wrote it: no 02-01, no images, no 公印.
    std::fs::remove_dir_all(dir.join("02-01_inkan")).expect("rm");
    std::fs::remove_file(dir.join("koin.png")).expect("rm");
    let mut old = manifest.clone();
    old["version"] = "1.0".into();
    if let Some(files) = old["files"].as_array_mut() {
        files.retain(|f| {
            let name = f["name"].as_str().unwrap_or("");
            !name.starts_with("02-01") && name != "koin.png"
        });
    }
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&old).expect("json"),
    )
    .expect("write");
    let ds = read_dir(&dir).expect("a 1.0 data set reads");
    assert_eq!(ds.version, "1.0");
    assert!(ds.seals.is_empty());
    assert_eq!(ds.official_seal, None);
    assert_eq!(ds.events, g.events);
    assert_eq!(
        ds.digest,
        murakumo_migration::read::content_digest(&g.gaiji, &g.events, &[], None)
    );

    // A 02-01 file beside a 1.0 manifest is refused, not ignored.
    std::fs::rename(tmp.path().join("seals.dat"), dir.join("02-01_inkan.dat")).expect("mv");
    let Err(ReadError::Inputs(m)) = read_dir(&dir) else {
        panic!("a 02-01 file in a 1.0 data set was accepted");
    };
    assert!(m.contains("1.0"), "{m}");
}

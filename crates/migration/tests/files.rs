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

/// Every file under `dir` (the 印影 in `02-01_inkan/` too), by relative path.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let name = p.strip_prefix(root).expect("under root");
                out.push((name.display().to_string(), std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
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
        write_dir(&a, &tokushima(), g.contents(), opts).expect("write");
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
        assert!(manifest.contains("\"version\": \"1.1\""));
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
    write_dir(&dir, &tokushima(), g.contents(), opts).expect("write");
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
    let g = generated(100);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    let opts = WriteOptions {
        encoding: Encoding::Utf8,
        form: Form::Csv,
    };
    write_dir(&dir, &tokushima(), g.contents(), opts).expect("write");
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
        write_dir(&dir, &tokushima(), g.contents(), opts).expect("write");
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

/// The items of a fixed-length 02-01 line (CP932 or UTF-8: all X and 9
/// items are ASCII), by key.
fn seal_item<'a>(line: &'a [u8], key: &str) -> &'a str {
    let layout = &murakumo_migration::layout::seal::LAYOUT;
    let i = layout
        .fields
        .iter()
        .position(|f| f.key == key)
        .expect("field");
    let at = layout.offsets()[i];
    std::str::from_utf8(&line[at..at + layout.fields[i].bytes])
        .unwrap_or("")
        .trim_end()
}

fn seal_offset(key: &str) -> usize {
    let layout = &murakumo_migration::layout::seal::LAYOUT;
    let i = layout
        .fields
        .iter()
        .position(|f| f.key == key)
        .expect("field");
    layout.offsets()[i]
}

#[test]
fn bad_seal_records_and_images_are_reported_with_file_line_field_and_reason() {
    let g = generated(1_500);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    let opts = WriteOptions {
        encoding: Encoding::Cp932,
        form: Form::Fixed,
    };
    write_dir(&dir, &tokushima(), g.contents(), opts).expect("write");
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
    extra[seal_offset("Serial")..seal_offset("Serial") + 10].copy_from_slice(serial.as_bytes());
    extra[seal_offset("ResidentCode")..seal_offset("ResidentCode") + 11]
        .copy_from_slice(unknown.as_bytes());
    let new_number = format!("{:<20}", "Z-1");
    extra[seal_offset("Number")..seal_offset("Number") + 20].copy_from_slice(new_number.as_bytes());
    let image = format!("{:<40}", "02-01_inkan/Z-1.png");
    extra[seal_offset("Image")..seal_offset("Image") + 40].copy_from_slice(image.as_bytes());
    let mut patched: Vec<u8> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let mut l = l.to_vec();
        if i == ex_line {
            // 処理区分 13 → 11: 職権抹消事由 is then an item 11 does not use.
            l[seal_offset("Event")..seal_offset("Event") + 2].copy_from_slice(b"11");
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

    let Err(ReadError::Rejected(r)) = read_dir(&dir) else {
        panic!("bad seals accepted");
    };
    let find = |file: &str, line: u64| {
        r.problems
            .iter()
            .find(|p| p.file == file && p.line == line)
            .unwrap_or_else(|| panic!("no problem at {file}:{line} in {:#?}", r.problems))
    };
    let p = find("02-01_inkan.dat", ex_line as u64 + 1);
    assert_eq!(p.field, "職権抹消事由");
    assert!(
        p.reason.contains("must be blank for 処理区分 11"),
        "{}",
        p.reason
    );
    let p = find("02-01_inkan.dat", reg_line as u64 + 1);
    assert_eq!(p.field, "印影BLAKE3");
    assert!(
        p.reason.contains(&format!("02-01_inkan/{number}.png")),
        "{}",
        p.reason
    );
    let p = find("02-01_inkan.dat", lines.len() as u64 + 1);
    assert_eq!(
        (p.field.as_str(), p.value.as_str()),
        ("住民票コード", unknown.as_str())
    );
    assert!(p.reason.contains("住民記録にありません"), "{}", p.reason);
    let p = find("02-01_inkan/S-9999999.png", 0);
    assert!(p.reason.contains("no 02-01"), "{}", p.reason);
    assert_eq!(r.total, 4, "{:#?}", r.problems);
}

#[test]
fn a_format_1_0_data_set_has_no_seals_and_a_1_1_one_must_be_whole() {
    let g = generated(200);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("d");
    let opts = WriteOptions {
        encoding: Encoding::Utf8,
        form: Form::Fixed,
    };
    write_dir(&dir, &tokushima(), g.contents(), opts).expect("write");
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("read"))
            .expect("json");

    // 1.1 without its 02-01 file: incomplete, refused.
    std::fs::rename(dir.join("02-01_inkan.dat"), tmp.path().join("seals.dat")).expect("mv");
    let Err(ReadError::Rejected(r)) = read_dir(&dir) else {
        panic!("a data set without its 02-01 file was accepted");
    };
    assert!(
        r.problems
            .iter()
            .any(|p| p.file == "02-01_inkan.dat" && p.reason.contains("incomplete")),
        "{:#?}",
        r.problems
    );
    // … and its images are not silently left behind.
    assert!(
        r.problems
            .iter()
            .any(|p| p.file == "02-01_inkan/" && p.reason.contains("no 02-01")),
        "{:#?}",
        r.problems
    );

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

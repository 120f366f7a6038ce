//! A whole data set through `murakumo_migration::read`: the input is split
//! into the 01-02 異動履歴, 01-01 住民基本台帳, gaiji.csv, 02-01 印鑑登録 and
//! one 印影 (`02-01_inkan/S-0000001.png`) files (at `\n@@\n`), written to a
//! temporary directory in the form and encoding the first byte picks, and
//! read.
//!
//! Properties: never panic; every problem names a file; a data set that is
//! accepted is written back (in the same form and encoding) and read again
//! to the same events, seals and 外字 table.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use murakumo_core::TenantCode;
use murakumo_migration::{
    Encoding, Form, Inputs, ReadError, ReadOptions, WriteOptions, read, write_dir,
};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("murakumo-fuzz-migration-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let form = if mode & 1 == 0 { Form::Fixed } else { Form::Csv };
    let encoding = if mode & 2 == 0 { Encoding::Cp932 } else { Encoding::Utf8 };
    let mut parts = rest.to_vec();
    let mut files: Vec<Vec<u8>> = Vec::new();
    while let Some(at) = parts.windows(4).position(|w| w == b"\n@@\n") {
        files.push(parts[..at].to_vec());
        parts.drain(..at + 4);
    }
    files.push(parts);
    files.resize(5, Vec::new());
    let d = dir();
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).expect("dir");
    let ext = form.extension();
    std::fs::write(d.join(format!("01-02_idorireki.{ext}")), &files[0]).expect("write");
    std::fs::write(d.join(format!("01-01_juminkihon.{ext}")), &files[1]).expect("write");
    if !files[2].is_empty() {
        std::fs::write(d.join("gaiji.csv"), &files[2]).expect("write");
    }
    if !files[3].is_empty() {
        std::fs::write(d.join(format!("02-01_inkan.{ext}")), &files[3]).expect("write");
    }
    if !files[4].is_empty() {
        std::fs::create_dir_all(d.join("02-01_inkan")).expect("dir");
        std::fs::write(d.join("02-01_inkan/S-0000001.png"), &files[4]).expect("write");
    }
    let municipality = TenantCode::parse("362018").expect("code");
    let opts = ReadOptions {
        municipality,
        encoding: Some(encoding),
        today: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
    };
    let inputs = Inputs::find(&[d.clone()]).expect("inputs");
    match read(&inputs, &opts, &mut |_| {}) {
        Ok(ds) => {
            let out = d.join("out");
            write_dir(&out, &municipality, ds.contents(), WriteOptions { encoding, form })
                .expect("an accepted data set writes back");
            let again = read(&Inputs::find(&[out]).expect("inputs"), &opts, &mut |_| {})
                .expect("what was written reads back");
            assert_eq!(again.events, ds.events);
            assert_eq!(again.seals, ds.seals);
            assert_eq!(again.gaiji, ds.gaiji);
            assert_eq!(again.digest, ds.digest);
        }
        Err(ReadError::Rejected(r)) => {
            assert!(r.total > 0);
            for p in &r.problems {
                assert!(!p.file.is_empty());
                let _ = p.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

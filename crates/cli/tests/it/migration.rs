//! `murakumo gen`, `import` and `export` through the real binary, on SQLite
//! and PostgreSQL: round trips byte for byte (02-01 印鑑登録, its 印影 and the
//! 公印 included), re-imports, rejected data, unmapped 外字, a format 1.0
//! data set, and kill -9 during an import.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use murakumo_testkit::fixtures::{Murakumo, files, patch};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");
const TOKUSHIMA: &str = "362018";

/// 徳島市, a new municipality with an empty register, on a murakumo instance.
struct Tokushima {
    instance: Murakumo,
}

impl Tokushima {
    fn on(instance: Murakumo) -> Tokushima {
        instance.ok(&["tenant", "create", "--code", TOKUSHIMA, "--name", "徳島市"]);
        Tokushima { instance }
    }

    /// `murakumo import` of the data set in `dir`, which must succeed; its output.
    fn import(&self, dir: &Path) -> String {
        self.instance
            .ok(&["import", "--tenant", TOKUSHIMA, &s(dir)])
    }

    /// `murakumo export` into `out`, with `options` (--encoding, --form).
    fn export(&self, out: &Path, options: &[&str]) {
        let out = s(out);
        let mut args = vec!["export", "--tenant", TOKUSHIMA, "--out", &out];
        args.extend_from_slice(options);
        self.instance.ok(&args);
    }

    fn ledger_entries(&self) -> u64 {
        let out = self
            .instance
            .ok(&["ledger", "verify", "--tenant", TOKUSHIMA]);
        let line = out
            .lines()
            .find(|l| l.contains(" ledger: ok"))
            .unwrap_or_else(|| panic!("no ledger line in {out}"));
        line.split(", ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {line}"))
    }
}

/// A data set `murakumo gen` writes for 徳島市 with `extra` options, in
/// `gen/` of a new temporary directory (returned too, for what else the
/// test writes).
fn generate(population: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("gen");
    let out = s(&dir);
    let mut args = vec![
        "gen",
        "--municipality",
        TOKUSHIMA,
        "--population",
        population,
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    let o = Command::new(BIN).args(&args).output().expect("gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (tmp, dir)
}

/// Imports `dir` into 徳島市 on a new SQLite instance, with --dry-run and
/// then for real: both are refused, naming each of `expected` and saying
/// that nothing was imported, and nothing is recorded.
fn assert_import_refused(dir: &Path, expected: &[&str]) {
    let i = Tokushima::on(Murakumo::sqlite(BIN));
    let before = i.ledger_entries();
    for dry in [true, false] {
        let mut args = vec!["import", "--tenant", TOKUSHIMA];
        if dry {
            args.push("--dry-run");
        }
        let d = s(dir);
        args.push(&d);
        let out = i.instance.run(&args);
        assert!(!out.status.success(), "bad data accepted (dry run: {dry})");
        let err = String::from_utf8_lossy(&out.stderr);
        for e in expected {
            assert!(err.contains(e), "{e:?} not in {err}");
        }
        assert!(err.contains("nothing was imported"), "{err}");
    }
    assert_eq!(i.ledger_entries(), before, "nothing recorded");
}

/// Records of the fixed-length or CSV 02-01 file in `dir` (CSV: without
/// the header row).
fn seal_records(dir: &Path) -> usize {
    let (path, header) = if dir.join("02-01_inkan.dat").exists() {
        (dir.join("02-01_inkan.dat"), 0)
    } else {
        (dir.join("02-01_inkan.csv"), 1)
    };
    let data = std::fs::read(path).expect("02-01");
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - header
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn round_trip(a: Murakumo, b: Murakumo, encoding: &str, form: &str) {
    let (tmp, generated) = generate("1500", &["--encoding", encoding, "--form", form]);
    let (first, second) = (tmp.path().join("ex1"), tmp.path().join("ex2"));
    // The generated 外字 are in the files: through the table or as escapes.
    let all: Vec<u8> = files(&generated).into_iter().flat_map(|(_, b)| b).collect();
    let text = String::from_utf8_lossy(&all);
    if encoding == "cp932" {
        assert!(text.contains("&MJ026200;") || text.contains("MJ026200"));
        assert!(all.windows(2).any(|w| w[0] == 0xF0 && w[1] >= 0x40));
    } else {
        // Mapped 外字 go out as their legacy (private-use) code, the one
        // without a code as the character itself.
        assert!(text.chars().any(|c| ('\u{E000}'..='\u{E007}').contains(&c)));
        assert!(text.contains("邊\u{E0108}"));
    }
    // 印鑑登録 with history, their 印影 and the 公印 are in the data set.
    let seals = seal_records(&generated);
    assert!(seals > 50, "{seals} 02-01 records");
    let images = files(&generated)
        .iter()
        .filter(|(n, _)| n.starts_with("02-01_inkan/") && n.ends_with(".png"))
        .count();
    assert!(
        images > 50 && images < seals,
        "{images} images, {seals} records"
    );
    assert!(generated.join("koin.png").is_file());
    let a = Tokushima::on(a);
    let out = a.import(&generated);
    assert!(out.contains("imported into 362018"), "{out}");
    assert!(out.contains(&format!("{seals} 印鑑登録 events")), "{out}");
    let entries = a.ledger_entries();
    // Importing the same files again changes nothing.
    let again = a.import(&generated);
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(a.ledger_entries(), entries);
    let options = ["--encoding", encoding, "--form", form];
    a.export(&first, &options);
    // A fresh instance: import the export, export again.
    let b = Tokushima::on(b);
    b.import(&first);
    b.export(&second, &options);
    assert_eq!(files(&first), files(&second), "export → import → export");
    assert_eq!(files(&generated), files(&first), "gen → import → export");
}

#[test]
fn round_trip_cp932_fixed_on_sqlite() {
    round_trip(
        Murakumo::sqlite(BIN),
        Murakumo::sqlite(BIN),
        "cp932",
        "fixed",
    );
}

#[test]
fn round_trip_utf8_csv_from_postgresql_to_sqlite() {
    round_trip(
        Murakumo::postgres(BIN),
        Murakumo::sqlite(BIN),
        "utf-8",
        "csv",
    );
}

#[test]
fn bad_data_and_unmapped_gaiji_are_reported_and_import_nothing() {
    let (_tmp, dir) = generate("400", &[]);
    std::fs::remove_file(dir.join("manifest.json")).expect("rm");
    // 異動日 of line 4 is not a date; line 9 has 外字 F0 7E, which the
    // table does not list.
    let hist = dir.join("01-02_idorireki.dat");
    patch(&hist, 4, 5 + 15 + 11 + 10 + 2, b"20261399");
    patch(
        &hist,
        9,
        5 + 15 + 11 + 10 + 2 + 8 + 8 + 15 + 20,
        &[0xF0, 0x7E],
    );
    assert_import_refused(
        &dir,
        &[
            "01-02_idorireki.dat:4: 異動日 \"20261399\": not a calendar date",
            "01-02_idorireki.dat:9: 氏",
            "F07E (U+E03E): 1 occurrence",
        ],
    );
}

/// Byte offset of an item in a fixed-length 02-01 record.
fn seal_offset(key: &str) -> usize {
    // 市町村コード 5, 処理連番 10, 印鑑登録番号 20, 住民票コード 11, 処理区分 2,
    // 登録日 8, 印鑑登録証番号 20, …
    match key {
        "Number" => 15,
        "Event" => 46,
        "CardNumber" => 56,
        _ => panic!("{key}"),
    }
}

#[test]
fn a_bad_seal_record_is_reported_precisely_and_imports_nothing() {
    let (_tmp, dir) = generate("400", &[]);
    std::fs::remove_file(dir.join("manifest.json")).expect("rm");
    // Line 1 is the first registration; its 印鑑登録証番号 becomes "C/1",
    // which a card number cannot be.
    let path = dir.join("02-01_inkan.dat");
    let data = std::fs::read(&path).expect("read");
    let first = &data[..data.iter().position(|b| *b == b'\n').expect("a line")];
    assert_eq!(
        &first[seal_offset("Event")..seal_offset("Event") + 2],
        b"01"
    );
    assert_eq!(
        &first[seal_offset("Number")..seal_offset("Number") + 9],
        b"S-0000001"
    );
    patch(&path, 1, seal_offset("CardNumber"), b"C/1      ");
    assert_import_refused(
        &dir,
        &["02-01_inkan.dat:1: 印鑑登録証番号 \"C/1\": 印鑑登録証番号は英数字と - の20文字以内です"],
    );
}

#[test]
fn a_format_1_0_data_set_without_seals_still_imports() {
    let (tmp, dir) = generate("300", &["--encoding", "utf-8"]);
    let ex = tmp.path().join("ex");
    // What a 1.0 export held: no 02-01, no 印影, no 公印, manifest 1.0.
    std::fs::remove_file(dir.join("02-01_inkan.dat")).expect("rm");
    std::fs::remove_dir_all(dir.join("02-01_inkan")).expect("rm");
    std::fs::remove_file(dir.join("koin.png")).expect("rm");
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    m["version"] = "1.0".into();
    if let Some(files) = m["files"].as_array_mut() {
        files.retain(|f| {
            let name = f["name"].as_str().unwrap_or("");
            !name.starts_with("02-01") && name != "koin.png"
        });
    }
    std::fs::write(&path, serde_json::to_string_pretty(&m).expect("json")).expect("write");
    let i = Tokushima::on(Murakumo::sqlite(BIN));
    let out = i.import(&dir);
    assert!(out.contains("0 印鑑登録 events"), "{out}");
    let again = i.import(&dir);
    assert!(again.contains("nothing changed"), "{again}");
    i.export(&ex, &["--encoding", "utf-8"]);
    // The same register comes out, now in the current version (1.3) with an empty 02-01.
    for name in ["01-01_juminkihon.dat", "01-02_idorireki.dat", "gaiji.csv"] {
        assert_eq!(
            std::fs::read(dir.join(name)).expect("read"),
            std::fs::read(ex.join(name)).expect("read"),
            "{name}"
        );
    }
    assert_eq!(seal_records(&ex), 0);
    assert!(!ex.join("koin.png").exists());
    assert!(!ex.join("02-01_inkan").exists());
    let manifest = std::fs::read_to_string(ex.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("\"version\": \"1.3\""), "{manifest}");
}

#[test]
fn kill_9_during_an_import_leaves_nothing_half_done() {
    let (tmp, dir) = generate("10000", &["--encoding", "utf-8"]);
    let i = Tokushima::on(Murakumo::sqlite(BIN));
    let before = i.ledger_entries();
    let mut killed_mid_import = false;
    let mut seen = Vec::new();
    for delay_ms in [0u64, 50, 150, 300] {
        let mut child = i
            .instance
            .command(&["import", "--tenant", TOKUSHIMA, &s(&dir)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Wait until validation is done and the transaction is running.
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let validated = lines.any(|l| l.is_ok_and(|l| l.starts_with("valid:")));
        assert!(validated, "the import did not validate");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let running = child.try_wait().expect("wait").is_none();
        let _ = child.kill();
        let _ = child.wait();
        let n = i.ledger_entries();
        seen.push(n);
        if n != before {
            break; // it committed before the kill landed
        }
        killed_mid_import |= running;
    }
    assert!(killed_mid_import, "no kill landed during an import");
    let out = i.import(&dir);
    assert!(
        out.contains("imported into") || out.contains("nothing changed"),
        "{out}"
    );
    let full = i.ledger_entries();
    assert!(
        seen.iter().all(|&n| n == before || n == full),
        "a killed import left part of its entries: {seen:?}, before {before}, complete {full}"
    );
    let ex = tmp.path().join("ex");
    i.export(&ex, &["--encoding", "utf-8"]);
    assert_eq!(files(&dir), files(&ex));
}

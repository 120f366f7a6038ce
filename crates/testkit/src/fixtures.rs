//! Fixtures that the tests of more than one crate set up alike: the `murakumo` binary on
//! throwaway data ([`Murakumo`]), and migration data sets in files ([`files`], [`patch`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::PgCluster;

/// The `murakumo` binary with its data in a throwaway place: an SQLite data directory, or a
/// database on a PostgreSQL cluster of its own (then with a data directory too). Both are
/// removed on drop.
pub struct Murakumo {
    bin: PathBuf,
    args: Vec<String>,
    _dir: tempfile::TempDir,
    _pg: Option<PgCluster>,
}

impl Murakumo {
    /// `bin` (e.g. `env!("CARGO_BIN_EXE_murakumo")`) on an empty data directory.
    ///
    /// # Panics
    /// If no temporary directory can be made.
    pub fn sqlite(bin: impl Into<PathBuf>) -> Murakumo {
        let dir = tempfile::tempdir().expect("tempdir");
        Murakumo {
            bin: bin.into(),
            args: vec!["--data".into(), dir.path().display().to_string()],
            _dir: dir,
            _pg: None,
        }
    }

    /// `bin` on an empty database of a new [`PgCluster`].
    ///
    /// # Panics
    /// If PostgreSQL cannot be started.
    pub fn postgres(bin: impl Into<PathBuf>) -> Murakumo {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = PgCluster::start().expect("PostgreSQL");
        let url = pg.create_database("murakumo");
        Murakumo {
            bin: bin.into(),
            args: vec![
                "--database-url".into(),
                url,
                "--data".into(),
                dir.path().display().to_string(),
            ],
            _dir: dir,
            _pg: Some(pg),
        }
    }

    /// `murakumo <args>` on this instance's data, logging warnings only; not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).args(&self.args).env("MURAKUMO_LOG", "warn");
        c
    }

    /// Runs `murakumo <args>` to the end.
    ///
    /// # Panics
    /// If the binary cannot be run.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run murakumo")
    }

    /// Runs `murakumo <args>`, which must succeed; its standard output.
    ///
    /// # Panics
    /// If it fails, with its standard error.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "murakumo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Every file under `dir` (a data set's 印影 in `02-01_inkan/` too) with its bytes, by
/// relative path, sorted.
///
/// # Panics
/// If `dir` cannot be read.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

/// Overwrites bytes of line `line` (1-based) of a fixed-length file, from byte `at` on, with
/// `bytes`.
///
/// # Panics
/// If the file cannot be read or written, or the line is not that long.
pub fn patch(path: &Path, line: usize, at: usize, bytes: &[u8]) {
    let data = std::fs::read(path).expect("read");
    let mut lines: Vec<Vec<u8>> = data
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    lines[line - 1][at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, lines.concat()).expect("write");
}

//! The result of a repository check as Prometheus metrics, in the text
//! format node_exporter's textfile collector reads (`--metrics-file`).
//!
//! `murakumo verify` runs from cron or a systemd timer, not inside
//! `murakumo serve`, so its figures cannot be in the server's `/metrics`:
//! it writes them to a `.prom` file in the collector's directory instead
//! (atomically: a temporary file beside it, fsync, rename, so the collector
//! never reads half a file). A sampled check keeps the time of the last full
//! check from the file it replaces.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::{BackupError, Result};

/// What one run of `verify` found.
#[derive(Clone, Debug)]
pub struct CheckSummary {
    /// The repository URL (the `repo` label).
    pub repo: String,
    /// Every object and chain (else a sample).
    pub full: bool,
    /// When the check ended.
    pub at: DateTime<Utc>,
    pub objects_checked: u64,
    pub shares_checked: u64,
    /// Shares still bad when the check ended (after any repair).
    pub shares_bad: u64,
    /// Shares rebuilt and written back by this run.
    pub shares_repaired: u64,
    /// Objects that cannot be read at all.
    pub objects_lost: u64,
    /// Snapshots that can no longer be restored whole.
    pub snapshots_unrestorable: u64,
}

pub const LAST_FULL: &str = "murakumo_backup_last_full_check_timestamp_seconds";

/// The metrics file's text. `previous` is the file it replaces (for the
/// last full check's time when this one is a sample).
pub fn textfile(s: &CheckSummary, previous: Option<&str>) -> String {
    let label = format!("{{repo=\"{}\"}}", escape(&s.repo));
    let now = s.at.timestamp();
    let last_full = if s.full {
        Some(now)
    } else {
        previous.and_then(|p| previous_value(p, LAST_FULL, &label))
    };
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: Option<i64>| {
        let Some(v) = value else { return };
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{label} {v}\n"
        ));
    };
    let n = |v: u64| Some(i64::try_from(v).unwrap_or(i64::MAX));
    gauge(
        "murakumo_backup_shares_bad",
        "Shares missing, damaged or unreadable when the last check ended (after any repair).",
        n(s.shares_bad),
    );
    gauge(
        "murakumo_backup_shares_checked",
        "Shares the last check read (three per object on a dispersed repository).",
        n(s.shares_checked),
    );
    gauge(
        "murakumo_backup_objects_checked",
        "Objects the last check read.",
        n(s.objects_checked),
    );
    gauge(
        "murakumo_backup_shares_repaired",
        "Shares the last check rebuilt and wrote back (verify --repair).",
        n(s.shares_repaired),
    );
    gauge(
        "murakumo_backup_objects_lost",
        "Objects that cannot be read from the repository (fewer than two good shares).",
        n(s.objects_lost),
    );
    gauge(
        "murakumo_backup_snapshots_unrestorable",
        "Snapshots that can no longer be restored whole (full checks; samples only when they find a lost object).",
        n(s.snapshots_unrestorable),
    );
    gauge(
        "murakumo_backup_last_check_full",
        "1 if the last check read every object and chain, 0 if it was a sample.",
        Some(i64::from(s.full)),
    );
    gauge(
        "murakumo_backup_last_check_timestamp_seconds",
        "When the last check (full or sampled) ended, Unix time.",
        Some(now),
    );
    gauge(
        LAST_FULL,
        "When the last full check ended, Unix time (absent until one has run).",
        last_full,
    );
    out
}

/// Writes [`textfile`] to `path` atomically, reading the file it replaces.
pub fn write_textfile(path: &Path, s: &CheckSummary) -> Result<()> {
    let io = |action: String| move |source| BackupError::Io { action, source };
    let previous = std::fs::read_to_string(path).ok();
    let text = textfile(s, previous.as_deref());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "murakumo_backup.prom".into());
    // Not ending in .prom, so the collector skips it while it is written.
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        let mut f =
            std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(format!("writing {}", tmp.display())))?;
    }
    std::fs::rename(&tmp, path).map_err(io(format!(
        "renaming {} to {}",
        tmp.display(),
        path.display()
    )))
}

fn previous_value(text: &str, name: &str, label: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(label))
        .and_then(|v| v.trim().parse().ok())
}

/// A label value: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(full: bool, at: i64) -> CheckSummary {
        CheckSummary {
            repo: "dispersed:file:///a,file:///b,webdav://h:1/c".into(),
            full,
            at: DateTime::from_timestamp(at, 0).expect("time"),
            objects_checked: 10,
            shares_checked: 30,
            shares_bad: 2,
            shares_repaired: 0,
            objects_lost: 0,
            snapshots_unrestorable: 0,
        }
    }

    #[test]
    fn a_sample_keeps_the_last_full_check_time_of_the_same_repository() {
        let full = textfile(&summary(true, 1_000), None);
        assert!(full.contains(
            "murakumo_backup_last_full_check_timestamp_seconds{repo=\"dispersed:file:///a,file:///b,webdav://h:1/c\"} 1000\n"
        ), "{full}");
        assert!(full.contains(
            "murakumo_backup_shares_bad{repo=\"dispersed:file:///a,file:///b,webdav://h:1/c\"} 2\n"
        ));
        let sample = textfile(&summary(false, 2_000), Some(&full));
        assert!(sample.contains("_last_check_timestamp_seconds{repo=\"dispersed:file:///a,file:///b,webdav://h:1/c\"} 2000\n"), "{sample}");
        assert!(sample.contains("_last_full_check_timestamp_seconds{repo=\"dispersed:file:///a,file:///b,webdav://h:1/c\"} 1000\n"), "{sample}");
        assert!(sample.contains("murakumo_backup_last_check_full{repo=\"dispersed:file:///a,file:///b,webdav://h:1/c\"} 0\n"));
        // No full check known: the series is absent, not zero.
        let first = textfile(&summary(false, 3_000), None);
        assert!(!first.contains(LAST_FULL), "{first}");
        // Another repository's file is not taken for ours.
        let mut other = summary(true, 500);
        other.repo = "file:///x".into();
        let sample = textfile(&summary(false, 2_000), Some(&textfile(&other, None)));
        assert!(!sample.contains(LAST_FULL), "{sample}");
    }

    #[test]
    fn labels_are_escaped_and_every_series_has_help_and_type() {
        let mut s = summary(true, 1);
        s.repo = "file:///a \"b\"\\c".into();
        let t = textfile(&s, None);
        assert!(t.contains("{repo=\"file:///a \\\"b\\\"\\\\c\"}"), "{t}");
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split('{').next().expect("name");
            assert!(t.contains(&format!("# TYPE {name} gauge")), "{name}");
            assert!(t.contains(&format!("# HELP {name} ")), "{name}");
        }
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("murakumo_backup.prom");
        write_textfile(&path, &summary(true, 100)).expect("write");
        write_textfile(&path, &summary(false, 200)).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("_last_full_check_timestamp_seconds{"),
            "{text}"
        );
        assert!(text.contains("} 100\n"), "{text}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }
}

//! The results table, and its section of `bench/RESULTS.md`.
//!
//! Each benchmark owns the part of RESULTS.md between its two markers
//! (`<!-- NAME:begin -->` … `<!-- NAME:end -->`); a run replaces that part
//! and leaves the rest of the file (other benchmarks, notes) alone.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::foundation::{BackendReport, Options, Rate, engine_name};
use crate::peer::{Method, Placeholders, PlainRun, Tables};

/// Aim of issue 3: batched appends per second.
const AIM_APPEND_PER_S: f64 = 100_000.0;
/// Aim of issue 3: rebuild of a 270,000-resident tenant, in seconds.
const AIM_REBUILD_S: f64 = 30.0;

/// Where and on what a run happened.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub date: String,
    pub commit: String,
    pub temp_dir: String,
    /// `/proc/loadavg`'s 1, 5 and 15 minute figures when probed.
    pub load: String,
}

impl Machine {
    /// "Run <date> at commit … ; <what> in `<temp>`; load average …": the
    /// first line of every generated section.
    pub fn run_line(&self, what: &str, load_after: &str) -> String {
        format!(
            "Run {} at commit `{}` on {} CPUs ({}), {} RAM, Linux {}; {what} in `{}`; \
             load average {} before the run, {load_after} after",
            self.date,
            self.commit,
            self.cpus,
            self.cpu_model,
            self.memory,
            self.kernel,
            self.temp_dir,
            self.load,
        )
    }

    pub fn probe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or_else(
                || "unknown".into(),
                |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
            );
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let mut commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        if git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()) {
            commit.push_str(" (with uncommitted changes)");
        }
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit,
            temp_dir: std::env::temp_dir().display().to_string(),
            load: load_average(),
        }
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews
/// every figure, so the report says how busy it was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The results table in Markdown.
pub fn table(opts: &Options, reports: &[BackendReport]) -> String {
    let n = grouped(opts.entries as u64);
    let b = grouped(opts.batch as u64);
    let r = grouped(opts.residents as u64);
    let rate = |f: fn(&BackendReport) -> Rate| move |x: &BackendReport| per_s(f(x));
    let run = |tables, method, per_batch: bool| PlainRun {
        tables,
        method,
        commit_every: per_batch.then_some(opts.batch),
    };
    let native = Method::Insert(Placeholders::Native);
    let all_per_batch = run(Tables::All, native, true);
    let ledger_per_batch = run(Tables::Ledger, native, true);
    let ledger_one_tx = run(Tables::Ledger, native, false);
    let peer =
        move |r: PlainRun| move |x: &BackendReport| x.peer(r).map_or_else(|| "—".into(), per_s);
    let vs = move |ours: fn(&BackendReport) -> Rate, r: PlainRun| {
        move |x: &BackendReport| x.peer(r).map_or_else(|| "—".into(), |p| ratio(ours(x), p))
    };
    type Cell = Box<dyn Fn(&BackendReport) -> String>;
    let rows: Vec<(String, Cell)> = vec![
        (
            format!("**Append** {n} 転入 (`resident.entered`, projected), batches of {b}: entries/s"),
            Box::new(rate(|x| x.append)),
        ),
        (
            "  ↳ ÷ peer: plain INSERT of the same ledger + projection rows, a transaction per batch".into(),
            Box::new(vs(|x| x.append, all_per_batch)),
        ),
        (
            "  ↳ ÷ peer: plain INSERT of the same ledger rows, one transaction".into(),
            Box::new(vs(|x| x.append, ledger_one_tx)),
        ),
        (
            format!("Append {n}, ledger only (same payloads, a kind no projection reads): entries/s"),
            Box::new(rate(|x| x.append_ledger_only)),
        ),
        (
            "  ↳ ÷ peer: plain INSERT of ledger rows, a transaction per batch".into(),
            Box::new(vs(|x| x.append_ledger_only, ledger_per_batch)),
        ),
        (
            "Peer: plain multi-row INSERT, ledger rows, one transaction: rows/s".into(),
            Box::new(peer(ledger_one_tx)),
        ),
        (
            format!("Peer: plain multi-row INSERT, ledger rows, a transaction per {b}: rows/s"),
            Box::new(peer(ledger_per_batch)),
        ),
        (
            format!("Peer: plain multi-row INSERT, ledger + projection rows, a transaction per {b}: entries/s"),
            Box::new(peer(all_per_batch)),
        ),
        (
            "Peer: the same with numbered placeholders `?NNN`, as the store writes them (SQLite): entries/s".into(),
            Box::new(peer(run(Tables::All, Method::Insert(Placeholders::Numbered), true))),
        ),
        (
            format!("Peer: `INSERT … SELECT FROM UNNEST(arrays)`, ledger rows, a transaction per {b}: rows/s"),
            Box::new(peer(run(Tables::Ledger, Method::Unnest, true))),
        ),
        (
            format!("Peer: `UNNEST`, ledger + projection rows, a transaction per {b}: entries/s"),
            Box::new(peer(run(Tables::All, Method::Unnest, true))),
        ),
        (
            "Peer: `COPY … FROM STDIN`, ledger rows, one transaction: rows/s".into(),
            Box::new(peer(run(Tables::Ledger, Method::Copy, false))),
        ),
        (
            format!("Peer: `COPY`, ledger + projection rows, a transaction per {b}: entries/s"),
            Box::new(peer(run(Tables::All, Method::Copy, true))),
        ),
        (
            format!("`verify(Chain::Ledger)` of the {n}-entry chain, first scan after the append: entries/s"),
            Box::new(rate(|x| x.verify_first)),
        ),
        (
            "`verify(Chain::Ledger)` again: entries/s".into(),
            Box::new(rate(|x| x.verify)),
        ),
        (
            "`read_after` stream, pages of 10,000: entries/s".into(),
            Box::new(rate(|x| x.read_after)),
        ),
        (
            "BLAKE3 chain hash recomputed in memory (CPU only): entries/s".into(),
            Box::new(rate(|x| x.hash)),
        ),
        (
            "`cut_segments` (10,000 entries / 4 MiB; checks the chain): entries/s".into(),
            Box::new(rate(|x| x.cut)),
        ),
        (
            "`Segment::encode` (zstd level 3): entries/s".into(),
            Box::new(rate(|x| x.encode)),
        ),
        (
            "`Segment::decode` (decompress + verify): entries/s".into(),
            Box::new(rate(|x| x.decode)),
        ),
        (
            "Segment size: canonical → encoded bytes per entry (compression ratio)".into(),
            Box::new(|x| {
                let per = |bytes: u64| bytes as f64 / x.cut.count.max(1) as f64;
                format!(
                    "{:.0} → {:.0} B ({:.2}×, {} segments)",
                    per(x.raw_bytes),
                    per(x.encoded_bytes),
                    x.raw_bytes as f64 / x.encoded_bytes.max(1) as f64,
                    x.segments
                )
            }),
        ),
        (
            format!("Append {r} residents of 徳島市 (projected), batches of {b}: entries/s"),
            Box::new(rate(|x| x.resident_append)),
        ),
        (
            format!("**`rebuild_projections()`** of the {r}-resident tenant: seconds (entries/s)"),
            Box::new(|x| {
                format!(
                    "**{:.1} s** ({})",
                    x.rebuild.elapsed.as_secs_f64(),
                    per_s(x.rebuild)
                )
            }),
        ),
    ];

    let mut out = String::from("| Measurement |");
    for x in reports {
        let _ = write!(out, " {} |", engine_name(x.engine));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(reports.len()));
    out.push('\n');
    for (label, cell) in &rows {
        let _ = write!(out, "| {label} |");
        for x in reports {
            let _ = write!(out, " {} |", cell(x));
        }
        out.push('\n');
    }
    out
}

/// Whether the aims of issue 3 were met, one line per aim and backend.
pub fn aims(opts: &Options, reports: &[BackendReport]) -> String {
    let mut out = String::new();
    for x in reports {
        let name = engine_name(x.engine);
        let append = x.append.per_second();
        let ledger = x.append_ledger_only.per_second();
        let _ = writeln!(
            out,
            "- {name}, append ≥ {} entries/s in batches: **{}** — {} entries/s with projection, \
             {} ledger only.",
            grouped(AIM_APPEND_PER_S as u64),
            met(append >= AIM_APPEND_PER_S),
            grouped(append as u64),
            grouped(ledger as u64),
        );
        let secs = x.rebuild.elapsed.as_secs_f64();
        let _ = writeln!(
            out,
            "- {name}, rebuild of a {}-resident tenant in under {AIM_REBUILD_S:.0} s: **{}** — {secs:.1} s.",
            grouped(opts.residents as u64),
            met(secs < AIM_REBUILD_S),
        );
    }
    out
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "missed" }
}

/// The generated section of RESULTS.md for this run.
pub fn section(
    machine: &Machine,
    load_after: &str,
    command: &str,
    opts: &Options,
    reports: &[BackendReport],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Foundation: ledger append, verification, segments, rebuild (issue 3)\n"
    );
    let _ = writeln!(
        out,
        "Run {} at commit `{}` on {} CPUs ({}), {} RAM, Linux {}; databases in `{}`; \
         load average {} before the run, {} after.\n",
        machine.date,
        machine.commit,
        machine.cpus,
        machine.cpu_model,
        machine.memory,
        machine.kernel,
        machine.temp_dir,
        machine.load,
        load_after,
    );
    let _ = writeln!(out, "```sh\n{command}\n```\n");
    for x in reports {
        let _ = writeln!(out, "- {}: {}", engine_name(x.engine), x.version);
    }
    for x in reports {
        let _ = writeln!(
            out,
            "- {} peers wrote the rows the 1st append left: {}",
            engine_name(x.engine),
            x.peer_rows
        );
    }
    let _ = writeln!(
        out,
        "- Append timings count the `append` calls only (generating events is excluded); \
         peers ran after the ledger phases, on the same engine and disk, into empty copies \
         of the store's tables (same columns, keys and indexes; no triggers, no row-level \
         security). Peer rates count ledger rows, each with its share of projection rows \
         where the run writes them, so they compare directly with entries/s.\n"
    );
    out.push_str(&table(opts, reports));
    let _ = writeln!(out, "\n### Aims\n");
    out.push_str(&aims(opts, reports));
    out
}

/// Replaces the `name` section of the results file (or appends it).
pub fn write_section(path: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let begin = format!(
        "<!-- {name}:begin (generated by murakumo-bench; edits inside are overwritten) -->"
    );
    let end = format!("<!-- {name}:end -->");
    let block = format!("{begin}\n{body}{end}\n");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let marker = format!("<!-- {name}:begin");
    let new = match (old.find(&marker), old.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            let after = old[e + end.len()..].trim_start_matches('\n');
            format!(
                "{}{block}{}{after}",
                &old[..b],
                if after.is_empty() { "" } else { "\n" }
            )
        }
        _ if old.trim().is_empty() => format!(
            "# Benchmark results\n\nWritten by `murakumo-bench` (see README.md); \
             one section per benchmark, newest run only.\n\n{block}"
        ),
        _ => format!("{}\n\n{block}", old.trim_end()),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

fn per_s(r: Rate) -> String {
    grouped(r.per_second().round() as u64)
}

fn ratio(ours: Rate, peer: Rate) -> String {
    format!("{:.2}×", ours.per_second() / peer.per_second().max(1e-9))
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn section_is_replaced_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("RESULTS.md");
        std::fs::write(&path, "# Results\n\nintro\n").expect("write");
        write_section(&path, "x", "first\n").expect("write");
        write_section(&path, "y", "other\n").expect("write");
        write_section(&path, "x", "second\n").expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# Results\n\nintro\n"));
        assert!(text.contains("second\n") && !text.contains("first"));
        assert!(text.contains("other\n"));
        assert!(text.find("second").expect("x") < text.find("other").expect("y"));
    }
}

//! The migration benchmark (issue 5): import of a city the size of 徳島市
//! from fixed-length Shift_JIS (CP932) files of the standard migration
//! format, and export of the same, with the real `murakumo` binary on
//! SQLite; rates against the raw read speed of the same files, and each
//! command's peak memory.
//!
//! 1. `residents` residents and a year of their 異動 are generated
//!    (`murakumo_migration::synth`, seed 42) and written as CP932 fixed-length
//!    files (not timed);
//! 2. the raw read: both data files read end to end through a 1 MiB buffer
//!    (page cache warm, as for the import, which follows at once);
//! 3. `murakumo tenant create`, then the timed `murakumo import` (validation,
//!    then ledger + read models in chunks, seen all at once);
//! 4. the timed `murakumo export` in the same form and encoding, whose files
//!    must be byte-identical to the generated ones.
//!
//! Peak memory is the child's `VmHWM` (peak resident set) from
//! `/proc/<pid>/status`, polled every 20 ms while it runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_migration::synth;
use murakumo_migration::{Encoding, Form, WriteOptions, write_dir};

const TENANT: &str = "362018";

pub struct Options {
    pub residents: usize,
    pub murakumo: PathBuf,
}

/// One timed run of the binary.
pub struct Run {
    pub secs: f64,
    pub peak_bytes: u64,
    pub stdout: String,
}

pub struct Report {
    pub residents: u64,
    pub events: u64,
    pub base_bytes: u64,
    pub history_bytes: u64,
    pub generate_secs: f64,
    pub raw_read_secs: f64,
    pub import: Run,
    /// Of the import: validation (reading the files), from its output.
    pub import_validate_secs: Option<f64>,
    pub export: Run,
    pub identical: bool,
}

impl Report {
    fn data_bytes(&self) -> u64 {
        self.base_bytes + self.history_bytes
    }

    fn mb_s(&self, secs: f64) -> f64 {
        self.data_bytes() as f64 / 1e6 / secs.max(1e-9)
    }
}

fn peak_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn timed(murakumo: &Path, args: &[&str]) -> anyhow::Result<Run> {
    let t = Instant::now();
    let mut child = Command::new(murakumo)
        .args(args)
        .env("MURAKUMO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", murakumo.display()))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Some(p) = peak_of(pid) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = t.elapsed().as_secs_f64();
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        bail!("murakumo {args:?} failed: {err}");
    }
    Ok(Run {
        secs,
        peak_bytes: peak,
        stdout,
    })
}

/// Every file under `dir` (the 印影 images sit in a subdirectory), by
/// relative path, sorted.
fn files(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut v = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.strip_prefix(dir)?.to_string_lossy().into_owned();
            v.push((name, std::fs::read(&path)?));
        }
    }
    v.sort();
    Ok(v)
}

pub fn run(opts: &Options) -> anyhow::Result<Report> {
    ensure!(
        opts.murakumo.is_file(),
        "{} not found: build it with cargo build --release -p murakumo-cli",
        opts.murakumo.display()
    );
    let work = tempfile::tempdir()?;
    let generated = work.path().join("gen");
    let exported = work.path().join("export");
    let data = work.path().join("data");
    let code = TenantCode::parse(TENANT).map_err(|e| anyhow::anyhow!("{e}"))?;

    eprintln!("generating {} residents …", opts.residents);
    let t = Instant::now();
    let g = synth::generate(&synth::Options {
        municipality: code,
        population: opts.residents,
        seed: 42,
        as_of: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap_or_default(),
        history_days: 365,
    });
    let manifest = write_dir(
        &generated,
        &code,
        g.contents(),
        WriteOptions {
            encoding: Encoding::Cp932,
            form: Form::Fixed,
        },
    )?;
    let generate_secs = t.elapsed().as_secs_f64();
    let size = |layout: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.layout == layout)
            .map_or((0, 0), |f| (f.records, f.bytes))
    };
    let (residents, base_bytes) = size("01-01");
    let (events, history_bytes) = size("01-02");
    drop(g);

    // The raw read of the same files.
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for f in &manifest.files {
        let mut file = std::fs::File::open(generated.join(&f.name))?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    let raw_read_secs = t.elapsed().as_secs_f64();
    ensure!(total >= base_bytes + history_bytes, "short read");

    let m = &opts.murakumo;
    let d = data.display().to_string();
    let out = Command::new(m)
        .args([
            "--data",
            &d,
            "tenant",
            "create",
            "--code",
            TENANT,
            "--name",
            "徳島市",
        ])
        .output()?;
    ensure!(
        out.status.success(),
        "tenant create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("importing …");
    let gen_dir = generated.display().to_string();
    let import = timed(m, &["--data", &d, "import", "--tenant", TENANT, &gen_dir])?;
    let import_validate_secs = import
        .stdout
        .split("(read in ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok());
    eprintln!("exporting …");
    let ex = exported.display().to_string();
    let export = timed(
        m,
        &[
            "--data",
            &d,
            "export",
            "--tenant",
            TENANT,
            "--out",
            &ex,
            "--encoding",
            "cp932",
            "--form",
            "fixed",
        ],
    )?;
    let identical = files(&generated)? == files(&exported)?;
    Ok(Report {
        residents,
        events,
        base_bytes,
        history_bytes,
        generate_secs,
        raw_read_secs,
        import,
        import_validate_secs,
        export,
        identical,
    })
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("| step | time | records/s | MB/s | vs raw read | peak memory |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    let raw = r.mb_s(r.raw_read_secs);
    s.push_str(&format!(
        "| raw read of the files (1 MiB buffer) | {:.2} s | {} | {:.0} | 1 | — |\n",
        r.raw_read_secs,
        grouped(((r.residents + r.events) as f64 / r.raw_read_secs.max(1e-9)) as u64),
        raw
    ));
    for (name, run, records) in [
        ("`murakumo import` (validate + record)", &r.import, r.events),
        ("`murakumo export`", &r.export, r.residents + r.events),
    ] {
        s.push_str(&format!(
            "| {name} | {:.1} s | {} | {:.1} | 1/{:.0} | {} |\n",
            run.secs,
            grouped((records as f64 / run.secs.max(1e-9)) as u64),
            r.mb_s(run.secs),
            raw / r.mb_s(run.secs).max(1e-9),
            mib(run.peak_bytes)
        ));
    }
    s
}

pub fn aims(r: &Report) -> String {
    let gib = 1024 * 1024 * 1024;
    let mark = |ok: bool| if ok { "met" } else { "**missed**" };
    format!(
        "Aims: import under 20 s — {} ({:.1} s); export under 10 s — {} ({:.1} s); peak memory under 1 GiB — {} ({} / {}); export byte-identical to the imported files — {}.\n",
        mark(r.import.secs < 20.0),
        r.import.secs,
        mark(r.export.secs < 10.0),
        r.export.secs,
        mark(r.import.peak_bytes < gib && r.export.peak_bytes < gib),
        mib(r.import.peak_bytes),
        mib(r.export.peak_bytes),
        if r.identical { "yes" } else { "**no**" }
    )
}

pub fn section(
    machine: &crate::report::Machine,
    load_after: &str,
    command: &str,
    r: &Report,
) -> String {
    let mut s = String::new();
    s.push_str("## Migration: import and export of a city in the standard format (issue 5)\n\n");
    s.push_str(&format!(
        "{}.

",
        machine.run_line("files and data", load_after)
    ));
    s.push_str(&format!("```sh\n{command}\n```\n\n"));
    s.push_str(&format!(
        "- Data: tenant 362018 徳島市, {} residents (除票 included) and {} 異動 (their 転入/出生 and a year of \
         births, deaths, moves, marriages …), generated with seed 42 in {:.1} s; CP932 fixed-length files: \
         01-01 住民基本台帳 {} records, {:.0} MB; 01-02 異動履歴 {} records, {:.0} MB.\n",
        grouped(r.residents),
        grouped(r.events),
        r.generate_secs,
        grouped(r.residents),
        r.base_bytes as f64 / 1e6,
        grouped(r.events),
        r.history_bytes as f64 / 1e6,
    ));
    s.push_str(
        "- Import: the real binary into an empty SQLite tenant: every record decoded, checked and \
         replayed (01-01 compared item by item with the replay of 01-02), then all ledger entries \
         and the read models written in chunks (2,000 entries on SQLite, 5,000 on PostgreSQL) that readers see all at once (`TenantStore::import`).\n",
    );
    if let Some(v) = r.import_validate_secs {
        s.push_str(&format!(
            "- Of the import's {:.1} s, validation (reading, decoding, checking) took {:.1} s and \
             recording (ledger + projection + commit) the rest.\n",
            r.import.secs, v
        ));
    }
    s.push_str(
        "- Export: the ledger read back in pages, replayed, and both files written again; \
         records/s counts the records of both files. Peak memory: `VmHWM` of the process, polled \
         every 20 ms.\n\n",
    );
    s.push_str(&table(r));
    s.push('\n');
    s.push_str(&aims(r));
    s.push('\n');
    s
}

fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

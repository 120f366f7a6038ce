//! `murakumo backup`, `restore` (and `--drill`) and `verify`: argument
//! parsing, the progress bar and the printed reports. The work is in
//! `murakumo-backup`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use clap::Args;
use murakumo_backup::{
    BackupOptions, Connect, KeySource, Progress, RestoreOptions, RetryPolicy, parse_rate,
    parse_size,
};
use murakumo_store::Store;

use crate::{Global, open, tenant_code};

#[derive(Args)]
pub struct KeyArgs {
    /// Unlock (or, for a new repository, lock) it with this key file instead
    /// of MURAKUMO_BACKUP_PASSPHRASE. Keep a copy off-site: without it the
    /// backups cannot be read.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Attempts per transfer before giving up (with backoff up to 30 s).
    #[arg(long, default_value_t = 12)]
    retries: u32,
}

#[derive(Args)]
pub struct BackupArgs {
    /// Repository: file:///PATH, webdav://HOST:PORT/PATH (webdavs:// for
    /// HTTPS), murakumo://HOST:PORT (murakumos:// for HTTPS) or
    /// dispersed:URL1,URL2,URL3. Created on first use.
    #[arg(long)]
    to: String,
    /// Only this municipality.
    #[arg(long)]
    tenant: Option<String>,
    /// Upload rate cap, e.g. 48KiB, 4Mbit (bytes per second unless given).
    #[arg(long)]
    limit_rate: Option<String>,
    /// Largest object sent in one piece; a cut transfer resumes per chunk.
    #[arg(long, default_value = "8MiB")]
    chunk_size: String,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// Repository URL (as given to `backup --to`).
    #[arg(long)]
    from: String,
    /// Only this municipality; the others in the target are not touched.
    #[arg(long)]
    tenant: Option<String>,
    /// Restore only entries recorded at or before this time: RFC 3339
    /// (2026-04-01T09:00:00+09:00) or local time (2026-04-01 09:00[:00]).
    #[arg(long)]
    at: Option<String>,
    /// Restore from this snapshot instead of the newest.
    #[arg(long)]
    snapshot: Option<String>,
    /// A restore drill: restore into a scratch directory, start a scratch
    /// server on it, and report RPO and RTO; the real data is not touched.
    #[arg(long)]
    drill: bool,
    /// With --drill: the scratch directory (default: a new one under the
    /// system temporary directory, removed afterwards).
    #[arg(long, requires = "drill")]
    drill_dir: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Repository URL.
    #[arg(long)]
    repo: String,
    /// dispersed: only — rebuild every missing or damaged share from the
    /// other two sites, write it back to its site (read back and compared),
    /// then verify again. Refills a wiped or new empty site; all three sites
    /// must answer. Safe to rerun, and to rerun after an interruption.
    #[arg(long)]
    repair: bool,
    /// Check a random PERCENT of the objects (every share of each) instead
    /// of the whole repository: a daily scrub that finds rot while the
    /// other sites still hold good shares. Chains are not walked.
    #[arg(long, value_name = "PERCENT")]
    sample: Option<f64>,
    /// Write the result as Prometheus metrics to FILE (atomically), for
    /// node_exporter's textfile collector: e.g.
    /// /var/lib/prometheus/node-exporter/murakumo_backup.prom.
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// Upload rate cap for --repair, e.g. 48KiB, 4Mbit.
    #[arg(long, requires = "repair")]
    limit_rate: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
}

/// The progress bar: bytes, rate and ETA, on stderr (hidden when stderr is
/// not a terminal). Counted in objects for `verify`; a repair shows the
/// bytes written beside the objects.
struct Bar(indicatif::ProgressBar, Option<std::sync::atomic::AtomicU64>);

impl Bar {
    fn new(bytes: bool) -> Arc<Bar> {
        let template = if bytes {
            "{spinner} {msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{spinner} {msg:30} [{bar:30}] {pos}/{len} objects ETA {eta}"
        };
        Arc::new(Bar(Self::bar(template), None))
    }

    /// Objects, and the bytes written to the sites as the prefix.
    fn repair() -> Arc<Bar> {
        let bar = Self::bar(
            "{spinner} {msg:30} [{bar:30}] {pos}/{len} objects, {prefix} written ETA {eta}",
        );
        bar.set_prefix("0 B");
        Arc::new(Bar(bar, Some(std::sync::atomic::AtomicU64::new(0))))
    }

    fn bar(template: &str) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn sent(&self, bytes: u64) {
        match &self.1 {
            Some(written) => {
                let total = written.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
                self.0.set_prefix(indicatif::HumanBytes(total).to_string());
            }
            None => self.0.inc(bytes),
        }
    }
    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn note(&self, line: &str) {
        self.0.suspend(|| eprintln!("{line}"));
    }
}

fn connect(url: &str, key: &KeyArgs, limit_rate: Option<u64>, bar: Arc<Bar>) -> Result<Connect> {
    Ok(Connect {
        url: url.to_string(),
        key: KeySource::from_env_or_file(key.key_file.as_deref())?,
        limit_rate,
        retry: RetryPolicy {
            attempts: key.retries.max(1),
            ..RetryPolicy::default()
        },
        progress: bar,
    })
}

pub async fn backup(g: &Global, args: BackupArgs) -> Result<()> {
    let store = open(g).await?;
    let limit = args
        .limit_rate
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--limit-rate: {e}"))?;
    let chunk_size =
        parse_size(&args.chunk_size).map_err(|e| anyhow::anyhow!("--chunk-size: {e}"))?;
    if !(4096..=(1 << 30)).contains(&chunk_size) {
        bail!("--chunk-size must be between 4KiB and 1GiB");
    }
    let tenant = args.tenant.as_deref().map(tenant_code).transpose()?;
    let bar = Bar::new(true);
    let repo = connect(&args.to, &args.key, limit, bar.clone())?
        .open(true)
        .await?;
    let opts = BackupOptions {
        tenant,
        chunk_size: chunk_size as usize,
        ..BackupOptions::default()
    };
    let r = murakumo_backup::backup(&store, &repo, &opts).await;
    bar.0.finish_and_clear();
    let r = r?;
    let s = r.stats;
    println!(
        "backup {}: {} municipalities, {} new entries in {} segments",
        r.snapshot, r.tenants, r.entries, r.segments
    );
    println!(
        "sent: chunks={} bytes={}; already stored: chunks={} bytes={}",
        s.chunks_sent, s.bytes_sent, s.chunks_already_stored, s.bytes_already_stored
    );
    Ok(())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Local
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .context("that local time does not exist (a clock change)");
        }
    }
    bail!(
        "--at {s:?} is not a time: use RFC 3339 (2026-04-01T09:00:00+09:00) or local time \
         (2026-04-01 09:00)"
    )
}

pub async fn restore(g: &Global, args: RestoreArgs) -> Result<()> {
    let started = Instant::now();
    let at = args.at.as_deref().map(parse_time).transpose()?;
    let tenant = args.tenant.as_deref().map(tenant_code).transpose()?;
    let bar = Bar::new(true);
    let repo = connect(&args.from, &args.key, None, bar.clone())?
        .open(false)
        .await?;
    let opts = RestoreOptions {
        tenant,
        at,
        snapshot: args.snapshot.clone(),
    };
    if !args.drill {
        let store = open(g).await?;
        let r = murakumo_backup::restore(&store, &repo, &opts).await;
        bar.0.finish_and_clear();
        let r = r?;
        print_restored(&r);
        warn_of_sealed_keys(&store, &r).await?;
        read_around(&repo, &args.from);
        return Ok(());
    }
    let (dir, remove) = match &args.drill_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "murakumo-drill-{}-{}",
                std::process::id(),
                Utc::now().format("%Y%m%dT%H%M%S")
            )),
            true,
        ),
    };
    let result = drill(&repo, &opts, &dir, started, &bar).await;
    bar.0.finish_and_clear();
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// After a restore: the municipalities whose signing keys came back sealed under another
/// platform key than this node's. They keep verifying what they signed; nothing is signed
/// until the operator restarts with the platform's key file or the key is rotated.
async fn warn_of_sealed_keys(store: &Store, r: &murakumo_backup::RestoreReport) -> Result<()> {
    for t in &r.tenants {
        let ts = store.tenant(&t.code);
        let own = ts
            .signing_keys_with_secrets()
            .await?
            .into_iter()
            .any(|k| k.site.is_none());
        if own && ts.active_signing_key().await?.is_none() {
            eprintln!(
                "warning: {} {}: the backup's signing keys are sealed under another platform key \
                 than this node's: certificates issued before still verify, but none can be \
                 issued here until this node runs with the platform's key file \
                 (--platform-key-file), or the municipality's administrator rotates the key.",
                t.code, t.name
            );
        }
    }
    Ok(())
}

/// After a restore from a `dispersed:` repository: the shares that had to
/// be read around, and how to rebuild them.
fn read_around(repo: &murakumo_backup::Repository, url: &str) {
    let (_, faults) = repo.target().take_share_log();
    if faults.is_empty() {
        return;
    }
    let sites: std::collections::BTreeSet<String> = faults
        .iter()
        .map(|f| format!("site {} ({})", f.site, f.location))
        .collect();
    eprintln!(
        "note: {} share(s) at {} were missing, damaged or unreadable; every object was read from \
         two good sites. `murakumo verify --repo {url} --repair` rebuilds them.",
        faults.len(),
        sites.into_iter().collect::<Vec<_>>().join(", ")
    );
}

fn print_restored(r: &murakumo_backup::RestoreReport) {
    println!(
        "restored {} municipalities from {} ({} entries){}",
        r.tenants.len(),
        r.snapshot,
        r.entries,
        if r.operators_added > 0 {
            format!(", {} operators", r.operators_added)
        } else {
            String::new()
        }
    );
    for t in &r.tenants {
        println!(
            "  {} {}: ledger {} entries, access log {} entries, newest {}; chains verify",
            t.code,
            t.name,
            t.ledger.seq,
            t.access.seq,
            t.newest
                .map(|n| n
                    .with_timezone(&Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    if let Some(head) = &r.platform {
        println!(
            "  the platform's chain (operators, 県版 settings): {} entries; verifies",
            head.seq
        );
    }
}

/// Restores into `dir`, serves it on a scratch port until `/healthz`
/// answers, and reports RPO (age of the newest entry restored) and RTO
/// (from the start of the command to that answer).
async fn drill(
    repo: &murakumo_backup::Repository,
    opts: &RestoreOptions,
    dir: &std::path::Path,
    started: Instant,
    bar: &Arc<Bar>,
) -> Result<()> {
    let store = Store::open_sqlite(dir, murakumo_app::systems())
        .await
        .with_context(|| format!("opening the scratch directory {}", dir.display()))?;
    let report = murakumo_backup::restore(&store, repo, opts).await?;
    bar.message("starting a scratch server");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let config = murakumo_server::ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        tls: None,
        grace: Duration::from_secs(2),
        public_url: None,
    };
    let server = tokio::spawn(murakumo_server::serve(
        store.clone(),
        config,
        async move {
            let _ = stop_rx.await;
        },
        move |addr| {
            let _ = addr_tx.send(addr);
        },
    ));
    let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx)
        .await
        .context("the scratch server did not start within 60 s")??;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if healthz(addr).await {
            break;
        }
        if Instant::now() > deadline {
            bail!("the scratch server on {addr} did not answer /healthz within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rto = started.elapsed();
    let _ = stop_tx.send(());
    let _ = server.await;
    store.close().await;
    bar.0.finish_and_clear();
    print_restored(&report);
    println!(
        "drill: restored into {} and served it on http://{addr}/",
        dir.display()
    );
    match report.newest() {
        Some(newest) => {
            let age = Utc::now().signed_duration_since(newest);
            println!(
                "RPO: {} s (newest entry recorded {})",
                age.num_seconds().max(0),
                newest.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S")
            );
        }
        None => println!("RPO: - (the backup holds no entries)"),
    }
    println!(
        "RTO: {:.1} s (from the start of the restore to /healthz answering 200 on the restored instance, chains verified)",
        rto.as_secs_f64()
    );
    Ok(())
}

/// Whether `GET /healthz` answers 200 (plain HTTP/1.1 over TCP).
async fn healthz(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200"))
}

pub async fn verify(args: VerifyArgs) -> Result<()> {
    if let Some(p) = args.sample
        && !(p > 0.0 && p <= 100.0)
    {
        bail!("--sample takes a percentage greater than 0 and at most 100, e.g. --sample 5");
    }
    let limit = args
        .limit_rate
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--limit-rate: {e}"))?;
    let bar = if args.repair {
        Bar::repair()
    } else {
        Bar::new(false)
    };
    let repo = connect(&args.repo, &args.key, limit, bar.clone())?
        .open(false)
        .await?;
    let result = check(&repo, &args, &bar).await;
    bar.0.finish_and_clear();
    let (repaired, r) = result?;
    if let Some(r) = &repaired {
        print_repair(r);
    }
    for (code, chain, head) in &r.chains {
        println!(
            "{code} {chain}: ok, {} entries, head {}",
            head.seq,
            &head.hash.to_hex()[..16]
        );
    }
    if let Some(head) = &r.platform {
        println!(
            "platform ledger: ok, {} entries, head {}",
            head.seq,
            &head.hash.to_hex()[..16]
        );
    }
    if r.full {
        println!(
            "{} snapshots, {} chunks, {} segments checked",
            r.snapshots, r.chunks, r.segments
        );
    } else {
        println!(
            "sample: {} of the repository's objects checked ({} snapshots, {} chunks; {} shares); \
             chains not walked",
            r.objects_checked, r.snapshots, r.chunks, r.shares_checked
        );
    }
    if let Some(path) = &args.metrics_file {
        murakumo_backup::metrics::write_textfile(
            path,
            &murakumo_backup::metrics::CheckSummary {
                repo: repo.url(),
                full: r.full,
                at: Utc::now(),
                objects_checked: r.objects_checked as u64,
                shares_checked: r.shares_checked,
                shares_bad: r.shares_bad(),
                shares_repaired: repaired.as_ref().map_or(0, |x| x.rebuilt.len() as u64),
                objects_lost: r.lost.len() as u64,
                snapshots_unrestorable: r.unrestorable.len() as u64,
            },
        )
        .with_context(|| format!("--metrics-file {}", path.display()))?;
    }
    if r.ok() {
        println!("repository ok");
        return Ok(());
    }
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    print_share_faults(&r, &args.repo);
    print_lost(&r);
    if !r.lost.is_empty() {
        bail!(
            "{} object(s) of the repository are LOST and {} snapshot(s) can no longer be restored \
             whole (listed above). Nothing can rebuild a lost object from these sites: while the \
             data directory still holds the chains, back up into a new repository \
             (`murakumo backup --to NEWURL`); snapshots listed as restorable, and --tenant for \
             the municipalities named, still restore from this one",
            r.lost.len(),
            r.unrestorable.len()
        );
    }
    if !r.share_faults.is_empty() && r.problems.is_empty() {
        bail!(
            "{} share(s) are missing or damaged; every object is still readable from two sites. \
             Run `murakumo verify --repo {} --repair` to rebuild them before another site fails",
            r.share_faults.len(),
            args.repo
        );
    }
    bail!(
        "the repository has {} problem(s)",
        r.problems.len() + r.share_faults.len()
    );
}

/// Repairs (if asked), then checks: everything, or a sample.
async fn check(
    repo: &murakumo_backup::Repository,
    args: &VerifyArgs,
    bar: &Arc<Bar>,
) -> Result<(
    Option<murakumo_backup::RepairReport>,
    murakumo_backup::VerifyReport,
)> {
    let sample = match args.sample {
        Some(p) if p < 100.0 => Some(murakumo_backup::sample_objects(repo, p).await?),
        _ => None,
    };
    let repaired = if args.repair {
        let r = murakumo_backup::repair(repo, sample.as_ref()).await?;
        bar.0.set_position(0);
        bar.0.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg:30} [{bar:30}] {pos}/{len} objects ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.message("verifying");
        Some(r)
    } else {
        None
    };
    let report = match &sample {
        Some(objects) => murakumo_backup::verify_sample(repo, objects).await?,
        None => murakumo_backup::verify(repo).await?,
    };
    Ok((repaired, report))
}

fn print_repair(r: &murakumo_backup::RepairReport) {
    if r.rebuilt.is_empty() {
        println!(
            "repair: {} objects checked at all three sites; every share is intact, nothing written",
            r.objects
        );
    } else {
        println!(
            "repair: {} objects checked at all three sites; {} share(s) rebuilt from the other two \
             sites and written back ({}; {} bytes), each read back and compared",
            r.objects,
            r.rebuilt.len(),
            indicatif::HumanBytes(r.bytes_written),
            r.bytes_written
        );
        for (i, site) in r.sites.iter().enumerate() {
            let (missing, corrupted) = r.rebuilt_at(i + 1);
            if missing + corrupted > 0 {
                println!(
                    "  site {} ({site}): {} rebuilt ({missing} missing, {corrupted} damaged)",
                    i + 1,
                    missing + corrupted
                );
            }
        }
        for f in r.rebuilt.iter().take(20) {
            println!("  REBUILT {f}");
        }
        if r.rebuilt.len() > 20 {
            println!("  … and {} more", r.rebuilt.len() - 20);
        }
    }
    if !r.lost.is_empty() {
        println!(
            "repair: {} object(s) have fewer than two good shares and cannot be rebuilt (see LOST below)",
            r.lost.len()
        );
    }
}

/// Shares read around, per site (the first 20 of each named).
fn print_share_faults(r: &murakumo_backup::VerifyReport, url: &str) {
    if r.share_faults.is_empty() {
        return;
    }
    for site in 1..=3 {
        let at: Vec<_> = r.share_faults.iter().filter(|f| f.site == site).collect();
        let Some(first) = at.first() else { continue };
        for f in at.iter().take(20) {
            println!("PROBLEM: {f}");
        }
        if at.len() > 20 {
            println!("PROBLEM: … and {} more at site {site}", at.len() - 20);
        }
        let (missing, corrupted, unreadable) = r.faults_at(site);
        println!(
            "site {site} ({}): {missing} share(s) missing, {corrupted} damaged, {unreadable} unreadable",
            first.location
        );
    }
    println!(
        "every object above was read from the other two sites; `murakumo verify --repo {url} \
         --repair` rebuilds these shares and writes them back"
    );
}

fn print_lost(r: &murakumo_backup::VerifyReport) {
    for (name, why) in &r.lost {
        println!("LOST {name}: {why}");
    }
    for u in &r.unrestorable {
        println!(
            "LOST snapshot {} can no longer be restored whole: it needs {}",
            u.snapshot,
            u.needs.join(", ")
        );
        if !u.tenants_intact.is_empty() {
            println!(
                "  still restorable from it with --tenant: {}",
                u.tenants_intact.join(", ")
            );
        }
    }
    if !r.unrestorable.is_empty() {
        if r.restorable.is_empty() {
            println!("no snapshot can be restored whole");
        } else {
            println!(
                "snapshots that still restore whole (restore --snapshot NAME): {}",
                r.restorable.join(", ")
            );
        }
    }
}

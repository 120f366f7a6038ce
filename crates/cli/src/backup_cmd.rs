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
    #[command(flatten)]
    key: KeyArgs,
}

/// The progress bar: bytes, rate and ETA, on stderr (hidden when stderr is
/// not a terminal).
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(bytes: bool) -> Arc<Bar> {
        let bar = indicatif::ProgressBar::new(0);
        let template = if bytes {
            "{spinner} {msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{spinner} {msg:30} [{bar:30}] {pos}/{len} objects ETA {eta}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Arc::new(Bar(bar))
    }
}

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
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
    let store = Store::open_sqlite(dir)
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
    let bar = Bar::new(false);
    let repo = connect(&args.repo, &args.key, None, bar.clone())?
        .open(false)
        .await?;
    let r = murakumo_backup::verify(&repo).await;
    bar.0.finish_and_clear();
    let r = r?;
    for (code, chain, head) in &r.chains {
        println!(
            "{code} {chain}: ok, {} entries, head {}",
            head.seq,
            &head.hash.to_hex()[..16]
        );
    }
    println!(
        "{} snapshots, {} chunks, {} segments checked",
        r.snapshots, r.chunks, r.segments
    );
    if !r.ok() {
        for p in &r.problems {
            println!("PROBLEM: {p}");
        }
        bail!("the repository has {} problem(s)", r.problems.len());
    }
    println!("repository ok");
    Ok(())
}

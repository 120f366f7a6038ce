//! The foundation benchmark (issue 3): ledger append, verification,
//! streaming, segments and projection rebuild, on SQLite and PostgreSQL,
//! with plain-SQL peers measured in the same run.
//!
//! Per backend, on a fresh database:
//! 1. append `entries` 転入 (`resident.entered`, projected into the resident
//!    register tables)
//!    to tenant 362026 鳴門市 in batches through [`TenantStore::append`];
//! 2. append the same payloads under a kind no projection reads
//!    (`bench.opaque`) to tenant 362034 小松島市: the ledger alone;
//! 3. `verify(Chain::Ledger)` (twice: the first scan after a bulk append
//!    costs more), `read_after` streaming, in-memory hashing, and segment
//!    cut / encode / decode of tenant 362026's chain;
//! 4. append `residents` 転入 to tenant 362018 徳島市 and time
//!    `rebuild_projections()`;
//! 5. the peers: the rows step 1 wrote, written again by plain multi-row
//!    INSERT (and UNNEST and COPY on PostgreSQL), without hashing, chain
//!    head or projection code (see `peer.rs`).

use murakumo_resident_store::ResidentReads;
use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, NewEntry, Segment, cut_segments};
use murakumo_store::{Chain, Store, TenantStore};
use murakumo_testkit::PgCluster;
use tempfile::TempDir;

use crate::peer::{Engine, Method, PeerDb, Placeholders, PlainRun, Tables};
use crate::population::Population;

/// What to run; from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub entries: usize,
    pub residents: usize,
    pub batch: usize,
    pub backends: Vec<Engine>,
}

/// A count of items done in a time.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub count: u64,
    pub elapsed: Duration,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything measured on one backend.
#[derive(Clone, Debug)]
pub struct BackendReport {
    pub engine: Engine,
    /// Database server/library version.
    pub version: String,
    /// `entries` projected 転入 through `TenantStore::append`.
    pub append: Rate,
    /// The same payloads under an unprojected kind.
    pub append_ledger_only: Rate,
    /// The first scan of the chain after the append.
    pub verify_first: Rate,
    /// The second scan.
    pub verify: Rate,
    pub read_after: Rate,
    /// BLAKE3 chain hashes recomputed in memory (CPU only).
    pub hash: Rate,
    pub cut: Rate,
    pub encode: Rate,
    pub decode: Rate,
    pub segments: usize,
    /// Segment bodies before compression (length-prefixed canonical bytes).
    pub raw_bytes: u64,
    /// Encoded segments, headers included.
    pub encoded_bytes: u64,
    /// `residents` projected 転入 into the rebuild tenant.
    pub resident_append: Rate,
    pub rebuild: Rate,
    /// What the peers wrote: tables and row counts.
    pub peer_rows: String,
    pub peers: Vec<Peer>,
}

/// One plain run and its rate, counted in ledger rows (each with its share
/// of projection rows when the run writes them).
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub run: PlainRun,
    pub rate: Rate,
}

impl BackendReport {
    pub fn peer(&self, run: PlainRun) -> Option<Rate> {
        self.peers.iter().find(|p| p.run == run).map(|p| p.rate)
    }
}

/// The peers of a backend, in the order they run.
pub fn peer_runs(engine: Engine, batch: usize) -> Vec<PlainRun> {
    let run = |tables, method, commit_every| PlainRun {
        tables,
        method,
        commit_every,
    };
    let native = Method::Insert(Placeholders::Native);
    let mut runs = vec![
        run(Tables::Ledger, native, None),
        run(Tables::Ledger, native, Some(batch)),
        run(Tables::All, native, Some(batch)),
    ];
    match engine {
        Engine::Sqlite => runs.push(run(
            Tables::All,
            Method::Insert(Placeholders::Numbered),
            Some(batch),
        )),
        Engine::Postgres => runs.extend([
            run(Tables::Ledger, Method::Unnest, Some(batch)),
            run(Tables::All, Method::Unnest, Some(batch)),
            run(Tables::Ledger, Method::Copy, None),
            run(Tables::All, Method::Copy, Some(batch)),
        ]),
    }
    runs
}

/// A short name of a plain run, for progress lines.
pub fn peer_label(run: PlainRun) -> String {
    let method = match run.method {
        Method::Insert(Placeholders::Native) => "INSERT",
        Method::Insert(Placeholders::Numbered) => "INSERT ?NNN",
        Method::Copy => "COPY",
        Method::Unnest => "UNNEST",
    };
    let tables = match run.tables {
        Tables::Ledger => "ledger",
        Tables::All => "ledger + projection",
    };
    let tx = match run.commit_every {
        Some(_) => "tx per batch",
        None => "one tx",
    };
    format!("peer: {method}, {tables}, {tx}")
}

/// Tenant of the raw append: 鳴門市.
const RAW_TENANT: &str = "36202";
/// Tenant of the ledger-only append: 小松島市.
const LEDGER_ONLY_TENANT: &str = "36203";
/// Tenant of the rebuild: 徳島市 (about 250,000 residents in reality).
const RESIDENT_TENANT: &str = "36201";
/// A kind no projection reads: the ledger stores it and nothing else.
const OPAQUE_KIND: &str = "bench.opaque";
/// Page size of the `read_after` stream (what `verify` uses).
const READ_PAGE: u32 = 10_000;
/// Segment limits for the cut: 10,000 entries or 4 MiB uncompressed.
const SEGMENT_ENTRIES: usize = 10_000;
const SEGMENT_BYTES: usize = 4 << 20;
/// PostgreSQL settings of the benchmark cluster, closer to a data centre's
/// than the test defaults (16 MB): PostgreSQL's own defaults are 128 MB and
/// 1 GB. fsync and synchronous_commit stay on.
pub const PG_SETTINGS: &[(&str, &str)] = &[("shared_buffers", "'1GB'"), ("max_wal_size", "'4GB'")];

/// The raw append's population (also what the peers write).
pub fn raw_population() -> Population {
    Population::new(1, "徳島県鳴門市")
}

pub async fn run(opts: &Options) -> anyhow::Result<Vec<BackendReport>> {
    let mut reports = Vec::new();
    for &engine in &opts.backends {
        eprintln!("== {} ==", engine_name(engine));
        reports.push(run_backend(engine, opts).await?);
    }
    Ok(reports)
}

pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
    }
}

/// A fresh database and whatever keeps it alive.
struct Target {
    store: Store,
    /// The store's database, for the peers to read (as its owner).
    source_url: String,
    /// Where the peers write.
    peer_url: String,
    version: String,
    _dir: Option<TempDir>,
    _cluster: Option<PgCluster>,
}

impl Target {
    async fn open(engine: Engine) -> anyhow::Result<Target> {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let store =
                    Store::open_sqlite(&dir.path().join("store"), murakumo_app::systems()).await?;
                let source_url = format!(
                    "sqlite://{}",
                    dir.path().join("store").join("murakumo.db").display()
                );
                let peer_url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("plain.db").display()
                );
                let version = scalar(&store, "SELECT sqlite_version() AS v").await?;
                Ok(Target {
                    store,
                    source_url,
                    peer_url,
                    version: format!("SQLite {version} (WAL, synchronous=FULL)"),
                    _dir: Some(dir),
                    _cluster: None,
                })
            }
            Engine::Postgres => {
                let mut builder = PgCluster::builder().fsync(true).dedicated();
                for (name, value) in PG_SETTINGS {
                    builder = builder.setting(*name, *value);
                }
                let cluster = tokio::task::spawn_blocking(move || builder.start())
                    .await?
                    .context("starting a throwaway PostgreSQL cluster")?;
                let url = cluster.try_create_database("murakumo")?;
                let store = Store::open_postgres(&url, murakumo_app::systems()).await?;
                let version =
                    scalar(&store, "SELECT current_setting('server_version') AS v").await?;
                let settings = PG_SETTINGS
                    .iter()
                    .map(|(n, v)| format!("{n}={}", v.trim_matches('\'')))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(Target {
                    store,
                    source_url: url.clone(),
                    peer_url: url,
                    version: format!(
                        "PostgreSQL {version} (fsync=on, synchronous_commit=on, {settings})"
                    ),
                    _dir: None,
                    _cluster: Some(cluster),
                })
            }
        }
    }
}

async fn scalar(store: &Store, sql: &str) -> anyhow::Result<String> {
    use sqlx::Row;
    let row = sqlx::query(sql).fetch_one(store.raw_pool()).await?;
    Ok(row.try_get("v")?)
}

async fn run_backend(engine: Engine, opts: &Options) -> anyhow::Result<BackendReport> {
    let target = Target::open(engine).await?;
    let store = &target.store;
    let n = opts.entries;

    let raw_code = tenant_code(RAW_TENANT)?;
    store
        .create_tenant(&raw_code, "鳴門市", "system:bench")
        .await?;
    let raw = store.tenant(&raw_code);
    let mut population = raw_population();
    let append = append_all(&raw, n, opts.batch, "append 転入 (projected)", |k| {
        population.entries(k)
    })
    .await?;

    let opaque_code = tenant_code(LEDGER_ONLY_TENANT)?;
    store
        .create_tenant(&opaque_code, "小松島市", "system:bench")
        .await?;
    let mut population = Population::new(1, "徳島県小松島市");
    let append_ledger_only = append_all(
        &store.tenant(&opaque_code),
        n,
        opts.batch,
        "append, ledger only",
        |k| {
            let mut entries = population.entries(k);
            for e in &mut entries {
                e.kind = OPAQUE_KIND.to_string();
            }
            entries
        },
    )
    .await?;

    // The chain has the genesis entry (tenant created) before the 転入.
    let chain_len = n as u64 + 1;
    let bar = spinner("verify(Chain::Ledger), first scan");
    let start = Instant::now();
    let head = raw.verify(Chain::Ledger).await?;
    let verify_first = finish(&bar, chain_len, start.elapsed());
    ensure!(
        head.seq == chain_len,
        "verified {} entries, expected {chain_len}",
        head.seq
    );
    let bar = spinner("verify(Chain::Ledger), again");
    let start = Instant::now();
    raw.verify(Chain::Ledger).await?;
    let verify = finish(&bar, chain_len, start.elapsed());

    let (entries, read_after) = read_all(&raw, chain_len).await?;
    let hash = hash_all(&entries)?;
    let (cut, encode, decode, segments, raw_bytes, encoded_bytes) = segments(entries)?;

    let resident_code = tenant_code(RESIDENT_TENANT)?;
    store
        .create_tenant(&resident_code, "徳島市", "system:bench")
        .await?;
    let residents = store.tenant(&resident_code);
    let mut population = Population::new(2, "徳島県徳島市");
    let resident_append = append_all(
        &residents,
        opts.residents,
        opts.batch,
        "append 徳島市 residents",
        |k| population.entries(k),
    )
    .await?;
    let bar = spinner("rebuild_projections()");
    let start = Instant::now();
    let replayed = residents.rebuild_projections().await?;
    let rebuild = finish(&bar, replayed, start.elapsed());
    let count = residents.count_residents().await?;
    ensure!(
        count == opts.residents as u64,
        "rebuild left {count} residents, expected {}",
        opts.residents
    );

    let peers = PeerDb::open(engine, &target.source_url, &target.peer_url).await?;
    let bar = spinner("peers: snapshot of the append's rows");
    let snapshot = peers.snapshot(&raw_code).await?;
    bar.finish_and_clear();
    eprintln!(
        "  peers write the rows of tenant {raw_code}: {}",
        snapshot.describe()
    );
    let mut peer_rates = Vec::new();
    for run in peer_runs(engine, opts.batch) {
        let bar = progress(snapshot.ledger_rows() as u64, &peer_label(run));
        let spent = peers.run(&snapshot, run, &bar).await?;
        let rate = finish(&bar, snapshot.ledger_rows() as u64, spent);
        peer_rates.push(Peer { run, rate });
    }
    let peer_rows = snapshot.describe();
    drop(snapshot);
    peers.close().await;
    target.store.close().await;

    Ok(BackendReport {
        engine,
        version: target.version.clone(),
        append,
        append_ledger_only,
        verify_first,
        verify,
        read_after,
        hash,
        cut,
        encode,
        decode,
        segments,
        raw_bytes,
        encoded_bytes,
        resident_append,
        rebuild,
        peer_rows,
        peers: peer_rates,
    })
}

fn tenant_code(five: &str) -> anyhow::Result<TenantCode> {
    Ok(TenantCode::from_five_digits(five)?)
}

/// Appends `n` entries made by `make` in batches; times the appends only.
async fn append_all(
    tenant: &TenantStore<'_>,
    n: usize,
    batch: usize,
    what: &str,
    mut make: impl FnMut(usize) -> Vec<NewEntry>,
) -> anyhow::Result<Rate> {
    let bar = progress(n as u64, what);
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < n {
        let take = batch.max(1).min(n - done);
        let entries = make(take);
        let start = Instant::now();
        let sealed = tenant.append(entries).await?;
        spent += start.elapsed();
        if sealed.len() != take {
            bail!("append returned {} entries for {take}", sealed.len());
        }
        done += take;
        bar.set_position(done as u64);
    }
    Ok(finish(&bar, n as u64, spent))
}

/// Streams a whole chain with `read_after`, keeping the entries.
async fn read_all(tenant: &TenantStore<'_>, len: u64) -> anyhow::Result<(Vec<Entry>, Rate)> {
    let bar = progress(len, "read_after stream");
    let mut entries = Vec::with_capacity(len as usize);
    let start = Instant::now();
    loop {
        let after = entries.last().map_or(0, |e: &Entry| e.seq);
        let page = tenant.read_after(Chain::Ledger, after, READ_PAGE).await?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
        bar.set_position(entries.len() as u64);
    }
    let rate = finish(&bar, entries.len() as u64, start.elapsed());
    ensure!(
        entries.len() as u64 == len,
        "read {} entries, expected {len}",
        entries.len()
    );
    Ok((entries, rate))
}

/// Recomputes every entry's chain hash in memory: the CPU floor of sealing
/// and verifying.
fn hash_all(entries: &[Entry]) -> anyhow::Result<Rate> {
    let bar = spinner("BLAKE3 chain hash, in memory");
    let start = Instant::now();
    let bad = entries
        .iter()
        .filter(|e| black_box(e.compute_hash()) != e.hash)
        .count();
    let rate = finish(&bar, entries.len() as u64, start.elapsed());
    ensure!(bad == 0, "{bad} entries do not hash to their stored hash");
    Ok(rate)
}

type SegmentRates = (Rate, Rate, Rate, usize, u64, u64);

/// Cuts the chain into segments, encodes and decodes (verifying) them.
fn segments(entries: Vec<Entry>) -> anyhow::Result<SegmentRates> {
    let count = entries.len() as u64;
    let raw_bytes: u64 = entries
        .iter()
        .map(|e| 4 + e.canonical_bytes().len() as u64)
        .sum();

    let bar = spinner("segments: cut");
    let start = Instant::now();
    let segments = cut_segments(entries, SEGMENT_ENTRIES, SEGMENT_BYTES)?;
    let cut = finish(&bar, count, start.elapsed());

    let bar = progress(segments.len() as u64, "segments: encode");
    let start = Instant::now();
    let encoded: Vec<Vec<u8>> = segments
        .iter()
        .map(|s| {
            bar.inc(1);
            s.encode()
        })
        .collect();
    let encode = finish(&bar, count, start.elapsed());
    let encoded_bytes = encoded.iter().map(|b| b.len() as u64).sum();
    drop(segments);

    let bar = progress(encoded.len() as u64, "segments: decode + verify");
    let start = Instant::now();
    let mut decoded = 0u64;
    for bytes in &encoded {
        decoded += Segment::decode(bytes)?.entries.len() as u64;
        bar.inc(1);
    }
    let decode = finish(&bar, count, start.elapsed());
    ensure!(
        decoded == count,
        "decoded {decoded} entries, expected {count}"
    );
    Ok((cut, encode, decode, encoded.len(), raw_bytes, encoded_bytes))
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(what.to_string());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:<40} [{bar:30}] {human_pos}/{human_len} {per_sec:>12} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Ends a phase: clears its bar and prints its result line.
fn finish(bar: &ProgressBar, count: u64, elapsed: Duration) -> Rate {
    let rate = Rate { count, elapsed };
    bar.finish_and_clear();
    eprintln!(
        "  {:<40} {:>10} in {:>8.2} s = {:>12.0} /s",
        bar.message(),
        count,
        elapsed.as_secs_f64(),
        rate.per_second()
    );
    rate
}

//! The counter benchmark (issue 4): certificate issuance under load and
//! resident search, through the real `murakumo serve` binary over HTTP.
//!
//! Per backend:
//! 1. ten municipalities of 徳島県 are created in a fresh database (through
//!    the store, untimed): 徳島市 with `residents` generated residents and
//!    nine smaller ones, each with the 市長 settings a certificate needs and
//!    one 窓口 clerk account per counter client;
//! 2. `murakumo serve` (release build) is started on that database;
//! 3. `clients` counter clients (spread over the ten tenants, each logged
//!    in as its own clerk) issue 住民票の写し of random households of their
//!    municipality, back to back, for `duration` after a warm-up; each
//!    response is a PDF, its 発行番号 is kept;
//! 4. on 徳島市, resident searches one at a time (kana prefix, kanji name,
//!    birth date, address, 住民票コード), as the counter screen sends them,
//!    and 人口・世帯数 as of the register's date (counted from the ledger);
//! 5. the server is stopped and the database checked: every acknowledged
//!    発行番号 is in the issued-certificate read model (projected from the
//!    ledger), each once, and the ledger and access-log chains verify.
//!
//! Peers, in the same run: the bare render rate of the same renderer and
//! font on the same machine (sign + layout + subset + PDF, no database, no
//! HTTP), on one thread and on every core; and the plain `SELECT` the store
//! sends for each search, run directly against the same database; for the
//! statistics, a plain `GROUP BY address` over the residents read model.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_resident::{Citizenship, EntryReason, ResidentEvent, normalize_kana, normalize_name};
use murakumo_store::{Chain, Store};
use murakumo_tenancy::{StaffCreated, TenancyEvent};
use murakumo_testkit::PgCluster;
use sqlx::Row;
use tempfile::TempDir;

use crate::foundation::{PG_SETTINGS, engine_name};
use crate::peer::Engine;
use crate::population::{Population, Rng};

/// (5-digit code, name, 都道府県+市区町村, share of the small tenants' residents in ‰).
const TENANTS: [(&str, &str, &str, u32); 10] = [
    ("36201", "徳島市", "徳島県徳島市", 0),
    ("36202", "鳴門市", "徳島県鳴門市", 300),
    ("36203", "小松島市", "徳島県小松島市", 200),
    ("36204", "阿南市", "徳島県阿南市", 150),
    ("36205", "吉野川市", "徳島県吉野川市", 110),
    ("36206", "阿波市", "徳島県阿波市", 80),
    ("36207", "美馬市", "徳島県美馬市", 60),
    ("36208", "三好市", "徳島県三好市", 50),
    ("36301", "勝浦町", "徳島県勝浦郡勝浦町", 30),
    ("36302", "上勝町", "徳島県勝浦郡上勝町", 20),
];
/// Every clerk's password (a benchmark, not a secret).
pub(crate) const PASSWORD: &str = "murakumo-bench counter password";
/// Searches of each kind.
const SEARCHES: usize = 200;
/// Certificates rendered by the render peer, per thread.
const RENDERS: usize = 200;

pub struct Options {
    /// Residents of 徳島市.
    pub residents: usize,
    /// Residents of the nine other municipalities together.
    pub others: usize,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Certificates/s of the paced run (all clients together); 0: none.
    pub rate: f64,
    pub backends: Vec<Engine>,
    pub murakumo: PathBuf,
}

/// Latencies of one kind of request, in µs, sorted.
#[derive(Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub(crate) fn from(mut v: Vec<u64>) -> Latencies {
        v.sort_unstable();
        Latencies(v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (nearest rank), in ms.
    pub fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1000.0
    }
}

pub struct SearchResult {
    pub http: Latencies,
    pub plain: Latencies,
    /// Mean rows returned.
    pub rows: f64,
}

pub struct EngineReport {
    pub engine: Engine,
    pub version: String,
    pub load_time: Duration,
    /// Clients back to back: the throughput.
    pub saturated: Phase,
    /// Clients paced at the aim's rate: the latency at that load.
    pub paced: Option<Phase>,
    pub checked: String,
    pub searches: Vec<SearchResult>,
    pub plans: Vec<(String, String)>,
    pub statistics: StatisticsResult,
}

/// 人口・世帯数 of 徳島市 as of the register's date, counted from the ledger through the API,
/// against a plain SQL GROUP BY over the read model (which can count only the present).
pub struct StatisticsResult {
    /// Median of the runs, ms.
    pub http_ms: f64,
    pub plain_ms: f64,
    /// People counted by the API.
    pub people: u64,
    /// People counted by the GROUP BY.
    pub plain_people: u64,
}

pub struct RenderPeer {
    pub single: f64,
    pub threads: usize,
    pub parallel: f64,
}

pub struct Report {
    pub render: RenderPeer,
    pub engines: Vec<EngineReport>,
}

/// What the clients need to know about a loaded tenant.
struct TenantData {
    code: TenantCode,
    households: Vec<String>,
    logins: Vec<String>,
}

/// Samples of 徳島市 residents, for the searches.
#[derive(Default)]
struct Samples {
    kana: Vec<String>,
    names: Vec<String>,
    births: Vec<NaiveDate>,
    addresses: Vec<String>,
    codes: Vec<String>,
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    ensure!(
        opts.murakumo.is_file(),
        "{} not found: build it first with `cargo build --release -p murakumo-cli`",
        opts.murakumo.display()
    );
    let render = render_peer()?;
    let mut engines = Vec::new();
    for &engine in &opts.backends {
        eprintln!("== {} ==", engine_name(engine));
        engines.push(run_engine(engine, opts).await?);
    }
    Ok(Report { render, engines })
}

/// A fresh database: where it is and what keeps it alive.
pub(crate) struct Target {
    /// `--data DIR` or `--database-url URL` for `murakumo serve`.
    pub(crate) serve_args: Vec<String>,
    /// For the plain-SELECT peer (the owner: no row-level security).
    url: String,
    version: String,
    pub(crate) dir: TempDir,
    _cluster: Option<PgCluster>,
}

pub(crate) async fn open_target(engine: Engine) -> anyhow::Result<(Target, Store)> {
    let dir = tempfile::Builder::new()
        .prefix("murakumo-bench-counter-")
        .tempdir()?;
    match engine {
        Engine::Sqlite => {
            let data = dir.path().join("data");
            let store = Store::open_sqlite(&data, murakumo_app::systems()).await?;
            let version = scalar(&store, "SELECT sqlite_version() AS v").await?;
            Ok((
                Target {
                    serve_args: vec!["--data".into(), data.display().to_string()],
                    url: format!("sqlite://{}?mode=ro", data.join("murakumo.db").display()),
                    version: format!("SQLite {version} (WAL, synchronous=FULL)"),
                    dir,
                    _cluster: None,
                },
                store,
            ))
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
            let version = scalar(&store, "SELECT current_setting('server_version') AS v").await?;
            Ok((
                Target {
                    serve_args: vec!["--database-url".into(), url.clone()],
                    url,
                    version: format!("PostgreSQL {version} (fsync=on, synchronous_commit=on)"),
                    dir,
                    _cluster: Some(cluster),
                },
                store,
            ))
        }
    }
}

async fn scalar(store: &Store, sql: &str) -> anyhow::Result<String> {
    let row = sqlx::query(sql).fetch_one(store.raw_pool()).await?;
    Ok(row.try_get("v")?)
}

pub(crate) fn new_entry(event: &impl EventCodec) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: chrono::Utc::now().date_naive(),
        actor: "system:bench".into(),
        payload,
    }
}

/// Creates the ten tenants and their residents; returns what clients need.
async fn load(
    store: &Store,
    opts: &Options,
) -> anyhow::Result<(Vec<TenantData>, Samples, Duration)> {
    let hash = murakumo_auth::hash_password(PASSWORD, None)?;
    let per_tenant = opts.clients.div_ceil(TENANTS.len());
    let mut tenants = Vec::new();
    let mut samples = Samples::default();
    let t = Instant::now();
    for (i, (five, name, city, share)) in TENANTS.iter().enumerate() {
        let code = TenantCode::from_five_digits(five)?;
        store.create_tenant(&code, name, "system:bench").await?;
        let ts = store.tenant(&code);
        let title = format!("{name}長");
        let mut setup = vec![
            new_entry(&TenancyEvent::SettingChanged {
                key: "certificate.issuer_title".into(),
                value: Some(title),
                reason: "bench".into(),
            }),
            new_entry(&TenancyEvent::SettingChanged {
                key: "certificate.issuer_name".into(),
                value: Some("叢雲 太郎".into()),
                reason: "bench".into(),
            }),
            // The searches run back to back, one at a time: several hundred a second, over
            // the default quota of 100 requests/s a tenant (the operator's setting).
            new_entry(&TenancyEvent::SettingChanged {
                key: "platform.requests_per_second".into(),
                value: Some("2000".into()),
                reason: "bench".into(),
            }),
        ];
        let logins: Vec<String> = (1..=per_tenant).map(|k| format!("clerk{k:02}")).collect();
        for login in &logins {
            setup.push(new_entry(&TenancyEvent::StaffCreated(StaffCreated {
                staff_id: format!("s-{login}"),
                login: login.clone(),
                display_name: format!("窓口 {login}"),
                roles: vec!["resident.clerk".into()],
                password_hash: hash.clone(),
            })));
        }
        ts.append(setup).await?;
        let n = if i == 0 {
            opts.residents
        } else {
            (opts.others * *share as usize / 1000).max(100)
        };
        let mut population = Population::new(100 + i as u64, city);
        let mut households = Vec::new();
        let mut seen = HashSet::new();
        let mut done = 0;
        while done < n {
            let entries = population.entries(1_000.min(n - done));
            done += entries.len();
            for e in &entries {
                let Ok(Some(ResidentEvent::Entered {
                    resident_code,
                    household_id,
                    person,
                    address,
                    ..
                })) = ResidentEvent::decode(&e.kind, e.version, &e.payload)
                else {
                    continue;
                };
                if seen.insert(household_id.clone()) {
                    households.push(household_id.clone());
                    if i == 0 {
                        samples.addresses.push(address);
                    }
                }
                if i == 0 {
                    samples
                        .kana
                        .push(person.family_kana.chars().take(2).collect());
                    samples.names.push(person.family_name.clone());
                    samples.births.push(person.birth_date);
                    samples.codes.push(resident_code);
                }
            }
            ts.append(entries).await?;
        }
        eprintln!("  {name}: {n} residents, {} households", households.len());
        tenants.push(TenantData {
            code,
            households,
            logins,
        });
    }
    Ok((tenants, samples, t.elapsed()))
}

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(bin: &Path, args: &[String], dir: &Path) -> anyhow::Result<Server> {
        let port = murakumo_testkit::free_port();
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = Command::new(bin)
            .arg("serve")
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // MURAKUMO_BENCH_SERVE_LOG: the server's log filter, e.g.
            // `warn,sqlx::query=trace` to see its statements while profiling.
            .env(
                "MURAKUMO_LOG",
                std::env::var("MURAKUMO_BENCH_SERVE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    pub(crate) async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(300);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                bail!("murakumo serve exited early ({status})");
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("murakumo serve did not become ready in 300 s")
    }

    /// SIGTERM, then wait: the server finishes requests in flight.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    /// A benchmark that failed half-way leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) async fn login(
    base: &str,
    tenant: &TenantCode,
    login: &str,
) -> anyhow::Result<(reqwest::Client, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let resp = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({
            "tenant": tenant.as_str(), "login": login, "password": PASSWORD,
        }))
        .send()
        .await?;
    ensure!(
        resp.status().is_success(),
        "login {login}@{tenant}: {}",
        resp.text().await.unwrap_or_default()
    );
    let v: serde_json::Value = resp.json().await?;
    let token = v["token"]
        .as_str()
        .context("login answered without a token")?
        .to_string();
    Ok((client, format!("Bearer {token}")))
}

/// What one counter client did in the measured window.
#[derive(Default)]
struct ClientRun {
    latencies: Vec<u64>,
    /// (tenant, 発行番号) of every acknowledged issuance (warm-up included).
    numbers: Vec<(TenantCode, String)>,
    errors: usize,
    first_error: Option<String>,
    pdf_bytes: u64,
}

#[allow(clippy::too_many_arguments)]
async fn counter_client(
    base: String,
    tenant: Arc<TenantData>,
    (client, auth): (reqwest::Client, String),
    seed: u64,
    start: Instant,
    measure_from: Instant,
    until: Instant,
    pace: Option<Duration>,
) -> anyhow::Result<ClientRun> {
    let mut rng = Rng::new(seed);
    let mut run = ClientRun::default();
    let url = format!("{base}/api/v1/certificates");
    // Paced: this client's requests are due at start + offset + k·pace.
    let mut due = pace.map(|p| start + p.mul_f64((seed % 1000) as f64 / 1000.0));
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < until {
        let household = &tenant.households[rng.below(tenant.households.len())];
        let started = match (due.as_mut(), pace) {
            (Some(d), Some(p)) => {
                tokio::time::sleep_until((*d).into()).await;
                let at = *d;
                *d += p;
                // Latency counts from when the request was due, so a
                // server that falls behind is not flattered (no
                // coordinated omission).
                at
            }
            _ => Instant::now(),
        };
        if started >= until {
            break;
        }
        let resp = client
            .post(&url)
            .header("authorization", &auth)
            .json(&serde_json::json!({
                "kind": "resident_copy",
                "household_id": household,
                "requester": "本人",
                "purpose": "ベンチマーク（窓口交付）",
            }))
            .send()
            .await;
        let outcome = match resp {
            Ok(r) if r.status().is_success() => {
                let number = r
                    .headers()
                    .get("x-issue-number")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match (number, r.bytes().await) {
                    (Some(n), Ok(pdf)) => Ok((n, pdf.len())),
                    (None, _) => Err("a PDF without x-issue-number".to_string()),
                    (_, Err(e)) => Err(e.to_string()),
                }
            }
            Ok(r) => Err(format!(
                "{}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        };
        let finished = Instant::now();
        match outcome {
            Ok((number, bytes)) => {
                run.numbers.push((tenant.code, number));
                if started >= measure_from && finished <= until {
                    run.latencies
                        .push(finished.duration_since(started).as_micros() as u64);
                    run.pdf_bytes += bytes as u64;
                }
            }
            Err(e) => {
                run.errors += 1;
                run.first_error.get_or_insert(e);
            }
        }
    }
    Ok(run)
}

/// One issuance run: what the clients did in the measured window.
pub struct Phase {
    pub issued: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub window: Duration,
    pub latency: Latencies,
    pub mean_pdf_bytes: f64,
}

impl Phase {
    pub fn per_second(&self) -> f64 {
        self.issued as f64 / self.window.as_secs_f64().max(1e-9)
    }

    fn describe(&self) -> String {
        format!(
            "issued {} in the window ({:.1}/s), p50 {:.1} ms, p99 {:.1} ms, {} errors",
            self.issued,
            self.per_second(),
            self.latency.ms(50.0),
            self.latency.ms(99.0),
            self.errors
        )
    }
}

/// Runs the clients once (closed loop if `pace` is `None`, else each client
/// sends one request every `pace`); returns the phase and every
/// acknowledged (tenant, 発行番号).
async fn issue_phase(
    base: &str,
    tenants: &[Arc<TenantData>],
    opts: &Options,
    pace: Option<Duration>,
) -> anyhow::Result<(Phase, Vec<(TenantCode, String)>)> {
    // Log everyone in first, one after another as clerks arriving do (argon2 is slow on
    // purpose, and 50 logins at once from one address would be throttled as a spray), then
    // start together.
    let mut sessions = Vec::new();
    for c in 0..opts.clients {
        let tenant = tenants[c % tenants.len()].clone();
        let login_id = tenant.logins[c / tenants.len() % tenant.logins.len()].clone();
        sessions.push((tenant.clone(), login(base, &tenant.code, &login_id).await?));
    }
    let start = Instant::now() + Duration::from_secs(1);
    let measure_from = start + opts.warmup;
    let until = measure_from + opts.duration;
    let mut tasks = Vec::new();
    for (c, (tenant, session)) in sessions.into_iter().enumerate() {
        tasks.push(tokio::spawn(counter_client(
            base.to_string(),
            tenant,
            session,
            1_000 + c as u64 + if pace.is_some() { 500 } else { 0 },
            start,
            measure_from,
            until,
            pace,
        )));
    }
    let mut all = Vec::new();
    let mut numbers = Vec::new();
    let (mut errors, mut first_error, mut pdf_bytes) = (0, None, 0u64);
    for t in tasks {
        let run = t.await??;
        all.extend(run.latencies);
        numbers.extend(run.numbers);
        errors += run.errors;
        pdf_bytes += run.pdf_bytes;
        if first_error.is_none() {
            first_error = run.first_error;
        }
    }
    let latency = Latencies::from(all);
    let issued = latency.len();
    Ok((
        Phase {
            issued,
            errors,
            first_error,
            window: opts.duration,
            latency,
            mean_pdf_bytes: pdf_bytes as f64 / issued.max(1) as f64,
        },
        numbers,
    ))
}

async fn run_engine(engine: Engine, opts: &Options) -> anyhow::Result<EngineReport> {
    let (target, store) = open_target(engine).await?;
    let (tenants, samples, load_time) = load(&store, opts).await?;
    eprintln!("  loaded in {:.1} s", load_time.as_secs_f64());
    store.close().await;
    drop(store);

    let mut server = Server::start(&opts.murakumo, &target.serve_args, target.dir.path())?;
    let probe = reqwest::Client::new();
    server.wait_ready(&probe).await?;

    let tenants: Vec<Arc<TenantData>> = tenants.into_iter().map(Arc::new).collect();
    eprintln!(
        "  {} clients issuing back to back for {:.0} s (+{:.0} s warm-up)",
        opts.clients,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64()
    );
    let (saturated, mut numbers) = issue_phase(&server.base, &tenants, opts, None).await?;
    eprintln!("  {}", saturated.describe());
    let paced = if opts.rate > 0.0 {
        let pace = Duration::from_secs_f64(opts.clients as f64 / opts.rate);
        eprintln!(
            "  {} clients paced at {:.0} certificates/s in all for {:.0} s",
            opts.clients,
            opts.rate,
            opts.duration.as_secs_f64()
        );
        let (paced, more) = issue_phase(&server.base, &tenants, opts, Some(pace)).await?;
        eprintln!("  {}", paced.describe());
        numbers.extend(more);
        Some(paced)
    } else {
        None
    };

    // Searches on 徳島市, one at a time.
    let searches = searches(&server.base, &tenants[0], &samples, engine, &target.url).await?;
    let plans = plans(engine, &target.url, &tenants[0].code, &samples).await?;
    let statistics = statistics(&server.base, &tenants[0], engine, &target.url).await?;
    server.stop()?;

    // Every acknowledged issuance is in the ledger's projection, once.
    let store = match engine {
        Engine::Sqlite => {
            Store::open_sqlite(&target.dir.path().join("data"), murakumo_app::systems()).await?
        }
        Engine::Postgres => Store::open_postgres(&target.url, murakumo_app::systems()).await?,
    };
    let mut distinct = HashSet::new();
    for (tenant, number) in &numbers {
        ensure!(
            distinct.insert((*tenant, number.clone())),
            "発行番号 {number} of {tenant} was given to two certificates"
        );
        ensure!(
            store
                .tenant(tenant)
                .issued_certificate(number)
                .await?
                .is_some(),
            "acknowledged 発行番号 {number} of {tenant} is not in the ledger"
        );
    }
    let mut entries = (0u64, 0u64);
    for t in &tenants {
        entries.0 += store.tenant(&t.code).verify(Chain::Ledger).await?.seq;
        entries.1 += store.tenant(&t.code).verify(Chain::Access).await?.seq;
    }
    store.close().await;
    let checked = format!(
        "all {} acknowledged issuances (warm-up included) found in the ledger's projection with distinct 発行番号; \
         ledger ({} entries) and access-log ({} entries) chains of the ten tenants verify",
        numbers.len(),
        entries.0,
        entries.1
    );
    eprintln!("  {checked}");
    Ok(EngineReport {
        engine,
        version: target.version.clone(),
        load_time,
        saturated,
        paced,
        checked,
        searches,
        plans,
        statistics,
    })
}

/// Runs of each statistics measurement; the median is reported.
const STATISTICS_RUNS: usize = 3;

async fn statistics(
    base: &str,
    tenant: &TenantData,
    engine: Engine,
    url: &str,
) -> anyhow::Result<StatisticsResult> {
    let pool = peer_pool(engine, url, &tenant.code).await?;
    let (client, auth) = login(base, &tenant.code, &tenant.logins[0]).await?;
    let on = crate::population::as_of();
    let (mut http, mut plain, mut people, mut plain_people) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..STATISTICS_RUNS {
        let t = Instant::now();
        let resp = client
            .get(format!("{base}/api/v1/statistics/population?on={on}"))
            .header("authorization", &auth)
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        http.push(t.elapsed().as_micros() as u64);
        ensure!(status.is_success(), "statistics: {status} {body}");
        people = body["people"]["male"].as_u64().unwrap_or(0)
            + body["people"]["female"].as_u64().unwrap_or(0)
            + body["people"]["other"].as_u64().unwrap_or(0);

        let sql = for_engine(
            "SELECT address, count(*) AS people, count(DISTINCT household_id) AS households \
             FROM residents WHERE tenant_code = $1 AND status <> 'removed' GROUP BY address",
            engine,
        );
        let t = Instant::now();
        let rows = sqlx::query(&sql)
            .bind(tenant.code.as_str())
            .fetch_all(&pool)
            .await?;
        plain.push(t.elapsed().as_micros() as u64);
        plain_people = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("people").unwrap_or(0) as u64)
            .sum();
    }
    pool.close().await;
    let r = StatisticsResult {
        http_ms: Latencies::from(http).ms(50.0),
        plain_ms: Latencies::from(plain).ms(50.0),
        people,
        plain_people,
    };
    eprintln!(
        "  statistics as of {on}: {:.0} ms for {} people (plain GROUP BY {:.0} ms, {} people)",
        r.http_ms, r.people, r.plain_ms, r.plain_people
    );
    Ok(r)
}

/// One search: the query string for the API, and the SQL condition + binds
/// the store sends for it.
struct SearchCase {
    query: String,
    /// `None`: the lookup by 住民票コード.
    plain: (String, Vec<String>),
}

const SEARCH_KINDS: [&str; 5] = [
    "kana prefix (氏の読み 2 文字)",
    "kanji name prefix (氏)",
    "birth date",
    "address (same address)",
    "住民票コード",
];

fn case(kind: usize, samples: &Samples, rng: &mut Rng, tenant: &TenantCode) -> SearchCase {
    // The statements `TenantStore::search_residents` sends: kana order,
    // through the kana index only when kana is the condition.
    let base = "SELECT record FROM residents WHERE tenant_code = $1";
    let by_kana = " AND status <> 'removed' ORDER BY search_kana, resident_code LIMIT 50";
    let by_other = " AND status <> 'removed' ORDER BY search_kana || '', resident_code LIMIT 50";
    let t = tenant.as_str().to_string();
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let range = |col: &str, v: String, q: &str| SearchCase {
        query: format!("{q}={}", enc(&v)),
        plain: (
            format!(
                "{base} AND {col} >= $2 AND {col} < $3{}",
                if col == "search_kana" {
                    by_kana
                } else {
                    by_other
                }
            ),
            vec![t.clone(), v.clone(), format!("{v}\u{10FFFF}")],
        ),
    };
    match kind {
        0 => {
            let k = &samples.kana[rng.below(samples.kana.len())];
            let mut c = range("search_kana", normalize_kana(k), "kana");
            c.query = format!("kana={}", enc(k));
            c
        }
        1 => {
            let n = &samples.names[rng.below(samples.names.len())];
            let mut c = range("search_name", normalize_name(n), "name");
            c.query = format!("name={}", enc(n));
            c
        }
        2 => {
            let d = samples.births[rng.below(samples.births.len())].to_string();
            SearchCase {
                query: format!("birth_date={d}"),
                plain: (
                    format!("{base} AND birth_date = $2{by_other}"),
                    vec![t.clone(), d],
                ),
            }
        }
        3 => {
            let a = samples.addresses[rng.below(samples.addresses.len())].clone();
            range("address", a, "address")
        }
        _ => {
            let c = samples.codes[rng.below(samples.codes.len())].clone();
            SearchCase {
                query: c.clone(),
                plain: (
                    "SELECT record FROM residents WHERE tenant_code = $1 AND resident_code = $2"
                        .into(),
                    vec![t.clone(), c],
                ),
            }
        }
    }
}

/// `$n` → `?` for SQLite (the binds are in order in every statement here).
fn for_engine(sql: &str, engine: Engine) -> String {
    match engine {
        Engine::Postgres => sql.to_string(),
        Engine::Sqlite => {
            let mut out = String::new();
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

async fn searches(
    base: &str,
    tenant: &TenantData,
    samples: &Samples,
    engine: Engine,
    url: &str,
) -> anyhow::Result<Vec<SearchResult>> {
    let pool = peer_pool(engine, url, &tenant.code).await?;
    let (client, auth) = login(base, &tenant.code, &tenant.logins[0]).await?;
    let mut out = Vec::new();
    for (kind, label) in SEARCH_KINDS.iter().enumerate() {
        let mut rng = Rng::new(7 + kind as u64);
        let (mut http, mut plain, mut rows) = (Vec::new(), Vec::new(), 0usize);
        for _ in 0..SEARCHES {
            let c = case(kind, samples, &mut rng, &tenant.code);
            let url = if kind == 4 {
                format!("{base}/api/v1/residents/{}", c.query)
            } else {
                format!("{base}/api/v1/residents?{}", c.query)
            };
            let t = Instant::now();
            let resp = client
                .get(&url)
                .header("authorization", &auth)
                .send()
                .await?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            http.push(t.elapsed().as_micros() as u64);
            ensure!(status.is_success(), "search {url}: {status} {body}");
            rows += body.as_array().map_or(1, Vec::len);

            let sql = for_engine(&c.plain.0, engine);
            let mut q = sqlx::query(&sql);
            for b in &c.plain.1 {
                q = q.bind(b.as_str());
            }
            let t = Instant::now();
            let found = q.fetch_all(&pool).await?;
            plain.push(t.elapsed().as_micros() as u64);
            ensure!(!found.is_empty(), "plain search found nothing: {sql}");
        }
        let r = SearchResult {
            http: Latencies::from(http),
            plain: Latencies::from(plain),
            rows: rows as f64 / SEARCHES as f64,
        };
        eprintln!(
            "  search {label}: p50 {:.1} ms, p99 {:.1} ms (plain SELECT p50 {:.1} ms), {:.1} rows",
            r.http.ms(50.0),
            r.http.ms(99.0),
            r.plain.ms(50.0),
            r.rows
        );
        out.push(r);
    }
    pool.close().await;
    Ok(out)
}

/// One connection for the plain-SELECT peer. On PostgreSQL it names the
/// tenant, as the store does in every transaction: row-level security
/// hides every row from a connection that names none.
async fn peer_pool(
    engine: Engine,
    url: &str,
    tenant: &TenantCode,
) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    let code = tenant.as_str().to_string();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            let code = code.clone();
            Box::pin(async move {
                if engine == Engine::Postgres {
                    sqlx::query("SELECT set_config('murakumo.tenant', $1, false)")
                        .bind(code)
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// The query plan of each search (one sample each).
async fn plans(
    engine: Engine,
    url: &str,
    tenant: &TenantCode,
    samples: &Samples,
) -> anyhow::Result<Vec<(String, String)>> {
    let pool = peer_pool(engine, url, tenant).await?;
    let mut out = Vec::new();
    for (kind, label) in SEARCH_KINDS.iter().enumerate() {
        let c = case(kind, samples, &mut Rng::new(1), tenant);
        let prefix = match engine {
            Engine::Sqlite => "EXPLAIN QUERY PLAN ",
            Engine::Postgres => "EXPLAIN ",
        };
        let sql = format!("{prefix}{}", for_engine(&c.plain.0, engine));
        let mut q = sqlx::query(&sql);
        for b in &c.plain.1 {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(&pool).await?;
        let text = rows
            .iter()
            .filter_map(|r| {
                let col = match engine {
                    Engine::Sqlite => "detail",
                    Engine::Postgres => "QUERY PLAN",
                };
                r.try_get::<String, _>(col).ok()
            })
            .map(|l| l.trim().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        out.push((label.to_string(), text));
    }
    pool.close().await;
    Ok(out)
}

/// The renderer alone: a 2-person 住民票の写し signed and rendered, on one
/// thread and on every core at once.
fn render_peer() -> anyhow::Result<RenderPeer> {
    use murakumo_documents::{
        Address, Certificate, CertificateKind, CertificateOptions, Member, Renderer, Sex,
        SigningKeyPair,
    };
    let renderer = Renderer::system()?;
    let key = SigningKeyPair::from_secret_bytes(&[7; 32]);
    let mut population = Population::new(5, "徳島県徳島市");
    let mut households: Vec<Vec<ResidentEvent>> = Vec::new();
    for e in population.entries(2_000) {
        if let Ok(Some(ev @ ResidentEvent::Entered { .. })) =
            ResidentEvent::decode(&e.kind, e.version, &e.payload)
        {
            let same = matches!((&ev, households.last().and_then(|h| h.first())),
                (ResidentEvent::Entered { household_id: a, .. }, Some(ResidentEvent::Entered { household_id: b, .. })) if a == b);
            if same {
                if let Some(h) = households.last_mut() {
                    h.push(ev);
                }
            } else {
                households.push(vec![ev]);
            }
        }
    }
    let today = chrono::Utc::now().date_naive();
    let cert = |i: usize| -> Certificate {
        let members: Vec<Member> = households[i % households.len()]
            .iter()
            .filter_map(|ev| match ev {
                ResidentEvent::Entered {
                    resident_code,
                    relationship,
                    person,
                    reason,
                    ..
                } => Some(Member {
                    name: format!("{}　{}", person.family_name, person.given_name),
                    kana: format!("{}　{}", person.family_kana, person.given_kana),
                    birth_date: person.birth_date,
                    sex: Sex::Male,
                    relationship: relationship.clone(),
                    resident_code: Some(resident_code.clone()),
                    individual_number: None,
                    honseki: match &person.citizenship {
                        Citizenship::Japanese { honseki, .. } => Some(honseki.clone()),
                        _ => None,
                    },
                    honseki_head: None,
                    became_resident_date: Some(crate::population::as_of()),
                    address_since: Some(crate::population::as_of()),
                    previous_address: match reason {
                        EntryReason::MoveIn { previous_address } => Some(previous_address.clone()),
                        _ => None,
                    },
                    former_surname: None,
                    alias: None,
                    foreign: person.is_foreign(),
                    notes: vec![],
                }),
                _ => None,
            })
            .collect();
        let (address, katagaki) = match households[i % households.len()].first() {
            Some(ResidentEvent::Entered {
                address, katagaki, ..
            }) => (address.clone(), katagaki.clone()),
            _ => (String::new(), String::new()),
        };
        Certificate {
            kind: CertificateKind::ResidentCopy,
            tenant_code: "362018".into(),
            tenant_name: "徳島市".into(),
            issuer_title: "徳島市長".into(),
            issuer_name: "叢雲 太郎".into(),
            issue_number: format!("R8-{i:07}"),
            issue_date: today,
            issue_time: None,
            as_of: today,
            household_head: members.first().map(|m| m.name.clone()).unwrap_or_default(),
            address: Address {
                text: address,
                katagaki: Some(katagaki).filter(|k| !k.is_empty()),
            },
            members,
            options: CertificateOptions {
                whole_household: true,
                relationship: true,
                ..Default::default()
            },
            seal_registration_number: None,
            seal_image: None,
            official_seal_image: None,
            verify_url: None,
        }
    };
    // Warm up (first use of the font pages).
    for i in 0..10 {
        renderer.issue(&cert(i), &key)?;
    }
    let t = Instant::now();
    for i in 0..RENDERS {
        renderer.issue(&cert(i), &key)?;
    }
    let single = RENDERS as f64 / t.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (renderer, key, cert) = (&renderer, &key, &cert);
                s.spawn(move || -> anyhow::Result<()> {
                    for i in 0..RENDERS {
                        renderer.issue(&cert(k * RENDERS + i), key)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a render thread panicked"))??;
        }
        Ok(())
    })?;
    let parallel = (threads * RENDERS) as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "render peer: {single:.0} certificates/s on one thread, {parallel:.0}/s on {threads}"
    );
    Ok(RenderPeer {
        single,
        threads,
        parallel,
    })
}

/// Aims of issue 4.
const AIM_P99_MS: f64 = 200.0;
const AIM_PER_S: f64 = 200.0;
const AIM_SEARCH_MS: f64 = 100.0;
/// Issue 18: statistics of a 270,000-resident city as of any date in under 5 s.
const AIM_STATISTICS_MS: f64 = 5_000.0;

pub fn table(opts: &Options, r: &Report) -> String {
    let mut out = String::new();
    let names: Vec<&str> = r.engines.iter().map(|e| engine_name(e.engine)).collect();
    let _ = writeln!(out, "| Measurement | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(names.len()));
    let row = |out: &mut String, label: &str, f: &dyn Fn(&EngineReport) -> String| {
        let cells: Vec<String> = r.engines.iter().map(f).collect();
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    };
    let phase_rows =
        |out: &mut String, label: String, pick: &dyn Fn(&EngineReport) -> Option<&Phase>| {
            row(out, &label, &|e| {
                pick(e).map_or("—".into(), |p| format!("**{:.1}**", p.per_second()))
            });
            row(out, "  latency p50 / p95 / p99 (ms)", &|e| {
                pick(e).map_or("—".into(), |p| {
                    format!(
                        "{:.0} / {:.0} / **{:.0}**",
                        p.latency.ms(50.0),
                        p.latency.ms(95.0),
                        p.latency.ms(99.0)
                    )
                })
            });
            row(out, "  latency max (ms); errors", &|e| {
                pick(e).map_or("—".into(), |p| {
                    format!("{:.0}; {}", p.latency.ms(100.0), p.errors)
                })
            });
        };
    phase_rows(
        &mut out,
        format!(
            "**Issuance**, {} clients over 10 tenants back to back, {:.0} s: certificates/s",
            opts.clients,
            opts.duration.as_secs_f64()
        ),
        &|e| Some(&e.saturated),
    );
    row(
        &mut out,
        &format!(
            "  ÷ peer: bare render on {} threads ({:.0}/s)",
            r.render.threads, r.render.parallel
        ),
        &|e| {
            format!(
                "{:.2}×",
                e.saturated.per_second() / r.render.parallel.max(1e-9)
            )
        },
    );
    row(&mut out, "  mean PDF size", &|e| {
        format!("{:.1} KB", e.saturated.mean_pdf_bytes / 1000.0)
    });
    if opts.rate > 0.0 {
        phase_rows(
            &mut out,
            format!(
                "**Issuance paced** at {:.0}/s in all ({:.0} ms between one client's requests), {:.0} s: certificates/s",
                opts.rate,
                opts.clients as f64 / opts.rate * 1000.0,
                opts.duration.as_secs_f64()
            ),
            &|e| e.paced.as_ref(),
        );
    }
    for (i, label) in SEARCH_KINDS.iter().enumerate() {
        row(
            &mut out,
            &format!("Search 徳島市 by {label}: p50 / p99 (ms), mean rows"),
            &|e| {
                e.searches.get(i).map_or("—".into(), |s| {
                    format!(
                        "{:.1} / **{:.1}**, {:.1}",
                        s.http.ms(50.0),
                        s.http.ms(99.0),
                        s.rows
                    )
                })
            },
        );
        row(
            &mut out,
            "  peer: plain SELECT of the same rows, p50 / p99 (ms)",
            &|e| {
                e.searches.get(i).map_or("—".into(), |s| {
                    format!("{:.1} / {:.1}", s.plain.ms(50.0), s.plain.ms(99.0))
                })
            },
        );
    }
    row(
        &mut out,
        "Statistics 徳島市 (人口・世帯数 by 町字, 男女, 年齢, from the ledger as of a date): median ms, people",
        &|e| format!("**{:.0}**, {}", e.statistics.http_ms, e.statistics.people),
    );
    row(
        &mut out,
        "  peer: plain GROUP BY address over the read model (today only): median ms, people",
        &|e| {
            format!(
                "{:.0}, {}",
                e.statistics.plain_ms, e.statistics.plain_people
            )
        },
    );
    out
}

pub fn aims(r: &Report) -> String {
    let mut out = String::new();
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    for e in &r.engines {
        let name = engine_name(e.engine);
        let _ = writeln!(
            out,
            "- {name}, over {AIM_PER_S:.0} certificates/s (back to back): **{}** — {:.1}/s",
            verdict(e.saturated.per_second() > AIM_PER_S),
            e.saturated.per_second()
        );
        if let Some(p) = &e.paced {
            let _ = writeln!(
                out,
                "- {name}, p99 under {AIM_P99_MS:.0} ms at the paced rate: **{}** — {:.0} ms at {:.1}/s",
                verdict(p.latency.ms(99.0) < AIM_P99_MS && p.errors == 0),
                p.latency.ms(99.0),
                p.per_second()
            );
        }
        let _ = writeln!(
            out,
            "- {name}, p99 under {AIM_P99_MS:.0} ms back to back (50 clients with no pause: latency ≈ clients ÷ rate): **{}** — {:.0} ms",
            verdict(e.saturated.latency.ms(99.0) < AIM_P99_MS),
            e.saturated.latency.ms(99.0)
        );
        let worst = e
            .searches
            .iter()
            .map(|s| s.http.ms(99.0))
            .fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "- {name}, every search of the 270,000-resident city well under {AIM_SEARCH_MS:.0} ms (p99 < {:.0} ms): **{}** — worst p99 {worst:.1} ms",
            AIM_SEARCH_MS / 2.0,
            verdict(worst < AIM_SEARCH_MS / 2.0)
        );
        let _ = writeln!(
            out,
            "- {name}, statistics of the 270,000-resident city as of a date under {:.0} s (issue 18): **{}** — {:.2} s, {:.1}× the plain GROUP BY",
            AIM_STATISTICS_MS / 1000.0,
            verdict(e.statistics.http_ms < AIM_STATISTICS_MS),
            e.statistics.http_ms / 1000.0,
            e.statistics.http_ms / e.statistics.plain_ms.max(1e-3)
        );
    }
    out
}

pub fn section(
    machine: &crate::report::Machine,
    load_after: &str,
    command: &str,
    opts: &Options,
    r: &Report,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Counter: certificate issuance under load, resident search (issue 4)\n"
    );
    let _ = writeln!(
        out,
        "{} (other engineers' builds and tests share the machine).
",
        machine.run_line("databases", load_after)
    );
    let _ = writeln!(out, "```sh\n{command}\n```\n");
    for e in &r.engines {
        let _ = writeln!(
            out,
            "- {}: {}; ten tenants of 徳島県 loaded in {:.0} s (徳島市 {} residents, the nine others {} together); {}.",
            engine_name(e.engine),
            e.version,
            e.load_time.as_secs_f64(),
            opts.residents,
            opts.others,
            e.checked
        );
        for p in std::iter::once(&e.saturated).chain(e.paced.as_ref()) {
            if let Some(err) = &p.first_error {
                let _ = writeln!(out, "  First error: `{}`", err.replace('`', "'"));
            }
        }
    }
    let _ = writeln!(
        out,
        "- Issuance: the release `murakumo serve` over HTTP on 127.0.0.1; {} clients, each logged in as its own \
         窓口 clerk (`resident.clerk`) of one of the ten tenants (5 per tenant), each sending \
         `POST /api/v1/certificates` (住民票の写し, 世帯全員, 本人請求) for a random household of its \
         municipality. *Back to back*: each client sends its next request as soon as the answer \
         arrived ({:.0} s warm-up, then {:.0} s measured): the throughput; with no pause, \
         latency ≈ clients ÷ throughput. *Paced*: each client sends one request every \
         clients ÷ rate seconds (the aim's {:.0}/s in all), and latency counts from when a \
         request was due, so falling behind shows. Latency runs to the whole PDF received; \
         certificates/s counts requests completed in the measured window.",
        opts.clients,
        opts.warmup.as_secs_f64(),
        opts.duration.as_secs_f64(),
        opts.rate
    );
    let _ = writeln!(
        out,
        "- Render peer: the same `Renderer` and IPAmj明朝 in the bench process, signing and rendering \
         2-person-average households with no database and no HTTP: {:.0} certificates/s on one thread, \
         {:.0}/s on {} threads — the CPU ceiling of issuance on this machine.",
        r.render.single, r.render.parallel, r.render.threads
    );
    let _ = writeln!(
        out,
        "- Searches: {SEARCHES} of each kind on 徳島市, one at a time, after the issuance run \
         (`GET /api/v1/residents?…` — which also appends the search and each person shown to the \
         access log — and `GET /api/v1/residents/{{code}}`); the peer runs the very `SELECT` the store \
         sends, on its own connection to the same database (as the owner), without HTTP, session \
         or access log.\n"
    );
    out.push_str(&table(opts, r));
    let _ = writeln!(out, "\nQuery plans (one sample of each search):\n");
    for e in &r.engines {
        for (label, plan) in &e.plans {
            let _ = writeln!(
                out,
                "- {} {label}: `{}`",
                engine_name(e.engine),
                plan.replace('`', "'")
            );
        }
    }
    let _ = writeln!(out, "\n### Aims\n");
    out.push_str(&aims(r));
    out
}

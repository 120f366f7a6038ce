//! The isolation benchmark (issue 17, item 5, "tenants never wait on each other"): does a
//! big import in one municipality stall another municipality's counter?
//!
//! Per backend:
//! 1. 徳島市 (A, `residents` residents and a year of their 異動) is generated as CP932
//!    fixed-length files of the standard migration format, as the `migration` benchmark does
//!    (not timed);
//! 2. *import alone*: a fresh database with A only, `murakumo import` timed;
//! 3. a second fresh database with A (empty) and 鳴門市 (B, `b_residents` residents, the 市長
//!    settings and `clients` 窓口 clerks), and `murakumo serve` on it;
//! 4. *B alone*: B's clerks, half of them issuing 住民票の写し (`POST /api/v1/certificates`),
//!    half reading residents (`GET /api/v1/residents/{code}`, an access-log write each), paced
//!    at `rate` requests/s in all, for `seconds`;
//! 5. *B during A's import*: the same load while `murakumo import` of A runs against the same
//!    database (a separate process, as an operator runs it); timed until the import ends.
//!
//! Reported: B's p50/p99 latency and failures per kind in both phases, and A's import time
//! alone and during B's load. Latency counts from when a request was due (paced clients), so a
//! stall shows in full rather than as fewer requests.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::EventCodec as _;
use murakumo_migration::synth;
use murakumo_migration::{Encoding, Form, WriteOptions, write_dir};
use murakumo_resident::ResidentEvent;
use murakumo_tenancy::{StaffCreated, TenancyEvent};

use crate::counter::{Latencies, PASSWORD, Server, login, new_entry, open_target};
use crate::foundation::engine_name;
use crate::peer::Engine;
use crate::population::Population;

const TENANT_A: &str = "362018";
const TENANT_B: &str = "36202";

pub struct Options {
    /// Residents of A, imported.
    pub residents: usize,
    /// Residents of B, whose clerks keep working.
    pub b_residents: usize,
    pub clients: usize,
    /// B's requests/s, all clients together.
    pub rate: f64,
    /// Seconds of B's load without an import.
    pub seconds: u64,
    pub backends: Vec<Engine>,
    pub murakumo: PathBuf,
}

/// B's requests of one phase.
#[derive(Default)]
pub struct Load {
    pub certificates: Latencies,
    pub reads: Latencies,
    pub certificate_failures: usize,
    pub read_failures: usize,
    pub first_failure: Option<String>,
    pub secs: f64,
}

pub struct EngineReport {
    pub engine: Engine,
    pub import_alone_secs: f64,
    pub import_during_secs: f64,
    pub alone: Load,
    pub during: Load,
}

pub struct Report {
    pub residents: u64,
    pub events: u64,
    pub engines: Vec<EngineReport>,
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    ensure!(
        opts.murakumo.is_file(),
        "{} not found: build it with cargo build --release -p murakumo-cli",
        opts.murakumo.display()
    );
    let work = tempfile::tempdir()?;
    let generated = work.path().join("gen");
    let code = TenantCode::parse(TENANT_A).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("generating {} residents of 徳島市 …", opts.residents);
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
    drop(g);
    let records = |layout: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.layout == layout)
            .map_or(0, |f| f.records)
    };
    let mut engines = Vec::new();
    for &engine in &opts.backends {
        eprintln!("== {} ==", engine_name(engine));
        engines.push(run_engine(engine, opts, &generated).await?);
    }
    Ok(Report {
        residents: records("01-01"),
        events: records("01-02"),
        engines,
    })
}

/// `murakumo … import --tenant A DIR`, timed.
async fn import(murakumo: &Path, db_args: &[String], dir: &Path) -> anyhow::Result<f64> {
    let mut cmd = Command::new(murakumo);
    cmd.args(db_args)
        .args(["import", "--tenant", TENANT_A])
        .arg(dir)
        .env("MURAKUMO_LOG", "warn");
    let (secs, out) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let out = cmd.output();
        (t.elapsed().as_secs_f64(), out)
    })
    .await?;
    let out = out.context("running murakumo import")?;
    ensure!(
        out.status.success(),
        "murakumo import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(secs)
}

/// What B's clients need: its clerks, households and residents.
struct TenantB {
    code: TenantCode,
    logins: Vec<String>,
    households: Vec<String>,
    residents: Vec<String>,
}

async fn run_engine(
    engine: Engine,
    opts: &Options,
    generated: &Path,
) -> anyhow::Result<EngineReport> {
    let a = TenantCode::parse(TENANT_A).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Import alone, on a database of its own.
    let import_alone_secs = {
        let (target, store) = open_target(engine).await?;
        store.create_tenant(&a, "徳島市", "system:bench").await?;
        store.close().await;
        eprintln!("  importing 徳島市 alone …");
        import(&opts.murakumo, &target.serve_args, generated).await?
    };
    eprintln!("  import alone: {import_alone_secs:.1} s");

    let (target, store) = open_target(engine).await?;
    store.create_tenant(&a, "徳島市", "system:bench").await?;
    let b = load_b(&store, opts).await?;
    store.close().await;
    let mut server = Server::start(&opts.murakumo, &target.serve_args, target.dir.path())?;
    server.wait_ready(&reqwest::Client::new()).await?;
    let b = Arc::new(b);

    eprintln!("  鳴門市's counter alone for {} s …", opts.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(&server.base, &b, opts, &stop).await?;
    tokio::time::sleep(Duration::from_secs(opts.seconds)).await;
    let alone = finish(clients, &stop, opts.seconds as f64).await?;

    eprintln!("  鳴門市's counter while 徳島市 is imported …");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(&server.base, &b, opts, &stop).await?;
    let import_during_secs = import(&opts.murakumo, &target.serve_args, generated).await?;
    let during = finish(clients, &stop, import_during_secs).await?;
    server.stop()?;
    drop(target);
    Ok(EngineReport {
        engine,
        import_alone_secs,
        import_during_secs,
        alone,
        during,
    })
}

async fn load_b(store: &murakumo_store::Store, opts: &Options) -> anyhow::Result<TenantB> {
    let code = TenantCode::from_five_digits(TENANT_B)?;
    store.create_tenant(&code, "鳴門市", "system:bench").await?;
    let ts = store.tenant(&code);
    let hash = murakumo_auth::hash_password(PASSWORD, None)?;
    let logins: Vec<String> = (1..=opts.clients).map(|k| format!("clerk{k:02}")).collect();
    let mut setup = vec![
        new_entry(&TenancyEvent::SettingChanged {
            key: "certificate.issuer_title".into(),
            value: Some("鳴門市長".into()),
            reason: "bench".into(),
        }),
        new_entry(&TenancyEvent::SettingChanged {
            key: "certificate.issuer_name".into(),
            value: Some("叢雲 太郎".into()),
            reason: "bench".into(),
        }),
    ];
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
    let mut population = Population::new(202, "徳島県鳴門市");
    let (mut households, mut residents, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    let mut done = 0;
    while done < opts.b_residents {
        let entries = population.entries(1_000.min(opts.b_residents - done));
        done += entries.len();
        for e in &entries {
            if let Ok(Some(ResidentEvent::Entered {
                resident_code,
                household_id,
                ..
            })) = ResidentEvent::decode(&e.kind, e.version, &e.payload)
            {
                if seen.insert(household_id.clone()) {
                    households.push(household_id);
                }
                residents.push(resident_code);
            }
        }
        ts.append(entries).await?;
    }
    Ok(TenantB {
        code,
        logins,
        households,
        residents,
    })
}

/// One client's requests: (kind is a certificate, latency µs, failure).
type Samples = Vec<(bool, u64, Option<String>)>;

async fn start_clients(
    base: &str,
    b: &Arc<TenantB>,
    opts: &Options,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<Samples>>> {
    let pace = Duration::from_secs_f64(opts.clients as f64 / opts.rate.max(0.1));
    let mut logged_in = Vec::new();
    for login_id in &b.logins {
        logged_in.push(login(base, &b.code, login_id).await?);
    }
    let start = Instant::now();
    Ok(logged_in
        .into_iter()
        .enumerate()
        .map(|(i, (client, auth))| {
            let (b, stop, base) = (b.clone(), stop.clone(), base.to_string());
            tokio::spawn(async move {
                let certificates = i % 2 == 0;
                let mut rng = crate::population::Rng::new(7_000 + i as u64);
                let mut due = start + pace.mul_f64(i as f64 / b.logins.len() as f64);
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep_until(due.into()).await;
                    let at = due;
                    due += pace;
                    let req = if certificates {
                        let household = &b.households[rng.below(b.households.len())];
                        client.post(format!("{base}/api/v1/certificates")).json(
                            &serde_json::json!({
                                "kind": "resident_copy",
                                "household_id": household,
                                "requester": "本人",
                                "purpose": "ベンチマーク(窓口交付)",
                            }),
                        )
                    } else {
                        let code = &b.residents[rng.below(b.residents.len())];
                        client.get(format!("{base}/api/v1/residents/{code}"))
                    };
                    let failure = match req.header("authorization", &auth).send().await {
                        Ok(r) if r.status().is_success() => {
                            r.bytes().await.err().map(|e| e.to_string())
                        }
                        Ok(r) => Some(format!(
                            "{}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        )),
                        Err(e) => Some(e.to_string()),
                    };
                    samples.push((certificates, at.elapsed().as_micros() as u64, failure));
                }
                samples
            })
        })
        .collect())
}

async fn finish(
    clients: Vec<tokio::task::JoinHandle<Samples>>,
    stop: &AtomicBool,
    secs: f64,
) -> anyhow::Result<Load> {
    stop.store(true, Ordering::Relaxed);
    let mut load = Load {
        secs,
        ..Load::default()
    };
    let (mut certificates, mut reads) = (Vec::new(), Vec::new());
    for c in clients {
        for (certificate, us, failure) in c.await? {
            match (certificate, failure) {
                (true, None) => certificates.push(us),
                (false, None) => reads.push(us),
                (kind, Some(f)) => {
                    if kind {
                        load.certificate_failures += 1;
                    } else {
                        load.read_failures += 1;
                    }
                    load.first_failure.get_or_insert(f);
                }
            }
        }
    }
    load.certificates = Latencies::from(certificates);
    load.reads = Latencies::from(reads);
    Ok(load)
}

pub fn table(r: &Report) -> String {
    let mut s = String::from(
        "| backend | phase | B: 住民票の写し p50 / p99 (ok, failed) | B: resident read p50 / p99 (ok, failed) | A: import |\n\
         |---|---|---|---|---:|\n",
    );
    for e in &r.engines {
        for (phase, load, import) in [
            (
                "B alone",
                &e.alone,
                format!("alone: {:.1} s", e.import_alone_secs),
            ),
            (
                "B during A's import",
                &e.during,
                format!("during B's load: {:.1} s", e.import_during_secs),
            ),
        ] {
            s.push_str(&format!(
                "| {} | {phase} ({:.0} s) | {:.0} ms / {:.0} ms ({}, {}) | {:.0} ms / {:.0} ms ({}, {}) | {import} |\n",
                engine_name(e.engine),
                load.secs,
                load.certificates.ms(50.0),
                load.certificates.ms(99.0),
                load.certificates.len(),
                load.certificate_failures,
                load.reads.ms(50.0),
                load.reads.ms(99.0),
                load.reads.len(),
                load.read_failures,
            ));
        }
    }
    s
}

pub fn section(
    machine: &crate::report::Machine,
    load_after: &str,
    command: &str,
    opts: &Options,
    r: &Report,
) -> String {
    let mut s = String::from(
        "## Isolation: one municipality's import against another's counter (issue 17, item 5)\n\n",
    );
    s.push_str(&format!(
        "{}.\n\n",
        machine.run_line("files and data", load_after)
    ));
    s.push_str(&format!("```sh\n{command}\n```\n\n"));
    s.push_str(&format!(
        "- A: 徳島市, {} residents and {} 異動 in CP932 fixed-length files, imported with the real \
         `murakumo import` (validation, then ledger and read models in chunks of 5,000 entries on PostgreSQL and 2,000 on SQLite, hidden until the last commits).\n\
         - B: 鳴門市, {} residents, {} clerks logged in to the real `murakumo serve`, paced at {} \
         requests/s in all: half the clerks issue 住民票の写し (世帯全員), half read a resident (each read \
         is an access-log write). Latency counts from when a request was due.\n\
         - *B alone*: {} s without an import; *during*: from the import's start to its end, the \
         import a separate process on the same database.\n\n",
        r.residents, r.events, opts.b_residents, opts.clients, opts.rate, opts.seconds,
    ));
    s.push_str(&table(r));
    for e in &r.engines {
        for (phase, load) in [("alone", &e.alone), ("during", &e.during)] {
            if let Some(f) = &load.first_failure {
                let f: String = f.chars().take(300).collect();
                s.push_str(&format!(
                    "\n- {} {phase}: first failure: `{}`",
                    engine_name(e.engine),
                    f.replace('`', "'")
                ));
            }
        }
    }
    s.push('\n');
    s
}

//! Replication (issue 7): a primary, a second data centre and a municipal
//! site (fallback node), the real `murakumo` binary on each, the followers
//! across a rate-capped link in network namespaces.
//!
//! Measured: replication lag (the follower's own `murakumo_replication_lag_*`
//! metrics, sampled every 250 ms) under certificate issuance plus a 転入
//! burst; the time from a link cut to the site's first certificate; and the
//! time both followers take to catch up after an outage during which the
//! primary recorded an hour's worth of issuances.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_store::Store;
use murakumo_testkit::nodes::{At, Nodes, caught_up, curl, metric, terminate};
use murakumo_testkit::{BadLink, Impairment, Side};

use crate::population::Population;

const TOKEN: &str = "bench-replication-token-0123456789";
const HOKURYU: &str = "014362";
const TOKUSHIMA: &str = "362018";

pub struct Options {
    pub murakumo: PathBuf,
    pub rate_kbit: u32,
    pub mtu: u32,
    /// One-way delay in ms and loss in percent (each way).
    pub delay_ms: u32,
    pub loss_percent: f32,
    /// Seconds of certificate issuance at the primary.
    pub load_secs: u64,
    /// 転入 in the burst (appended in batches of 500 mid-load).
    pub burst: usize,
    /// Certificates the primary records during the outage ("an hour's worth").
    pub outage_certificates: usize,
    /// Where the nodes' logs go (none: discarded).
    pub log_dir: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub initial_entries: u64,
    pub initial_copy: Duration,
    pub certificates: usize,
    pub load: Duration,
    pub burst: usize,
    /// (max, p95, p50) of the second centre's lag in seconds and entries.
    pub lag_seconds: (f64, f64, f64),
    pub lag_entries: (f64, f64, f64),
    pub site_lag_seconds_max: f64,
    /// Bytes the second centre received during the load (answers to its
    /// pulls: framed, zstd-compressed segments).
    pub load_bytes: f64,
    pub cut_to_first_certificate: Duration,
    pub outage_entries: usize,
    pub catch_up_replica: Duration,
    pub catch_up_site: Duration,
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > Duration::from_secs(secs) {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(start.elapsed())
}

fn login(at: At, base: &str, password: &str) -> anyhow::Result<String> {
    let body = format!(r#"{{"tenant":"{HOKURYU}","login":"supervisor","password":"{password}"}}"#);
    let url = format!("{base}/api/v1/session");
    let mut token = None;
    wait_for("a login", 120, || {
        let r = curl(at, "POST", &url, None, Some(&body));
        if r.status == 200 {
            token = serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string));
        }
        token.is_some()
    })?;
    token.context("login")
}

/// Issues a 住民票の写し at `base`: whether it was issued.
fn issue(at: At, base: &str, token: &str, resident: &str) -> bool {
    let body = format!(
        r#"{{"kind":"resident_copy","resident_codes":["{resident}"],"requester":"本人","purpose":"ベンチマーク"}}"#
    );
    let url = format!("{base}/api/v1/certificates");
    curl(at, "POST", &url, Some(token), Some(&body)).status == 200
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(1.0), at(0.95), at(0.5))
}

fn with_store<T>(
    data: &Path,
    f: impl AsyncFnOnce(&Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = Store::open_sqlite(data, murakumo_app::systems()).await?;
        let out = f(&store).await;
        store.close().await;
        out
    })
}

fn certificate_entries(n: usize, from: usize) -> Vec<NewEntry> {
    (0..n)
        .map(|i| {
            let (kind, version, payload) = murakumo_tenancy::CertificateIssued {
                issue_number: format!("R8-{:07}", 5_000_000 + from + i),
                kind: "resident_copy".into(),
                subjects: vec!["01436009557".into()],
                as_of: crate::population::as_of(),
                requester: "本人".into(),
                purpose: "ベンチマーク".into(),
                digest: "00".repeat(32),
                key_id: "bench".into(),
            }
            .encode();
            NewEntry {
                kind: kind.into(),
                version,
                effective_date: crate::population::as_of(),
                actor: "staff:bench".into(),
                payload,
            }
        })
        .collect()
}

pub fn run(opts: &Options) -> anyhow::Result<Report> {
    let bin = std::fs::canonicalize(&opts.murakumo)
        .with_context(|| format!("{} (build it first)", opts.murakumo.display()))?;
    let tmp = tempfile::tempdir()?;
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let mut report = Report {
        burst: opts.burst,
        ..Report::default()
    };

    // The centre: the two demo municipalities, plus a city for the burst.
    let nodes = Nodes::new(&bin, TOKEN).without_stderr();
    let password = nodes.demo(&a, HOKURYU, "supervisor");
    let out = nodes
        .command(
            At::Host,
            &a,
            &["tenant", "create", "--code", TOKUSHIMA, "--name", "徳島市"],
        )
        .output()?;
    if !out.status.success() {
        bail!("tenant create failed");
    }

    let imp = Impairment {
        delay_ms: opts.delay_ms,
        loss_percent: opts.loss_percent,
        rate_kbit: opts.rate_kbit,
        mtu: opts.mtu,
    };
    let link = BadLink::create(&imp)?.context("network namespaces are not permitted here")?;
    let (far, near) = (At::Link(&link, Side::Far), At::Link(&link, Side::Near));
    let la = format!("{}:8080", link.far_addr());
    let ua = format!("http://{la}");
    let (ub, uc) = ("http://127.0.0.1:8081", "http://127.0.0.1:8082");
    // Each node's warnings into `<log_dir>/<node>.log`, if asked.
    let logged = |mut c: Command, node: &str| -> anyhow::Result<Child> {
        if let Some(dir) = &opts.log_dir {
            std::fs::create_dir_all(dir)?;
            c.stderr(std::fs::File::create(dir.join(format!("{node}.log")))?)
                .env("MURAKUMO_LOG", "murakumo_replication=debug,warn");
        }
        Ok(c.spawn()?)
    };
    let primary = logged(nodes.serve(far, &a, &la), "primary")?;
    let ta = login(far, &ua, &password)?;
    let started = Instant::now();
    let replica = logged(nodes.follow(near, &b, &ua, "dc2", "127.0.0.1:8081"), "dc2")?;
    let mut site = nodes.follow(near, &c, &ua, "site", "127.0.0.1:8082");
    site.args(["--fallback", "--tenant", HOKURYU]);
    let site = logged(site, "site")?;
    let caught_up = |base: &str| caught_up(near, base);
    wait_for("the initial copy", 3600, || caught_up(ub) && caught_up(uc))?;
    report.initial_copy = started.elapsed();
    // The last exchange of the copy leaves the age of the oldest entry it
    // brought in the lag gauge (seconds, for entries made before the
    // followers started); with the primary idle, the next long poll sets it
    // to 0. The load's lag is sampled from there.
    wait_for("no lag at the idle primary", 120, || {
        [ub, uc]
            .iter()
            .all(|u| metric(near, u, "murakumo_replication_lag_seconds") == Some(0.0))
    })?;
    report.initial_entries = with_store(&b, async |s: &Store| {
        let mut n = 0;
        for t in s.list_tenants().await? {
            let ts = s.tenant(&t.code);
            n += ts.head(murakumo_store::Chain::Ledger).await?.seq
                + ts.head(murakumo_store::Chain::Access).await?.seq;
        }
        Ok(n)
    })?;

    // Load: certificates at the centre, a 転入 burst in the middle; the
    // second centre's lag sampled meanwhile.
    let found = curl(
        far,
        "GET",
        &format!("{ua}/api/v1/residents?address=%E5%8C%97"),
        Some(&ta),
        None,
    );
    let resident = serde_json::from_slice::<serde_json::Value>(&found.body)?[0]["resident_code"]
        .as_str()
        .context("a resident")?
        .to_string();
    let received = || metric(near, ub, "murakumo_replication_received_bytes_total").unwrap_or(0.0);
    let received_before = received();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new((Vec::new(), Vec::new(), Vec::new())));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (stop2, samples2) = (stop.clone(), samples.clone());
        scope.spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let s = metric(near, ub, "murakumo_replication_lag_seconds");
                let e = metric(near, ub, "murakumo_replication_lag_entries");
                let site = metric(near, uc, "murakumo_replication_lag_seconds");
                if let Ok(mut g) = samples2.lock() {
                    g.0.extend(s);
                    g.1.extend(e);
                    g.2.extend(site);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let load_start = Instant::now();
        let mut burst_done = false;
        let mut issued = 0;
        while load_start.elapsed() < Duration::from_secs(opts.load_secs) {
            if issue(far, &ua, &ta, &resident) {
                issued += 1;
            }
            if !burst_done && load_start.elapsed() > Duration::from_secs(opts.load_secs / 3) {
                burst_done = true;
                let n = opts.burst;
                let a = a.clone();
                scope.spawn(move || {
                    let _ = with_store(&a, async |s: &Store| {
                        let t = TenantCode::parse(TOKUSHIMA)?;
                        let mut pop = Population::new(7, "徳島県徳島市");
                        let mut left = n;
                        while left > 0 {
                            let k = left.min(500);
                            s.tenant(&t).append(pop.entries(k)).await?;
                            left -= k;
                        }
                        Ok(())
                    });
                });
            }
        }
        report.certificates = issued;
        report.load = load_start.elapsed();
        // Let the followers drain, then stop sampling.
        let _ = wait_for("the followers to drain", 600, || {
            caught_up(ub) && caught_up(uc)
        });
        stop.store(true, Ordering::SeqCst);
        Ok(())
    })?;
    report.load_bytes = received() - received_before;
    {
        let g = samples.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        report.lag_seconds = percentiles(g.0.clone());
        report.lag_entries = percentiles(g.1.clone());
        report.site_lag_seconds_max = percentiles(g.2.clone()).0;
    }

    // Link cut: time to the site's first certificate.
    let tc = login(near, uc, &password)?;
    link.cut()?;
    let cut = Instant::now();
    wait_for("the first fallback certificate", 120, || {
        issue(near, uc, &tc, &resident)
    })?;
    report.cut_to_first_certificate = cut.elapsed();

    // An hour of the centre's work recorded during the outage.
    let n = opts.outage_certificates;
    with_store(&a, async |s: &Store| {
        let t = TenantCode::parse(HOKURYU)?;
        let mut done = 0;
        while done < n {
            let k = (n - done).min(500);
            s.tenant(&t).append(certificate_entries(k, done)).await?;
            done += k;
        }
        Ok(())
    })?;
    report.outage_entries = n;
    // The heads the followers must reach (read from the files: a follower's
    // own metrics lag behind its first answer after the link returns).
    let heads = |data: &Path, only: Option<&str>| {
        with_store(data, async |s: &Store| {
            let mut out = Vec::new();
            for t in s.list_tenants().await? {
                if only.is_some_and(|o| o != t.code.as_str()) {
                    continue;
                }
                let ts = s.tenant(&t.code);
                out.push((
                    t.code,
                    ts.head(murakumo_store::Chain::Ledger).await?.seq,
                    ts.head(murakumo_store::Chain::Access).await?.seq,
                ));
            }
            Ok(out)
        })
        .unwrap_or_default()
    };
    let want_replica = heads(&a, None);
    let want_site_ledger = heads(&a, Some(HOKURYU)).first().map(|h| h.1).unwrap_or(0);
    link.restore()?;
    let healed = Instant::now();
    let mut replica_done = None;
    let mut site_done = None;
    wait_for("the catch-up", 3600, || {
        if replica_done.is_none() {
            let have = heads(&b, None);
            let ok = want_replica
                .iter()
                .all(|w| have.iter().any(|h| h.0 == w.0 && h.1 >= w.1 && h.2 >= w.2));
            if ok {
                replica_done = Some(healed.elapsed());
            }
        }
        if site_done.is_none()
            // + 1: the site's own certificate, replayed to the centre and
            // shipped back in the ledger.
            && heads(&c, Some(HOKURYU)).first().is_some_and(|h| h.1 > want_site_ledger)
            && metric(near, uc, "murakumo_outbox_pending") == Some(0.0)
            && metric(near, uc, "murakumo_fallback_active") == Some(0.0)
        {
            site_done = Some(healed.elapsed());
        }
        replica_done.is_some() && site_done.is_some()
    })?;
    report.catch_up_replica = replica_done.unwrap_or_default();
    report.catch_up_site = site_done.unwrap_or_default();
    terminate(site);
    terminate(replica);
    terminate(primary);
    Ok(report)
}

pub fn section(
    machine: &crate::report::Machine,
    command: &str,
    opts: &Options,
    r: &Report,
) -> String {
    let mut s = String::new();
    s.push_str("## Replication: lag, fallback take-over, catch-up (issue 7)\n\n");
    s.push_str(&format!(
        "Run {} at commit `{}` on {} CPUs ({}), {} RAM, Linux {}; load average {} before the run.\n\n",
        machine.date, machine.commit, machine.cpus, machine.cpu_model, machine.memory, machine.kernel, machine.load
    ));
    s.push_str(&format!("```sh\n{command}\n```\n\n"));
    s.push_str(&format!(
        "- Topology: primary (`murakumo serve`, SQLite) in one network namespace; a second centre \
         (`follow --name dc2`, all tenants) and a municipal site (`follow --fallback --tenant 014362`) \
         in the other, behind one veth link of {} kbit/s, {} ms each way, {} % loss, MTU {} \
         (netem where the kernel has it; else htb, nftables and a wire in user space: see `BadLink`).\n",
        opts.rate_kbit, opts.delay_ms, opts.loss_percent, opts.mtu,
    ));
    s.push_str(&format!(
        "- Initial copy: {} entries (demo 北竜町 + 深川市, ledger and access log) in {:.1} s.\n",
        r.initial_entries,
        r.initial_copy.as_secs_f64()
    ));
    s.push_str(&format!(
        "- Load: {} 住民票の写し issued one after another over HTTP at the primary in {:.1} s \
         ({:.1}/s, each a ledger entry and an access record), with a 転入 burst of {} residents \
         (batches of 500) a third of the way in.\n\n",
        r.certificates,
        r.load.as_secs_f64(),
        r.certificates as f64 / r.load.as_secs_f64().max(0.001),
        r.burst
    ));
    s.push_str("| measure | result | aim |\n|---|---|---|\n");
    s.push_str(&format!(
        "| second centre lag, seconds (max / p95 / median) | {:.2} / {:.2} / {:.2} | < 2 s on 20 Mbit/s |\n",
        r.lag_seconds.0, r.lag_seconds.1, r.lag_seconds.2
    ));
    s.push_str(&format!(
        "| second centre lag, entries (max / p95 / median) | {:.0} / {:.0} / {:.0} | |\n",
        r.lag_entries.0, r.lag_entries.1, r.lag_entries.2
    ));
    s.push_str(&format!(
        "| site lag, seconds (max) | {:.2} | |\n",
        r.site_lag_seconds_max
    ));
    s.push_str(&format!(
        "| bytes the second centre received during the load (burst included) | {:.0} KB | |\n",
        r.load_bytes / 1000.0
    ));
    s.push_str(&format!(
        "| link cut → first certificate at the site | {:.1} s | < 10 s (seed: about 10 minutes, 8 manual steps) |\n",
        r.cut_to_first_certificate.as_secs_f64()
    ));
    s.push_str(&format!(
        "| catch-up after the outage ({} certificates recorded meanwhile = {} entries): second centre | {:.1} s | |\n",
        r.outage_entries,
        r.outage_entries,
        r.catch_up_replica.as_secs_f64()
    ));
    s.push_str(&format!(
        "| catch-up after the outage: site (its tenant, and its outbox replayed) | {:.1} s | |\n\n",
        r.catch_up_site.as_secs_f64()
    ));
    s.push_str(
        "Lag is what the followers report in `/metrics` (`murakumo_replication_lag_seconds`: age of the \
         oldest entry outstanding in the last exchange, on the primary's clock; `murakumo_replication_lag_entries`: entries still missing after an answer is applied, so 0 unless an answer was cut short by `--max-bytes`), sampled every 250 ms from the start of the load, once both followers reported lag 0 at the idle primary after the initial copy. \
         Peers: PostgreSQL streaming replication ships WAL bytes continuously and has no notion of a \
         tenant or a site; Litestream ships SQLite WAL about every second with no failover (see \
         docs/replication.md); neither serves a municipal site a subset of tenants, so no peer number \
         is given here.\n",
    );
    s
}

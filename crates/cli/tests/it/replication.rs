//! Replication end to end through the real binary: `serve --sync-follower`,
//! `follow`, kill -9 of the primary during a write burst, `promote`, the old
//! primary fenced when it comes back, healing; and the municipal-site
//! fallback node across an impaired link in network namespaces (rate cap,
//! MTU 478, cut and restore).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_ledger::EventCodec;
use murakumo_store::{Chain, Store};
use murakumo_tenancy::CertificateIssued;
use murakumo_testkit::nodes::{At, Nodes, caught_up, curl, kill, metric, terminate};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");
const TOKEN: &str = "test-replication-token-0123456789";
const HOKURYU: &str = "014362";
/// 北竜町's site token: the site authenticates with it, not with the centre's token.
const SITE_TOKEN: &str = "hokuryu-site-token-0123456789";

fn nodes() -> Nodes {
    Nodes::new(BIN, TOKEN)
}

/// Logs in as the 北竜町 supervisor at `base` (retrying while it starts);
/// the session token.
fn login(at: At, base: &str, password: &str) -> String {
    let body = format!(r#"{{"tenant":"{HOKURYU}","login":"supervisor","password":"{password}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = curl(
            at,
            "POST",
            &format!("{base}/api/v1/session"),
            None,
            Some(&body),
        );
        if r.status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            return v["token"].as_str().expect("token").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "login at {base}: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A resident of 北竜町 (the first one an address search finds).
fn some_resident(at: At, base: &str, token: &str) -> String {
    let url = format!("{base}/api/v1/residents?address=%E5%8C%97");
    let r = curl(at, "GET", &url, Some(token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v[0]["resident_code"].as_str().expect("code").to_string()
}

/// 住民票の写し: Ok((発行番号, certified digest)) or Err(status).
fn issue(at: At, base: &str, token: &str, resident: &str) -> Result<(String, String), u16> {
    let body = format!(
        r#"{{"kind":"resident_copy","resident_codes":["{resident}"],"requester":"本人","purpose":"試験"}}"#
    );
    let url = format!("{base}/api/v1/certificates");
    let r = curl(at, "POST", &url, Some(token), Some(&body));
    if r.status != 200 {
        return Err(r.status);
    }
    Ok((
        r.header("x-issue-number").expect("number"),
        r.header("x-certified-digest").expect("digest"),
    ))
}

/// What the node at `base` says of its replication (role, epoch, primary);
/// null while it does not answer.
fn status_of(at: At, base: &str) -> serde_json::Value {
    let url = format!("{base}/api/v1/replication/status");
    let r = curl(at, "GET", &url, Some(TOKEN), None);
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn with_store<T>(data: &Path, f: impl AsyncFnOnce(&Store) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open_sqlite(data, murakumo_app::systems())
            .await
            .expect("open");
        let out = f(&store).await;
        store.close().await;
        out
    })
}

fn hokuryu() -> TenantCode {
    TenantCode::parse(HOKURYU).expect("code")
}

/// The head of 北竜町's ledger in the (stopped) node's data directory.
fn ledger_head(data: &Path) -> murakumo_ledger::ChainHead {
    with_store(data, async |s: &Store| {
        s.tenant(&hokuryu())
            .head(Chain::Ledger)
            .await
            .expect("head")
    })
}

/// How many ledger entries record each 発行番号.
fn issuances(data: &Path, numbers: &[String]) -> Vec<usize> {
    with_store(data, async |s: &Store| {
        let entries = s
            .tenant(&hokuryu())
            .read_after(Chain::Ledger, 0, 10_000_000)
            .await
            .expect("read");
        numbers
            .iter()
            .map(|n| {
                entries
                    .iter()
                    .filter(|e| e.kind == "certificate.issued")
                    .filter(|e| {
                        CertificateIssued::decode(&e.kind, e.version, &e.payload)
                            .is_ok_and(|c| c.is_some_and(|c| &c.issue_number == n))
                    })
                    .count()
            })
            .collect()
    })
}

/// What a process that has ended wrote to its (piped) standard error.
fn stderr_of(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

#[test]
fn synchronous_replica_survives_kill_9_promotion_fences_the_old_primary() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let nodes = nodes();
    let host = At::Host;
    let password = nodes.demo(&a, HOKURYU, "supervisor");
    // Centre 2 runs with the platform's key file, as its operator sets it up.
    std::fs::create_dir_all(&b).expect("b");
    std::fs::copy(a.join("platform.key"), b.join("platform.key")).expect("the platform key");
    let (pa, pb) = (murakumo_testkit::free_port(), murakumo_testkit::free_port());
    let (la, lb) = (format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}"));
    let (ua, ub) = (format!("http://{la}"), format!("http://{lb}"));
    let mut primary = nodes
        .serve(host, &a, &la)
        .args(["--sync-follower", "dc2"])
        .spawn()
        .expect("primary");
    let replica = nodes
        .follow(host, &b, &ua, "dc2", &lb)
        .spawn()
        .expect("replica");
    let token = login(host, &ua, &password);
    let resident = some_resident(host, &ua, &token);
    wait_for("the replica to catch up", 300, || caught_up(host, &ub));

    // A burst of issuances from four clerks; kill -9 the primary mid-burst.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (ua, token, resident) = (ua.clone(), token.clone(), resident.clone());
            let (acked, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok((n, _)) = issue(At::Host, &ua, &token, &resident) {
                        acked.lock().expect("lock").push(n);
                    }
                }
            })
        })
        .collect();
    wait_for("acknowledged issuances", 120, || {
        acknowledged.lock().expect("lock").len() >= 12
    });
    kill(&mut primary);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.join().expect("worker");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    // Promote the replica while it runs: it stops following, takes epoch 2.
    let out = nodes
        .command(host, &b, &["promote"])
        .output()
        .expect("promote");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the promotion to take effect", 30, || {
        status_of(host, &ub)["role"] == "primary"
    });
    assert_eq!(status_of(host, &ub)["epoch"], 2);
    // Nothing acknowledged is lost (RPO 0 in synchronous mode).
    let counts = issuances(&b, &acknowledged);
    assert!(
        counts.iter().all(|c| *c == 1),
        "acknowledged {acknowledged:?} held {counts:?}"
    );
    // The new primary issues, continuing the 発行番号 series.
    let tb = login(host, &ub, &password);
    let (after, _) = issue(host, &ub, &tb, &resident).expect("new primary issues");
    assert!(!acknowledged.contains(&after));

    // The old primary comes back (as `serve`): it asks its peers, learns of
    // epoch 2, and refuses every change.
    let head_before = ledger_head(&a);
    let old = nodes.serve(host, &a, &la).spawn().expect("old primary");
    let ta = login(host, &ua, &password);
    assert_eq!(status_of(host, &ua)["role"], "fenced");
    assert_eq!(issue(host, &ua, &ta, &resident), Err(503));
    assert_eq!(
        head_before,
        ledger_head(&a),
        "a fenced node appends nothing"
    );
    terminate(old);

    // Heal: the old primary becomes a replica of the new one. Its chain is
    // a prefix of the new primary's, unless it committed an entry that was
    // never acknowledged (in flight at the kill) or an access record (those
    // ship asynchronously): that is refused, and nothing is discarded.
    let mut rejoin = nodes
        .follow(host, &a, &ub, "old-dc1", &la)
        .spawn()
        .expect("rejoin");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = rejoin.try_wait().expect("wait") {
            let err = stderr_of(&mut rejoin);
            // Refused, naming what would be lost and how to keep it.
            assert!(!status.success());
            assert!(err.contains("would lose entries"), "{err}");
            assert!(err.contains("murakumo ledger export"), "{err}");
            break;
        }
        if metric(host, &ua, "murakumo_replication_lag_entries") == Some(0.0)
            && ledger_head(&a) == ledger_head(&b)
        {
            terminate(rejoin);
            break;
        }
        if Instant::now() > deadline {
            kill(&mut rejoin);
            let err = stderr_of(&mut rejoin);
            panic!("the old primary neither caught up nor refused: {err}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    terminate(replica);
}

#[test]
fn fallback_node_over_a_bad_link_takes_over_on_a_cut_and_replays_when_it_heals() {
    use murakumo_testkit::{BadLink, Impairment, Side};
    // 384 kbit/s, 300 ms each way, 1 % loss, MTU 478.
    let imp = Impairment {
        delay_ms: 300,
        loss_percent: 1.0,
        rate_kbit: 384,
        mtu: 478,
    };
    let link = BadLink::require(&imp);
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, c) = (tmp.path().join("a"), tmp.path().join("c"));
    let nodes = nodes();
    let password = nodes.demo(&a, HOKURYU, "supervisor");
    let (far, near) = (At::Link(&link, Side::Far), At::Link(&link, Side::Near));
    let la = format!("{}:8080", link.far_addr());
    let ua = format!("http://{la}");
    let uc = "http://127.0.0.1:8081".to_string();
    let primary = nodes
        .serve(far, &a, &la)
        .args(["--site-token", &format!("{HOKURYU}={SITE_TOKEN}")])
        .spawn()
        .expect("primary");
    let site = nodes
        .follow(near, &c, &ua, "hokuryu-site", "127.0.0.1:8081")
        .args(["--fallback", "--tenant", HOKURYU, "--max-bytes", "32768"])
        .env("MURAKUMO_REPLICATION_TOKEN", SITE_TOKEN)
        .spawn()
        .expect("site");
    let ta = login(far, &ua, &password);
    let resident = some_resident(far, &ua, &ta);
    let (_, centre_digest) = issue(far, &ua, &ta, &resident).expect("issued at the centre");
    wait_for("the site to catch up over the link", 600, || {
        caught_up(near, &uc)
    });
    let tc = login(near, &uc, &password);
    assert_eq!(
        issue(near, &uc, &tc, &resident),
        Err(503),
        "online: staff use the centre"
    );

    // Cut the link: the site takes over by itself.
    link.cut().expect("cut");
    let mut numbers = Vec::new();
    wait_for("the first fallback certificate", 60, || {
        match issue(near, &uc, &tc, &resident) {
            Ok((n, d)) => {
                assert_eq!(
                    d, centre_digest,
                    "the same certified content as the centre's"
                );
                numbers.push(n);
                true
            }
            Err(s) => {
                assert_eq!(s, 503);
                false
            }
        }
    });
    numbers.push(issue(near, &uc, &tc, &resident).expect("second").0);
    assert!(numbers.iter().all(|n| n.contains("B1-")), "{numbers:?}");
    let page = curl(near, "GET", &format!("{uc}/"), None, None);
    assert!(
        page.text().contains("データセンターに接続できません"),
        "the staff see the banner"
    );
    assert_eq!(metric(near, &uc, "murakumo_fallback_active"), Some(1.0));

    // Heal: the outbox is replayed, the site switches back by itself.
    link.restore().expect("restore");
    wait_for("the site to replay and switch back", 300, || {
        metric(near, &uc, "murakumo_outbox_pending") == Some(0.0)
            && metric(near, &uc, "murakumo_fallback_active") == Some(0.0)
    });
    assert_eq!(
        issuances(&a, &numbers),
        vec![1; numbers.len()],
        "each in the centre's ledger once"
    );
    assert_eq!(
        issue(near, &uc, &tc, &resident),
        Err(503),
        "back to the centre"
    );
    wait_for("the site to receive its certificates back", 300, || {
        metric(near, &uc, "murakumo_replication_lag_entries") == Some(0.0)
            && issuances(&c, &numbers) == vec![1; numbers.len()]
    });
    terminate(site);
    terminate(primary);
    // The site signed with a key of its own; the centre holds its public half only.
    let held = with_store(&c, async |s: &Store| {
        s.tenant(&hokuryu())
            .signing_keys_with_secrets()
            .await
            .expect("keys")
    });
    let own: Vec<_> = held.iter().filter(|k| !k.secret_key.is_empty()).collect();
    let ids = |ks: &[murakumo_store::SigningKeyRow]| -> Vec<(String, Option<String>)> {
        ks.iter()
            .map(|k| (k.key_id.clone(), k.site.clone()))
            .collect()
    };
    assert_eq!(own.len(), 1, "{:?}", ids(&held));
    assert_eq!(own[0].site.as_deref(), Some("hokuryu-site"));
    let at_centre = with_store(&a, async |s: &Store| {
        s.tenant(&hokuryu())
            .signing_keys_with_secrets()
            .await
            .expect("keys")
    });
    assert!(
        at_centre
            .iter()
            .any(|k| k.key_id == own[0].key_id && k.secret_key.is_empty()),
        "{:?}",
        ids(&at_centre)
    );
}

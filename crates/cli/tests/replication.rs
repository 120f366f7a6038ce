//! Replication end to end through the real binary: `serve --sync-follower`,
//! `follow`, kill -9 of the primary during a write burst, `promote`, the old
//! primary fenced when it comes back, healing; and the municipal-site
//! fallback node across an impaired link in network namespaces (rate cap,
//! MTU 478, cut and restore).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_ledger::EventCodec;
use murakumo_resident::CertificateIssued;
use murakumo_store::{Chain, Store};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");
const TOKEN: &str = "test-replication-token-0123456789";
const HOKURYU: &str = "014362";

fn murakumo(cmd: Command, data: &Path, args: &[&str]) -> Command {
    let mut c = cmd;
    c.args(args)
        .arg("--data")
        .arg(data)
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_REPLICATION_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn local(data: &Path, args: &[&str]) -> Command {
    murakumo(Command::new(BIN), data, args)
}

/// The demo municipalities, made once by `serve --demo`; returns the
/// 北竜町 supervisor's password.
fn demo(data: &Path) -> String {
    let port = murakumo_testkit::free_port();
    let mut child = local(
        data,
        &["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")],
    )
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !data.join("demo-logins.txt").exists()
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        assert!(child.try_wait().expect("wait").is_none(), "demo exited");
        assert!(Instant::now() < deadline, "demo did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    term(child);
    let logins = std::fs::read_to_string(data.join("demo-logins.txt")).expect("logins");
    logins
        .lines()
        .find(|l| l.contains(HOKURYU) && l.contains("login: supervisor"))
        .and_then(|l| l.split("password: ").nth(1))
        .and_then(|p| p.split_whitespace().next())
        .expect("supervisor password")
        .to_string()
}

fn term(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn kill9(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// HTTP through curl, optionally inside a namespace: (status, headers, body).
fn curl(
    prefix: &dyn Fn() -> Command,
    method: &str,
    url: &str,
    bearer: Option<&str>,
    json: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut c = prefix();
    c.args(["-s", "-m", "20", "-D", "-", "-X", method, url]);
    if let Some(b) = bearer {
        c.args(["-H", &format!("authorization: Bearer {b}")]);
    }
    if let Some(j) = json {
        c.args(["-H", "content-type: application/json", "--data-binary", j]);
    }
    let out: Output = c.output().expect("curl");
    let raw = out.stdout;
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::new(), vec![]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn host() -> Command {
    Command::new("curl")
}

fn login(prefix: &dyn Fn() -> Command, base: &str, password: &str) -> String {
    let body = format!(r#"{{"tenant":"{HOKURYU}","login":"supervisor","password":"{password}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, _, b) = curl(
            prefix,
            "POST",
            &format!("{base}/api/v1/session"),
            None,
            Some(&body),
        );
        if status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
            return v["token"].as_str().expect("token").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "login at {base}: {status} {}",
            String::from_utf8_lossy(&b)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A resident of 北竜町 (the first one an address search finds).
fn some_resident(prefix: &dyn Fn() -> Command, base: &str, token: &str) -> String {
    let (status, _, b) = curl(
        prefix,
        "GET",
        &format!("{base}/api/v1/residents?address=%E5%8C%97"),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
    v[0]["resident_code"].as_str().expect("code").to_string()
}

/// 住民票の写し: Ok((発行番号, certified digest)) or Err(status).
fn issue(
    prefix: &dyn Fn() -> Command,
    base: &str,
    token: &str,
    resident: &str,
) -> Result<(String, String), u16> {
    let body = format!(
        r#"{{"kind":"resident_copy","resident_codes":["{resident}"],"requester":"本人","purpose":"試験"}}"#
    );
    let (status, head, _) = curl(
        prefix,
        "POST",
        &format!("{base}/api/v1/certificates"),
        Some(token),
        Some(&body),
    );
    if status != 200 {
        return Err(status);
    }
    Ok((
        header(&head, "x-issue-number").expect("number"),
        header(&head, "x-certified-digest").expect("digest"),
    ))
}

fn metric(prefix: &dyn Fn() -> Command, base: &str, name: &str) -> Option<f64> {
    let (_, _, b) = curl(prefix, "GET", &format!("{base}/metrics"), None, None);
    String::from_utf8_lossy(&b)
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
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
        let store = Store::open_sqlite(data).await.expect("open");
        let out = f(&store).await;
        store.close().await;
        out
    })
}

fn hokuryu() -> TenantCode {
    TenantCode::parse(HOKURYU).expect("code")
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

fn status_of(prefix: &dyn Fn() -> Command, base: &str) -> serde_json::Value {
    let (_, _, b) = curl(
        prefix,
        "GET",
        &format!("{base}/api/v1/replication/status"),
        Some(TOKEN),
        None,
    );
    serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null)
}

#[test]
fn synchronous_replica_survives_kill_9_promotion_fences_the_old_primary() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let password = demo(&a);
    let (pa, pb) = (murakumo_testkit::free_port(), murakumo_testkit::free_port());
    let (ua, ub) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let mut primary = local(
        &a,
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{pa}"),
            "--sync-follower",
            "dc2",
        ],
    )
    .spawn()
    .expect("primary");
    let replica = local(
        &b,
        &[
            "follow",
            &ua,
            "--name",
            "dc2",
            "--listen",
            &format!("127.0.0.1:{pb}"),
        ],
    )
    .spawn()
    .expect("replica");
    let token = login(&host, &ua, &password);
    let resident = some_resident(&host, &ua, &token);
    wait_for("the replica to catch up", 300, || {
        metric(&host, &ub, "murakumo_replication_lag_entries") == Some(0.0)
            && metric(&host, &ub, "murakumo_replication_connected") == Some(1.0)
    });

    // A burst of issuances from four clerks; kill -9 the primary mid-burst.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (ua, token, resident) = (ua.clone(), token.clone(), resident.clone());
            let (acked, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok((n, _)) = issue(&host, &ua, &token, &resident) {
                        acked.lock().expect("lock").push(n);
                    }
                }
            })
        })
        .collect();
    wait_for("acknowledged issuances", 120, || {
        acknowledged.lock().expect("lock").len() >= 12
    });
    kill9(&mut primary);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.join().expect("worker");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    // Promote the replica while it runs: it stops following, takes epoch 2.
    let out = local(&b, &["promote"]).output().expect("promote");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the promotion to take effect", 30, || {
        status_of(&host, &ub)["role"] == "primary"
    });
    assert_eq!(status_of(&host, &ub)["epoch"], 2);
    // Nothing acknowledged is lost (RPO 0 in synchronous mode).
    let counts = issuances(&b, &acknowledged);
    assert!(
        counts.iter().all(|c| *c == 1),
        "acknowledged {acknowledged:?} held {counts:?}"
    );
    // The new primary issues, continuing the 発行番号 series.
    let tb = login(&host, &ub, &password);
    let (after, _) = issue(&host, &ub, &tb, &resident).expect("new primary issues");
    assert!(!acknowledged.contains(&after));

    // The old primary comes back (as `serve`): it asks its peers, learns of
    // epoch 2, and refuses every change.
    let head_before = with_store(&a, async |s: &Store| {
        s.tenant(&hokuryu())
            .head(Chain::Ledger)
            .await
            .expect("head")
    });
    let old = local(&a, &["serve", "--listen", &format!("127.0.0.1:{pa}")])
        .spawn()
        .expect("old primary");
    let ta = login(&host, &ua, &password);
    assert_eq!(status_of(&host, &ua)["role"], "fenced");
    assert_eq!(issue(&host, &ua, &ta, &resident), Err(503));
    let head_after = with_store(&a, async |s: &Store| {
        s.tenant(&hokuryu())
            .head(Chain::Ledger)
            .await
            .expect("head")
    });
    assert_eq!(head_before, head_after, "a fenced node appends nothing");
    term(old);

    // Heal: the old primary becomes a replica of the new one. Its chain is
    // a prefix of the new primary's, unless it committed an entry that was
    // never acknowledged (in flight at the kill) or an access record (those
    // ship asynchronously): that is refused, and nothing is discarded.
    let mut rejoin = local(
        &a,
        &[
            "follow",
            &ub,
            "--name",
            "old-dc1",
            "--listen",
            &format!("127.0.0.1:{pa}"),
        ],
    )
    .spawn()
    .expect("rejoin");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = rejoin.try_wait().expect("wait") {
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut e) = rejoin.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            // Refused, naming what would be lost and how to keep it.
            assert!(!status.success());
            assert!(err.contains("would lose entries"), "{err}");
            assert!(err.contains("murakumo ledger export"), "{err}");
            break;
        }
        if metric(&host, &ua, "murakumo_replication_lag_entries") == Some(0.0) {
            let (ha, hb) = (
                with_store(&a, async |s: &Store| {
                    s.tenant(&hokuryu())
                        .head(Chain::Ledger)
                        .await
                        .expect("head")
                }),
                with_store(&b, async |s: &Store| {
                    s.tenant(&hokuryu())
                        .head(Chain::Ledger)
                        .await
                        .expect("head")
                }),
            );
            if ha == hb {
                term(rejoin);
                break;
            }
        }
        if Instant::now() > deadline {
            kill9(&mut rejoin);
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut e) = rejoin.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the old primary neither caught up nor refused: {err}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    term(replica);
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
    let Some(link) = BadLink::create(&imp).expect("netns") else {
        eprintln!("SKIPPED: network namespaces are not permitted here");
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, c) = (tmp.path().join("a"), tmp.path().join("c"));
    let password = demo(&a);
    let ua = format!("http://{}:8080", link.far_addr());
    let uc = "http://127.0.0.1:8081".to_string();
    let far = || link.command(Side::Far, "curl");
    let near = || link.command(Side::Near, "curl");
    let primary = murakumo(
        link.command(Side::Far, BIN),
        &a,
        &["serve", "--listen", &format!("{}:8080", link.far_addr())],
    )
    .spawn()
    .expect("primary");
    let site = murakumo(
        link.command(Side::Near, BIN),
        &c,
        &[
            "follow",
            &ua,
            "--fallback",
            "--tenant",
            HOKURYU,
            "--name",
            "hokuryu-site",
            "--listen",
            "127.0.0.1:8081",
            "--max-bytes",
            "32768",
        ],
    )
    .spawn()
    .expect("site");
    let ta = login(&far, &ua, &password);
    let resident = some_resident(&far, &ua, &ta);
    let (_, centre_digest) = issue(&far, &ua, &ta, &resident).expect("issued at the centre");
    wait_for("the site to catch up over the link", 600, || {
        metric(&near, &uc, "murakumo_replication_lag_entries") == Some(0.0)
            && metric(&near, &uc, "murakumo_replication_connected") == Some(1.0)
    });
    let tc = login(&near, &uc, &password);
    assert_eq!(
        issue(&near, &uc, &tc, &resident),
        Err(503),
        "online: staff use the centre"
    );

    // Cut the link: the site takes over by itself.
    link.cut().expect("cut");
    let mut numbers = Vec::new();
    wait_for("the first fallback certificate", 60, || {
        match issue(&near, &uc, &tc, &resident) {
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
    numbers.push(issue(&near, &uc, &tc, &resident).expect("second").0);
    assert!(numbers.iter().all(|n| n.contains("B1-")), "{numbers:?}");
    let (_, _, page) = curl(&near, "GET", &format!("{uc}/"), None, None);
    assert!(
        String::from_utf8_lossy(&page).contains("データセンターに接続できません"),
        "the staff see the banner"
    );
    assert_eq!(metric(&near, &uc, "murakumo_fallback_active"), Some(1.0));

    // Heal: the outbox is replayed, the site switches back by itself.
    link.restore().expect("restore");
    wait_for("the site to replay and switch back", 300, || {
        metric(&near, &uc, "murakumo_outbox_pending") == Some(0.0)
            && metric(&near, &uc, "murakumo_fallback_active") == Some(0.0)
    });
    assert_eq!(
        issuances(&a, &numbers),
        vec![1; numbers.len()],
        "each in the centre's ledger once"
    );
    assert_eq!(
        issue(&near, &uc, &tc, &resident),
        Err(503),
        "back to the centre"
    );
    wait_for("the site to receive its certificates back", 300, || {
        metric(&near, &uc, "murakumo_replication_lag_entries") == Some(0.0)
            && issuances(&c, &numbers) == vec![1; numbers.len()]
    });
    term(site);
    term(primary);
}

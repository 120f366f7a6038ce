//! The real `murakumo` binary, end to end.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use murakumo_testkit::fixtures::Murakumo;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");

/// Starts `murakumo serve` on `t`'s data at 127.0.0.1:`port` and waits
/// until it accepts connections.
fn spawn_server(t: &Murakumo, port: u16) -> Child {
    let mut child = t
        .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start on port {port}");
}

/// Creates the staff member `clerk` (窓口, resident.clerk) in 深川市; the
/// command's output, which ends with the password.
fn create_clerk(t: &Murakumo) -> String {
    t.ok(&[
        "staff",
        "create",
        "--tenant",
        "012289",
        "--login",
        "clerk",
        "--name",
        "窓口",
        "--roles",
        "resident.clerk",
    ])
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "tenant",
        "staff",
        "ledger",
        "--data",
        "--database-url",
    ] {
        assert!(text.contains(word), "--help mentions {word}: {text}");
    }
    let out = Command::new(BIN)
        .args(["tenant", "create", "--help"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("全国地方公共団体コード"));
}

fn tenant_lifecycle(t: Murakumo) {
    let bad = t.run(&["tenant", "create", "--code", "012288", "--name", "深川市"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("check digit") && err.contains("expected 9"),
        "{err}"
    );
    let five = t.run(&["tenant", "create", "--code", "01228", "--name", "深川市"]);
    assert!(
        String::from_utf8_lossy(&five.stderr).contains("012289"),
        "suggests the full code"
    );
    assert_eq!(
        t.ok(&["tenant", "list", "--json"]).trim(),
        "[]",
        "a refused create changes nothing"
    );

    assert!(
        t.ok(&["tenant", "create", "--code", "012289", "--name", "深川市"])
            .contains("北海道")
    );
    let dup = t.run(&["tenant", "create", "--code", "012289", "--name", "深川市"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let list: Value = serde_json::from_str(&t.ok(&["tenant", "list", "--json"])).expect("json");
    assert_eq!(list[0]["name"], "深川市");

    let settings = t.ok(&[
        "tenant",
        "settings",
        "--code",
        "012289",
        "--set",
        "login.max_failures=7",
        "--reason",
        "条例",
    ]);
    assert!(
        settings
            .lines()
            .any(|l| l.starts_with("login.max_failures") && l.contains('7') && l.contains("個別")),
        "{settings}"
    );
    let pref = t.ok(&[
        "tenant",
        "settings",
        "--code",
        "012289",
        "--set",
        "tax.light_vehicle.due_date=06-01",
        "--prefecture",
    ]);
    assert!(
        pref.lines()
            .any(|l| l.starts_with("tax.light_vehicle.due_date") && l.contains("県版")),
        "{pref}"
    );
    let bad_value = t.run(&[
        "tenant",
        "settings",
        "--code",
        "012289",
        "--set",
        "login.max_failures=99",
    ]);
    assert!(!bad_value.status.success());
    let history = t.ok(&["tenant", "settings", "--code", "012289", "--history"]);
    assert!(
        history.contains("login.max_failures = 7") && history.contains("条例"),
        "{history}"
    );

    let staff = create_clerk(&t);
    assert!(staff.contains("password:"));
    let bad_role = t.run(&[
        "staff", "create", "--tenant", "012289", "--login", "x1x", "--name", "x", "--roles",
        "mayor",
    ]);
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("役割 \"mayor\" はありません"));
    assert!(t.ok(&["ledger", "verify"]).contains("ok"));
    assert!(
        t.ok(&["ledger", "rebuild", "--tenant", "012289"])
            .contains("rebuilt")
    );
}

#[test]
fn tenant_lifecycle_on_sqlite() {
    tenant_lifecycle(Murakumo::sqlite(BIN));
}

#[test]
fn tenant_lifecycle_on_postgres() {
    tenant_lifecycle(Murakumo::postgres(BIN));
}

/// Writes with 4 clients until the server is gone (a request fails after
/// `killed` is set); counts acknowledgements in `acked_count` as they come
/// and returns the 住民票コード of every write the server acknowledged.
async fn write_burst(
    base: String,
    token: String,
    killed: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (killed, acked_count) = (killed.clone(), acked_count.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u64;
            loop {
                i += 1;
                let ten = format!("{:010}", 7_000_000_000 + worker * 100_000 + i);
                let code = murakumo_core::ResidentCode::from_ten_digits(&ten).expect("valid").as_str().to_string();
                let body = json!({"resident_code": code, "family_name": "耐久", "family_kana": "タイキユウ",
                    "birth_date": "1990-01-01", "sex_code": 1, "address": "北海道深川市1条", "relationship": "世帯主",
                    "honseki": "北海道深川市", "reason": "move_in", "previous_address": "札幌市", "effective_date": "2026-11-01"});
                match client.post(format!("{base}/api/v1/residents")).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        acked.push(code);
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        assert!(killed.load(Ordering::SeqCst), "a write was refused before the kill: {}", r.status());
                    }
                    Err(_) if killed.load(Ordering::SeqCst) => break,
                    Err(e) => panic!("a write failed before the kill: {e}"),
                }
            }
            acked
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all
}

/// The acknowledged writes (住民票コード) that the server at `base` does not
/// hold: each is read back and must be there under its own code.
async fn lost_writes(base: &str, token: &str, acked: &[String]) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut missing = Vec::new();
    for code in acked {
        let r = client
            .get(format!("{base}/api/v1/residents/{code}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let found = r.status() == reqwest::StatusCode::OK
            && r.json::<Value>()
                .await
                .is_ok_and(|v| v.to_string().contains(&format!("\"{code}\"")));
        if !found {
            missing.push(code.clone());
        }
    }
    missing
}

fn login_token(base: &str, password: &str) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r: Value = reqwest::Client::new()
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"tenant": "012289", "login": "clerk", "password": password}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        r["token"].as_str().expect("token").to_string()
    })
}

/// Kills the server in the middle of a write burst (SIGKILL or SIGTERM);
/// after a restart every acknowledged write is there and the chains verify.
fn no_acknowledged_write_is_lost(t: Murakumo, signal: &str) {
    t.ok(&["tenant", "create", "--code", "012289", "--name", "深川市"]);
    let out = create_clerk(&t);
    let password = out.trim().rsplit(' ').next().expect("password").to_string();
    let port = murakumo_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn_server(&t, port);
    let token = login_token(&base, &password);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let killed = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let burst = rt.spawn(write_burst(
        base.clone(),
        token.clone(),
        killed.clone(),
        acked_count.clone(),
    ));
    // The kill lands after a number of acknowledged writes, in the middle
    // of the burst, however fast or slow this machine is.
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked_count.load(Ordering::SeqCst) < 200 {
        assert!(Instant::now() < deadline, "the burst got no writes through");
        std::thread::sleep(Duration::from_millis(10));
    }
    killed.store(true, Ordering::SeqCst);
    let status = Command::new("kill")
        .args([signal, &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = server.wait().expect("wait");
    let acked = rt.block_on(burst).expect("burst");
    assert!(
        acked.len() >= 200,
        "the burst got writes acknowledged before the kill: {}",
        acked.len()
    );
    if signal == "-TERM" {
        assert!(exit.success(), "SIGTERM stops the server cleanly: {exit:?}");
    }

    let mut server = spawn_server(&t, port);
    let token = login_token(&base, &password);
    // The check itself finds a lost write: an acknowledgement of a write
    // that never happened is reported, by its code.
    let never_written = murakumo_core::ResidentCode::from_ten_digits("7999999999")
        .expect("valid")
        .as_str()
        .to_string();
    assert_eq!(
        rt.block_on(lost_writes(
            &base,
            &token,
            std::slice::from_ref(&never_written)
        )),
        [never_written],
        "the lost-write check must report a write that is not there"
    );
    let missing = rt.block_on(lost_writes(&base, &token, &acked));
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost: {missing:?}",
        missing.len(),
        acked.len()
    );
    server.kill().expect("kill");
    server.wait().expect("wait");
    let verify = t.ok(&["ledger", "verify"]);
    // The municipality's ledger and access log, and the platform's chain.
    assert!(verify.matches(": ok").count() == 3, "{verify}");
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged_sqlite() {
    no_acknowledged_write_is_lost(Murakumo::sqlite(BIN), "-KILL");
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged_postgres() {
    no_acknowledged_write_is_lost(Murakumo::postgres(BIN), "-KILL");
}

#[test]
fn sigterm_during_writes_is_graceful_sqlite() {
    no_acknowledged_write_is_lost(Murakumo::sqlite(BIN), "-TERM");
}

#[test]
fn sigterm_during_writes_is_graceful_postgres() {
    no_acknowledged_write_is_lost(Murakumo::postgres(BIN), "-TERM");
}

#[test]
fn demo_creates_two_municipalities_once() {
    let t = Murakumo::sqlite(BIN);
    let port = murakumo_testkit::free_port();
    let child = t
        .command(&["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "demo server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("北竜町") && text.contains("深川市") && text.contains("login: clerk"),
        "{text}"
    );
    let list: Value = serde_json::from_str(&t.ok(&["tenant", "list", "--json"])).expect("json");
    assert_eq!(list.as_array().expect("list").len(), 2);
    let counts: Vec<u64> = ["014362", "012289"]
        .iter()
        .map(|c| {
            let v = t.ok(&["ledger", "verify", "--tenant", c]);
            v.lines()
                .find(|l| l.contains("ledger: ok"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
                .expect("count")
        })
        .collect();
    // Genesis + 2 settings + 5 staff + the generated residents (each entry with its
    // 宛名番号), a year of their 異動 (about a fifth more entries, births numbered too), the
    // 外字 table, the 公印 and 印鑑登録 of about one adult in ten.
    for (n, population) in counts.iter().zip([1_600u64, 20_000]) {
        assert!(
            (2 * population + 10..population * 24 / 10).contains(n),
            "{n} entries for {population} residents"
        );
    }
}

//! Backup, restore and verify, end to end through the real binary, against
//! real targets: a directory, `rclone serve webdav`, another `murakumo serve`
//! (also across an impaired link in network namespaces), and three sites
//! for 2-of-3 dispersal.

use murakumo_resident_store::ResidentReads;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_resident_store::ResidentQuery;
use murakumo_store::{Chain, Store};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");
const PASS: &str = "correct horse battery staple 馬";
const TOKEN: &str = "test-replication-token-0123456789";
const HOKURYU: &str = "014362";
const FUKAGAWA: &str = "012289";
const CHIYODA: &str = "131016";
const SAPPORO: &str = "011002";

fn murakumo(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--data")
        .arg(data)
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_BACKUP_PASSPHRASE", PASS)
        .env("MURAKUMO_REPLICATION_TOKEN", TOKEN);
    c
}

fn run(data: &Path, args: &[&str]) -> Output {
    murakumo(data, args).output().expect("run murakumo")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "murakumo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        !out.status.success(),
        "murakumo {args:?} should have failed"
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `sent: chunks=N bytes=B; already stored: chunks=M bytes=C` → (N, M).
fn sent(out: &str) -> (u64, u64) {
    let line = out.lines().find(|l| l.starts_with("sent:")).expect(out);
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums[0], nums[2])
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Two demo municipalities with residents (北竜町 1,600, 深川市 20,000).
fn demo(data: &Path) {
    let port = murakumo_testkit::free_port();
    let mut child = murakumo(
        data,
        &["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn");
    wait_port("127.0.0.1", port, &mut child);
    stop(child);
}

fn wait_port(host: &str, port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while std::net::TcpStream::connect((host, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A municipality with a few ledger entries, made through the CLI.
fn small_tenant(data: &Path, code: &str, name: &str, changes: usize) {
    ok(data, &["tenant", "create", "--code", code, "--name", name]);
    for i in 0..changes {
        ok(
            data,
            &[
                "tenant",
                "settings",
                "--code",
                code,
                "--set",
                &format!("certificate.issuer_name={name}長 {i}"),
                "--reason",
                "test",
            ],
        );
    }
}

/// What a person would compare: every resident (search by empty prefix),
/// and each chain's head.
type Picture = Vec<(String, u64, String, u64, Vec<String>)>;

fn picture(data: &Path) -> Picture {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open_sqlite(data, murakumo_app::systems())
            .await
            .expect("open");
        let mut out = Vec::new();
        for t in store.list_tenants().await.expect("list") {
            let ts = store.tenant(&t.code);
            let l = ts.verify(Chain::Ledger).await.expect("ledger verifies");
            let a = ts.verify(Chain::Access).await.expect("access verifies");
            let residents = ts
                .search_residents(&ResidentQuery {
                    include_removed: true,
                    limit: 1_000_000,
                    ..ResidentQuery::default()
                })
                .await
                .expect("search")
                .into_iter()
                .map(|r| format!("{r:?}"))
                .collect();
            out.push((
                format!("{} {}", t.code, t.name),
                l.seq,
                l.hash.to_hex(),
                a.seq,
                residents,
            ));
        }
        store.close().await;
        out
    })
}

fn head(data: &Path, code: &str) -> (u64, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = Store::open_sqlite(data, murakumo_app::systems())
            .await
            .expect("open");
        let code = TenantCode::parse(code).expect("code");
        let h = store
            .tenant(&code)
            .verify(Chain::Ledger)
            .await
            .expect("verifies");
        store.close().await;
        (h.seq, h.hash.to_hex())
    })
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn backup_restores_equal_data_and_incrementals_send_only_what_is_new() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, repo) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("repo"),
    );
    demo(&a);
    let before = picture(&a);
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|t| !t.4.is_empty()), "demo has residents");

    let out = ok(&a, &["backup", "--to", &url(&repo)]);
    let (first_sent, _) = sent(&out);
    assert!(first_sent >= 2, "{out}");
    let verify = ok(&a, &["verify", "--repo", &url(&repo)]);
    assert!(verify.contains("repository ok"), "{verify}");
    let (entries, _) = head(&a, FUKAGAWA);
    assert!(
        verify.contains(&format!("{FUKAGAWA} ledger: ok, {entries} entries")),
        "{verify}"
    );

    // Nothing new: nothing but the snapshot is sent.
    let out = ok(&a, &["backup", "--to", &url(&repo)]);
    assert_eq!(sent(&out).0, 0, "{out}");
    let between = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(20));

    // One new entry: one new chunk.
    small_change(&a);
    let out = ok(&a, &["backup", "--to", &url(&repo)]);
    // (The platform's chain did not change: nothing of it is sent or even looked up.)
    assert_eq!(sent(&out), (1, 0), "only the new segment is sent: {out}");
    let after = picture(&a);

    // Full restore into an empty instance: equal data, chains verify.
    let out = ok(&b, &["restore", "--from", &url(&repo)]);
    assert!(out.contains("chains verify"), "{out}");
    assert_eq!(picture(&b), after);
    // Restoring again changes nothing (idempotent).
    ok(&b, &["restore", "--from", &url(&repo)]);
    assert_eq!(picture(&b), after);

    // Point in time: before the change.
    let c = tmp.path().join("c");
    ok(
        &c,
        &[
            "restore",
            "--from",
            &url(&repo),
            "--at",
            &between.to_rfc3339(),
        ],
    );
    assert_eq!(picture(&c), before);

    // A drill reports RPO and RTO and leaves the real data alone.
    let d = tmp.path().join("d");
    let out = ok(&d, &["restore", "--from", &url(&repo), "--drill"]);
    assert!(out.contains("RPO: ") && out.contains("RTO: "), "{out}");
    assert!(
        !d.join("murakumo.db").exists(),
        "a drill does not touch --data"
    );
}

fn small_change(data: &Path) {
    ok(
        data,
        &[
            "tenant",
            "settings",
            "--code",
            HOKURYU,
            "--set",
            "certificate.issuer_name=北竜町長 新",
            "--reason",
            "就任",
        ],
    );
}

#[test]
fn a_changed_byte_is_named_and_a_wrong_key_is_explained() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, repo) = (tmp.path().join("a"), tmp.path().join("repo"));
    small_tenant(&a, CHIYODA, "千代田区", 3);
    ok(&a, &["backup", "--to", &url(&repo)]);

    // Wrong passphrase: a clear explanation, no bypass.
    let out = murakumo(&a, &["verify", "--repo", &url(&repo)])
        .env("MURAKUMO_BACKUP_PASSPHRASE", "wrong")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not unlock") && err.contains("no way around"),
        "{err}"
    );
    // No key at all.
    let out = Command::new(BIN)
        .args(["verify", "--repo", &url(&repo)])
        .env_remove("MURAKUMO_BACKUP_PASSPHRASE")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("MURAKUMO_BACKUP_PASSPHRASE"));
    // A key file on a passphrase repository says which it needs.
    let key = tmp.path().join("key");
    std::fs::write(&key, [7u8; 64]).expect("key");
    let err = fails(
        &a,
        &[
            "verify",
            "--repo",
            &url(&repo),
            "--key-file",
            &key.display().to_string(),
        ],
    );
    assert!(err.contains("locked with a passphrase"), "{err}");

    // One changed byte in one stored object: verify names it.
    let data = files_under(&repo.join("data"));
    let victim = &data[0];
    let mut bytes = std::fs::read(victim).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(victim, bytes).expect("write");
    let name = victim
        .strip_prefix(&repo)
        .expect("under repo")
        .display()
        .to_string();
    let out = fails(&a, &["verify", "--repo", &url(&repo)]);
    assert!(out.contains(&format!("CORRUPTED {name}")), "{out}");
    // A missing one too.
    std::fs::remove_file(victim).expect("rm");
    let out = fails(&a, &["verify", "--repo", &url(&repo)]);
    assert!(out.contains(&format!("MISSING {name}")), "{out}");

    // Key files work too (a new repository).
    let repo2 = tmp.path().join("repo2");
    let k = key.display().to_string();
    ok(&a, &["backup", "--to", &url(&repo2), "--key-file", &k]);
    ok(&a, &["verify", "--repo", &url(&repo2), "--key-file", &k]);
}

#[test]
fn restoring_one_municipality_leaves_the_others_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, repo) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("repo"),
    );
    small_tenant(&a, CHIYODA, "千代田区", 2);
    small_tenant(&a, SAPPORO, "札幌市", 4);
    ok(&a, &["backup", "--to", &url(&repo)]);
    // The target has its own 札幌市 with other history.
    small_tenant(&b, SAPPORO, "札幌市", 1);
    let theirs = head(&b, SAPPORO);
    let out = ok(&b, &["restore", "--from", &url(&repo), "--tenant", CHIYODA]);
    assert!(out.contains(CHIYODA) && !out.contains(SAPPORO), "{out}");
    assert_eq!(head(&b, CHIYODA), head(&a, CHIYODA));
    assert_eq!(
        head(&b, SAPPORO),
        theirs,
        "the other municipality is untouched"
    );
    let err = fails(
        &b,
        &["restore", "--from", &url(&repo), "--tenant", "011002x"],
    );
    assert!(err.contains("error"), "{err}");
}

struct Rclone(Child);
impl Drop for Rclone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn webdav_repository_on_a_real_rclone_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, dav) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("dav"),
    );
    std::fs::create_dir_all(&dav).expect("dav");
    let port = murakumo_testkit::free_port();
    let mut child = Command::new("rclone")
        .args(["serve", "webdav", "--addr", &format!("127.0.0.1:{port}")])
        .arg(&dav)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rclone (apt-get install rclone)");
    wait_port("127.0.0.1", port, &mut child);
    let _rclone = Rclone(child);
    small_tenant(&a, CHIYODA, "千代田区", 3);
    let repo = format!("webdav://127.0.0.1:{port}/backups/murakumo");
    let out = ok(&a, &["backup", "--to", &repo, "--limit-rate", "1MiB"]);
    // The tenant's ledger segment (its access log and the platform's chain are empty).
    assert_eq!(sent(&out).0, 1, "{out}");
    assert!(dav.join("backups/murakumo/config").exists());
    small_change_on(&a, CHIYODA);
    let out = ok(&a, &["backup", "--to", &repo]);
    assert_eq!(sent(&out).0, 1, "{out}");
    ok(&a, &["verify", "--repo", &repo]);
    ok(&b, &["restore", "--from", &repo]);
    assert_eq!(picture(&b), picture(&a));
}

fn small_change_on(data: &Path, code: &str) {
    ok(
        data,
        &[
            "tenant",
            "settings",
            "--code",
            code,
            "--set",
            "certificate.issuer_title=区長",
        ],
    );
}

#[test]
fn a_backup_killed_mid_way_resumes_without_resending() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, repo) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("repo"),
    );
    demo(&a);
    let mut child = murakumo(
        &a,
        &[
            "backup",
            "--to",
            &url(&repo),
            "--chunk-size",
            "4KiB",
            "--limit-rate",
            "256KiB",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn");
    // Wait until some chunks have arrived, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_under(&repo.join("data")).len() < 20 {
        assert!(Instant::now() < deadline, "no chunks arrived");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "backup finished too fast"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let arrived = files_under(&repo.join("data")).len() as u64;
    assert!(
        files_under(&repo.join("snapshots")).is_empty(),
        "no snapshot yet"
    );

    let out = ok(&a, &["backup", "--to", &url(&repo), "--chunk-size", "4KiB"]);
    let (sent_now, already) = sent(&out);
    assert!(
        already >= arrived,
        "every chunk that arrived is reused: {out} (arrived {arrived})"
    );
    let total = files_under(&repo.join("data")).len() as u64;
    assert_eq!(sent_now + arrived, total, "nothing was sent twice: {out}");
    ok(&a, &["verify", "--repo", &url(&repo)]);
    ok(&b, &["restore", "--from", &url(&repo)]);
    assert_eq!(picture(&b), picture(&a));
}

/// Another Murakumo centre as the target.
fn spawn_target(dir: &Path, listen: &str, token: Option<&str>, cmd: Option<Command>) -> Child {
    let mut c = cmd.unwrap_or_else(|| Command::new(BIN));
    c.args(["serve", "--listen", listen, "--data"])
        .arg(dir.join("data"))
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_BACKUP_TARGET_DIR", dir.join("objects"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match token {
        Some(t) => c.env("MURAKUMO_REPLICATION_TOKEN", t),
        None => c.env_remove("MURAKUMO_REPLICATION_TOKEN"),
    };
    c.spawn().expect("spawn target")
}

#[test]
fn another_centre_stores_backups_only_with_the_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, dc2) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("dc2"),
    );
    small_tenant(&a, CHIYODA, "千代田区", 3);
    let port = murakumo_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let repo = format!("murakumo://{listen}");

    // Not configured: refused, saying what to set.
    let mut child = spawn_target(&dc2, &listen, None, None);
    wait_port("127.0.0.1", port, &mut child);
    let err = fails(&a, &["backup", "--to", &repo, "--retries", "2"]);
    assert!(err.contains("MURAKUMO_REPLICATION_TOKEN"), "{err}");
    stop(child);

    let mut child = spawn_target(&dc2, &listen, Some(TOKEN), None);
    wait_port("127.0.0.1", port, &mut child);
    let out = murakumo(&a, &["backup", "--to", &repo, "--retries", "2"])
        .env("MURAKUMO_REPLICATION_TOKEN", "wrong")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    let out = ok(&a, &["backup", "--to", &repo]);
    // The tenant's ledger segment (its access log and the platform's chain are empty).
    assert_eq!(sent(&out).0, 1, "{out}");
    small_change_on(&a, CHIYODA);
    assert_eq!(sent(&ok(&a, &["backup", "--to", &repo])).0, 1);
    ok(&a, &["verify", "--repo", &repo]);
    ok(&b, &["restore", "--from", &repo]);
    assert_eq!(picture(&b), picture(&a));
    // The receiving centre holds only opaque objects.
    assert!(dc2.join("objects/config").exists());
    stop(child);
}

/// Names the target cannot store are the sender's mistake: 400 naming the field, never a
/// 500 (a name longer than a file name may be; a name under an object, as if it were a
/// directory; a name that is a directory).
#[test]
fn the_backup_target_answers_400_to_names_it_cannot_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = murakumo_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn_target(tmp.path(), &listen, Some(TOKEN), None);
    wait_port("127.0.0.1", port, &mut child);
    use murakumo_testkit::nodes::{At, curl};
    let object = |method: &str, path: &str, query: &str, body: Option<&str>| {
        let url = format!("http://{listen}/api/v1/backup-target/{path}?{query}");
        curl(At::Host, method, &url, Some(TOKEN), body)
    };
    let hash = blake3::hash(b"abc").to_hex();
    assert_eq!(
        object("PUT", "object", "name=data/aa&offset=0", Some("abc")).status,
        200
    );
    let committed = object(
        "POST",
        "commit",
        &format!("name=data/aa&size=3&blake3={hash}"),
        None,
    );
    assert_eq!(
        committed.status,
        200,
        "{}",
        String::from_utf8_lossy(&committed.body)
    );
    let long = object(
        "PUT",
        "object",
        &format!("name=data/{}&offset=0", "a".repeat(300)),
        Some("abc"),
    );
    let body: serde_json::Value = serde_json::from_slice(&long.body).expect("json");
    assert_eq!(long.status, 400, "a name longer than a file name: {body}");
    assert_eq!(body["error"]["field"], "name", "{body}");
    // An upload arrives flat in .partial/; its commit finds an object where a directory goes.
    let under = "name=data/aa/under-an-object";
    assert_eq!(
        object("PUT", "object", &format!("{under}&offset=0"), Some("abc")).status,
        200
    );
    let r = object(
        "POST",
        "commit",
        &format!("{under}&size=3&blake3={hash}"),
        None,
    );
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(r.status, 400, "an object taken for a directory: {body}");
    assert_eq!(body["error"]["field"], "name", "{body}");
    let r = object("GET", "object", "name=data", None);
    assert_eq!(
        r.status,
        400,
        "a directory read as an object: {}",
        String::from_utf8_lossy(&r.body)
    );
    stop(child);
}

#[test]
fn backup_over_a_bad_link_with_a_cut_resumes_and_restores() {
    use murakumo_testkit::{BadLink, Side};
    let link = BadLink::require(&BadLink::LGWAN_WORST);
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, dc2) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("dc2"),
    );
    small_tenant(&a, CHIYODA, "千代田区", 30);
    small_tenant(&a, SAPPORO, "札幌市", 30);
    let listen = format!("{}:8080", link.far_addr());
    let mut server = spawn_target(
        &dc2,
        &listen,
        Some(TOKEN),
        Some(link.command(Side::Far, BIN)),
    );
    // Wait for the server from inside the near namespace.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let probe = link
            .command(Side::Near, "bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/{}/8080", link.far_addr())])
            .output()
            .expect("probe");
        if probe.status.success() {
            break;
        }
        assert!(server.try_wait().expect("wait").is_none(), "server exited");
        assert!(
            Instant::now() < deadline,
            "server not reachable over the link"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let repo = format!("murakumo://{listen}");
    let mut backup = link.command(Side::Near, BIN);
    backup
        .args([
            "backup",
            "--to",
            &repo,
            "--limit-rate",
            "48KiB",
            "--chunk-size",
            "4KiB",
            "--data",
        ])
        .arg(&a)
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_BACKUP_PASSPHRASE", PASS)
        .env("MURAKUMO_REPLICATION_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = backup.spawn().expect("backup");
    // Cut the link while objects are arriving, for 8 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_under(&dc2.join("objects")).len() < 3 {
        assert!(Instant::now() < deadline, "nothing arrived over the link");
        std::thread::sleep(Duration::from_millis(100));
    }
    link.cut().expect("cut");
    std::thread::sleep(Duration::from_secs(8));
    link.restore().expect("restore link");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "backup over the bad link failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut restore = link.command(Side::Near, BIN);
    restore
        .args(["restore", "--from", &repo, "--data"])
        .arg(&b)
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_BACKUP_PASSPHRASE", PASS)
        .env("MURAKUMO_REPLICATION_TOKEN", TOKEN);
    let out = restore.output().expect("restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(picture(&b), picture(&a));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn dispersed_over_three_sites_any_two_restore_one_reveals_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let sites: Vec<PathBuf> = (1..=3)
        .map(|i| tmp.path().join(format!("site{i}")))
        .collect();
    let repo = format!(
        "dispersed:{},{},{}",
        url(&sites[0]),
        url(&sites[1]),
        url(&sites[2])
    );
    small_tenant(&a, CHIYODA, "千代田区", 3);
    ok(&a, &["backup", "--to", &repo]);
    small_change_on(&a, CHIYODA);
    assert_eq!(sent(&ok(&a, &["backup", "--to", &repo])).0, 1);
    ok(&a, &["verify", "--repo", &repo]);
    let want = picture(&a);

    // Restore with each one of the three sites gone.
    for (gone, site) in sites.iter().enumerate() {
        let moved = tmp.path().join("moved");
        std::fs::rename(site, &moved).expect("take site away");
        let b = tmp.path().join(format!("b{gone}"));
        ok(&b, &["restore", "--from", &repo]);
        assert_eq!(picture(&b), want, "without site {}", gone + 1);
        // Opening the repository made an empty directory there.
        let _ = std::fs::remove_dir_all(site);
        std::fs::rename(&moved, site).expect("bring site back");
    }

    // One site with the passphrase: its objects do not open.
    let c = tmp.path().join("c");
    let err = fails(&c, &["restore", "--from", &url(&sites[0])]);
    assert!(
        err.contains("corrupted") || err.contains("not a Murakumo"),
        "{err}"
    );

    // A corrupted share is detected, named, and the other two are used.
    let victim = files_under(&sites[1].join("data"))[0].clone();
    let mut bytes = std::fs::read(&victim).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&victim, bytes).expect("write");
    let out = fails(&a, &["verify", "--repo", &repo]);
    assert!(out.contains("CORRUPTED share"), "{out}");
    let d = tmp.path().join("d");
    ok(&d, &["restore", "--from", &repo]);
    assert_eq!(picture(&d), want);
}

/// Issues a 住民票の写し of one household through a running server and
/// returns its certified digest, the key it was signed with, and whether
/// `earlier` (a PDF from before) still verifies there.
fn issue_household_copy(
    data: &Path,
    password: &str,
    as_of: &str,
    earlier: Option<&[u8]>,
) -> Result<(String, String, Vec<u8>, bool), String> {
    let port = murakumo_testkit::free_port();
    let mut child = murakumo(data, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_port("127.0.0.1", port, &mut child);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let digest = rt.block_on(async {
        let c = reqwest::Client::new();
        let login: serde_json::Value = c
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({"tenant": HOKURYU, "login": "clerk", "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["token"].as_str().expect("token").to_string();
        let found: serde_json::Value = c
            .get(format!("{base}/api/v1/residents?kana=サ&limit=1"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        // A search answers only the items it lists (no 世帯番号): read the person for it.
        let code = found[0]["resident_code"].as_str().expect("a resident").to_string();
        let person: serde_json::Value = c
            .get(format!("{base}/api/v1/residents/{code}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("resident")
            .json()
            .await
            .expect("json");
        let household = person["household_id"].as_str().expect("a household").to_string();
        let r = c
            .post(format!("{base}/api/v1/certificates"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"kind": "resident_copy", "household_id": household, "as_of": as_of,
                "requester": "本人", "purpose": "復元確認"}))
            .send()
            .await
            .expect("issue");
        if r.status() != reqwest::StatusCode::OK {
            return Err(format!("{}: {}", r.status(), r.text().await.unwrap_or_default()));
        }
        let digest = r.headers()["x-certified-digest"].to_str().expect("digest").to_string();
        let pdf = r.bytes().await.expect("pdf").to_vec();
        let verify = |pdf: Vec<u8>| {
            let req = c
                .post(format!("{base}/api/v1/public/verify-certificate"))
                .header("content-type", "application/pdf")
                .body(pdf);
            async move { req.send().await.expect("verify").json::<serde_json::Value>().await.expect("json") }
        };
        let key_id = verify(pdf.clone()).await["key_id"].as_str().unwrap_or("").to_string();
        let earlier_ok = match earlier {
            Some(e) => verify(e.to_vec()).await["genuine"] == true,
            None => false,
        };
        Ok((digest, key_id, pdf, earlier_ok))
    });
    stop(child);
    digest
}

#[test]
fn certificates_after_restore_certify_the_same_content() {
    let src = tempfile::tempdir().expect("tempdir");
    demo(src.path());
    let logins = std::fs::read_to_string(src.path().join("demo-logins.txt")).expect("logins");
    let password = logins
        .lines()
        .find(|l| l.contains(HOKURYU) && l.contains("login: clerk "))
        .and_then(|l| l.split("password: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("clerk password")
        .to_string();
    let as_of = chrono::Utc::now().date_naive().to_string();
    let (before, key_before, pdf_before, _) =
        issue_household_copy(src.path(), &password, &as_of, None).expect("issued");

    let repo = tempfile::tempdir().expect("tempdir");
    ok(src.path(), &["backup", "--to", &url(repo.path())]);
    let dst = tempfile::tempdir().expect("tempdir");
    // The operator brings the platform key, kept apart from the backups: without it the
    // restored node could not open the sealed signing key (below).
    std::fs::copy(
        src.path().join("platform.key"),
        dst.path().join("platform.key"),
    )
    .expect("the platform key");
    ok(dst.path(), &["restore", "--from", &url(repo.path())]);
    let (after, key_after, _, earlier_verifies) =
        issue_household_copy(dst.path(), &password, &as_of, Some(&pdf_before)).expect("issued");
    assert_eq!(
        before, after,
        "the restored instance certifies exactly the same content"
    );
    assert!(!key_before.is_empty());
    assert_eq!(key_before, key_after, "and signs with the same key");
    assert!(
        earlier_verifies,
        "a certificate issued before the backup verifies on the restored instance"
    );

    // Without the platform key the sealed secret stays closed: the restore says so, and the
    // restored node issues nothing (rather than sign with a key of its own that the
    // platform's other nodes could not open) until it has the key file or the
    // municipality's administrator rotates the key; its ledger still publishes the old key.
    let keyless = tempfile::tempdir().expect("tempdir");
    let out = run(keyless.path(), &["restore", "--from", &url(repo.path())]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("warning: {HOKURYU}")) && said.contains("another platform key"),
        "{said}"
    );
    let refused = issue_household_copy(keyless.path(), &password, &as_of, None)
        .expect_err("nothing is signed without the key");
    assert!(refused.contains("基盤鍵"), "{refused}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let public = rt.block_on(async {
        let store = Store::open_sqlite(keyless.path(), murakumo_app::systems())
            .await
            .expect("open");
        store
            .tenant(&TenantCode::parse(HOKURYU).expect("code"))
            .public_keys()
            .await
            .expect("keys")
    });
    assert!(public.iter().any(|k| k.key_id == key_before), "{public:?}");
}

//! 秘密分散 that heals itself (issue 19), end to end through the real binary:
//! shares corrupted, truncated and deleted at each site in turn (directories
//! and `rclone serve webdav`), a site wiped and refilled, a repair killed
//! with kill -9 and rerun, an unreachable site refused, two bad shares of
//! one object reported LOST with the snapshots they take down (and restore
//! refusing rather than writing part), and the sampled scrub's metrics file.
//! Every repair is proven by `verify` and by restores that need the repaired
//! site.

use murakumo_resident_store::ResidentReads;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use murakumo_resident_store::ResidentQuery;
use murakumo_store::{Chain, Store};

const BIN: &str = env!("CARGO_BIN_EXE_murakumo");
const PASS: &str = "correct horse battery staple 馬";
const CHIYODA: &str = "131016";
const SAPPORO: &str = "011002";
const HOKURYU: &str = "014362";

fn murakumo(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--data")
        .arg(data)
        .env("MURAKUMO_LOG", "warn")
        .env("MURAKUMO_BACKUP_PASSPHRASE", PASS);
    c
}

fn run(data: &Path, args: &[&str]) -> Output {
    murakumo(data, args).output().expect("run murakumo")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "murakumo {args:?} failed:\n{}",
        text(&out)
    );
    text(&out)
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        !out.status.success(),
        "murakumo {args:?} should have failed:\n{}",
        text(&out)
    );
    text(&out)
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn dispersed(sites: &[String]) -> String {
    format!("dispersed:{},{},{}", sites[0], sites[1], sites[2])
}

fn small_tenant(data: &Path, code: &str, name: &str, changes: usize) {
    ok(data, &["tenant", "create", "--code", code, "--name", name]);
    for i in 0..changes {
        change(data, code, &format!("{name}長 {i}"));
    }
}

fn change(data: &Path, code: &str, value: &str) {
    ok(
        data,
        &[
            "tenant",
            "settings",
            "--code",
            code,
            "--set",
            &format!("certificate.issuer_name={value}"),
            "--reason",
            "test",
        ],
    );
}

/// A municipality of `population` generated residents, imported.
fn city(data: &Path, population: usize) {
    let gen_dir = data.with_extension("gen");
    ok(
        data,
        &[
            "gen",
            "--municipality",
            HOKURYU,
            "--population",
            &population.to_string(),
            "--out",
            &gen_dir.display().to_string(),
        ],
    );
    ok(
        data,
        &["tenant", "create", "--code", HOKURYU, "--name", "北竜町"],
    );
    ok(
        data,
        &[
            "import",
            "--tenant",
            HOKURYU,
            &gen_dir.display().to_string(),
        ],
    );
}

/// Every tenant's residents and chain heads, as a person would compare.
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

/// Object files of a site (its `.tmp/` work directory left out), by name.
fn objects(site: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![site.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = p
                .strip_prefix(site)
                .expect("under site")
                .display()
                .to_string();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(name, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Corrupt,
    Truncate,
    Delete,
}

fn damage(file: &Path, how: Damage) {
    match how {
        Damage::Corrupt => {
            let mut b = std::fs::read(file).expect("read");
            let mid = b.len() / 2;
            b[mid] ^= 0x10;
            std::fs::write(file, b).expect("write");
        }
        Damage::Truncate => {
            let b = std::fs::read(file).expect("read");
            std::fs::write(file, &b[..b.len() / 3]).expect("write");
        }
        Damage::Delete => std::fs::remove_file(file).expect("rm"),
    }
}

/// `N share(s) rebuilt` in a repair's output.
fn rebuilt(out: &str) -> usize {
    if out.contains("every share is intact, nothing written") {
        return 0;
    }
    out.split("share(s) rebuilt")
        .next()
        .and_then(|s| s.rsplit(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `N share(s) rebuilt` in:\n{out}"))
}

/// Restores with site `gone` (0-based) taken away: the other two, one of
/// them repaired, must bring back everything.
fn restore_without(tmp: &Path, sites: &[PathBuf], gone: usize, repo: &str, want: &Picture) {
    let moved = tmp.join("moved-away");
    std::fs::rename(&sites[gone], &moved).expect("take site away");
    let b = tmp.join(format!("restored-without-{gone}-{}", rand_suffix()));
    let out = run(&b, &["restore", "--from", repo]);
    let _ = std::fs::remove_dir_all(&sites[gone]);
    std::fs::rename(&moved, &sites[gone]).expect("bring site back");
    assert!(
        out.status.success(),
        "restore without site {}: {}",
        gone + 1,
        text(&out)
    );
    assert_eq!(&picture(&b), want, "restored without site {}", gone + 1);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn three_dirs(tmp: &Path) -> (Vec<PathBuf>, String) {
    let sites: Vec<PathBuf> = (1..=3).map(|i| tmp.join(format!("site{i}"))).collect();
    let urls: Vec<String> = sites.iter().map(|s| url(s)).collect();
    (sites, dispersed(&urls))
}

#[test]
fn shares_corrupted_truncated_and_deleted_at_each_site_are_rebuilt_exactly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let (sites, repo) = three_dirs(tmp.path());
    small_tenant(&a, CHIYODA, "千代田区", 3);
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    change(&a, CHIYODA, "二回目");
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    let want = picture(&a);
    let original: Vec<_> = sites.iter().map(|s| objects(s)).collect();
    let names: Vec<String> = original[0]
        .keys()
        .filter(|n| *n != "config")
        .cloned()
        .collect();
    assert!(names.len() >= 4, "{names:?}");

    for (site, dir) in sites.iter().enumerate() {
        for (k, how) in [Damage::Corrupt, Damage::Truncate, Damage::Delete]
            .into_iter()
            .enumerate()
        {
            // A chunk, and (for the deletion) a snapshot too.
            let victim = &names[(site * 3 + k) % names.len()];
            damage(&dir.join(victim), how);
            let mut victims = vec![victim.clone()];
            if matches!(how, Damage::Delete) {
                let snap = names
                    .iter()
                    .find(|n| n.starts_with("snapshots/") && *n != victim)
                    .expect("a snapshot");
                damage(&dir.join(snap), Damage::Corrupt);
                victims.push(snap.clone());
            }
            let out = fails(&a, &["verify", "--repo", &repo]);
            for v in &victims {
                assert!(
                    out.contains(&format!("share {} of {v} at {}", site + 1, url(dir))),
                    "{how:?} at site {}: {out}",
                    site + 1
                );
            }
            assert!(
                out.contains("--repair"),
                "the advice names the repair: {out}"
            );
            assert!(!out.contains("backup again"), "{out}");

            let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
            assert_eq!(rebuilt(&out), victims.len(), "{how:?}: {out}");
            assert!(out.contains(&format!("site {} (", site + 1)), "{out}");
            assert!(
                out.contains("repository ok"),
                "verified after the repair: {out}"
            );
            // Byte for byte the share the original split gave that site.
            assert_eq!(objects(dir), original[site], "{how:?} at site {}", site + 1);
        }
    }
    // Idempotent: nothing left to do.
    let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
    assert_eq!(rebuilt(&out), 0, "{out}");
    for (i, dir) in sites.iter().enumerate() {
        assert_eq!(objects(dir), original[i]);
    }
    // Each site's repaired shares restore with either other site.
    for gone in 0..3 {
        restore_without(tmp.path(), &sites, gone, &repo, &want);
    }
}

#[test]
fn a_wiped_site_is_refilled_with_only_its_own_shares() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let (sites, repo) = three_dirs(tmp.path());
    small_tenant(&a, CHIYODA, "千代田区", 2);
    small_tenant(&a, SAPPORO, "札幌市", 4);
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    change(&a, SAPPORO, "新");
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    let want = picture(&a);
    let before: Vec<_> = sites.iter().map(|s| objects(s)).collect();
    let mtimes = |dir: &Path| -> Vec<std::time::SystemTime> {
        objects(dir)
            .keys()
            .map(|n| {
                std::fs::metadata(dir.join(n))
                    .and_then(|m| m.modified())
                    .expect("mtime")
            })
            .collect()
    };
    let untouched = [mtimes(&sites[0]), mtimes(&sites[2])];

    // A new, empty data centre in place of site 2.
    std::fs::remove_dir_all(&sites[1]).expect("wipe");
    let out = fails(&a, &["verify", "--repo", &repo]);
    let shares = before[1].len(); // config included
    assert!(
        out.contains(&format!(
            "site 2 ({}): {shares} share(s) missing, 0 damaged",
            url(&sites[1])
        )),
        "{out}"
    );
    let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
    // Every share of site 2, and its config; nothing elsewhere.
    assert_eq!(rebuilt(&out), shares, "{out}");
    assert!(
        out.contains(&format!(
            "site 2 ({}): {shares} rebuilt ({shares} missing, 0 damaged)",
            url(&sites[1])
        )),
        "{out}"
    );
    assert!(
        !out.contains("site 1 (") && !out.contains("site 3 ("),
        "{out}"
    );
    let written: u64 = before[1].values().map(|b| b.len() as u64).sum();
    assert!(
        out.contains(&format!("; {written} bytes)")),
        "bytes written = site 2's shares + config ({written}): {out}"
    );
    assert!(out.contains("repository ok"), "{out}");
    assert_eq!(objects(&sites[1]), before[1], "refilled byte for byte");
    assert_eq!(
        [mtimes(&sites[0]), mtimes(&sites[2])],
        untouched,
        "nothing rewritten at the intact sites"
    );
    // The refilled site restores with each of the others.
    restore_without(tmp.path(), &sites, 0, &repo, &want);
    restore_without(tmp.path(), &sites, 2, &repo, &want);
}

#[test]
fn a_repair_killed_mid_way_is_finished_by_the_next_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let (sites, repo) = three_dirs(tmp.path());
    city(&a, 2_000);
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    let want = picture(&a);
    let before = objects(&sites[1]);
    assert!(before.len() > 40, "{} objects", before.len());
    std::fs::remove_dir_all(&sites[1]).expect("wipe");

    let mut child = murakumo(
        &a,
        &[
            "verify",
            "--repo",
            &repo,
            "--repair",
            "--limit-rate",
            "16KiB",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(180);
    while objects(&sites[1]).len() < 15 {
        assert!(Instant::now() < deadline, "no shares arrived");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "repair finished too fast"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let arrived = objects(&sites[1]);
    assert!(arrived.len() < before.len(), "killed before the end");
    // Whatever arrived is whole: no share is half written.
    for (name, bytes) in &arrived {
        assert_eq!(Some(bytes), before.get(name), "{name} arrived whole");
    }
    let out = fails(&a, &["verify", "--repo", &repo]);
    assert!(
        !out.contains("CORRUPTED share"),
        "only missing shares remain: {out}"
    );

    let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
    assert_eq!(
        rebuilt(&out) + arrived.len(),
        before.len(),
        "the rerun writes only what had not arrived: {out}"
    );
    assert!(out.contains("repository ok"), "{out}");
    assert_eq!(objects(&sites[1]), before);
    restore_without(tmp.path(), &sites, 0, &repo, &want);
}

#[test]
fn two_bad_shares_of_one_object_are_lost_named_with_their_snapshots_and_restore_refuses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let (sites, repo) = three_dirs(tmp.path());
    small_tenant(&a, CHIYODA, "千代田区", 2);
    small_tenant(&a, SAPPORO, "札幌市", 2);
    ok(&a, &["backup", "--to", &repo]);
    let first = objects(&sites[0]);
    change(&a, CHIYODA, "二回目");
    ok(&a, &["backup", "--to", &repo]);
    let second = objects(&sites[0]);
    // The chunk the second backup added (千代田区's new segment) …
    let added: Vec<&String> = second
        .keys()
        .filter(|n| n.starts_with("data/") && !first.contains_key(*n))
        .collect();
    let [lost] = added.as_slice() else {
        panic!("one new chunk expected: {added:?}")
    };
    let snaps: Vec<&String> = second
        .keys()
        .filter(|n| n.starts_with("snapshots/"))
        .collect();
    let (old_snap, new_snap) = (snaps[0], snaps[1]);
    // … is damaged at site 1 and gone at site 3; another chunk has one bad share.
    let site2 = objects(&sites[1]);
    damage(&sites[0].join(lost), Damage::Corrupt);
    damage(&sites[2].join(lost), Damage::Delete);
    let other = first
        .keys()
        .find(|n| n.starts_with("data/"))
        .expect("a chunk")
        .clone();
    damage(&sites[1].join(&other), Damage::Truncate);

    let out = fails(&a, &["verify", "--repo", &repo]);
    assert!(out.contains(&format!("LOST {lost}")), "{out}");
    assert!(
        out.contains(&format!(
            "LOST snapshot {new_snap} can no longer be restored whole"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("tenant {CHIYODA} ledger")), "{out}");
    assert!(
        out.contains(&format!(
            "still restorable from it with --tenant: {SAPPORO}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "snapshots that still restore whole (restore --snapshot NAME): {old_snap}"
        )),
        "{out}"
    );
    assert!(!out.contains(&format!("LOST snapshot {old_snap}")), "{out}");

    // The repair rebuilds what it can and says what it cannot.
    let out = fails(&a, &["verify", "--repo", &repo, "--repair"]);
    assert_eq!(rebuilt(&out), 1, "{out}");
    assert!(out.contains("cannot be rebuilt"), "{out}");
    assert!(out.contains(&format!("LOST {lost}")), "{out}");
    assert_eq!(
        objects(&sites[1]).get(&other),
        site2.get(&other),
        "rebuilt exactly"
    );

    // Restore refuses, naming the object, and writes nothing.
    let b = tmp.path().join("b");
    let out = fails(&b, &["restore", "--from", &repo]);
    assert!(
        out.contains("restore refused; nothing was written"),
        "{out}"
    );
    assert!(out.contains(lost.as_str()), "{out}");
    assert!(picture(&b).is_empty(), "no municipality half restored");
    // What is intact still restores.
    let c = tmp.path().join("c");
    ok(&c, &["restore", "--from", &repo, "--tenant", SAPPORO]);
    let d = tmp.path().join("d");
    let snap_name = old_snap.trim_start_matches("snapshots/");
    ok(&d, &["restore", "--from", &repo, "--snapshot", snap_name]);
    assert_eq!(picture(&d).len(), 2);
}

fn metric(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_sampled_scrub_finds_rot_and_writes_metrics_for_the_textfile_collector() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let (sites, repo) = three_dirs(tmp.path());
    small_tenant(&a, CHIYODA, "千代田区", 3);
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    let prom = tmp.path().join("collector").join("murakumo_backup.prom");
    std::fs::create_dir_all(prom.parent().expect("dir")).expect("dir");
    let file = prom.display().to_string();
    let objects_total = objects(&sites[0]).len() - 1;

    // A sample before any full check: no full-check time yet.
    let out = ok(
        &a,
        &[
            "verify",
            "--repo",
            &repo,
            "--sample",
            "50",
            "--metrics-file",
            &file,
        ],
    );
    assert!(
        out.contains("sample: ") && out.contains("repository ok"),
        "{out}"
    );
    let m = std::fs::read_to_string(&prom).expect("metrics");
    let checked = metric(&m, "murakumo_backup_objects_checked").expect("objects");
    assert_eq!(
        checked,
        (objects_total as i64 + 1) / 2,
        "half of {objects_total}: {m}"
    );
    assert_eq!(
        metric(&m, "murakumo_backup_shares_checked"),
        Some(3 * checked),
        "{m}"
    );
    assert_eq!(metric(&m, "murakumo_backup_shares_bad"), Some(0), "{m}");
    assert_eq!(
        metric(&m, "murakumo_backup_last_check_full"),
        Some(0),
        "{m}"
    );
    assert!(
        metric(&m, "murakumo_backup_last_full_check_timestamp_seconds").is_none(),
        "{m}"
    );

    // A full check sets both times.
    ok(&a, &["verify", "--repo", &repo, "--metrics-file", &file]);
    let m = std::fs::read_to_string(&prom).expect("metrics");
    let full_at = metric(&m, "murakumo_backup_last_full_check_timestamp_seconds").expect("full");
    assert_eq!(
        metric(&m, "murakumo_backup_last_check_timestamp_seconds"),
        Some(full_at)
    );
    assert_eq!(
        metric(&m, "murakumo_backup_shares_checked"),
        Some(3 * objects_total as i64),
        "{m}"
    );
    assert!(
        m.contains(&format!("murakumo_backup_shares_bad{{repo=\"{repo}\"}} 0")),
        "{m}"
    );

    // Rot at site 3: every share damaged, so any sample finds it.
    let names: Vec<String> = objects(&sites[2])
        .into_keys()
        .filter(|n| n != "config")
        .collect();
    for n in &names {
        damage(&sites[2].join(n), Damage::Corrupt);
    }
    std::thread::sleep(Duration::from_millis(1_100));
    let out = fails(
        &a,
        &[
            "verify",
            "--repo",
            &repo,
            "--sample",
            "20",
            "--metrics-file",
            &file,
        ],
    );
    assert!(out.contains("CORRUPTED share 3 of"), "{out}");
    assert!(out.contains("--repair"), "{out}");
    let m = std::fs::read_to_string(&prom).expect("metrics");
    let sampled = metric(&m, "murakumo_backup_objects_checked").expect("objects");
    assert_eq!(
        metric(&m, "murakumo_backup_shares_bad"),
        Some(sampled),
        "one per object: {m}"
    );
    assert_eq!(
        metric(&m, "murakumo_backup_last_full_check_timestamp_seconds"),
        Some(full_at),
        "a sample keeps the last full check's time: {m}"
    );
    assert!(
        metric(&m, "murakumo_backup_last_check_timestamp_seconds") > Some(full_at),
        "{m}"
    );

    // The repair heals all of it; the metrics say so.
    let out = ok(
        &a,
        &[
            "verify",
            "--repo",
            &repo,
            "--repair",
            "--metrics-file",
            &file,
        ],
    );
    assert_eq!(rebuilt(&out), names.len(), "{out}");
    let m = std::fs::read_to_string(&prom).expect("metrics");
    assert_eq!(
        metric(&m, "murakumo_backup_shares_repaired"),
        Some(names.len() as i64),
        "{m}"
    );
    assert_eq!(metric(&m, "murakumo_backup_shares_bad"), Some(0), "{m}");
    assert_eq!(
        metric(&m, "murakumo_backup_last_check_full"),
        Some(1),
        "{m}"
    );
    let left: Vec<_> = std::fs::read_dir(prom.parent().expect("dir"))
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(left.len(), 1, "only the .prom file, no temporary left");
}

struct Rclone(Child);
impl Drop for Rclone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rclone(dir: &Path, port: u16) -> Rclone {
    let mut child = Command::new("rclone")
        .args([
            "serve",
            "webdav",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--dir-cache-time",
            "0s",
            "--poll-interval",
            "0",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rclone (apt-get install rclone)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rclone exited early: {status}");
        }
        assert!(Instant::now() < deadline, "rclone did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Rclone(child)
}

#[test]
fn webdav_sites_damaged_in_turn_are_repaired_and_an_unreachable_one_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let dav = tmp.path().join("dav");
    std::fs::create_dir_all(&dav).expect("dav");
    let port = murakumo_testkit::free_port();
    let server = rclone(&dav, port);
    let sites: Vec<PathBuf> = (1..=3).map(|i| dav.join(format!("site{i}"))).collect();
    let urls: Vec<String> = (1..=3)
        .map(|i| format!("webdav://127.0.0.1:{port}/site{i}"))
        .collect();
    let repo = dispersed(&urls);
    small_tenant(&a, CHIYODA, "千代田区", 3);
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    change(&a, CHIYODA, "二回目");
    ok(&a, &["backup", "--to", &repo, "--chunk-size", "4KiB"]);
    let want = picture(&a);
    let original: Vec<_> = sites.iter().map(|s| objects(s)).collect();
    let names: Vec<String> = original[0]
        .keys()
        .filter(|n| *n != "config")
        .cloned()
        .collect();

    for (site, dir) in sites.iter().enumerate() {
        for (k, how) in [Damage::Corrupt, Damage::Truncate, Damage::Delete]
            .into_iter()
            .enumerate()
        {
            let victim = &names[(site * 3 + k) % names.len()];
            damage(&dir.join(victim), how);
            let out = fails(&a, &["verify", "--repo", &repo]);
            assert!(
                out.contains(&format!("share {} of {victim} at {}", site + 1, urls[site])),
                "{how:?} at site {}: {out}",
                site + 1
            );
            let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
            assert_eq!(rebuilt(&out), 1, "{out}");
            assert!(out.contains("repository ok"), "{out}");
            assert_eq!(objects(dir), original[site], "{how:?} at site {}", site + 1);
        }
    }
    // Damage at all three sites at once, on different objects.
    for (site, dir) in sites.iter().enumerate() {
        damage(&dir.join(&names[site]), Damage::Delete);
    }
    let out = ok(&a, &["verify", "--repo", &repo, "--repair"]);
    assert_eq!(rebuilt(&out), 3, "{out}");
    for (i, dir) in sites.iter().enumerate() {
        assert_eq!(objects(dir), original[i]);
    }
    let b = tmp.path().join("b");
    ok(&b, &["restore", "--from", &repo]);
    assert_eq!(picture(&b), want);

    // Site 3 unreachable (its server gone): the repair refuses, naming it,
    // and writes nothing at the others.
    let third = format!("webdav://127.0.0.1:{port}/site4");
    let mixed = dispersed(&[
        url(&tmp.path().join("f1")),
        url(&tmp.path().join("f2")),
        third.clone(),
    ]);
    ok(&a, &["backup", "--to", &mixed]);
    let f1 = objects(&tmp.path().join("f1"));
    let victim = f1
        .keys()
        .find(|n| n.starts_with("data/"))
        .expect("chunk")
        .clone();
    damage(&tmp.path().join("f1").join(&victim), Damage::Delete);
    drop(server);
    let out = fails(
        &a,
        &["verify", "--repo", &mixed, "--repair", "--retries", "1"],
    );
    assert!(
        out.contains(&format!("site 3 of {mixed} ({third}) cannot be reached")),
        "{out}"
    );
    assert!(out.contains("Nothing more was repaired"), "{out}");
    assert!(
        !tmp.path().join("f1").join(&victim).exists(),
        "nothing written"
    );
    let _server = rclone(&dav, port);
    let out = ok(&a, &["verify", "--repo", &mixed, "--repair"]);
    assert_eq!(rebuilt(&out), 1, "{out}");
    assert_eq!(objects(&tmp.path().join("f1")), f1);
}

#[test]
fn repair_of_a_single_site_repository_says_there_is_nothing_to_repair_from() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    small_tenant(&a, CHIYODA, "千代田区", 1);
    let repo = url(&tmp.path().join("repo"));
    ok(&a, &["backup", "--to", &repo]);
    let out = fails(&a, &["verify", "--repo", &repo, "--repair"]);
    assert!(out.contains("single site with no second copy"), "{out}");
}

//! The library on a real SQLite store and a real directory repository:
//! round trip, incremental, point in time, one tenant, damage.

use std::sync::Arc;

use murakumo_backup::{
    BackupOptions, Connect, KeySource, Quiet, RestoreOptions, RetryPolicy, backup, restore, verify,
};
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_store::{Chain, Store};
use murakumo_tenancy::TenancyEvent;

fn passphrase(p: &str) -> KeySource {
    KeySource::Passphrase(p.to_string().into())
}

fn code(s: &str) -> TenantCode {
    TenantCode::parse(s).expect("code")
}

async fn change(store: &Store, t: &TenantCode, n: usize) {
    let entries = (0..n)
        .map(|i| {
            let (kind, version, payload) = TenancyEvent::SettingChanged {
                key: "certificate.issuer_name".into(),
                value: Some(format!("首長 {i}")),
                reason: "test".into(),
            }
            .encode();
            NewEntry {
                kind: kind.into(),
                version,
                effective_date: chrono::Utc::now().date_naive(),
                actor: "system:test".into(),
                payload,
            }
        })
        .collect();
    store.tenant(t).append(entries).await.expect("append");
}

fn connect(url: &str, key: KeySource) -> Connect {
    Connect {
        url: url.into(),
        key,
        limit_rate: None,
        retry: RetryPolicy::default(),
        progress: Arc::new(Quiet),
    }
}

async fn heads(store: &Store, t: &TenantCode) -> (u64, u64, String) {
    let ts = store.tenant(t);
    let l = ts.verify(Chain::Ledger).await.expect("ledger verifies");
    let a = ts.verify(Chain::Access).await.expect("access verifies");
    (l.seq, a.seq, l.hash.to_hex())
}

#[tokio::test]
async fn round_trip_incremental_point_in_time_and_damage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = Store::open_sqlite(&tmp.path().join("src"), murakumo_store::Systems::platform())
        .await
        .expect("src");
    let (x, y) = (code("131016"), code("011002"));
    src.create_tenant(&x, "千代田区", "system:test")
        .await
        .expect("x");
    src.create_tenant(&y, "札幌市", "system:test")
        .await
        .expect("y");
    change(&src, &x, 500).await;
    change(&src, &y, 20).await;
    let url = format!("file://{}", tmp.path().join("repo").display());
    let key = passphrase("pass phrase");

    let repo = connect(&url, key.clone()).open(true).await.expect("create");
    let opts = BackupOptions {
        chunk_size: 4096,
        segment_bytes: 16 * 1024,
        ..BackupOptions::default()
    };
    let r1 = backup(&src, &repo, &opts).await.expect("backup");
    assert!(r1.segments >= 3, "{r1:?}");
    assert_eq!(r1.entries, 522);
    let x_then = heads(&src, &x).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    change(&src, &x, 1).await;
    let repo = connect(&url, key.clone()).open(false).await.expect("open");
    let r2 = backup(&src, &repo, &opts).await.expect("incremental");
    assert_eq!((r2.entries, r2.segments), (1, 1));
    assert_eq!(r2.stats.chunks_sent, 1, "{:?}", r2.stats);
    assert_eq!(r2.parent.as_deref(), Some(r1.snapshot.as_str()));

    let report = verify(&repo).await.expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.chains.len(), 4);

    // Whole restore.
    let dst = Store::open_sqlite(&tmp.path().join("dst"), murakumo_store::Systems::platform())
        .await
        .expect("dst");
    restore(&dst, &repo, &RestoreOptions::default())
        .await
        .expect("restore");
    for t in [&x, &y] {
        assert_eq!(heads(&dst, t).await, heads(&src, t).await);
    }
    assert_eq!(
        dst.tenant(&x)
            .municipal_settings_on(murakumo_core::today_in_japan())
            .await
            .expect("settings"),
        src.tenant(&x)
            .municipal_settings_on(murakumo_core::today_in_japan())
            .await
            .expect("settings")
    );

    // Point in time, one tenant, into a store that has another tenant.
    let pit = Store::open_sqlite(&tmp.path().join("pit"), murakumo_store::Systems::platform())
        .await
        .expect("pit");
    pit.create_tenant(&y, "札幌市", "system:test")
        .await
        .expect("own y");
    let own_y = heads(&pit, &y).await;
    restore(
        &pit,
        &repo,
        &RestoreOptions {
            tenant: Some(x),
            at: Some(between),
            snapshot: None,
        },
    )
    .await
    .expect("pit restore");
    assert_eq!(heads(&pit, &x).await, x_then);
    assert_eq!(heads(&pit, &y).await, own_y, "other tenant untouched");

    // Wrong key.
    let err = connect(&url, passphrase("wrong"))
        .open(false)
        .await
        .err()
        .expect("wrong key refused")
        .to_string();
    assert!(err.contains("does not unlock"), "{err}");

    // One flipped byte in a chunk is named.
    let data = tmp.path().join("repo").join("data");
    let sub = std::fs::read_dir(&data)
        .expect("data")
        .flatten()
        .next()
        .expect("dir");
    let file = std::fs::read_dir(sub.path())
        .expect("sub")
        .flatten()
        .next()
        .expect("file");
    let mut bytes = std::fs::read(file.path()).expect("read");
    bytes[40] ^= 1;
    std::fs::write(file.path(), bytes).expect("write");
    let report = verify(&repo).await.expect("verify");
    let name = file.file_name().to_string_lossy().to_string();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("CORRUPTED") && p.contains(&name)),
        "{:?}",
        report.problems
    );
}

/// Shares of one chunk at each site of a `dispersed:` repository, by site.
fn shares_of(sites: &[std::path::PathBuf], name: &str) -> Vec<Option<Vec<u8>>> {
    sites
        .iter()
        .map(|s| std::fs::read(s.join(name)).ok())
        .collect()
}

#[tokio::test]
async fn repair_rebuilds_stale_damaged_and_misplaced_shares_exactly_and_names_what_is_lost() {
    use murakumo_backup::{FaultKind, repair};
    let tmp = tempfile::tempdir().expect("tmp");
    let src = Store::open_sqlite(&tmp.path().join("src"), murakumo_store::Systems::platform())
        .await
        .expect("src");
    let x = code("131016");
    src.create_tenant(&x, "千代田区", "system:test")
        .await
        .expect("x");
    change(&src, &x, 2000).await;
    let sites: Vec<_> = (1..=3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let url = format!(
        "dispersed:file://{},file://{},file://{}",
        sites[0].display(),
        sites[1].display(),
        sites[2].display()
    );
    let key = passphrase("pass phrase");
    let repo = connect(&url, key.clone()).open(true).await.expect("create");
    let opts = BackupOptions {
        chunk_size: 4096,
        segment_bytes: 16 * 1024,
        ..BackupOptions::default()
    };
    backup(&src, &repo, &opts).await.expect("backup");
    let mut chunks: Vec<String> = repo
        .target()
        .list("data/")
        .await
        .expect("list")
        .into_iter()
        .collect();
    chunks.sort();
    assert!(chunks.len() >= 4, "{chunks:?}");
    let original: Vec<_> = chunks.iter().map(|c| shares_of(&sites, c)).collect();

    // Chunk 0: an interrupted re-split left site 1 with a share of a new
    // split of the same object.
    let sealed = repo
        .target()
        .read(&chunks[0])
        .await
        .expect("read")
        .expect("present");
    let new = murakumo_dispersal::split(&sealed, chunks[0].as_bytes()).expect("split");
    std::fs::write(sites[0].join(&chunks[0]), new[0].to_bytes()).expect("write");
    // Chunk 1: one byte of site 2's share flipped (re-hashed forgeries are
    // the dispersal crate's tests: its hash is not reachable from here).
    let mut damaged = original[1][1].clone().expect("share");
    let at = damaged.len() - 40;
    damaged[at] ^= 1;
    std::fs::write(sites[1].join(&chunks[1]), damaged).expect("write");
    // Chunk 2: site 3 holds site 1's share (copied from the wrong site).
    std::fs::write(
        sites[2].join(&chunks[2]),
        original[2][0].as_ref().expect("share"),
    )
    .expect("write");
    // Chunk 3: two bad shares — lost.
    std::fs::remove_file(sites[0].join(&chunks[3])).expect("rm");
    std::fs::write(sites[1].join(&chunks[3]), b"MKDS rubbish").expect("write");

    let report = verify(&repo).await.expect("verify");
    assert!(!report.ok());
    let faults: Vec<(String, usize, FaultKind)> = report
        .share_faults
        .iter()
        .map(|f| (f.name.clone(), f.site, f.kind))
        .collect();
    assert_eq!(
        faults,
        vec![
            (chunks[0].clone(), 1, FaultKind::Corrupted),
            (chunks[1].clone(), 2, FaultKind::Corrupted),
            (chunks[2].clone(), 3, FaultKind::Corrupted),
        ],
        "{:#?}",
        report.share_faults
    );
    assert!(
        report.share_faults[0].detail.contains("another split"),
        "{}",
        report.share_faults[0]
    );
    assert!(
        report.share_faults[2]
            .detail
            .contains("copied from another site"),
        "{}",
        report.share_faults[2]
    );
    assert_eq!(report.lost.len(), 1, "{:?}", report.lost);
    assert_eq!(report.lost[0].0, chunks[3]);
    assert_eq!(report.unrestorable.len(), 1, "{:?}", report.unrestorable);
    assert!(report.unrestorable[0].needs[0].contains(&chunks[3]));
    assert!(report.restorable.is_empty());
    assert_eq!(
        report.shares_bad(),
        3 + 2,
        "three read around, two of the lost one"
    );

    let r = repair(&repo, None).await.expect("repair");
    assert_eq!(r.rebuilt.len(), 3, "{:#?}", r.rebuilt);
    assert_eq!(r.lost.len(), 1);
    assert_eq!(r.lost[0].0, chunks[3]);
    for (i, (chunk, want)) in chunks.iter().zip(&original).take(3).enumerate() {
        assert_eq!(&shares_of(&sites, chunk), want, "chunk {i} exactly");
    }
    // The lost one is left as it was: never guessed.
    assert_eq!(
        std::fs::read(sites[1].join(&chunks[3])).expect("read"),
        b"MKDS rubbish"
    );
    let again = repair(&repo, None).await.expect("repair again");
    assert!(again.rebuilt.is_empty(), "idempotent: {:#?}", again.rebuilt);
    assert_eq!(again.bytes_written, 0);

    // Restore refuses, naming the lost chunk, and writes nothing.
    let dst = Store::open_sqlite(&tmp.path().join("dst"), murakumo_store::Systems::platform())
        .await
        .expect("dst");
    let err = restore(&dst, &repo, &RestoreOptions::default())
        .await
        .expect_err("lost")
        .to_string();
    assert!(
        err.contains("nothing was written") && err.contains(&chunks[3]),
        "{err}"
    );
    assert!(dst.list_tenants().await.expect("list").is_empty());
}

async fn open_store(dir: &std::path::Path) -> Store {
    Store::open_sqlite(dir, murakumo_store::Systems::platform())
        .await
        .expect("store")
}

fn operator(id: &str, login: &str) -> murakumo_store::Operator {
    murakumo_store::Operator {
        operator_id: id.into(),
        login: login.into(),
        display_name: "運用".into(),
        password_hash: format!("hash of {login}"),
    }
}

/// (key, value, actor) of prefecture 01's 県版 history.
async fn history(s: &Store) -> Vec<(String, Option<String>, String)> {
    s.prefecture_setting_history("01")
        .await
        .expect("history")
        .into_iter()
        .map(|c| (c.key, c.value, c.actor))
        .collect()
}

/// Operators and 県版 settings travel as segments of the platform's chain (issue 17 item 3):
/// a snapshot carries no platform blob, verify checks the chain, and a restore — whole or to
/// a point in time — rebuilds the operators and the 県版 history with the actors who set each
/// value (a restore of the old blob named `system:restore` instead). A snapshot of an older
/// version, with the blob, still restores.
#[tokio::test]
async fn the_platform_chain_travels_as_segments_and_restores_with_its_actors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = open_store(&tmp.path().join("src")).await;
    let x = code("131016");
    src.create_tenant(&x, "千代田区", "system:test")
        .await
        .expect("x");
    src.create_operator(&operator("op-1", "unyo"), "system:cli:root")
        .await
        .expect("operator");
    let fee = "certificate.fee_yen.resident_copy";
    src.set_prefecture_setting("01", fee, Some("200"), "operator:op-1")
        .await
        .expect("set");
    src.set_prefecture_setting("01", fee, Some("300"), "operator:op-2")
        .await
        .expect("set again");
    let url = format!("file://{}", tmp.path().join("repo").display());
    let key = passphrase("pass phrase");
    let repo = connect(&url, key.clone()).open(true).await.expect("create");
    let opts = BackupOptions::default();
    let first = backup(&src, &repo, &opts).await.expect("backup");
    let first_head = src.platform_chain().head().await.expect("head");
    assert_eq!(first_head.seq, 3);
    let (_, snap) = repo.latest().await.expect("read").expect("a snapshot");
    assert!(snap.platform.is_none(), "no platform blob: {snap:?}");
    assert_eq!(
        snap.platform_chain.as_ref().map(|c| c.head_seq),
        Some(first_head.seq)
    );
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    src.set_prefecture_setting("01", fee, None, "operator:op-1")
        .await
        .expect("clear");
    let repo = connect(&url, key.clone()).open(false).await.expect("open");
    let second = backup(&src, &repo, &opts).await.expect("incremental");
    assert_eq!((second.entries, second.segments), (1, 1), "{first:?}");
    let report = verify(&repo).await.expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    let src_head = src.platform_chain().head().await.expect("head");
    assert_eq!(report.platform, Some(src_head));

    // Whole restore into an empty node.
    let dst = open_store(&tmp.path().join("dst")).await;
    let restored = restore(&dst, &repo, &RestoreOptions::default())
        .await
        .expect("restore");
    assert_eq!(restored.platform, Some(src_head));
    assert_eq!(restored.operators_added, 1);
    assert_eq!(
        dst.platform_chain().verify().await.expect("verifies"),
        src_head
    );
    assert_eq!(history(&dst).await, history(&src).await);
    assert_eq!(
        history(&dst)
            .await
            .iter()
            .map(|h| h.2.as_str())
            .collect::<Vec<_>>(),
        ["operator:op-1", "operator:op-2", "operator:op-1"]
    );
    assert_eq!(
        dst.operator_for_login("unyo")
            .await
            .expect("read")
            .map(|o| o.password_hash),
        Some("hash of unyo".to_string())
    );
    // Restoring again changes nothing.
    restore(&dst, &repo, &RestoreOptions::default())
        .await
        .expect("again");
    assert_eq!(dst.platform_chain().head().await.expect("head"), src_head);

    // To a point in time: the chain as it was then.
    let then = open_store(&tmp.path().join("then")).await;
    restore(
        &then,
        &repo,
        &RestoreOptions {
            at: Some(between),
            ..RestoreOptions::default()
        },
    )
    .await
    .expect("point in time");
    assert_eq!(
        then.platform_chain().verify().await.expect("verifies"),
        first_head
    );
    assert_eq!(
        then.prefecture_settings("01").await.expect("read"),
        [(fee.to_string(), "300".to_string())]
    );

    // A node whose platform chain holds records the backup lacks is refused, and told why.
    let other = open_store(&tmp.path().join("other")).await;
    other
        .create_operator(&operator("op-7", "local"), "system:cli:root")
        .await
        .expect("local operator");
    let err = restore(&other, &repo, &RestoreOptions::default())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("empty data directory"), "{err}");

    // A snapshot written by a version before the platform chain: the blob is read.
    let (name, mut old) = repo.latest().await.expect("read").expect("a snapshot");
    let data = murakumo_backup::manifest::PlatformData {
        prefecture_settings: vec![("01".into(), fee.into(), "250".into())],
        operators: vec![murakumo_backup::manifest::OperatorRecord {
            operator_id: "op-1".into(),
            login: "unyo".into(),
            display_name: "運用".into(),
            password_hash: "hash of unyo".into(),
        }],
    };
    let blob = serde_json::to_vec(&data).expect("json");
    old.platform = Some(repo.put_blob(&blob, 4096).await.expect("blob"));
    old.platform_chain = None;
    old.parent = Some(name);
    old.created_at = chrono::Utc::now();
    repo.write_snapshot(&old).await.expect("old snapshot");
    let legacy = open_store(&tmp.path().join("legacy")).await;
    let r = restore(&legacy, &repo, &RestoreOptions::default())
        .await
        .expect("old format");
    assert_eq!((r.platform, r.operators_added), (None, 1));
    assert_eq!(
        legacy.prefecture_settings("01").await.expect("read"),
        [(fee.to_string(), "250".to_string())]
    );
    assert!(
        legacy
            .platform_chain()
            .verify()
            .await
            .expect("verifies")
            .seq
            >= 2
    );
}

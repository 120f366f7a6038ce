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
    let src = Store::open_sqlite(&tmp.path().join("src"))
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
    let dst = Store::open_sqlite(&tmp.path().join("dst"))
        .await
        .expect("dst");
    restore(&dst, &repo, &RestoreOptions::default())
        .await
        .expect("restore");
    for t in [&x, &y] {
        assert_eq!(heads(&dst, t).await, heads(&src, t).await);
    }
    assert_eq!(
        dst.tenant(&x).municipal_settings().await.expect("settings"),
        src.tenant(&x).municipal_settings().await.expect("settings")
    );

    // Point in time, one tenant, into a store that has another tenant.
    let pit = Store::open_sqlite(&tmp.path().join("pit"))
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

//! The tested example of docs/replication.md: Murakumo on PostgreSQL with a synchronous
//! streaming standby, the primary lost, the standby promoted, nothing lost
//! (`scripts/example-pg-ha.sh`, run here against the built binary).

use std::path::Path;
use std::process::Command;

#[test]
fn postgresql_streaming_failover_inside_a_centre_loses_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/example-pg-ha.sh"))
        .arg(env!("CARGO_BIN_EXE_murakumo"))
        .env("MURAKUMO_LOG", "warn")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && stderr.contains("no PostgreSQL server binaries") {
        eprintln!("SKIPPED: {stderr}");
        return;
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("standby walreceiver: streaming, sync"),
        "{stdout}"
    );
    assert!(
        stdout.contains("standby in recovery: true, ledger entries: 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK: failover inside the centre lost nothing"),
        "{stdout}"
    );
}

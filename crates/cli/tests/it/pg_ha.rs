//! The tested examples of docs/replication.md, run here against the built binary: Murakumo on
//! PostgreSQL with a synchronous streaming standby, the primary lost, the standby promoted by
//! hand, nothing lost (`scripts/example-pg-ha.sh`); and the same automated by Patroni, etcd and
//! HAProxy, with a running server carrying on (`scripts/example-patroni.sh`).

use std::path::Path;
use std::process::Command;

/// Runs an example script; its standard output, or a failure with both outputs.
fn run_example(script: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts").join(script))
        .arg(env!("CARGO_BIN_EXE_murakumo"))
        .env("MURAKUMO_LOG", "warn")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn postgresql_streaming_failover_inside_a_centre_loses_nothing() {
    let stdout = run_example("example-pg-ha.sh");
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

#[test]
fn patroni_fails_over_by_itself_and_the_running_server_carries_on() {
    let stdout = run_example("example-patroni.sh");
    for expected in [
        "db1: master, db2: synchronous standby",
        "HAProxy routes to: db1",
        "Patroni promoted db2 and HAProxy routes to it",
        "OK: Patroni failed over by itself and lost nothing",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    // The chains read through HAProxy before the loss and after it, and a staff login
    // (a session written) through the server before and after.
    let heads: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("012289 ledger: ok, 3 entries"))
        .collect();
    assert_eq!(heads.len(), 2, "{stdout}");
    assert_eq!(heads[0], heads[1]);
    assert_eq!(
        stdout.matches("staff login through the server: ok").count(),
        2,
        "{stdout}"
    );
}

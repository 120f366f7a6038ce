//! The set-up scripts install exactly the packages the next step needs: the README's first
//! command once skipped libclang-dev because `libclang-cpp14` matched a file pattern.
//! Runs `scripts/install-packages.sh` with stand-ins for dpkg-query and apt-get on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write stand-in");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs install-packages.sh where dpkg reports `installed` as installed; returns the
/// apt-get calls it made.
fn run_with_installed(installed: &[&str], wanted: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("apt.log");
    let known = installed.join(" ");
    script(
        dir.path(),
        "dpkg-query",
        &format!(
            "pkg=\"$3\"; for p in {known}; do [ \"$p\" = \"$pkg\" ] && {{ printf 'install ok installed'; exit 0; }}; done; exit 1"
        ),
    );
    script(
        dir.path(),
        "apt-get",
        &format!("echo \"$*\" >> {}", log.display()),
    );
    // Root or not, the stand-in apt-get must be the one called (sudo would bypass PATH).
    script(dir.path(), "sudo", "exec \"$@\"");
    script(dir.path(), "id", "echo 0");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg(repo().join("scripts/install-packages.sh"))
        .arg("test")
        .args(wanted)
        .env("PATH", path)
        .status()
        .expect("run install-packages.sh");
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn a_look_alike_package_does_not_pass_for_the_one_needed() {
    let (ok, apt) = run_with_installed(
        &["libclang-cpp14", "libclang1-14", "pkg-config"],
        &["libclang-dev", "pkg-config"],
    );
    assert!(ok);
    assert!(
        apt.lines()
            .any(|l| l.contains("install") && l.contains("libclang-dev")),
        "libclang-dev must be installed, apt-get was called with: {apt:?}"
    );
    assert!(
        !apt.contains("pkg-config"),
        "pkg-config is installed and must not be asked for again: {apt:?}"
    );
}

#[test]
fn nothing_is_installed_or_updated_when_everything_is_there() {
    let (ok, apt) = run_with_installed(
        &["libclang-dev", "pkg-config"],
        &["libclang-dev", "pkg-config"],
    );
    assert!(ok);
    assert_eq!(apt, "", "no apt-get call at all (not even update)");
}

#[test]
fn the_demo_and_the_tests_ask_for_what_their_build_and_run_need() {
    let demo = std::fs::read_to_string(repo().join("scripts/demo.sh")).expect("demo.sh");
    let tests =
        std::fs::read_to_string(repo().join("scripts/setup-test.sh")).expect("setup-test.sh");
    for pkg in [
        "libxmlsec1-dev",
        "libclang-dev",
        "pkg-config",
        "fonts-ipamj-mincho",
    ] {
        assert!(demo.contains(pkg), "demo.sh does not install {pkg}");
        assert!(tests.contains(pkg), "setup-test.sh does not install {pkg}");
    }
    for script in [&demo, &tests] {
        assert!(
            script.contains("install-packages.sh"),
            "one installer for both scripts"
        );
        assert!(
            !script.contains("ls /usr/lib/llvm"),
            "no file-pattern checks"
        );
    }
}

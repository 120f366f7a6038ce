//! Paths of the workspace's own binaries, for end-to-end tests.

use std::env;
use std::path::{Path, PathBuf};

/// The path of the workspace binary `name` (e.g. `"murakumo"`), for tests that run the real
/// executable.
///
/// Looks, in order, at the environment variables `CARGO_BIN_EXE_<name>` and
/// `NEXTEST_BIN_EXE_<name>` (cargo-nextest sets the latter, also with `-` replaced by `_`),
/// then next to the running test: tests live in `target/<profile>/deps/` and binaries in
/// `target/<profile>/`. It does not build anything: `scripts/test.sh` builds every target
/// first; with plain `cargo test -p some-crate`, build the binary first.
///
/// # Panics
/// If the binary does not exist, with a message saying how to build it.
pub fn cargo_bin(name: &str) -> PathBuf {
    let vars = [
        format!("CARGO_BIN_EXE_{name}"),
        format!("NEXTEST_BIN_EXE_{name}"),
        format!("NEXTEST_BIN_EXE_{}", name.replace('-', "_")),
    ];
    if let Some(path) = vars.iter().find_map(env::var_os) {
        return PathBuf::from(path);
    }
    let exe = env::current_exe()
        .unwrap_or_else(|e| panic!("cargo_bin({name:?}): cannot find the running test: {e}"));
    let path = bin_path_beside(&exe, name);
    if !path.is_file() {
        panic!(
            "binary `{name}` not found at {}: build it first, e.g. `cargo build -p murakumo-cli` \
             for `murakumo` (scripts/test.sh builds every target)",
            path.display()
        );
    }
    path
}

/// Where cargo puts binary `name` of the build that produced `test_exe`.
fn bin_path_beside(test_exe: &Path, name: &str) -> PathBuf {
    let mut dir = test_exe.parent().unwrap_or(Path::new("."));
    // Test and example executables sit one level below the profile directory.
    if dir
        .file_name()
        .is_some_and(|d| d == "deps" || d == "examples")
    {
        dir = dir.parent().unwrap_or(dir);
    }
    dir.join(format!("{name}{}", env::consts::EXE_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_one_level_above_deps() {
        let exe = Path::new("/w/target/debug/deps/store_tests-0123abcd");
        assert_eq!(
            bin_path_beside(exe, "murakumo"),
            Path::new(&format!(
                "/w/target/debug/murakumo{}",
                env::consts::EXE_SUFFIX
            ))
        );
    }

    #[test]
    fn binaries_beside_a_non_deps_executable_are_in_its_directory() {
        let exe = Path::new("/w/target/release/runner");
        assert_eq!(
            bin_path_beside(exe, "murakumo"),
            Path::new(&format!(
                "/w/target/release/murakumo{}",
                env::consts::EXE_SUFFIX
            ))
        );
    }

    #[test]
    #[should_panic(expected = "cargo build -p murakumo-cli")]
    fn missing_binary_says_how_to_build_it() {
        cargo_bin("no-such-murakumo-binary");
    }
}

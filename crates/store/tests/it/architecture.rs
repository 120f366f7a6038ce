//! The platform does not depend on any business system (issue 17): the store, backup and
//! replication — and everything they build on — know no resident, seal or other system's
//! code, directly or through another crate. Checked over `cargo metadata`, so a new
//! dependency that breaks it fails here, not in review.

use std::collections::{BTreeMap, BTreeSet};

/// The platform's crates: what a backup, a replica or the store may be built from.
const PLATFORM: &[&str] = &[
    "murakumo-core",
    "murakumo-ledger",
    "murakumo-tenancy",
    "murakumo-auth",
    "murakumo-store",
    "murakumo-documents",
    "murakumo-dispersal",
    "murakumo-backup",
    "murakumo-replication",
];

/// The crates whose normal (non-dev) dependencies must stay inside [`PLATFORM`].
const MUST_STAY_PLATFORM: &[&str] = &["murakumo-store", "murakumo-backup", "murakumo-replication"];

/// Each workspace crate's normal and build dependencies on other workspace crates.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                // `kind` is null for normal dependencies, "build" or "dev" otherwise.
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|n| names.contains(*n))
                .map(str::to_string)
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

/// Everything `root` is built from (itself excluded), each with the path that pulls it in.
fn closure(graph: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeMap<String, String> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    let mut todo = vec![(root.to_string(), root.to_string())];
    while let Some((name, path)) = todo.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if !found.contains_key(dep) && dep != root {
                let via = format!("{path} → {dep}");
                found.insert(dep.clone(), via.clone());
                todo.push((dep.clone(), via));
            }
        }
    }
    found
}

#[test]
fn store_backup_and_replication_depend_on_no_business_system() {
    let graph = workspace_graph();
    for root in MUST_STAY_PLATFORM {
        assert!(graph.contains_key(*root), "{root} is a workspace crate");
        let outside: Vec<String> = closure(&graph, root)
            .into_iter()
            .filter(|(dep, _)| !PLATFORM.contains(&dep.as_str()))
            .map(|(_, via)| via)
            .collect();
        assert!(
            outside.is_empty(),
            "{root} must be built from platform crates only, but depends on: {}",
            outside.join("; ")
        );
    }
}

#[test]
fn the_check_sees_a_business_system_pulled_in_through_another_crate() {
    // The same check over a graph where the store reaches the register through tenancy.
    let mut graph = workspace_graph();
    graph
        .get_mut("murakumo-tenancy")
        .expect("tenancy")
        .insert("murakumo-resident".into());
    let via = closure(&graph, "murakumo-store");
    assert_eq!(
        via.get("murakumo-resident").map(String::as_str),
        Some("murakumo-store → murakumo-tenancy → murakumo-resident")
    );
    // And the business systems are workspace crates the check knows.
    for system in [
        "murakumo-resident",
        "murakumo-resident-store",
        "murakumo-seal",
        "murakumo-seal-store",
    ] {
        assert!(graph.contains_key(system), "{system} is a workspace crate");
        assert!(!PLATFORM.contains(&system));
    }
}

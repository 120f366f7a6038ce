//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not
//! know to rebuild when a migration file is added: without this, an
//! incremental build silently keeps the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

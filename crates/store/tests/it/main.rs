//! Integration tests of murakumo-store, in one test binary: each file was a binary of its
//! own, and every binary links the whole dependency tree again (disk and link time on CI).
//! nextest still runs each test in its own process. Filter by module: `-E 'test(/^ui::/)'`.

mod architecture;
mod postgres_setup;
mod store;

/// The business systems the tests project: the register and seals, as a binary has them.
pub fn systems() -> murakumo_store::Systems {
    murakumo_store::Systems::new(&[
        murakumo_resident_store::projection(),
        murakumo_seal_store::projection(),
    ])
}

//! Integration tests of murakumo-cli, in one test binary: each file was a binary of its
//! own, and every binary links the whole dependency tree again (disk and link time on CI).
//! nextest still runs each test in its own process. Filter by module: `-E 'test(/^ui::/)'`.

mod backup;
mod cli;
mod migration;
mod pg_ha;
mod repair;
mod replication;
mod setup_scripts;

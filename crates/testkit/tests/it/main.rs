//! Integration tests of murakumo-testkit, in one test binary: each file was a binary of its
//! own, and every binary links the whole dependency tree again (disk and link time on CI).
//! nextest still runs each test in its own process. Filter by module: `-E 'test(/^ui::/)'`.

mod bad_link;
mod pg_cluster;
mod standard;

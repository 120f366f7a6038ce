//! Integration tests of murakumo-server, in one test binary: each file was a binary of its
//! own, and every binary links the whole dependency tree again (disk and link time on CI).
//! nextest still runs each test in its own process. Filter by module: `-E 'test(/^ui::/)'`.

mod api;
mod common;
mod concurrency;
mod households;
mod identity;
mod isolation;
mod protection;
mod quota;
mod replication;
mod saml;
mod saml_idp;
mod sso_browser;
mod ui;
mod web_security;

//! Shared state of a running server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use murakumo_core::TenantCode;
use murakumo_store::{Store, StoreError};
use murakumo_tenancy::SettingDef;
use murakumo_tenancy::settings::{self, ResolvedSetting};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Whether cookies must be `Secure` (served over HTTPS).
    pub tls: bool,
    /// Failed logins per client address, this node only; the per-account
    /// lock is in the database and holds across nodes.
    pub ip_failures: Arc<Mutex<HashMap<std::net::IpAddr, Vec<i64>>>>,
    /// How browsers reach this platform (`--public-url`), e.g.
    /// `https://cloud.example.lg.jp`: the SAML SP entity id and endpoints
    /// derive from it, never from a request's Host header.
    pub public_url: Option<String>,
    /// Follower acknowledgements, synchronous mode, and (on a follower)
    /// whether the primary is reachable.
    pub replication: murakumo_replication::ReplicationRuntime,
}

/// Per client address: this many failures in [`IP_WINDOW_US`] block it.
pub const IP_MAX_FAILURES: u32 = 30;
pub const IP_WINDOW_US: i64 = 15 * 60 * 1_000_000;

impl AppState {
    pub fn new(store: Store, tls: bool) -> AppState {
        AppState {
            store,
            tls,
            ip_failures: Arc::default(),
            public_url: None,
            replication: Default::default(),
        }
    }

    /// The platform as a SAML service provider.
    pub fn sp(&self) -> murakumo_saml::SpConfig {
        let scheme = if self.tls { "https" } else { "http" };
        murakumo_saml::SpConfig::from_base_url(
            self.public_url
                .as_deref()
                .unwrap_or(&format!("{scheme}://127.0.0.1")),
        )
    }

    /// Every setting of a tenant, resolved 個別 → 県版 → 標準.
    pub async fn settings(&self, tenant: &TenantCode) -> Result<Vec<ResolvedSetting>, StoreError> {
        let pref = self
            .store
            .prefecture_settings(&format!("{:02}", tenant.prefecture().code()))
            .await?;
        let muni = self.store.tenant(tenant).municipal_settings().await?;
        let lookup = |list: &[(String, String)], k: &str| {
            list.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Ok(settings::REGISTRY
            .iter()
            .map(|d: &'static SettingDef| {
                settings::resolve(
                    d,
                    lookup(&pref, d.key).as_deref(),
                    lookup(&muni, d.key).as_deref(),
                )
            })
            .collect())
    }

    /// One integer setting of a tenant, resolved; the standard value if the
    /// stored one is somehow unreadable.
    pub async fn setting_i64(&self, tenant: &TenantCode, key: &str) -> Result<i64, StoreError> {
        let all = self.settings(tenant).await?;
        let standard = || {
            settings::find(key)
                .ok()
                .and_then(|d| d.standard)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        Ok(all
            .iter()
            .find(|r| r.key == key)
            .and_then(|r| r.value.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(standard))
    }
}

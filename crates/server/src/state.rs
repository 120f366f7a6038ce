//! Shared state of a running server.

use std::sync::Arc;

use murakumo_app::App;
pub use murakumo_app::{TENANT_CACHE_TTL, TenantCache, TenantCaches};
use murakumo_core::TenantCode;
use murakumo_store::{Store, StoreError};
use murakumo_tenancy::settings::ResolvedSetting;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Whether cookies must be `Secure` (served over HTTPS).
    pub tls: bool,
    /// How browsers reach this platform (`--public-url`), e.g.
    /// `https://cloud.example.lg.jp`: the SAML SP entity id and endpoints
    /// derive from it, never from a request's Host header.
    pub public_url: Option<String>,
    /// Follower acknowledgements, synchronous mode, and (on a follower)
    /// whether the primary is reachable.
    pub replication: murakumo_replication::ReplicationRuntime,
    /// What every certificate reads and that rarely changes, per tenant.
    pub cache: Arc<TenantCaches>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Arc<str>>,
    /// Each tenant's request rate and running batch operations on this node.
    pub quotas: Arc<crate::quota::TenantQuotas>,
}

impl AppState {
    pub fn new(store: Store, tls: bool) -> AppState {
        AppState {
            store,
            tls,
            public_url: None,
            replication: Default::default(),
            cache: Arc::default(),
            metrics_token: None,
            quotas: Arc::default(),
        }
    }

    /// How `tenant` is named in metrics labels: its 団体コード when `/metrics` answers only the
    /// metrics token, else [`crate::observe::STAFF`] — an open `/metrics` must not tell
    /// strangers which municipalities use the platform (the login form keeps that secret too).
    pub fn tenant_label(&self, tenant: &TenantCode) -> String {
        if self.metrics_token.is_some() {
            tenant.to_string()
        } else {
            crate::observe::STAFF.to_string()
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

    /// The use cases' handle on this node's store and caches.
    pub fn app(&self) -> App {
        App {
            store: self.store.clone(),
            cache: self.cache.clone(),
        }
    }

    /// Every setting of a tenant, resolved 個別 → 県版 → 標準 (cached for
    /// [`TENANT_CACHE_TTL`]).
    pub async fn settings(
        &self,
        tenant: &TenantCode,
    ) -> Result<Arc<Vec<ResolvedSetting>>, StoreError> {
        self.app().settings(tenant).await
    }

    /// The tenant's registry entry (cached for [`TENANT_CACHE_TTL`]).
    pub async fn tenant_info(
        &self,
        tenant: &TenantCode,
    ) -> Result<murakumo_store::TenantInfo, StoreError> {
        self.app().tenant_info(tenant).await
    }

    /// The tenant's 公印 image (cached for [`TENANT_CACHE_TTL`]).
    pub async fn official_seal(
        &self,
        tenant: &TenantCode,
    ) -> Result<Option<Arc<Vec<u8>>>, StoreError> {
        self.app().official_seal(tenant).await
    }

    /// Every setting of a tenant as in force on `date` (not cached).
    pub async fn settings_on(
        &self,
        tenant: &TenantCode,
        date: chrono::NaiveDate,
    ) -> Result<Vec<ResolvedSetting>, StoreError> {
        self.app().settings_on(tenant, date).await
    }

    /// One integer setting of a tenant, resolved; the standard value if the
    /// stored one is somehow unreadable.
    pub async fn setting_i64(&self, tenant: &TenantCode, key: &str) -> Result<i64, StoreError> {
        self.app().setting_i64(tenant, key).await
    }
}

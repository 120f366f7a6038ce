//! The HTTP face of Murakumo: the JSON API (`/api/v1/`, described by
//! `/api/v1/openapi.json`), the staff web UI (`/`), health and metrics.
//!
//! Invariants:
//! - A request is bound to exactly one tenant at authentication (the
//!   session); no staff endpoint takes a tenant from the URL or body.
//! - Every served `/api/` route is in the OpenAPI document (enforced by
//!   [`observe::require_documented`]).
//! - Errors have one JSON shape ([`error::ErrorBody`]); every response
//!   carries an `x-request-id` that also appears in the structured log.
//! - Shutdown is graceful: in-flight requests finish, then the database
//!   closes. A write is acknowledged only after its transaction committed,
//!   so even a kill -9 loses nothing acknowledged.
//!
//! This crate holds no business rules: those are in the domain crates.

mod api;
pub mod error;
pub mod observe;
pub mod quota;
mod saml;
pub mod session;
pub mod state;
mod text_input;
mod ui;
mod web_security;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use murakumo_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::error::ApiError;
use crate::observe::DocumentedRoutes;
pub use crate::state::AppState;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and private key: HTTPS when given.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long in-flight requests may take to finish at shutdown.
    pub grace: Duration,
    /// How browsers reach the platform (SAML SP entity id and endpoints);
    /// `None`: the scheme and the address listened on.
    pub public_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}; is another server using that port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load the TLS certificate or key ({cert} / {key}): {source}")]
    Tls {
        cert: String,
        key: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::router().1
}

/// The whole application router.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::router();
    let documented = documented_routes(&doc);
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || openapi_json(doc_json.clone())),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/", get(ui::home))
        .route("/login", post(ui::login_submit))
        .route("/logout", post(ui::logout_submit))
        .route("/residents", get(ui::residents))
        .route("/residents/new", get(ui::entry_form).post(ui::entry_submit))
        .route(
            "/residents/new-household",
            get(ui::household_entry_form).post(ui::household_entry_submit),
        )
        .route("/residents/{code}", get(ui::resident_detail))
        .route(
            "/residents/{code}/change",
            get(ui::change_form).post(ui::change_submit),
        )
        .route(
            "/residents/{code}/certificate",
            get(ui::certificate_form).post(ui::certificate_submit),
        )
        .route("/protections", get(ui::protections_ending))
        .route("/inspection-copy", get(ui::inspection_copy))
        .route("/seals", get(ui::seals))
        .route("/seals/new", get(ui::seal_form).post(ui::seal_submit))
        .route("/seals/certificate", post(ui::seal_certificate_submit))
        .route("/seals/{number}", get(ui::seal_detail))
        .route("/seals/{number}/cancel", post(ui::seal_cancel_submit))
        .route("/seals/{number}/image", get(ui::seal_image))
        .route(
            "/official-seal",
            get(ui::official_seal_form).post(ui::official_seal_submit),
        )
        .route("/official-seal/image", get(ui::official_seal_image))
        .route("/access-log", get(ui::access_log))
        .route("/statistics", get(ui::statistics))
        .route("/settings", get(ui::settings_form).post(ui::settings_submit))
        .route("/sso", get(ui::sso_form).post(ui::sso_submit))
        .route("/staff", get(ui::staff_form).post(ui::staff_create_submit))
        .route("/staff/{staff_id}/roles", post(ui::staff_roles_submit))
        .route("/changes/{change_id}/approve", post(ui::change_approve_submit))
        .route("/changes/{change_id}/reject", post(ui::change_reject_submit))
        .route("/verify", get(ui::verify_page))
        .route("/assets/murakumo.css", get(ui::css))
        .route("/assets/verify.js", get(ui::verify_js))
        .route("/assets/keys.js", get(ui::keys_js))
        .merge(saml::router())
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "このURLはこの方法(HTTPメソッド)では使えません。/api/v1/openapi.json を参照してください"
                    .into(),
                field: None,
                retry_after_secs: None,
            }
        })
        .route_layer(axum::middleware::from_fn_with_state(
            documented,
            observe::require_documented,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::replication::sync_barrier,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::replication::banner_layer,
        ))
        .layer(axum::middleware::from_fn(text_input::check_text_input))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web_security::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web_security::security_headers,
        ))
        .layer(axum::middleware::from_fn(observe::request_context))
        .layer(RequestBodyLimitLayer::new(4 * 1024 * 1024))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(
                "サーバー内部でエラーが起きました。変更は行われていません。詳細はサーバーのログにあります(基盤運用者に連絡してください)",
            )
            .into_response()
        }))
        .with_state(state)
}

fn documented_routes(doc: &utoipa::openapi::OpenApi) -> DocumentedRoutes {
    let mut set = HashSet::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ];
        for (m, present) in ops {
            if present {
                set.insert((m, path.clone()));
            }
        }
    }
    set.insert((Method::GET, "/api/v1/openapi.json".to_string()));
    DocumentedRoutes(Arc::new(set))
}

async fn openapi_json(doc: Arc<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.as_str().to_string(),
    )
        .into_response()
}

/// Liveness and readiness: 200 when the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.list_tenants().await {
        // Read models still being rebuilt after an upgrade do not make the node unhealthy:
        // the requests that need them answer 503 on their own.
        Ok(t) => axum::Json(serde_json::json!({
            "status": "ok",
            "tenants": t.len(),
            "rebuilds_pending": state.store.rebuilds_pending(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        // blake3::Hash compares in constant time.
        let ok = api::backup_target::bearer(&headers)
            .is_some_and(|given| blake3::hash(given.as_bytes()) == blake3::hash(token.as_bytes()));
        if !ok {
            return ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthorized",
                message: "/metrics needs the metrics token set with --metrics-token \
                          (Authorization: Bearer …)"
                    .into(),
                field: None,
                retry_after_secs: None,
            }
            .into_response();
        }
    }
    if let Ok(t) = state.store.list_tenants().await {
        metrics::gauge!("murakumo_tenants").set(t.len() as f64);
    }
    metrics::gauge!("murakumo_projection_rebuilds_pending")
        .set(state.store.rebuilds_pending() as f64);
    api::replication::update_metrics(&state).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        observe::prometheus().render(),
    )
        .into_response()
}

/// Serves until `shutdown` resolves, then stops gracefully and closes the
/// database. `on_listening` is called with the bound address.
pub async fn serve(
    store: Store,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(store, config.tls.is_some());
    serve_state(state, config, shutdown, on_listening).await
}

/// [`serve`] with a prepared state (replication settings of `follow` and
/// of a synchronous primary).
pub async fn serve_state(
    state: AppState,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), ServeError> {
    observe::prometheus();
    let store = state.store.clone();
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    listener.set_nonblocking(true)?;
    let mut state = state;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    state.public_url = Some(match &config.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("{scheme}://{}", listener.local_addr()?),
    });
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let grace = config.grace;
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        h.graceful_shutdown(Some(grace));
    });
    let h = handle.clone();
    tokio::spawn(async move {
        if let Some(addr) = h.listening().await {
            on_listening(addr);
        }
    });
    match &config.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|source| ServeError::Tls {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                    source,
                })?;
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(app)
                .await?;
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(app)
                .await?
        }
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

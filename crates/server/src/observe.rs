//! Request ids, structured request logs, Prometheus metrics, and the guard
//! that keeps every served API route in the OpenAPI document.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::error::ApiError;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_string())
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The `tenant` label of a request's metrics: the 団体コード of the staff session it was
/// authenticated with, [`PLATFORM`] for an operator's session, and [`NO_TENANT`] otherwise
/// (public routes, anonymous and refused requests). Only the session extractors fill it in,
/// after the session was found, so its values are the tenants on the platform and never a
/// code a client chose (the label's cardinality stays that of the tenant list). The code is
/// named only when `/metrics` is protected by `--metrics-token`; on an open `/metrics` staff
/// requests are labelled [`STAFF`] (see `AppState::tenant_label`).
///
/// It travels in the request's extensions; the first authentication of a request sets it
/// (a screen that looks the session up twice does not count twice against the quota).
#[derive(Clone, Default)]
pub struct TenantLabel(Arc<OnceLock<String>>);

/// The `tenant` label of operator requests.
pub const PLATFORM: &str = "platform";
/// The `tenant` label of staff requests when `/metrics` is open to anyone.
pub const STAFF: &str = "staff";
/// The `tenant` label of requests bound to no tenant.
pub const NO_TENANT: &str = "-";

impl TenantLabel {
    /// Sets the label; `false` if the request already had one.
    pub fn set(&self, value: &str) -> bool {
        self.0.set(value.to_string()).is_ok()
    }

    fn value(&self) -> String {
        self.0
            .get()
            .cloned()
            .unwrap_or_else(|| NO_TENANT.to_string())
    }
}

/// Gives each request an id of the server's own, logs it in a span around the request, and
/// returns it in `x-request-id`. An id the client sent is never used as the request's id (it
/// goes into the access log, which must not carry what a client chose); a sane one is logged
/// beside it as `client_request_id` to help follow a call across systems.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = new_request_id();
    let client_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .unwrap_or("-")
        .to_string();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let path = req.uri().path().to_string();
    let tenant = TenantLabel::default();
    req.extensions_mut().insert(tenant.clone());
    let span = tracing::info_span!("request", request_id = %id, client_request_id = %client_id, %method, path = %path);
    let started = Instant::now();
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let route_label = route.unwrap_or_else(|| "unmatched".to_string());
    let tenant = tenant.value();
    span.in_scope(
        || tracing::info!(status, elapsed_ms = elapsed * 1000.0, route = %route_label, tenant = %tenant, "handled"),
    );
    metrics::counter!("murakumo_http_requests_total", "method" => method.to_string(), "route" => route_label.clone(), "status" => status.to_string(), "tenant" => tenant.clone()).increment(1);
    metrics::histogram!("murakumo_http_request_duration_seconds", "method" => method.to_string(), "route" => route_label, "tenant" => tenant).record(elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The process-wide Prometheus recorder (metrics are global by design of the
/// `metrics` crate; several servers in one test process share it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first.
            let _ = metrics::set_global_recorder(recorder);
            metrics::gauge!("murakumo_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// (method, OpenAPI path template) of every documented route.
#[derive(Clone, Default)]
pub struct DocumentedRoutes(pub Arc<HashSet<(Method, String)>>);

/// Refuses to serve an `/api/` route that the OpenAPI document does not
/// describe. Routes are registered through `utoipa_axum::routes!`, which
/// documents them by construction; this guard catches one added otherwise.
pub async fn require_documented(
    State(doc): State<DocumentedRoutes>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(route) = req.extensions().get::<MatchedPath>() {
        let route = route.as_str();
        if route.starts_with("/api/") && !doc.0.contains(&(req.method().clone(), route.to_string()))
        {
            tracing::error!(%route, method = %req.method(), "route is served but not in the OpenAPI document");
            return ApiError::internal(format!("route {} {route} is not documented", req.method()))
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn an_undocumented_api_route_is_refused() {
        let documented: HashSet<(Method, String)> =
            [(Method::GET, "/api/v1/known".to_string())].into();
        let app = Router::new()
            .route("/api/v1/known", get(|| async { "ok" }))
            .route("/api/v1/sneaky", get(|| async { "leak" }))
            .route("/healthz", get(|| async { "ok" }))
            .route_layer(axum::middleware::from_fn_with_state(
                DocumentedRoutes(Arc::new(documented)),
                require_documented,
            ));
        let status = |uri: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(
                    Request::builder()
                        .uri(uri)
                        .body(Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response")
                .status()
            }
        };
        assert_eq!(status("/api/v1/known").await, StatusCode::OK);
        assert_eq!(
            status("/api/v1/sneaky").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status("/healthz").await,
            StatusCode::OK,
            "non-API routes are not in the document"
        );
    }
}

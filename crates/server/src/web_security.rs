//! What every web application is expected to do for its browsers, in one place: security
//! headers on every answer, and a same-origin check on every request that changes state.
//!
//! - **Headers.** A Content-Security-Policy that allows scripts, styles and images from this
//!   server only (no inline script: the pages' scripts are files under `/assets/`), no framing
//!   (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), `nosniff`, no referrer to other sites, and
//!   `Cache-Control: no-store` on everything but the static assets: personal data must not
//!   stay in a shared terminal's cache. HSTS when served over TLS.
//! - **Cross-site request forgery.** SameSite cookies are not enough (a sibling site under the
//!   same registrable domain is "same site"). A state-changing request (any method but GET,
//!   HEAD, OPTIONS) that a browser sends carries `Origin`; it must be this server's own origin
//!   (the Host it was sent to, or `--public-url`). Without `Origin`, a browser's
//!   `Sec-Fetch-Site: cross-site` is refused too. Requests with neither come from scripts and
//!   tools, which cookies of a staff browser do not reach. Exempt are the endpoints an IdP
//!   posts to across sites by design (`/saml/acs`, `/saml/slo`): their messages are signed.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// Paths an identity provider posts to from its own site (SAML HTTP-POST binding).
const CROSS_SITE_POSTS: [&str; 2] = ["/saml/acs", "/saml/slo"];

/// Adds the security headers to every response.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let static_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not `no-referrer`: under it a browser sends `Origin: null` with its own form posts, which
    // the same-origin check must then refuse. `same-origin` sends nothing to other sites.
    set(h, header::REFERRER_POLICY, "same-origin");
    if !static_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.tls {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    resp
}

/// Refuses a state-changing request that a browser sent from another origin.
pub async fn same_origin_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || CROSS_SITE_POSTS.contains(&req.uri().path())
    {
        return next.run(req).await;
    }
    match cross_origin(req.headers(), state.public_url.as_deref()) {
        None => next.run(req).await,
        Some(origin) => {
            tracing::warn!(%origin, path = %req.uri().path(), "cross-origin write refused");
            metrics::counter!("murakumo_cross_origin_refused_total").increment(1);
            ApiError {
                status: StatusCode::FORBIDDEN,
                code: "cross_origin",
                message: format!(
                    "他のサイト ({origin}) から送られた変更の要求は受け付けません。Murakumo の画面から操作してください (a change request from another origin is refused)"
                ),
                field: None,
                retry_after_secs: None,
            }
            .into_response()
        }
    }
}

/// The foreign origin a browser says this request comes from, or `None` when it is this
/// server's own (or the request is not a browser's).
fn cross_origin(headers: &HeaderMap, public_url: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header("origin") else {
        return match header("sec-fetch-site") {
            Some("cross-site") => Some("(cross-site)".to_string()),
            _ => None,
        };
    };
    // "null" (a sandboxed frame, a file) is never this server.
    let host_of_origin = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|_| origin != "null");
    let own_host = header("host");
    let own_public = public_url.and_then(|u| u.split_once("://").map(|(_, rest)| rest));
    let same = host_of_origin.is_some_and(|h| {
        Some(h) == own_host || Some(h) == own_public.map(|p| p.trim_end_matches('/'))
    });
    (!same).then(|| origin.chars().take(100).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_own_origin_passes_by_host_or_public_url() {
        let h = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(cross_origin(&h, None), None);
        let h = headers(&[
            ("origin", "https://cloud.example.jp"),
            ("host", "10.0.0.5:8443"),
        ]);
        assert_eq!(cross_origin(&h, Some("https://cloud.example.jp/")), None);
    }

    #[test]
    fn another_origin_or_null_is_refused() {
        let h = headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(
            cross_origin(&h, None).as_deref(),
            Some("http://evil.example")
        );
        let h = headers(&[("origin", "null"), ("host", "null")]);
        assert_eq!(cross_origin(&h, None).as_deref(), Some("null"));
        // Same host, other port: another origin.
        let h = headers(&[
            ("origin", "http://127.0.0.1:9999"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(cross_origin(&h, None).is_some());
    }

    #[test]
    fn without_origin_only_a_cross_site_fetch_is_refused() {
        assert_eq!(cross_origin(&headers(&[("host", "a")]), None), None);
        let h = headers(&[("sec-fetch-site", "same-origin"), ("host", "a")]);
        assert_eq!(cross_origin(&h, None), None);
        let h = headers(&[("sec-fetch-site", "cross-site"), ("host", "a")]);
        assert!(cross_origin(&h, None).is_some());
    }
}

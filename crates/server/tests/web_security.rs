//! What every web application is expected to have (issue 15, item 8), tried as an attacker
//! would: a write sent from another site, framing, caching of personal data, a request id
//! chosen by the client, an open /metrics.

mod common;

use common::{Db, TestServer, on_both_backends, resident_code, tenant_a};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A page of another site posts to the platform with the staff member's credentials: the
/// login form and a settings change are refused, and nothing changes.
async fn writes_from_another_origin_are_refused(db: Db) {
    let s = TestServer::start(db).await;
    let host = s.base.trim_start_matches("http://").to_string();

    // The login form, posted from another site (login CSRF).
    let r = reqwest::Client::new()
        .post(s.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[
            ("tenant", tenant_a().to_string()),
            ("login", "clerk".to_string()),
            ("password", common::PASSWORD.to_string()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session for a forged login"
    );

    let admin = s.login(Some(&tenant_a()), "admin").await;
    let head_before = s.ledger_head_a().await;
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://{}", host.replace("127.0.0.1", "localhost")),
    ] {
        let r = admin
            .put(s.url("/api/v1/settings/login.max_failures"))
            .header("origin", origin)
            .json(&json!({"value": "9"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "origin {origin}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "cross_origin");
    }
    let r = admin
        .put(s.url("/api/v1/settings/login.max_failures"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"value": "9"}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a cross-site fetch without Origin"
    );
    let head_after = s.ledger_head_a().await;
    assert_eq!(head_after, head_before, "nothing was recorded");

    // The platform's own pages, and scripts that send no Origin, still work.
    let (status, body) = s.put_setting(&admin, "login.max_failures", "9").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let r = admin
        .put(s.url("/api/v1/settings/login.max_failures"))
        .header("origin", s.base.as_str())
        .json(&json!({"value": "8"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "same origin");
    s.stop().await;
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name} header", r.url()))
        .to_str()
        .expect("ascii")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_personal_data_is_not_cached() {
    let s = TestServer::start(Db::Sqlite).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let code = resident_code(1_000_000_002);
    for r in [
        reqwest::get(s.url("/")).await.expect("login page"),
        reqwest::get(s.url("/verify")).await.expect("verify page"),
        clerk
            .get(s.url(&format!("/api/v1/residents/{code}")))
            .send()
            .await
            .expect("resident"),
        reqwest::get(s.url("/api/v1/no-such-route"))
            .await
            .expect("404"),
    ] {
        let csp = header(&r, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "referrer-policy"), "same-origin");
        assert_eq!(header(&r, "cache-control"), "no-store", "{}", r.url());
        assert!(
            r.headers().get("strict-transport-security").is_none(),
            "HSTS only under TLS"
        );
    }
    let css = reqwest::get(s.url("/assets/murakumo.css"))
        .await
        .expect("css");
    assert_ne!(
        header(&css, "cache-control"),
        "no-store",
        "static assets may be cached"
    );
    s.stop().await;
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let s = TestServer::start(Db::Sqlite).await;
    let page = reqwest::get(s.url("/verify"))
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    let login = reqwest::get(s.url("/"))
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    for html in [&page, &login] {
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        assert!(
            !html.contains("style=\""),
            "inline style attribute in {html}"
        );
        assert!(
            !html.contains(" onclick=") && !html.contains(" onsubmit="),
            "inline handler"
        );
    }
    let js = reqwest::get(s.url("/assets/verify.js"))
        .await
        .expect("send");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(header(&js, "content-type").starts_with("text/javascript"));
    assert!(
        js.text()
            .await
            .expect("js")
            .contains("/api/v1/public/verify-certificate")
    );
    s.stop().await;
}

/// A request id a client sends could make its reads look like someone else's in the access
/// log: the server uses its own.
#[tokio::test]
async fn a_request_id_from_the_client_does_not_reach_the_access_log() {
    let s = TestServer::start(Db::Sqlite).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let code = resident_code(1_000_000_002);
    let chosen = "chosen-by-the-client-0001";
    let r = clerk
        .get(s.url(&format!("/api/v1/residents/{code}")))
        .header("x-request-id", chosen)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let rid = header(&r, "x-request-id").to_string();
    assert_ne!(rid, chosen);
    let log = s.access_log(&format!("subject=resident:{code}")).await;
    let read = log
        .iter()
        .find(|r| r["action"] == "read")
        .unwrap_or_else(|| panic!("no read in {log:?}"));
    assert_eq!(read["request_id"], rid.as_str());
    assert!(!format!("{log:?}").contains(chosen), "{log:?}");
    s.stop().await;
}

#[tokio::test]
async fn metrics_can_be_restricted_to_a_token() {
    let open = TestServer::start(Db::Sqlite).await;
    let r = reqwest::get(open.url("/metrics")).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK, "open unless a token is set");
    let halted = open.halt().await;
    let store = halted.open_store().await;
    let state = murakumo_server::AppState {
        metrics_token: Some("metrics-secret-0123".into()),
        ..murakumo_server::AppState::new(store, false)
    };
    let s = TestServer::serve_state(state, halted.dir, halted.pg, None, Some(halted.port)).await;
    let r = reqwest::get(s.url("/metrics")).await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::Client::new()
        .get(s.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::Client::new()
        .get(s.url("/metrics"))
        .bearer_auth("metrics-secret-0123")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("murakumo_tenants"));
    s.stop().await;
}

/// Control characters and bidi overrides are refused at entry with the field named, in a
/// JSON body, a query string and a form, and nothing changes.
async fn text_with_control_or_bidi_characters_is_refused_at_entry(db: Db) {
    let s = TestServer::start(db).await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let head_before = s.ledger_head_a().await;
    let r = admin
        .put(s.url("/api/v1/settings/certificate.issuer_name"))
        .json(&json!({"value": "山下\u{202E}史貴"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "value", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("U+202E"),
        "{body}"
    );
    let head_after = s.ledger_head_a().await;
    assert_eq!(head_after, head_before, "nothing was recorded");

    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let r = clerk
        .get(s.url("/api/v1/residents?kana=%E3%83%A4%07"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "kana", "{body}");

    let r = reqwest::Client::new()
        .post(s.url("/login"))
        .form(&[
            ("tenant", tenant_a().to_string()),
            ("login", "clerk\u{0008}".to_string()),
            ("password", "x".to_string()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("html");
    assert!(
        html.contains("入力できない文字") && html.contains("【login】"),
        "{html}"
    );
    s.stop().await;
}

on_both_backends!(
    writes_from_another_origin_are_refused,
    text_with_control_or_bidi_characters_is_refused_at_entry,
);

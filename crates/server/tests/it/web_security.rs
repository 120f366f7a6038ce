//! What every web application is expected to have (issue 15, item 8), tried as an attacker
//! would: a write sent from another site, framing, caching of personal data, a request id
//! chosen by the client, an open /metrics.

use crate::common;

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
    // Longer than any field may be.
    let r = clerk
        .get(s.url(&format!("/api/v1/residents?kana={}", "ヤ".repeat(2001))))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "kana", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("長すぎます")),
        "{body}"
    );

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

/// A session kept busy from a shared terminal (or a token copied from it) still ends a fixed
/// time after its login: staff by the tenant's `session.max_lifetime_hours`, operators after
/// 8 hours. The session is made in the store as if logged in earlier and used a moment ago.
async fn a_session_ends_at_its_longest_lifetime_however_active(db: Db) {
    let s = TestServer::start(db).await;
    let now = chrono::Utc::now().timestamp_micros();
    let hour = 3600 * 1_000_000_i64;
    let whoami = |credential: String| {
        let url = s.url("/api/v1/session");
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(credential)
                .send()
                .await
                .expect("send");
            let status = r.status();
            (status, r.text().await.expect("body"))
        }
    };

    let ts = s.store.tenant(&tenant_a());
    let staff_id = format!("s-clerk-{}", tenant_a().as_str());
    // Logged in 9 h ago: within the standard 10 h.
    let (young, young_hash) = murakumo_auth::new_session_token();
    ts.create_session(&young_hash, &staff_id, now - 9 * hour)
        .await
        .expect("session");
    ts.touch_session(&young_hash, now).await.expect("touch");
    // Logged in 11 h ago, used a moment ago.
    let (old, old_hash) = murakumo_auth::new_session_token();
    ts.create_session(&old_hash, &staff_id, now - 11 * hour)
        .await
        .expect("session");
    ts.touch_session(&old_hash, now).await.expect("touch");

    let (status, body) = whoami(format!("{}.{young}", tenant_a())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = whoami(format!("{}.{old}", tenant_a())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("ログインから10時間が経過"), "{body}");
    let (status, _) = whoami(format!("{}.{old}", tenant_a())).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the ended session is gone"
    );

    // The tenant shortens it to 8 h: the 9-hour-old session ends too.
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let (status, body) = s
        .put_setting(&admin, "session.max_lifetime_hours", "8")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = whoami(format!("{}.{young}", tenant_a())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Operators: 8 h, kept active or not.
    let (op, op_hash) = murakumo_auth::new_session_token();
    s.store
        .create_operator_session(&op_hash, "op-1", now - 9 * hour)
        .await
        .expect("operator session");
    s.store
        .touch_operator_session(&op_hash, now)
        .await
        .expect("touch");
    let (status, body) = whoami(format!("op.{op}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("ログインから8時間が経過"), "{body}");
    // A fresh operator login works, and stays alive while used.
    let token = s
        .token(None, "op", common::PASSWORD)
        .await
        .expect("op login");
    let (status, body) = whoami(token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}

/// The login answer for a 団体コード that is not on the platform is the answer for a wrong
/// password: a stranger cannot list the municipalities by trying codes.
async fn the_login_answer_does_not_tell_which_municipality_codes_exist(db: Db) {
    let s = TestServer::start(db).await;
    // 011002 (札幌市) is a valid code with a correct check digit, not on this platform.
    let absent = murakumo_core::TenantCode::parse("011002").expect("valid code");
    let unknown = s
        .token(Some(&absent), "clerk", common::PASSWORD)
        .await
        .expect_err("no such municipality");
    let wrong = s
        .token(Some(&tenant_a()), "clerk", "wrong password")
        .await
        .expect_err("wrong password");
    // The same status and body, but for the request's own id.
    let without_id = |(status, mut body): (u16, Value)| {
        body["error"]["request_id"] = Value::Null;
        (status, body)
    };
    let (unknown, wrong) = (without_id(unknown), without_id(wrong));
    assert_eq!(unknown, wrong, "the same status and body");
    assert_eq!(unknown.0, 401);

    // The login form says the same for both.
    let form = |tenant: String, password: &'static str| {
        let url = s.url("/login");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("tenant", tenant),
                    ("login", "clerk".to_string()),
                    ("password", password.to_string()),
                ])
                .send()
                .await
                .expect("send");
            (r.status(), r.text().await.expect("html"))
        }
    };
    let (status_unknown, page_unknown) = form(absent.to_string(), common::PASSWORD).await;
    let (status_wrong, page_wrong) = form(tenant_a().to_string(), "wrong password").await;
    assert_eq!(status_unknown, status_wrong);
    assert_eq!(
        page_unknown.replace("011002", "CODE"),
        page_wrong.replace(&tenant_a().to_string(), "CODE"),
        "the two pages differ only by the code typed"
    );
    s.stop().await;
}

on_both_backends!(
    writes_from_another_origin_are_refused,
    text_with_control_or_bidi_characters_is_refused_at_entry,
    a_session_ends_at_its_longest_lifetime_however_active,
    the_login_answer_does_not_tell_which_municipality_codes_exist,
);

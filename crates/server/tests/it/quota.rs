//! Tenants never wait on each other (issue 17, item 5): the `tenant` label of the HTTP
//! metrics, and the per-tenant quotas — a municipality hammering the platform past its
//! request rate is refused (429, `Retry-After`, a Japanese message) while another
//! municipality's requests at the same moment all succeed; batch operations are limited per
//! municipality; the quotas are the platform operator's to set, not the municipality's. And an
//! import written in chunks (so that it holds no one else up) is closed to its own
//! municipality's staff until it completes; read models rebuilt after an upgrade hold up only
//! the requests that need them, tenant by tenant.

use crate::common;

use common::{Db, TestServer, tenant_a, tenant_b};
use murakumo_core::TenantCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

const METRICS_TOKEN: &str = "metrics-secret-0123";

/// A server whose `/metrics` answers only [`METRICS_TOKEN`], as in production: only then are
/// municipalities named in its labels.
async fn start(db: Db) -> TestServer {
    let halted = TestServer::start(db).await.halt().await;
    let state = murakumo_server::AppState {
        metrics_token: Some(METRICS_TOKEN.into()),
        ..murakumo_server::AppState::new(halted.open_store().await, false)
    };
    TestServer::serve_state(state, halted.dir, halted.pg, None, Some(halted.port)).await
}

/// The `/metrics` lines of `series` (e.g. `murakumo_http_requests_total{`).
async fn metric_lines(s: &TestServer, series: &str) -> Vec<String> {
    let text = reqwest::Client::new()
        .get(s.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(series))
        .map(str::to_string)
        .collect()
}

fn has(lines: &[String], parts: &[&str]) -> bool {
    lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
}

fn label(tenant: &TenantCode) -> String {
    format!("tenant=\"{tenant}\"")
}

async fn metrics_carry_the_tenant(db: Db) {
    let s = start(db).await;
    let clerk_a = s.login(Some(&tenant_a()), "clerk").await;
    let clerk_b = s.login(Some(&tenant_b()), "clerk").await;
    let op = s.login(None, "op").await;
    for clerk in [&clerk_a, &clerk_b] {
        let r = clerk
            .get(s.url("/api/v1/residents/count"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = op.get(s.url("/api/v1/tenants")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = reqwest::get(s.url("/healthz")).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    // A stranger naming a municipality that is not on the platform (函館市), with a made-up
    // token: the label is not theirs to choose.
    let stranger = TenantCode::from_five_digits("01202").expect("valid");
    let r = reqwest::Client::new()
        .get(s.url("/api/v1/residents/count"))
        .bearer_auth(format!("{stranger}.{}", "ab".repeat(32)))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Nor a real municipality's code with a token that is no session.
    let r = reqwest::Client::new()
        .get(s.url("/api/v1/residents/count"))
        .bearer_auth(format!("{}.{}", tenant_b(), "cd".repeat(32)))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let total = metric_lines(&s, "murakumo_http_requests_total{").await;
    let count = "route=\"/api/v1/residents/count\"";
    for t in [tenant_a(), tenant_b()] {
        assert!(
            has(&total, &[count, &label(&t), "status=\"200\""]),
            "{t}'s requests are labelled with it: {total:#?}"
        );
    }
    assert!(has(
        &total,
        &["route=\"/api/v1/tenants\"", "tenant=\"platform\""]
    ));
    assert!(has(&total, &["route=\"/healthz\"", "tenant=\"-\""]));
    assert!(
        has(&total, &[count, "tenant=\"-\"", "status=\"401\""]),
        "refused requests belong to no tenant: {total:#?}"
    );
    assert!(
        !has(&total, &[&label(&tenant_b()), "status=\"401\""]),
        "a code in an unauthenticated header never becomes a label: {total:#?}"
    );
    assert!(
        !has(&total, &[&label(&stranger)]),
        "only municipalities on the platform are labels"
    );
    let durations = metric_lines(&s, "murakumo_http_request_duration_seconds_count{").await;
    for t in [tenant_a(), tenant_b()] {
        assert!(
            has(&durations, &[count, &label(&t)]),
            "the latency histogram is labelled too: {durations:#?}"
        );
    }
    s.stop().await;
}

/// An open `/metrics` (no token) names no municipality: it would tell anyone which ones use
/// the platform.
async fn open_metrics_name_no_tenant(db: Db) {
    let s = TestServer::start(db).await;
    for t in [tenant_a(), tenant_b()] {
        let clerk = s.login(Some(&t), "clerk").await;
        let r = clerk
            .get(s.url("/api/v1/residents/count"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let text = reqwest::get(s.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let total: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("murakumo_http_requests_total{"))
        .map(str::to_string)
        .collect();
    assert!(has(
        &total,
        &["route=\"/api/v1/residents/count\"", "tenant=\"staff\""]
    ));
    for t in [tenant_a(), tenant_b()] {
        assert!(!text.contains(t.as_str()), "{t} named on an open /metrics");
    }
    s.stop().await;
}

/// Sends `n` requests of each clerk at once, interleaved; the answers of each.
async fn both_at_once(
    s: &TestServer,
    a: &reqwest::Client,
    b: &reqwest::Client,
    n: usize,
) -> (Vec<reqwest::Response>, Vec<reqwest::Response>) {
    let url = s.url("/api/v1/residents/count");
    let sends: Vec<_> = (0..n)
        .flat_map(|_| [(true, a.get(&url)), (false, b.get(&url))])
        .map(|(is_a, req)| tokio::spawn(async move { (is_a, req.send().await.expect("send")) }))
        .collect();
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for send in sends {
        let (is_a, r) = send.await.expect("request task");
        if is_a { &mut ra } else { &mut rb }.push(r);
    }
    (ra, rb)
}

async fn a_tenant_past_its_quota_does_not_hold_up_another(db: Db) {
    let s = start(db).await;
    // The quota is the operator's: a 団体管理者 cannot raise (or set) it.
    let admin_a = s.login(Some(&tenant_a()), "admin").await;
    let (status, body) = s
        .put_setting(&admin_a, "platform.requests_per_second", "10000")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("基盤運用者")),
        "{body}"
    );
    let op = s.login(None, "op").await;
    let r = op
        .put(s.url(&format!(
            "/api/v1/tenants/{}/settings/platform.requests_per_second",
            tenant_a()
        )))
        .json(&json!({"value": "1", "reason": "負荷試験"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The municipality sees the value, its tier and who set it.
    let settings: Value = admin_a
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let quota = settings
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["key"] == "platform.requests_per_second")
        .expect("listed");
    assert_eq!(
        (&quota["value"], &quota["tier"]),
        (&json!("1"), &json!("municipal"))
    );

    let clerk_a = s.login(Some(&tenant_a()), "clerk").await;
    let clerk_b = s.login(Some(&tenant_b()), "clerk").await;
    // One request a second with a burst of two: of forty at once, most wait.
    let (ra, rb) = both_at_once(&s, &clerk_a, &clerk_b, 40).await;
    for r in &rb {
        assert_eq!(r.status(), StatusCode::OK, "B is not held up by A");
    }
    let refused: Vec<_> = ra
        .into_iter()
        .filter(|r| {
            assert!(
                [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&r.status()),
                "{}",
                r.status()
            );
            r.status() == StatusCode::TOO_MANY_REQUESTS
        })
        .collect();
    assert!(!refused.is_empty(), "A is refused past its quota");
    for r in refused {
        let wait: u64 = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!(wait >= 1);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "too_many_requests");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("1秒あたり1件") && message.contains(&format!("{wait}秒後")),
            "what, why and what to do: {message}"
        );
    }
    // Metrics tell whose requests were refused.
    let total = metric_lines(&s, "murakumo_http_requests_total{").await;
    assert!(has(&total, &[&label(&tenant_a()), "status=\"429\""]));
    assert!(!has(&total, &[&label(&tenant_b()), "status=\"429\""]));
    let quota = metric_lines(&s, "murakumo_quota_refused_total{").await;
    assert!(has(&quota, &[&label(&tenant_a()), "quota=\"requests\""]));
    assert!(!has(&quota, &[&label(&tenant_b())]));
    s.stop().await;
}

async fn batches_are_limited_per_tenant(db: Db) {
    let s = TestServer::start(db).await;
    let a = s.login(Some(&tenant_a()), "all").await;
    let b = s.login(Some(&tenant_b()), "all").await;
    let verify = |c: &reqwest::Client| c.post(s.url("/api/v1/ledger/verify")).send();
    // A's two places (the 標準 value) are taken by batches running on this node.
    let running = [
        s.quotas.start_batch(&tenant_a(), 2).expect("first"),
        s.quotas.start_batch(&tenant_a(), 2).expect("second"),
    ];
    let r = verify(&a).await.expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("一括処理") && m.contains("2件実行中")),
        "{body}"
    );
    assert_eq!(
        verify(&b).await.expect("send").status(),
        StatusCode::OK,
        "B's batches are its own"
    );
    // The operator's verification of A waits for the same places.
    let op = s.login(None, "op").await;
    let r = op
        .post(s.url(&format!("/api/v1/tenants/{}/verify", tenant_a())))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(running);
    assert_eq!(verify(&a).await.expect("send").status(), StatusCode::OK);
    assert_eq!(s.quotas.running_batches(&tenant_a()), 0, "released after");
    s.stop().await;
}

/// A municipality whose import stopped part way (the process killed after its first chunk):
/// its staff get 503 with `Retry-After` and a Japanese message, on the API and the screens,
/// and see nothing of the half-written register; another municipality is served as usual.
async fn a_tenant_being_imported_is_closed_to_its_staff_only(db: Db) {
    let s = TestServer::start(db).await;
    let clerk_a = s.login(Some(&tenant_a()), "clerk").await;
    let clerk_b = s.login(Some(&tenant_b()), "clerk").await;
    let entries: Vec<_> = (0..10)
        .map(|n| {
            common::moved_in(
                common::resident_code(7_000_000_000 + n),
                "移行",
                "イコウ",
                n == 0,
            )
        })
        .collect();
    let store = s.store.clone();
    let died = tokio::spawn(async move {
        store
            .tenant(&tenant_a())
            .import("half", entries, 4, |done, _| {
                assert!(done < 4, "the process dies after the first chunk")
            })
            .await
    })
    .await;
    assert!(died.is_err(), "the import stopped part way");

    let r = clerk_a
        .get(s.url("/api/v1/residents/count"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("60")
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "importing", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("移行"),
        "{body}"
    );
    let screen = clerk_a
        .get(s.url("/residents?kana=イコウ"))
        .send()
        .await
        .expect("send");
    assert_eq!(screen.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = screen.text().await.expect("html");
    assert!(
        html.contains("移行") && !html.contains("移行　花子"),
        "{html}"
    );
    let r = clerk_b
        .get(s.url("/api/v1/residents/count"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the other municipality is served"
    );
    s.stop().await;
}

/// A new version projects 住民記録 differently: the server answers at once (`/healthz`), a
/// request that needs the residents' read models gets 503 with `Retry-After` until its
/// municipality's are rebuilt, requests that need other systems (settings, staff) are served
/// meanwhile, and each municipality is served as soon as its own are rebuilt.
async fn a_projection_rebuild_holds_up_only_what_needs_it(db: Db) {
    let s = TestServer::start(db).await;
    let clerk_a = s.login(Some(&tenant_a()), "clerk").await;
    let clerk_b = s.login(Some(&tenant_b()), "clerk").await;
    let admin_a = s.login(Some(&tenant_a()), "admin").await;
    // The restarted server listens on the same port.
    let count_url = s.url("/api/v1/residents/count");
    let count = |c: &reqwest::Client| c.get(count_url.clone()).send();
    let before_a: Value = count(&clerk_a)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let before_b: Value = count(&clerk_b)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    s.store
        .forget_projection_version(murakumo_resident_store::RESIDENT)
        .await
        .expect("forget");
    let halted = s.halt().await;
    let store = halted.open_store().await;
    assert_eq!(
        store.rebuilds_pending(),
        2,
        "住民記録 of both municipalities"
    );
    let state = murakumo_server::AppState::new(store.clone(), false);
    let s = TestServer::serve_state(state, halted.dir, halted.pg, None, Some(halted.port)).await;

    let health = reqwest::get(s.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["rebuilds_pending"], 2, "{health}");
    let r = count(&clerk_a).await.expect("send");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rebuilding", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("住民記録"),
        "{body}"
    );
    let settings = admin_a
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        settings.status(),
        StatusCode::OK,
        "settings are another system's"
    );

    // Tenant by tenant: the first rebuilt is served, the other still waits.
    let (first, _) = store
        .rebuild_next()
        .await
        .expect("rebuild")
        .expect("one pending");
    let (done, waiting, before) = if first == tenant_a() {
        (&clerk_a, &clerk_b, &before_a)
    } else {
        (&clerk_b, &clerk_a, &before_b)
    };
    let r = count(done).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        &r.json::<Value>().await.expect("json"),
        before,
        "rebuilt as it was"
    );
    assert_eq!(
        count(waiting).await.expect("send").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    store.rebuild_pending().await.expect("rebuild the rest");
    assert_eq!(store.rebuilds_pending(), 0);
    for (c, before) in [(&clerk_a, &before_a), (&clerk_b, &before_b)] {
        let r = count(c).await.expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(&r.json::<Value>().await.expect("json"), before);
    }
    // Recorded: the next start has nothing to rebuild.
    let halted = s.halt().await;
    assert_eq!(halted.open_store().await.rebuilds_pending(), 0);
    drop(halted);
}

common::on_both_backends!(
    a_tenant_being_imported_is_closed_to_its_staff_only,
    a_projection_rebuild_holds_up_only_what_needs_it,
    metrics_carry_the_tenant,
    open_metrics_name_no_tenant,
    a_tenant_past_its_quota_does_not_hold_up_another,
    batches_are_limited_per_tenant,
);

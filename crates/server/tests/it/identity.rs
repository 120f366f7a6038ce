//! Issue 15, as an attacker tries it, on both backends: nobody grants
//! themselves access (four eyes on role grants), login throttling holds
//! under concurrency (per account and per address, operators too) without
//! letting a stranger lock staff out, and weak passwords are refused.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Db, PASSWORD, TestServer, tenant_a};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn staff_id(login: &str) -> String {
    format!("s-{login}-{}", tenant_a())
}

async fn roles_of(s: &TestServer, login: &str) -> Vec<String> {
    s.store
        .tenant(&tenant_a())
        .staff_by_id(&staff_id(login))
        .await
        .expect("staff")
        .expect("exists")
        .roles
        .iter()
        .map(|r| r.code().to_string())
        .collect()
}

async fn admin_cannot_grant_itself_access(db: Db) {
    let s = TestServer::start(db).await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let r = admin
        .put(s.url(&format!("/api/v1/staff/{}/roles", staff_id("admin"))))
        .json(&json!({"roles": ["tenant.admin", "resident.supervisor"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("自分自身"),
        "{body}"
    );
    assert_eq!(roles_of(&s, "admin").await, ["tenant.admin"]);
    // Nor through a second account of its own making.
    let r = admin
        .post(s.url("/api/v1/staff"))
        .json(
            &json!({"login": "sockpuppet", "display_name": "別名", "roles": ["resident.supervisor"],
            "password": "a long and unusual sentence"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["roles"], json!([]), "{created}");
    assert_eq!(created["pending_change"]["status"], "pending");
    let puppet = s
        .login_with(
            Some(&tenant_a()),
            "sockpuppet",
            "a long and unusual sentence",
        )
        .await;
    assert_eq!(
        puppet
            .get(s.url("/api/v1/residents/count"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::FORBIDDEN
    );
    // The proposer cannot approve it.
    let approved = s.approve_pending(&tenant_a(), "admin").await;
    let [(status, _)] = approved.as_slice() else {
        panic!("one pending change");
    };
    assert_eq!(*status, StatusCode::FORBIDDEN);
    s.stop().await;
}

async fn personal_data_roles_wait_for_a_second_admin(db: Db) {
    let s = TestServer::start(db).await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let r = admin
        .put(s.url(&format!("/api/v1/staff/{}/roles", staff_id("clerk"))))
        .json(&json!({"roles": ["resident.clerk", "resident.supervisor"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let change: Value = r.json().await.expect("json");
    assert_eq!(change["kind"], "set_roles");
    assert_eq!(change["status"], "pending");
    assert!(
        change["proposed_at"]
            .as_str()
            .expect("time")
            .ends_with("+09:00"),
        "Japan time: {change}"
    );
    // Pending: nothing changed yet.
    assert_eq!(roles_of(&s, "clerk").await, ["resident.clerk"]);
    // The staff member it is about cannot approve it (were they an admin).
    // A second administrator approves: it takes effect.
    let approved = s.approve_pending(&tenant_a(), "all").await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].0, StatusCode::OK, "{}", approved[0].1);
    assert_eq!(
        roles_of(&s, "clerk").await,
        ["resident.clerk", "resident.supervisor"]
    );
    // Approving again: already decided.
    let id = change["change_id"].as_str().expect("id");
    let all = s.login(Some(&tenant_a()), "all").await;
    let r = all
        .post(s.url(&format!("/api/v1/changes/{id}/approve")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Decided changes are listed with who decided.
    let list: Value = admin
        .get(s.url("/api/v1/changes?all=true"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list[0]["decided_by"], format!("staff:{}", staff_id("all")));
    // A grant about an administrator cannot be approved by that administrator.
    let r = admin
        .put(s.url(&format!("/api/v1/staff/{}/roles", staff_id("all"))))
        .json(&json!({"roles": ["tenant.admin"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "removing roles is direct"
    );
    let r = admin
        .put(s.url(&format!("/api/v1/staff/{}/roles", staff_id("all"))))
        .json(&json!({"roles": ["tenant.admin", "auditor"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let approved = s.approve_pending(&tenant_a(), "all").await;
    let [(status, _)] = approved.as_slice() else {
        panic!("one pending change");
    };
    assert_eq!(*status, StatusCode::FORBIDDEN);
    assert_eq!(roles_of(&s, "all").await, ["tenant.admin"]);
    s.stop().await;
}

/// Sends `n` login attempts at once; returns their statuses.
async fn at_once(s: &TestServer, attempts: Vec<(Option<String>, String, String)>) -> Vec<u16> {
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(tenant, login, password)| {
            let url = s.url("/api/v1/session");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({"tenant": tenant, "login": login, "password": password}))
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn parallel_guesses_stop_at_the_limit(db: Db) {
    let s = TestServer::start(db).await;
    let a = Some(tenant_a().to_string());
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            (
                a.clone(),
                "clerk".to_string(),
                format!("wrong guess no. {i}"),
            )
        })
        .collect();
    let statuses = at_once(&s, guesses).await;
    // login.max_failures is 5: at most 5 passwords were checked.
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 35, "{statuses:?}");
    // The right password is not accepted once the limit is hit.
    let (status, body) = s
        .token(Some(&tenant_a()), "clerk", PASSWORD)
        .await
        .expect_err("locked");
    assert_eq!(status, 429, "{body}");

    // The operator account is throttled the same way.
    let guesses: Vec<_> = (0..40)
        .map(|i| (None, "op".to_string(), format!("wrong guess no. {i}")))
        .collect();
    let statuses = at_once(&s, guesses).await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    let (status, _) = s.token(None, "op", PASSWORD).await.expect_err("locked");
    assert_eq!(status, 429);
    s.stop().await;
}

async fn per_address_limit_holds_in_parallel(db: Db) {
    let s = TestServer::start(db).await;
    let a = Some(tenant_a().to_string());
    // 40 different accounts from one address: the address allows 30.
    let guesses: Vec<_> = (0..40)
        .map(|i| (a.clone(), format!("nobody{i}"), "wrong guess!!".to_string()))
        .collect();
    let statuses = at_once(&s, guesses).await;
    assert_eq!(count(&statuses, 401), 30, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 10, "{statuses:?}");
    s.stop().await;
}

async fn operators_are_locked_too(db: Db) {
    let s = TestServer::start(db).await;
    for _ in 0..5 {
        let (status, _) = s
            .token(None, "op", "wrong password!!")
            .await
            .expect_err("refused");
        assert_eq!(status, 401);
    }
    let (status, body) = s.token(None, "op", PASSWORD).await.expect_err("locked");
    assert_eq!(status, 429, "{body}");
    s.stop().await;
}

/// A client that connects from another loopback address (127.0.0.2).
fn from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .expect("client")
}

async fn a_stranger_cannot_lock_staff_out(db: Db) {
    let s = TestServer::start(db).await;
    let stranger = from(Ipv4Addr::new(127, 0, 0, 2));
    for i in 0..8 {
        let r = stranger
            .post(s.url("/api/v1/session"))
            .json(&json!({"tenant": tenant_a().to_string(), "login": "clerk", "password": format!("guess {i} guess")}))
            .send()
            .await
            .expect("send");
        assert!([401, 429].contains(&r.status().as_u16()), "{}", r.status());
    }
    let r = stranger
        .post(s.url("/api/v1/session"))
        .json(&json!({"tenant": tenant_a().to_string(), "login": "clerk", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The staff member at their own desk logs in.
    s.token(Some(&tenant_a()), "clerk", PASSWORD)
        .await
        .expect("the clerk is not locked out by a stranger elsewhere");
    s.stop().await;
}

async fn weak_passwords_are_refused(db: Db) {
    let s = TestServer::start(db).await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    for (password, why) in [
        ("short1", "短すぎます"),
        ("password1234", "よく使われる"),
        ("1q2w3e4r5t6y", "よく使われる"),
        ("newcomer-2026-04", "ログインID"),
        ("zzzzzzzzzzzzzzzz", "文字の種類"),
    ] {
        let r = admin
            .post(s.url("/api/v1/staff"))
            .json(&json!({"login": "newcomer", "display_name": "新人", "roles": [], "password": password}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{password}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["field"], "password", "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.starts_with("パスワード") && message.contains(why),
            "{password}: {message}"
        );
    }
    assert!(
        s.store
            .tenant(&tenant_a())
            .staff_for_login("newcomer")
            .await
            .expect("query")
            .is_none(),
        "nothing was created"
    );
    s.stop().await;
}

common::on_both_backends!(
    admin_cannot_grant_itself_access,
    personal_data_roles_wait_for_a_second_admin,
    parallel_guesses_stop_at_the_limit,
    per_address_limit_holds_in_parallel,
    operators_are_locked_too,
    a_stranger_cannot_lock_staff_out,
    weak_passwords_are_refused,
);

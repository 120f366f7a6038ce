//! The API end to end against a real server, on both backends.

use crate::common;
use murakumo_resident_store::ResidentReads;
use murakumo_seal_store::SealReads;

use common::{B_MARKERS, Db, TestServer, b_resident, tenant_a, tenant_b};
use murakumo_store::Chain;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every (method, path) the OpenAPI document lists.
fn documented() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(murakumo_server::openapi()).expect("openapi json");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in ["get", "post", "put", "delete", "patch"] {
            if item.get(m).is_some() {
                out.push((m.to_uppercase().parse().expect("method"), path.clone()));
            }
        }
    }
    assert!(out.len() >= 20, "the API has its routes: {out:?}");
    out
}

/// The OpenAPI document says how a client authenticates: a bearer token or the session
/// cookie, one of them required by default on every route.
#[test]
fn the_openapi_document_declares_how_to_authenticate() {
    let doc = serde_json::to_value(murakumo_server::openapi()).expect("openapi json");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["cookie"]["type"], "apiKey", "{schemes}");
    assert_eq!(schemes["cookie"]["in"], "cookie", "{schemes}");
    assert_eq!(schemes["cookie"]["name"], "murakumo_session", "{schemes}");
    assert_eq!(
        doc["security"],
        json!([{ "bearer": [] }, { "cookie": [] }]),
        "{}",
        doc["security"]
    );
}

/// A concrete request for a documented route, aimed at tenant B's data
/// wherever the route takes an identifier.
fn aimed_at_b(path: &str) -> String {
    let filled = path
        .replace("{resident_code}", &b_resident())
        .replace("{staff_id}", &format!("s-admin-{}", tenant_b()))
        .replace("{code}", tenant_b().as_str())
        .replace("{prefecture}", "01")
        .replace("{key}", "login.max_failures")
        .replace("{household_id}", "H-秘匿野")
        .replace("{registration_number}", common::B_SEAL);
    let query = format!(
        "kana=ヒトクノ&name=秘匿野&subject=resident:{}&limit=100&registration_number={}&card_number=B-CARD-1&include_cancelled=true",
        b_resident(),
        common::B_SEAL
    );
    format!("{filled}?{query}")
}

fn body_for(method: &Method, path: &str) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(match path {
        "/api/v1/settings/{key}" => json!({"value": "9", "reason": "isolation test"}),
        "/api/v1/staff" => {
            json!({"login": "intruder", "display_name": "侵入", "roles": ["auditor"], "password": "intruder password 123"})
        }
        "/api/v1/staff/{staff_id}/roles" => json!({"roles": ["auditor"]}),
        "/api/v1/residents" => json!({
            "resident_code": b_resident(), "family_name": "侵入", "family_kana": "シンニユウ",
            "birth_date": "1990-01-01", "sex_code": 1, "address": "どこか", "relationship": "世帯主", "honseki": "x",
            "reason": "move_in", "previous_address": "x", "effective_date": "2026-01-01"
        }),
        "/api/v1/residents/{resident_code}/changes" => {
            json!({"change": "relocate", "address": "乗っ取り", "effective_date": "2026-01-01"})
        }
        "/api/v1/tenants" => json!({"code": tenant_b().to_string(), "name": "乗っ取り"}),
        "/api/v1/seals" => json!({"resident_code": b_resident(), "card_number": "B-CARD-2",
            "impression_png": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, murakumo_seal::sample_impression(5))}),
        "/api/v1/seals/{registration_number}/cancel" => json!({"reason": "card_lost"}),
        "/api/v1/certificates" => {
            json!({"kind": "seal", "card_number": "B-CARD-1", "requester": "本人", "purpose": "x"})
        }
        "/api/v1/session" => {
            json!({"tenant": tenant_b().to_string(), "login": "all", "password": "wrong password!!"})
        }
        _ => json!({}),
    })
}

/// What tenant B has, to prove nothing of it changed.
async fn b_state(s: &TestServer) -> (u64, u64, u64, String) {
    let ts = s.store.tenant(&tenant_b());
    let staff = ts.staff_list().await.expect("staff");
    (
        ts.head(Chain::Ledger).await.expect("head").seq,
        ts.count_residents().await.expect("count"),
        staff.len() as u64,
        format!("{:?}", staff),
    )
}

async fn staff_of_a_cannot_reach_b_by_any_route(db: Db) {
    let s = TestServer::start(db).await;
    let before = b_state(&s).await;
    let b_access_before = s
        .store
        .tenant(&tenant_b())
        .head(Chain::Access)
        .await
        .expect("head")
        .seq;
    let mut routes = documented();
    // Log out last, so the sweep runs with a live session.
    routes.sort_by_key(|(m, p)| (*m == Method::DELETE && p == "/api/v1/session", p.clone()));
    for login in ["all", "admin", "auditor"] {
        let client = s.login(Some(&tenant_a()), login).await;
        for (method, path) in &routes {
            let url = s.url(&aimed_at_b(path));
            let mut req = client.request(method.clone(), &url);
            if let Some(body) = body_for(method, path) {
                req = req.json(&body);
            }
            let resp = req.send().await.expect("send");
            let status = resp.status();
            let text = resp.text().await.expect("body");
            // A's own 検索履歴 shows back the conditions A typed (every request of this
            // sweep carries B's names as conditions): those are A's, not B's data.
            let own_history = path == "/api/v1/search-history";
            for marker in B_MARKERS {
                if own_history && url.contains(marker) {
                    continue;
                }
                assert!(
                    !text.contains(marker),
                    "{login} of A got B's data ({marker}) from {method} {path}: {status} {text}"
                );
            }
            assert_ne!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {path}: {text}"
            );
        }
    }
    assert_eq!(b_state(&s).await, before, "tenant B is unchanged");
    assert_eq!(
        s.store
            .tenant(&tenant_b())
            .head(Chain::Access)
            .await
            .expect("head")
            .seq,
        b_access_before,
        "nothing was logged as an access to B"
    );
    // And A's own view is A's: its 5 residents plus the 転入 the sweep
    // recorded in A (住民票コード stay with a person across moves, so A may
    // record one that B also has), never B's.
    let a = s.login(Some(&tenant_a()), "all").await;
    let count: Value = a
        .get(s.url("/api/v1/residents/count"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(count["count"], 6);
    let staff: Value = a
        .get(s.url("/api/v1/staff"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = staff
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|st| st["staff_id"].as_str())
        .collect();
    assert!(
        ids.len() >= 4 && ids.iter().all(|id| !id.ends_with(tenant_b().as_str())),
        "{ids:?}"
    );
    s.stop().await;
}

async fn every_documented_route_is_served(db: Db) {
    let s = TestServer::start(db).await;
    let client = reqwest::Client::new();
    for (method, path) in documented() {
        let resp = client
            .request(method.clone(), s.url(&aimed_at_b(&path)))
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"]["code"], "route_not_found",
            "{method} {path} is documented but not served"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    // Something undocumented is not served.
    let resp = client
        .get(s.url("/api/v1/secret-backdoor"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

async fn errors_have_one_shape_with_the_request_id(db: Db) {
    let s = TestServer::start(db).await;
    let client = s.login(Some(&tenant_a()), "admin").await;
    let resp = client
        .put(s.url("/api/v1/settings/login.max_failures"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let rid = resp.headers()["x-request-id"]
        .to_str()
        .expect("header")
        .to_string();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(body["error"]["request_id"], rid.as_str());
    let resp = client
        .put(s.url("/api/v1/settings/login.max_failures"))
        .json(&json!({"value": "2"}))
        .send()
        .await
        .expect("send");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid");
    assert_eq!(body["error"]["field"], "value");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("3から20までの整数"),
        "{body}"
    );
    let resp = reqwest::Client::new()
        .post(s.url("/api/v1/tenants"))
        .json(&json!({"code": "012288", "name": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

async fn operator_creates_tenants_and_bad_codes_are_refused(db: Db) {
    let s = TestServer::start(db).await;
    let op = s.login(None, "op").await;
    let resp = op
        .post(s.url("/api/v1/tenants"))
        .json(&json!({"code": "131017", "name": "千代田区"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["field"], "code");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("ほかの桁から計算すると 6"),
        "{body}"
    );
    let resp = op
        .post(s.url("/api/v1/tenants"))
        .json(&json!({"code": "131016", "name": "千代田区"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let t: Value = resp.json().await.expect("json");
    assert_eq!(t["prefecture_name"], "東京都");
    let list: Value = op
        .get(s.url("/api/v1/tenants"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().expect("list").len(), 3);
    let again = op
        .post(s.url("/api/v1/tenants"))
        .json(&json!({"code": "131016", "name": "千代田区"}))
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // Operators read no personal data.
    let resp = op
        .get(s.url("/api/v1/residents/count"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let v: Value = op
        .post(s.url(&format!("/api/v1/tenants/{}/verify", tenant_a())))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["ledger_head_seq"], 10);
    s.stop().await;
}

async fn settings_resolve_in_tiers_with_history(db: Db) {
    let s = TestServer::start(db).await;
    let op = s.login(None, "op").await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let tier = |list: &Value, key: &str| {
        let item = list
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["key"] == key)
            .cloned()
            .expect("present");
        (
            item["value"].as_str().map(str::to_string),
            item["tier"].as_str().expect("tier").to_string(),
        )
    };
    let key = "tax.light_vehicle.due_date";
    let list: Value = admin
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(tier(&list, key), (Some("05-31".into()), "standard".into()));
    let r = op
        .put(s.url(&format!("/api/v1/prefectures/01/settings/{key}")))
        .json(&json!({"value": "6-1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Value = admin
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        tier(&list, key),
        (Some("06-01".into()), "prefecture".into())
    );
    let r = admin
        .put(s.url(&format!("/api/v1/settings/{key}")))
        .json(&json!({"value": "06-30", "reason": "条例改正"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Value = admin
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(tier(&list, key), (Some("06-30".into()), "municipal".into()));
    // Tenant B (same prefecture) gets the 県版 value, not A's.
    let b = s.login(Some(&tenant_b()), "admin").await;
    let list: Value = b
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        tier(&list, key),
        (Some("06-01".into()), "prefecture".into())
    );
    admin
        .put(s.url(&format!("/api/v1/settings/{key}")))
        .json(&json!({"value": null, "reason": "戻す"}))
        .send()
        .await
        .expect("send");
    let list: Value = admin
        .get(s.url("/api/v1/settings"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(tier(&list, key).1, "prefecture");
    let history: Value = admin
        .get(s.url(&format!("/api/v1/settings/history?key={key}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let h = history.as_array().expect("list");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["reason"], "条例改正");
    assert_eq!(h[1]["value"], Value::Null);
    assert_eq!(h[0]["actor"], format!("staff:s-admin-{}", tenant_a()));
    // A value decided now for the next 年度 is in force only from its 適用開始日.
    let fee = "certificate.fee_yen.resident_copy";
    let today = murakumo_core::today_in_japan();
    let next_year =
        chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today) + 1, 4, 1).expect("date");
    let r = admin
        .put(s.url(&format!("/api/v1/settings/{fee}")))
        .json(&json!({"value": "350", "reason": "手数料条例の改正", "effective_from": next_year}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let on = |date: Option<chrono::NaiveDate>| {
        let url = match date {
            Some(d) => s.url(&format!("/api/v1/settings?on={d}")),
            None => s.url("/api/v1/settings"),
        };
        let req = admin.get(url);
        async move {
            req.send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(
        tier(&on(None).await, fee),
        (Some("300".into()), "standard".into()),
        "not yet"
    );
    assert_eq!(
        tier(&on(next_year.pred_opt()).await, fee),
        (Some("300".into()), "standard".into())
    );
    assert_eq!(
        tier(&on(Some(next_year)).await, fee),
        (Some("350".into()), "municipal".into())
    );
    // A national rate set each year is the one in force on the day asked.
    let rate = "tax.late_fee.special_base_rate";
    let in_2025 = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
    assert_eq!(
        tier(&on(Some(in_2025)).await, rate),
        (Some("1.4".into()), "standard".into())
    );
    // 県版 values are not dated.
    let r = op
        .put(s.url(&format!("/api/v1/prefectures/01/settings/{fee}")))
        .json(&json!({"value": "250", "effective_from": next_year}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A clerk may not change settings.
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let r = clerk
        .put(s.url(&format!("/api/v1/settings/{key}")))
        .json(&json!({"value": "06-30"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.stop().await;
}

async fn reads_of_personal_data_are_in_the_access_log(db: Db) {
    let s = TestServer::start(db).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let code = common::resident_code(1_000_000_002);
    let r = clerk
        .get(s.url(&format!("/api/v1/residents/{code}")))
        .header("x-purpose", "住民票の写し交付")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_string();
    let found: Value = clerk
        .get(s.url("/api/v1/residents?kana=ヤマ"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(found.as_array().expect("list").len(), 5);
    // The clerk cannot read the log; the auditor can, and sees who, whom, why.
    assert_eq!(
        clerk
            .get(s.url("/api/v1/access-log"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::FORBIDDEN
    );
    let auditor = s.login(Some(&tenant_a()), "auditor").await;
    let log: Value = auditor
        .get(s.url(&format!("/api/v1/access-log?subject=resident:{code}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let rows = log.as_array().expect("list");
    assert_eq!(rows.len(), 2, "one read and one search result: {log}");
    let read = rows
        .iter()
        .find(|r| r["action"] == "read")
        .expect("read logged");
    assert_eq!(read["actor"], format!("staff:s-clerk-{}", tenant_a()));
    assert_eq!(read["purpose"], "住民票の写し交付");
    assert_eq!(read["request_id"], rid.as_str());
    let searches: Value = auditor
        .get(s.url("/api/v1/access-log?action=search&subject=search:kana=ヤマ"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(searches.as_array().expect("list").len(), 1);
    let v: Value = auditor
        .post(s.url("/api/v1/ledger/verify"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        v["access_head_seq"], 7,
        "1 read + 1 search + 5 results: {v}"
    );
    s.stop().await;
}

async fn failed_logins_lock_the_account(db: Db) {
    let s = TestServer::start(db).await;
    let a = tenant_a();
    for _ in 0..5 {
        let (status, body) = s
            .token(Some(&a), "clerk", "wrong password!!")
            .await
            .expect_err("refused");
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, body) = s
        .token(Some(&a), "clerk", common::PASSWORD)
        .await
        .expect_err("locked");
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("ロックされています")
    );
    // The lock is per account: another account of the same tenant logs in.
    assert!(s.token(Some(&a), "auditor", common::PASSWORD).await.is_ok());
    // An unknown login and a wrong password look the same.
    let (_, unknown) = s
        .token(Some(&a), "nobody", "wrong password!!")
        .await
        .expect_err("refused");
    let (_, wrong) = s
        .token(Some(&a), "admin", "wrong password!!")
        .await
        .expect_err("refused");
    assert_eq!(unknown["error"]["message"], wrong["error"]["message"]);
    s.stop().await;
}

async fn logout_ends_the_session_on_the_server(db: Db) {
    let s = TestServer::start(db).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    assert_eq!(
        clerk
            .get(s.url("/api/v1/session"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        clerk
            .delete(s.url("/api/v1/session"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        clerk
            .get(s.url("/api/v1/session"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

async fn staff_accounts_are_managed_by_the_admin(db: Db) {
    let s = TestServer::start(db).await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let r = admin
        .post(s.url("/api/v1/staff"))
        .json(&json!({"login": "newclerk", "display_name": "新人 窓口", "roles": ["resident.clerk"], "password": "a long enough password"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let created: Value = r.json().await.expect("json");
    let id = created["staff_id"].as_str().expect("id").to_string();
    let dup = admin
        .post(s.url("/api/v1/staff"))
        .json(&json!({"login": "newclerk", "display_name": "x", "roles": [], "password": "a long enough password"}))
        .send()
        .await
        .expect("send");
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let bad = admin
        .post(s.url("/api/v1/staff"))
        .json(&json!({"login": "x2", "display_name": "x", "roles": ["mayor"], "password": "short"}))
        .send()
        .await
        .expect("send");
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["field"], "login");
    assert!(
        s.token(Some(&tenant_a()), "newclerk", "a long enough password")
            .await
            .is_ok()
    );
    assert_eq!(
        admin
            .post(s.url(&format!("/api/v1/staff/{id}/disable")))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        s.token(Some(&tenant_a()), "newclerk", "a long enough password")
            .await
            .is_err()
    );
    s.stop().await;
}

async fn resident_changes_history_and_protection(db: Db) {
    let s = TestServer::start(db).await;
    let a = tenant_a();
    let clerk = s.login(Some(&a), "clerk").await;
    let all = s.login(Some(&a), "all").await;
    let code = common::resident_code(1_000_000_050);
    let today = murakumo_core::today_in_japan();
    let post = |c: &reqwest::Client, path: String, body: Value| {
        let req = c.post(s.url(&path)).json(&body);
        async move {
            let r = req.send().await.expect("send");
            let status = r.status();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    // 転入, reported 30 days late: recorded, with a warning.
    let moved_in = (today - chrono::Duration::days(30)).to_string();
    let (st, body) = post(&clerk, "/api/v1/residents".into(), json!({
        "resident_code": code, "relationship": "世帯主", "family_name": "髙橋", "given_name": "一郎",
        "family_kana": "タカハシ", "given_kana": "イチロウ", "birth_date": "1970-07-07", "sex_code": 1,
        "honseki": "北海道深川市1条", "hittosha": "髙橋一郎", "address": "北海道深川市3条3番3号", "katagaki": "ハイツ101",
        "reason": "move_in", "previous_address": "札幌市北区", "effective_date": moved_in
    })).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        body["warnings"][0]["message"]
            .as_str()
            .expect("warning")
            .contains("届出期間"),
        "{body}"
    );
    let household = body["resident"]["household_id"]
        .as_str()
        .expect("household")
        .to_string();
    // The same person again: refused.
    let (st, _) = post(&clerk, "/api/v1/residents".into(), json!({
        "resident_code": code, "relationship": "世帯主", "family_name": "髙橋", "family_kana": "タカハシ",
        "birth_date": "1970-07-07", "sex_code": 1, "honseki": "x", "address": "x", "reason": "move_in",
        "previous_address": "x", "effective_date": today.to_string()
    })).await;
    assert_eq!(st, StatusCode::CONFLICT);
    // 転居 today.
    let changes = format!("/api/v1/residents/{code}/changes");
    let (st, body) = post(&clerk, changes.clone(), json!({"change": "relocate", "address": "北海道深川市7条7番7号", "effective_date": today.to_string()})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // A future death is refused; a clerk may not 職権修正.
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let (st, body) = post(
        &clerk,
        changes.clone(),
        json!({"change": "death", "effective_date": tomorrow}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "effective_date");
    let (st, _) = post(&clerk, changes.clone(), json!({"change": "correct", "field": "given_kana", "value": "イチロー", "reason": "戸籍照合", "effective_date": today.to_string()})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Search by the folded kanji name finds him; as of before the 転居 shows the old address.
    let found: Value = clerk
        .get(s.url("/api/v1/residents?name=高橋"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(found.as_array().expect("list").len(), 1, "{found}");
    let before = (today - chrono::Duration::days(1)).to_string();
    let then: Value = clerk
        .get(s.url(&format!("/api/v1/residents/{code}?as_of={before}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(then["address"], "北海道深川市3条3番3号");
    let history: Value = clerk
        .get(s.url(&format!("/api/v1/residents/{code}/history")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let labels: Vec<&str> = history
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|h| h["label"].as_str())
        .collect();
    assert_eq!(labels, vec!["転入", "転居"]);
    let members: Value = clerk
        .get(s.url(&format!("/api/v1/households/{household}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(members.as_array().expect("list").len(), 1);

    // 支援措置 (supervisor): left out of the clerk's search, refused in
    // detail and logged.
    let until = (today + chrono::Duration::days(365)).to_string();
    let (st, body) = post(&all, changes.clone(), json!({"change": "protect", "until": until, "reason": "DV", "effective_date": today.to_string()})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let masked: Value = clerk
        .get(s.url("/api/v1/residents?name=高橋"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        masked.as_array().expect("list").len(),
        0,
        "a protected person is not even listed for a clerk: {masked}"
    );
    assert!(
        !masked.to_string().contains("深川市7条"),
        "no protected data in the list"
    );
    let r = clerk
        .get(s.url(&format!("/api/v1/residents/{code}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let seen: Value = all
        .get(s.url(&format!("/api/v1/residents/{code}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["protected"], true);
    let auditor = s.login(Some(&a), "auditor").await;
    let log: Value = auditor
        .get(s.url(&format!(
            "/api/v1/access-log?subject=resident:{code}&action=read"
        )))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(
        log.as_array()
            .expect("list")
            .iter()
            .any(|l| l["detail"] == "refused: 支援措置"
                && l["actor"] == format!("staff:s-clerk-{a}")),
        "{log}"
    );

    // 死亡 today: a 除票, found only when asked, still readable, no more 転居.
    let (st, _) = post(&all, changes.clone(), json!({"change": "unprotect", "reason": "期間満了前の終了申出", "effective_date": today.to_string()})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = post(
        &clerk,
        changes.clone(),
        json!({"change": "death", "effective_date": today.to_string()}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = post(
        &clerk,
        changes.clone(),
        json!({"change": "relocate", "address": "x", "effective_date": today.to_string()}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let current: Value = clerk
        .get(s.url("/api/v1/residents?name=高橋"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(current.as_array().expect("list").is_empty());
    let removed: Value = clerk
        .get(s.url("/api/v1/residents?name=高橋&include_removed=true"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(removed[0]["status"], "removed");
    s.stop().await;
}

async fn certificates_are_issued_signed_and_verifiable(db: Db) {
    let s = TestServer::start(db).await;
    let a = tenant_a();
    let admin = s.login(Some(&a), "admin").await;
    let clerk = s.login(Some(&a), "clerk").await;
    let household = "H-山田";
    let request = json!({"kind": "resident_copy", "household_id": household, "requester": "本人", "purpose": "勤務先提出"});
    // Without the issuer's title and name there is nothing to sign as.
    let r = clerk
        .post(s.url("/api/v1/certificates"))
        .json(&request)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    s.set_issuer(&a).await;
    // The QR code links to the municipality's verification page: a setting, so that every
    // node issuing for it prints the same link. Only a plain web address is taken.
    for bad in [
        "javascript:alert(1)",
        "https://x.example/verify#frag",
        "ftp://x.example/",
    ] {
        let (st, body) = s.put_setting(&admin, "certificate.verify_url", bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "value", "{body}");
    }
    let (st, body) = s
        .put_setting(&admin, "certificate.verify_url", &s.url("/verify"))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let issue = |body: Value| {
        let req = clerk.post(s.url("/api/v1/certificates")).json(&body);
        async move {
            let r = req.send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{:?}", r.headers());
            assert_eq!(r.headers()["content-type"], "application/pdf");
            let number = r.headers()["x-issue-number"]
                .to_str()
                .expect("number")
                .to_string();
            let digest = r.headers()["x-certified-digest"]
                .to_str()
                .expect("digest")
                .to_string();
            (number, digest, r.bytes().await.expect("pdf").to_vec())
        }
    };
    let (n1, d1, pdf1) = issue(request.clone()).await;
    let (n2, d2, _) = issue(request.clone()).await;
    assert_ne!(n1, n2, "every certificate has its own 発行番号");
    assert_eq!(d1, d2, "the same request certifies the same content");
    assert!(pdf1.starts_with(b"%PDF-"));

    // Anyone can verify it; the answer discloses no personal data.
    let verify = |pdf: Vec<u8>| {
        let req = reqwest::Client::new()
            .post(s.url("/api/v1/public/verify-certificate"))
            .header("content-type", "application/pdf")
            .body(pdf);
        async move {
            req.send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let v = verify(pdf1.clone()).await;
    assert_eq!(v["genuine"], true, "{v}");
    assert_eq!(v["issue_number"], n1.as_str());
    assert!(
        !v.to_string().contains("山田") && !v.to_string().contains("花子"),
        "{v}"
    );
    // Who issued what, in plain Japanese with the 和暦 date.
    assert_eq!(v["tenant_name"], "深川市", "{v}");
    assert_eq!(v["title"], "住民票の写し", "{v}");
    let wareki = v["issue_date_wareki"].as_str().expect("wareki").to_string();
    assert!(wareki.starts_with("令和"), "{v}");
    let message = v["message"].as_str().expect("message");
    assert!(
        message.contains("真正な証明書です")
            && message.contains("深川市")
            && message.contains(&wareki)
            && message.contains("印字された内容"),
        "{message}"
    );

    // The QR code: the link to this platform's /verify page with the signed code, which the
    // public API checks against the signature and the ledger.
    let read = murakumo_documents::CertificatePdf::read(&pdf1, murakumo_documents::Limits::DEFAULT)
        .expect("reads");
    let code = read.payload().to_string();
    let verify_code = |code: String| {
        let req = reqwest::Client::new()
            .post(s.url("/api/v1/public/verify-code"))
            .json(&json!({ "code": code }));
        async move {
            req.send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    for scanned in [
        code.clone(),
        s.url(&format!("/verify#{code}")),
        s.url(&format!("/verify#{}", code.replace('|', "%7C"))),
    ] {
        let v = verify_code(scanned.clone()).await;
        assert_eq!(v["genuine"], true, "{scanned}: {v}");
        assert_eq!(v["tenant_name"], "深川市");
        assert_eq!(v["issue_number"], n1.as_str());
        assert_eq!(v["title"], "住民票の写し");
        let m = v["message"].as_str().expect("message");
        assert!(
            m.contains("台帳にこの交付が同じ内容で記録")
                && m.contains("紙面の記載事項は含まれない"),
            "says what was and was not checked: {m}"
        );
        assert!(!v.to_string().contains("山田"), "{v}");
    }
    // A code whose content or number was changed is refused, and a code of a municipality
    // that is not on the platform tells nothing of the others.
    let mut parts: Vec<String> = code.split('|').map(str::to_string).collect();
    parts[6] = "0".repeat(64);
    let v = verify_code(parts.join("|")).await;
    assert_eq!(v["genuine"], false, "{v}");
    assert!(
        v["message"].as_str().expect("m").contains("偽造の疑い"),
        "{v}"
    );
    let mut parts: Vec<String> = code.split('|').map(str::to_string).collect();
    parts[2] = n2.clone();
    let v = verify_code(parts.join("|")).await;
    assert_eq!(
        v["genuine"], false,
        "another 発行番号 under the same signature: {v}"
    );
    let v = verify_code(code.replacen(&a.to_string(), "131016", 1)).await;
    assert_eq!(v["genuine"], false, "{v}");
    assert_eq!(v["tenant_name"], Value::Null, "{v}");
    let v = verify_code("これはQRコードではない".into()).await;
    assert_eq!(v["genuine"], false);
    assert!(
        v["message"].as_str().expect("m").contains("読み取れません"),
        "{v}"
    );
    let mut forged = pdf1.clone();
    let at = forged
        .windows(4)
        .position(|w| w == b"MKC2")
        .expect("payload");
    forged[at + 10] ^= 0x01;
    assert_eq!(verify(forged).await["genuine"], false);
    assert_eq!(verify(b"not a pdf".to_vec()).await["genuine"], false);

    // Rotation: old certificates keep verifying; new ones use the new key.
    let old_keys: Value = reqwest::get(s.url(&format!("/api/v1/public/tenants/{a}/signing-keys")))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(old_keys.as_array().expect("keys").len(), 1);
    let rotated: Value = admin
        .post(s.url("/api/v1/signing-keys/rotate"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(verify(pdf1).await["genuine"], true);
    let (_, _, pdf3) = issue(request.clone()).await;
    assert_eq!(verify(pdf3).await["key_id"], rotated["key_id"]);

    // The ledger and the access log hold every issuance.
    let auditor = s.login(Some(&a), "auditor").await;
    let log: Value = auditor
        .get(s.url("/api/v1/access-log?action=issue"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        log.as_array().expect("list").len(),
        15,
        "3 certificates × 5 members: {log}"
    );

    // 支援措置: refused to a third party, with the refusal logged.
    let code = common::resident_code(1_000_000_001);
    let all = s.login(Some(&a), "all").await;
    let today = murakumo_core::today_in_japan();
    let r = all.post(s.url(&format!("/api/v1/residents/{code}/changes")))
        .json(&json!({"change": "protect", "until": (today + chrono::Duration::days(365)).to_string(), "reason": "DV", "effective_date": today.to_string()}))
        .send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let third = json!({"kind": "resident_copy", "resident_codes": [code], "requester": "第三者", "purpose": "債権回収"});
    let r = all
        .post(s.url("/api/v1/certificates"))
        .json(&third)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let refused: Value = auditor
        .get(s.url(&format!(
            "/api/v1/access-log?action=issue&subject=resident:{code}"
        )))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(
        refused
            .as_array()
            .expect("list")
            .iter()
            .any(|l| l["detail"] == "refused: 支援措置"),
        "{refused}"
    );
    let own = json!({"kind": "resident_copy", "resident_codes": [code], "requester": "本人", "purpose": "本人確認"});
    assert_eq!(
        all.post(s.url("/api/v1/certificates"))
            .json(&own)
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        clerk
            .post(s.url("/api/v1/certificates"))
            .json(&own)
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::FORBIDDEN,
        "a clerk does not handle protected residents"
    );
    s.stop().await;
}

/// 印鑑登録: register, one per person, the 印鑑登録証明書 with the card,
/// 亡失 voids the card, removal of the resident ends it ex officio, and
/// cancelled registrations stay searchable.
async fn seals_are_registered_certified_and_cancelled(db: Db) {
    use base64::Engine;
    let s = TestServer::start(db).await;
    let a = tenant_a();
    let admin = s.login(Some(&a), "admin").await;
    let clerk = s.login(Some(&a), "clerk").await;
    let all = s.login(Some(&a), "all").await;
    s.set_issuer(&a).await;
    // The 公印: only a real image is accepted, and only from the administrator.
    let official = murakumo_seal::sample_impression(1);
    let put = |who: &reqwest::Client, body: Vec<u8>| {
        who.put(s.url("/api/v1/official-seal"))
            .header("content-type", "image/png")
            .body(body)
            .send()
    };
    assert_eq!(
        put(&clerk, official.clone()).await.expect("send").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&admin, b"not a png".to_vec())
            .await
            .expect("send")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put(&admin, official.clone()).await.expect("send").status(),
        StatusCode::NO_CONTENT
    );
    let got = clerk
        .get(s.url("/api/v1/official-seal"))
        .send()
        .await
        .expect("send");
    assert_eq!(got.bytes().await.expect("png").to_vec(), official);
    // Replacing it needs a reason (percent-encoded UTF-8 in x-reason).
    let changed = murakumo_seal::sample_impression(2);
    assert_eq!(
        put(&admin, changed.clone()).await.expect("send").status(),
        StatusCode::BAD_REQUEST,
        "a 公印 change without a reason"
    );
    let current = |who: &reqwest::Client| who.get(s.url("/api/v1/official-seal")).send();
    let got = current(&clerk).await.expect("send");
    assert_eq!(
        got.bytes().await.expect("png").to_vec(),
        official,
        "unchanged"
    );
    let r = admin
        .put(s.url("/api/v1/official-seal"))
        .header("content-type", "image/png")
        .header("x-reason", "%E6%96%B0%E5%B8%82%E9%95%B7%E5%B0%B1%E4%BB%BB")
        .body(changed.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let got = current(&clerk).await.expect("send");
    assert_eq!(got.bytes().await.expect("png").to_vec(), changed);

    let code = common::resident_code(1_000_000_002);
    let png =
        base64::engine::general_purpose::STANDARD.encode(murakumo_seal::sample_impression(42));
    let register = |card: &str, png: &str| {
        clerk
            .post(s.url("/api/v1/seals"))
            .json(&json!({"resident_code": code, "card_number": card, "impression_png": png}))
            .send()
    };
    // Back-dated to before the registrant lived here (転入 2026-04-01): refused (a migration
    // import checks a registration as of its 登録日, and so does the counter).
    let r = clerk
        .post(s.url("/api/v1/seals"))
        .json(&json!({"resident_code": code, "card_number": "A-099", "impression_png": png, "effective_date": "2020-01-01"}))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = register("A-100", &png).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let seal: Value = r.json().await.expect("json");
    let number = seal["registration_number"]
        .as_str()
        .expect("number")
        .to_string();
    assert!(number.starts_with("S-"), "{seal}");
    assert_eq!(seal["status"], "active");
    // One seal per person; a broken image says what is wrong with it.
    let r = register("A-101", &png).await.expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = clerk
        .post(s.url("/api/v1/seals"))
        .json(&json!({"resident_code": common::resident_code(1_000_000_003), "card_number": "A-101", "impression_png": "aGVsbG8="}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "impression", "{body}");
    // A scan that does not record its resolution cannot print at its real size: refused at
    // the counter, saying what to do.
    let mut no_dpi = murakumo_seal::sample_impression(43);
    let at = no_dpi
        .windows(4)
        .position(|w| w == b"pHYs")
        .expect("the sample records its resolution");
    no_dpi.drain(at - 4..at + 17);
    let r = clerk
        .post(s.url("/api/v1/seals"))
        .json(
            &json!({"resident_code": common::resident_code(1_000_000_003), "card_number": "A-102",
            "impression_png": base64::engine::general_purpose::STANDARD.encode(&no_dpi)}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "impression", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("解像度")),
        "{body}"
    );

    // 印鑑登録証明書 with the card and the 申請書's 氏名・生年月日 of the registrant (山田 花子,
    // 1980-05-05): the 印影 and 登録番号 are certified.
    let cert_for = |card: &str, name: &str, birth: &str| {
        clerk
            .post(s.url("/api/v1/certificates"))
            .json(&json!({"kind": "seal", "card_number": card, "requester": "本人", "purpose": "不動産登記",
                "applicant_name": name, "applicant_birth_date": birth}))
            .send()
    };
    let cert = |card: &str| cert_for(card, "やまだ　はなこ", "1980-05-05");
    // The card alone is not enough: a wrong name or birth date is refused, naming the field
    // and never the registered items.
    for (name, birth, field) in [
        ("山田太郎", "1980-05-05", "applicant_name"),
        ("山田花子", "1980-05-06", "applicant_birth_date"),
    ] {
        let r = cert_for("A-100", name, birth).await.expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(!body.to_string().contains("花子"), "{body}");
    }
    let r = clerk
        .post(s.url("/api/v1/certificates"))
        .json(&json!({"kind": "seal", "card_number": "A-100", "requester": "本人", "purpose": "不動産登記"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = cert("A-100").await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["x-issue-number"]
            .to_str()
            .expect("number")
            .ends_with("-0000001"),
        "the refused requests took no 発行番号: {:?}",
        r.headers()
    );
    let pdf = r.bytes().await.expect("pdf").to_vec();
    let v: Value = reqwest::Client::new()
        .post(s.url("/api/v1/public/verify-certificate"))
        .header("content-type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["genuine"], true, "{v}");
    assert_eq!(
        cert("NO-SUCH").await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    let imp = clerk
        .get(s.url(&format!("/api/v1/seals/{number}/impression")))
        .send()
        .await
        .expect("send");
    assert_eq!(imp.headers()["content-type"], "image/png");

    // A card presented for another registration than the one on screen is refused.
    let r = clerk
        .post(s.url("/api/v1/certificates"))
        .json(
            &json!({"kind": "seal", "card_number": "A-100", "registration_number": "S-9999999",
            "requester": "本人", "purpose": "不動産登記"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "card_number", "{body}");

    // On the screen, ending a registration asks for a confirmation first: nothing ends
    // until the clerk confirms.
    let screen = clerk
        .post(s.url(&format!("/seals/{number}/cancel")))
        .form(&[("reason", "card_lost")])
        .send()
        .await
        .expect("send");
    assert_eq!(screen.status(), StatusCode::OK);
    let html = screen.text().await.expect("html");
    assert!(
        html.contains("終了の確認") && html.contains("name=\"confirm\" value=\"yes\""),
        "{html}"
    );
    assert_eq!(
        cert("A-100").await.expect("send").status(),
        StatusCode::OK,
        "still in force before the confirmation"
    );

    // 亡失: the card is void at once; the registration stays searchable.
    let r = clerk
        .post(s.url(&format!("/api/v1/seals/{number}/cancel")))
        .json(&json!({"reason": "card_lost"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        cert("A-100").await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    let again = clerk
        .post(s.url(&format!("/api/v1/seals/{number}/cancel")))
        .json(&json!({"reason": "abolished"}))
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let search = |q: String| clerk.get(s.url(&format!("/api/v1/seals?{q}"))).send();
    let active: Value = search(format!("resident_code={code}"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(active.as_array().expect("list").len(), 0);
    let history: Value = search(format!("resident_code={code}&include_cancelled=true"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(history[0]["cancel_reason"], "亡失", "{history}");

    // The lost card's number is never valid again, not even for the same person.
    let r = register("A-100", &png).await.expect("send");
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a lost card's number reused"
    );
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("亡失")),
        "{body}"
    );

    // A new registration, then the resident moves out: 職権抹消 with it.
    let r = register("A-102", &png).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    // Refused requests took no number: this is the second registration.
    let second: Value = r.json().await.expect("json");
    assert_eq!(
        second["registration_number"], "S-0000002",
        "first was {number}"
    );
    let today = murakumo_core::today_in_japan().to_string();
    let r = all
        .post(s.url(&format!("/api/v1/residents/{code}/changes")))
        .json(&json!({"change": "move_out", "destination": "札幌市", "effective_date": today}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        cert("A-102").await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    let history: Value = search("card_number=A-102&include_cancelled=true".to_string())
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(
        history[0]["cancel_reason"]
            .as_str()
            .expect("reason")
            .starts_with("職権抹消"),
        "{history}"
    );
    // A removed resident cannot register.
    assert_eq!(
        register("A-103", &png).await.expect("send").status(),
        StatusCode::BAD_REQUEST
    );

    // The projections rebuild to the same seals, certificates and 公印.
    let ts = s.store.tenant(&a);
    let before = (
        ts.seals_of_resident(&code).await.expect("seals"),
        ts.official_seal().await.expect("seal"),
    );
    ts.rebuild_projections().await.expect("rebuild");
    assert_eq!(
        (
            ts.seals_of_resident(&code).await.expect("seals"),
            ts.official_seal().await.expect("seal")
        ),
        before
    );
    s.stop().await;
}

/// 印鑑登録事務 M-INKAN-22 (標準オプション): the month's 印鑑登録 statistics — registrations
/// in force at its end, registered, ended by reason, 印鑑登録証明書 issued — counted from
/// the ledger, on the API (JSON and CSV) and the statistics screen; a month to come is refused.
async fn seal_statistics_count_the_month(db: Db) {
    use base64::Engine;
    let s = TestServer::start(db).await;
    let a = tenant_a();
    let admin = s.login(Some(&a), "admin").await;
    let clerk = s.login(Some(&a), "clerk").await;
    s.set_issuer(&a).await;
    let r = admin
        .put(s.url("/api/v1/official-seal"))
        .header("content-type", "image/png")
        .body(murakumo_seal::sample_impression(1))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mut numbers = Vec::new();
    for (n, card) in [(1_000_000_002u64, "A-200"), (1_000_000_003, "A-201")] {
        let png =
            base64::engine::general_purpose::STANDARD.encode(murakumo_seal::sample_impression(n));
        let r = clerk
            .post(s.url("/api/v1/seals"))
            .json(&json!({"resident_code": common::resident_code(n), "card_number": card, "impression_png": png}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        let seal: Value = r.json().await.expect("json");
        numbers.push(
            seal["registration_number"]
                .as_str()
                .expect("number")
                .to_string(),
        );
    }
    let r = clerk
        .post(s.url(&format!("/api/v1/seals/{}/cancel", numbers[1])))
        .json(&json!({"reason": "card_lost"}))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    let r = clerk
        .post(s.url("/api/v1/certificates"))
        .json(&json!({"kind": "seal", "card_number": "A-200", "requester": "本人", "purpose": "不動産登記",
            "applicant_name": "山田　花子", "applicant_birth_date": "1980-05-05"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    let month = {
        let today = murakumo_core::today_in_japan();
        format!(
            "{:04}-{:02}",
            chrono::Datelike::year(&today),
            chrono::Datelike::month(&today)
        )
    };
    let stats: Value = clerk
        .get(s.url(&format!("/api/v1/statistics/seals?month={month}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let counts = json!([
        stats["in_force"],
        stats["registered"],
        stats["abolished"],
        stats["card_lost"],
        stats["ex_officio"],
        stats["certificates"]
    ]);
    assert_eq!(counts, json!([1, 2, 0, 1, 0, 1]), "{stats}");
    let csv = clerk
        .get(s.url(&format!(
            "/api/v1/statistics/seals?month={month}&format=csv"
        )))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("csv");
    assert!(
        csv.contains("登録者数(期間の末日),1\r\n")
            && csv.contains("亡失,1\r\n")
            && csv.contains("印鑑登録証明書の交付,1\r\n"),
        "{csv}"
    );
    let html = clerk
        .get(s.url(&format!("/statistics?month={month}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("<th scope=\"row\">新規登録</th><td>2</td>"),
        "{html}"
    );
    // Before: nothing yet. A month to come: refused, naming the item.
    let before: Value = clerk
        .get(s.url("/api/v1/statistics/seals?month=2020-01"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&before["in_force"], &before["registered"]),
        (&json!(0), &json!(0)),
        "{before}"
    );
    let r = clerk
        .get(s.url("/api/v1/statistics/seals?month=2999-01"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["field"], "month", "{body}");
    s.stop().await;
}

common::on_both_backends!(
    seals_are_registered_certified_and_cancelled,
    staff_of_a_cannot_reach_b_by_any_route,
    every_documented_route_is_served,
    errors_have_one_shape_with_the_request_id,
    operator_creates_tenants_and_bad_codes_are_refused,
    settings_resolve_in_tiers_with_history,
    reads_of_personal_data_are_in_the_access_log,
    failed_logins_lock_the_account,
    logout_ends_the_session_on_the_server,
    staff_accounts_are_managed_by_the_admin,
    resident_changes_history_and_protection,
    certificates_are_issued_signed_and_verifiable,
    seal_statistics_count_the_month,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_when_a_certificate_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write");
    let data = tempfile::tempdir().expect("tempdir");
    let store = murakumo_store::Store::open_sqlite(data.path(), murakumo_app::systems())
        .await
        .expect("open");
    let s = TestServer::serve(store, data, None, Some((cert_path, key_path))).await;
    assert!(s.base.starts_with("https://"));
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"),
        )
        .resolve(
            "localhost",
            s.base.trim_start_matches("https://").parse().expect("addr"),
        )
        .build()
        .expect("client");
    let url = s.base.replace("127.0.0.1", "localhost");
    let r = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("https works");
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP to the HTTPS port fails.
    assert!(
        reqwest::get(format!("{}/healthz", s.base.replace("https", "http")))
            .await
            .is_err_or_not_ok()
    );
    s.stop().await;
}

trait NotOk {
    fn is_err_or_not_ok(&self) -> bool;
}
impl NotOk for Result<reqwest::Response, reqwest::Error> {
    fn is_err_or_not_ok(&self) -> bool {
        self.as_ref().map_or(true, |r| !r.status().is_success())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi_are_public() {
    let s = TestServer::start(Db::Sqlite).await;
    let health: Value = reqwest::get(s.url("/healthz"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let metrics = reqwest::get(s.url("/metrics"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("murakumo_http_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("murakumo_tenants 2"), "{metrics}");
    let doc: Value = reqwest::get(s.url("/api/v1/openapi.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    assert!(doc["paths"]["/api/v1/residents/{resident_code}"]["get"].is_object());
    s.stop().await;
}

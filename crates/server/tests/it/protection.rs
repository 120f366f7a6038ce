//! 支援措置 (DV protection) as an attacker inside the municipality tries it:
//! a clerk without the right to see a protected resident must not read,
//! change, find or count that person by any path — API or staff screen —
//! and a supervisor's permitted view is logged as a read.

use crate::common;

use base64::Engine;
use common::{Db, TestServer, tenant_a};
use murakumo_store::Chain;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 山田 静香, who joins household H-山田 at 北海道1条1番 (where the five
/// seeded 山田 花子 live, born on the same day) and is then protected.
fn victim() -> String {
    common::resident_code(1_000_000_099)
}

/// What only the protected record holds: her 本籍 and the reason.
const HONSEKI: &str = "秘匿県本籍村1番地";
const REASON: &str = "加害者からの避難のため";

/// Registers and protects the victim (as the supervisor `all`).
async fn protect(s: &TestServer) {
    let all = s.login(Some(&tenant_a()), "all").await;
    let today = chrono::Utc::now().date_naive();
    let r = all
        .post(s.url("/api/v1/residents"))
        .json(&json!({
            "resident_code": victim(), "household_id": "H-山田", "relationship": "妻",
            "family_name": "山田", "given_name": "静香", "family_kana": "ヤマダ", "given_kana": "シズカ",
            "birth_date": "1980-05-05", "sex_code": 2, "honseki": HONSEKI, "hittosha": "山田",
            "address": "北海道1条1番", "reason": "move_in", "previous_address": "札幌市",
            "effective_date": today.to_string()
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = all
        .post(s.url(&format!("/api/v1/residents/{}/changes", victim())))
        .json(
            &json!({"change": "protect", "until": (today + chrono::Duration::days(365)).to_string(),
            "reason": REASON, "effective_date": today.to_string()}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn ledger_seq(s: &TestServer) -> u64 {
    s.store
        .tenant(&tenant_a())
        .head(Chain::Ledger)
        .await
        .expect("head")
        .seq
}

/// Nothing of the protected person in `body`: neither code nor name,
/// 本籍 or the reason.
fn assert_nothing_of_the_victim(body: &str, what: &str) {
    for leak in [
        victim().as_str(),
        "静香",
        "シズカ",
        HONSEKI,
        REASON,
        "honseki",
    ] {
        assert!(!body.contains(leak), "{what} reveals {leak}: {body}");
    }
}

async fn a_clerk_cannot_change_a_protected_resident(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let before = ledger_seq(&s).await;
    let changes = format!("/api/v1/residents/{}/changes", victim());
    for change in [
        json!({"change": "move_out_planned", "planned_date": today, "destination": "札幌市", "effective_date": today}),
        json!({"change": "household", "household_id": "H-山田", "relationship": "妻", "effective_date": today}),
        json!({"change": "relocate", "address": "北海道9条9番", "effective_date": today}),
    ] {
        let r = clerk
            .post(s.url(&changes))
            .json(&change)
            .send()
            .await
            .expect("send");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(status, StatusCode::FORBIDDEN, "{change}: {body}");
        assert!(body.contains("支援措置"), "the clerk is told why: {body}");
        assert_nothing_of_the_victim(&body.replace(&victim(), ""), "the refusal");
    }
    assert_eq!(ledger_seq(&s).await, before, "nothing was written");
    // Each refusal is in the access log, under the change.
    let refused = s
        .access_log(&format!("subject=resident:{}&action=change", victim()))
        .await;
    assert_eq!(
        refused
            .iter()
            .filter(|l| l["detail"] == "refused: 支援措置")
            .count(),
        3,
        "{refused:?}"
    );
    // A 印鑑登録 of the protected person is a change too.
    let r = clerk
        .post(s.url("/api/v1/seals"))
        .json(&json!({"resident_code": victim(), "card_number": "C-1",
            "impression_png": base64::engine::general_purpose::STANDARD
                .encode(murakumo_seal::sample_impression(1))}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(ledger_seq(&s).await, before, "nothing was written");
    s.stop().await;
}

async fn searches_and_households_leave_the_protected_person_out(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let all = s.login(Some(&tenant_a()), "all").await;
    let get = |c: &reqwest::Client, path: String| {
        let req = c.get(s.url(&path));
        async move {
            let r = req.send().await.expect("send");
            (r.status(), r.text().await.expect("body"))
        }
    };
    // By address, name, kana and birth date: the five others, not her.
    for query in [
        "address=北海道1条",
        "name=山田",
        "kana=ヤマダ",
        "birth_date=1980-05-05",
    ] {
        let (st, body) = get(&clerk, format!("/api/v1/residents?{query}")).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let hits: Vec<Value> = serde_json::from_str(&body).expect("json");
        assert_eq!(hits.len(), 5, "{query}: {body}");
        assert!(
            !body.contains(&victim()),
            "{query} reveals her code: {body}"
        );
    }
    // A limit of one still finds one (she does not use up the page).
    let (_, body) = get(&clerk, "/api/v1/residents?name=山田&limit=1".into()).await;
    let hits: Vec<Value> = serde_json::from_str(&body).expect("json");
    assert_eq!(hits.len(), 1, "{body}");
    // Her household without her.
    let (st, body) = get(&clerk, "/api/v1/households/H-山田".into()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        !body.contains(&victim()),
        "the household reveals her: {body}"
    );
    // The supervisor finds her.
    let (_, body) = get(&all, "/api/v1/residents?address=北海道1条".into()).await;
    assert!(body.contains(&victim()), "{body}");

    // A search answers only the items of a result list, and its access
    // record names exactly those.
    let hits: Vec<Value> = serde_json::from_str(&body).expect("json");
    assert_eq!(hits.len(), 6);
    let keys: std::collections::BTreeSet<String> = hits
        .iter()
        .flat_map(|h| h.as_object().expect("object").keys().cloned())
        .collect();
    for never in [
        "record",
        "honseki",
        "hittosha",
        "protection",
        "protected",
        "relationship",
        "household_id",
    ] {
        assert!(!keys.contains(never), "a search returns {never}: {body}");
    }
    assert!(!body.contains(REASON) && !body.contains(HONSEKI), "{body}");
    let logged = s.access_log("action=search").await;
    let detail = logged
        .iter()
        .filter(|l| l["actor"] == format!("staff:s-all-{}", tenant_a()))
        .filter_map(|l| l["detail"].as_str())
        .next_back()
        .expect("the search is logged")
        .to_string();
    let named: std::collections::BTreeSet<String> = detail.split(',').map(str::to_string).collect();
    assert_eq!(named, keys, "the access record names what was returned");
    s.stop().await;
}

async fn a_supervisors_view_of_a_protected_resident_is_logged_as_a_read(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    let all = s.login(Some(&tenant_a()), "all").await;
    let unmasked = |log: &[Value]| {
        log.iter()
            .filter(|l| {
                l["detail"] == "unmasked: 支援措置"
                    && l["actor"] == format!("staff:s-all-{}", tenant_a())
            })
            .count()
    };
    let query = format!("subject=resident:{}&action=read", victim());
    let before = unmasked(&s.access_log(&query).await);
    let r = all
        .get(s.url(&format!("/api/v1/residents/{}", victim())))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(unmasked(&s.access_log(&query).await), before + 1);
    // Found by a search: an unmasking too.
    let r = all
        .get(s.url("/api/v1/residents?name=山田"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(unmasked(&s.access_log(&query).await), before + 2);
    s.stop().await;
}

async fn the_staff_screens_refuse_the_clerk_the_same_way(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let before = ledger_seq(&s).await;
    // The detail, the 異動 form and the certificate form.
    for path in [
        format!("/residents/{}", victim()),
        format!("/residents/{}/change?kind=relocate", victim()),
        format!("/residents/{}/certificate", victim()),
    ] {
        let r = clerk.get(s.url(&path)).send().await.expect("send");
        let status = r.status();
        let html = r.text().await.expect("body");
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert_nothing_of_the_victim(&html.replace(&victim(), ""), &path);
    }
    // Submitting the 異動 form anyway.
    let today = chrono::Utc::now().date_naive().to_string();
    let r = clerk
        .post(s.url(&format!("/residents/{}/change", victim())))
        .form(&[
            ("change", "move_out_planned"),
            ("planned_date", today.as_str()),
            ("destination", "札幌市"),
            ("effective_date", today.as_str()),
        ])
        .send()
        .await
        .expect("send");
    let status = r.status();
    let html = r.text().await.expect("body");
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert_nothing_of_the_victim(&html.replace(&victim(), ""), "the change form");
    assert_eq!(ledger_seq(&s).await, before, "nothing was written");
    // The search screen does not list her, nor count her.
    let html = clerk
        .get(s.url("/residents?address=北海道1条"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    assert!(html.contains("5 件"), "{html}");
    assert_nothing_of_the_victim(&html, "the search screen");
    // Her household members' page does not list her.
    let other = common::resident_code(1_000_000_002);
    let html = clerk
        .get(s.url(&format!("/residents/{other}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    assert!(html.contains(&other), "{html}");
    assert!(!html.contains(&victim()), "the household list reveals her");
    s.stop().await;
}

/// 標準仕様書 §3.4/M3: a 支援措置 runs a year, its end set by the system; a longer term is
/// refused; the extension is taken from one month before the end and runs a year on; the
/// people whose term ends within a month are listed for the supervisor (each listed person
/// logged as a read), never for a clerk.
async fn a_protection_runs_a_year_and_is_extended_from_a_month_before_its_end(db: Db) {
    use murakumo_resident::protection::term_end;
    let s = TestServer::start(db).await;
    let all = s.login(Some(&tenant_a()), "all").await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let today = murakumo_core::today_in_japan();
    let post = |path: String, body: Value| {
        let all = &all;
        let s = &s;
        async move {
            let r = all
                .post(s.url(&path))
                .json(&body)
                .send()
                .await
                .expect("send");
            let st = r.status();
            (st, r.json::<Value>().await.expect("json"))
        }
    };
    let until_of = |v: &Value| {
        v["record"]["protection"]["until"]
            .as_str()
            .map(str::to_string)
    };
    let (year, short) = (
        common::resident_code(1_000_000_201),
        common::resident_code(1_000_000_202),
    );
    for (code, given) in [(&year, "一年"), (&short, "延長")] {
        let (st, b) = post(
            "/api/v1/residents".into(),
            json!({
                "resident_code": code, "relationship": "世帯主",
                "family_name": "期間", "given_name": given, "family_kana": "キカン", "given_kana": "",
                "birth_date": "1985-01-01", "sex_code": 2, "honseki": "北海道", "hittosha": "期間",
                "address": "北海道7条7番", "reason": "move_in", "previous_address": "札幌市",
                "effective_date": today.to_string()
            }),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let changes = |code: &str| format!("/api/v1/residents/{code}/changes");
    let resident = |code: String| {
        let all = &all;
        let s = &s;
        async move {
            all.get(s.url(&format!("/api/v1/residents/{code}")))
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };

    // No end given: the system sets the year.
    let (st, b) = post(
        changes(&year),
        json!({"change": "protect", "reason": "DV", "effective_date": today.to_string()}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        until_of(&resident(year.clone()).await),
        Some(term_end(today).to_string())
    );
    // An extension asked for now, eleven months early, is refused, naming when it opens.
    let before = resident(year.clone()).await;
    let (st, b) = post(
        changes(&year),
        json!({"change": "protect", "reason": "DV", "effective_date": today.to_string()}),
    )
    .await;
    assert_eq!(
        (st, &b["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("effective_date")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("1か月前"),
        "{b}"
    );
    assert_eq!(resident(year.clone()).await, before, "nothing changed");
    // More than a year is refused.
    let (st, b) = post(
        changes(&short),
        json!({"change": "protect", "reason": "DV", "effective_date": today.to_string(),
               "until": (today + chrono::Months::new(12) + chrono::Days::new(1)).to_string()}),
    )
    .await;
    assert_eq!(
        (st, &b["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("until")),
        "{b}"
    );
    assert_eq!(until_of(&resident(short.clone()).await), None);

    // A shorter term (given by hand) that ends within a month.
    let soon = today + chrono::Days::new(20);
    let (st, b) = post(
        changes(&short),
        json!({"change": "protect", "reason": "DV", "effective_date": today.to_string(),
               "until": soon.to_string()}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // The clerk gets neither the list nor its screen.
    for path in ["/api/v1/protections/ending", "/protections"] {
        let r = clerk.get(s.url(path)).send().await.expect("send");
        let st = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(!body.contains(&short), "{path} reveals who: {body}");
    }
    let unmasked = |code: String| {
        let s = &s;
        async move {
            s.access_log(&format!("subject=resident:{code}&action=read"))
                .await
                .iter()
                .filter(|l| l["detail"] == "unmasked: 支援措置")
                .count()
        }
    };
    let unmasked_before = unmasked(short.clone()).await;
    // The supervisor's list: the one ending within a month, not the one ending in a year.
    let listed: Value = all
        .get(s.url("/api/v1/protections/ending"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let codes: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["resident_code"].as_str())
        .collect();
    assert_eq!(codes, vec![short.as_str()], "{listed}");
    assert_eq!(listed[0]["until"], json!(soon.to_string()));
    assert_eq!(
        unmasked(short.clone()).await,
        unmasked_before + 1,
        "the listing is logged as a read of her"
    );
    let html = all
        .get(s.url("/protections"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    assert!(html.contains(&short) && !html.contains(&year), "{html}");
    let html = all
        .get(s.url(&format!("/residents/{short}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    assert!(html.contains("延長の申出を受け付けられます"), "{html}");

    // The extension, within the month: a year from the day after the term ends.
    let (st, b) = post(
        changes(&short),
        json!({"change": "protect", "reason": "DV", "effective_date": today.to_string()}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        until_of(&resident(short.clone()).await),
        Some(term_end(soon + chrono::Days::new(1)).to_string())
    );
    let listed: Value = all
        .get(s.url("/api/v1/protections/ending"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, json!([]), "extended: no longer ending");
    s.stop().await;
}

/// 標準仕様書 §3.4/M2: the 閲覧用の写し (住民基本台帳の一部の写し) never lists a person under
/// 支援措置, whoever makes it — the supervisor who may see her too — on the API and the
/// screen; the people listed are logged as read of the four items, she is not.
async fn the_inspection_copy_never_lists_a_protected_person(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    for login in ["all", "clerk"] {
        let staff = s.login(Some(&tenant_a()), login).await;
        let r = staff
            .get(s.url("/api/v1/inspection-copy?address=北海道1条"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{login}");
        let body = r.text().await.expect("body");
        assert_nothing_of_the_victim(&body, &format!("{login}'s inspection copy"));
        let listed: Value = serde_json::from_str(&body).expect("json");
        let listed = listed.as_array().expect("list");
        // The five seeded 山田 花子 of the same address, with the four items only.
        assert_eq!(listed.len(), 5, "{body}");
        for line in listed {
            let mut keys: Vec<&str> = line
                .as_object()
                .expect("line")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["address", "birth_date", "katagaki", "name", "sex_code"],
                "{line}"
            );
        }
        let html = staff
            .get(s.url("/inspection-copy?address=北海道1条"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("html");
        assert!(html.contains("5 人"), "{html}");
        assert_nothing_of_the_victim(&html, &format!("{login}'s inspection screen"));
    }
    let logged = s
        .access_log(&format!(
            "subject=resident:{}&action=read",
            common::resident_code(1_000_000_001)
        ))
        .await;
    assert!(
        logged
            .iter()
            .any(|l| l["detail"] == murakumo_app::register::INSPECTION_ITEMS),
        "{logged:?}"
    );
    let hers = s
        .access_log(&format!("subject=resident:{}&action=read", victim()))
        .await;
    assert!(
        !hers
            .iter()
            .any(|l| l["detail"] == murakumo_app::register::INSPECTION_ITEMS),
        "{hers:?}"
    );
    // An area not given from its 都道府県 is refused, naming the item.
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let r = clerk
        .get(s.url("/api/v1/inspection-copy?address=1条"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["error"]["field"], "address", "{b}");
    s.stop().await;
}

/// 標準仕様書 §2.1.3/M3: a search's people as a CSV file — the items of a search result —
/// leave out a person under 支援措置 for a clerk, as the search does, and the file is logged
/// as an export (出力) of each person in it; the screen offers it beside the results.
async fn an_export_of_a_search_is_logged_and_leaves_the_protected_person_out(db: Db) {
    let s = TestServer::start(db).await;
    protect(&s).await;
    let export = |login: &'static str| {
        let s = &s;
        async move {
            let staff = s.login(Some(&tenant_a()), login).await;
            let r = staff
                .get(s.url("/api/v1/residents.csv?kana=ヤマダ&limit=100"))
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{login}");
            assert!(
                r.headers()[reqwest::header::CONTENT_TYPE]
                    .to_str()
                    .unwrap_or_default()
                    .starts_with("text/csv"),
                "{login}"
            );
            r.text().await.expect("csv")
        }
    };
    let csv = export("clerk").await;
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "住民票コード,状態,氏名,フリガナ,生年月日,性別,住所,方書,世帯主"
    );
    assert_eq!(lines.len(), 1 + 5, "{csv}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("山田　花子") && l.contains("北海道1条1番")),
        "{csv}"
    );
    assert_nothing_of_the_victim(&csv, "the clerk's export");
    // Each person in the file is logged as exported, by the clerk.
    let exported = s
        .access_log(&format!(
            "subject=resident:{}&action=export",
            common::resident_code(1_000_000_001)
        ))
        .await;
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(
        exported[0]["actor"],
        json!(format!("staff:s-clerk-{}", tenant_a()))
    );
    // The supervisor may see her: she is in the file, and her unmasking is logged.
    let csv = export("all").await;
    assert!(csv.contains(&victim()), "{csv}");
    let hers = s
        .access_log(&format!("subject=resident:{}&action=export", victim()))
        .await;
    assert_eq!(hers.len(), 1, "{hers:?}");
    // The search screen offers the file.
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let html = clerk
        .get(s.url("/residents?kana=ヤマダ"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("/api/v1/residents.csv?kana=%E3%83%A4%E3%83%9E%E3%83%80&amp;limit=100"),
        "{html}"
    );
    s.stop().await;
}

common::on_both_backends!(
    a_clerk_cannot_change_a_protected_resident,
    searches_and_households_leave_the_protected_person_out,
    a_supervisors_view_of_a_protected_resident_is_logged_as_a_read,
    the_staff_screens_refuse_the_clerk_the_same_way,
    a_protection_runs_a_year_and_is_extended_from_a_month_before_its_end,
    the_inspection_copy_never_lists_a_protected_person,
    an_export_of_a_search_is_logged_and_leaves_the_protected_person_out,
);

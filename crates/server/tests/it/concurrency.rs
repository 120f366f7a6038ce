//! Many clerks at once (issue 17, item 4): a 異動 is checked against the register it is
//! appended to, so of fifty concurrent requests exactly the valid ones are recorded, the rest
//! are told why (409), and the ledger and the read model agree afterwards.

use crate::common;
use base64::Engine as _;
use murakumo_resident_store::ResidentReads;

use common::{Db, TestServer, tenant_a};
use murakumo_core::today_in_japan;
use murakumo_ledger::EventCodec;
use murakumo_resident::ResidentEvent;
use murakumo_store::Chain;
use reqwest::StatusCode;
use serde_json::{Value, json};

const REQUESTS: usize = 50;

/// Sends `REQUESTS` posts of `body` to `path` at once, alternating two clerks; returns each
/// answer's status and body.
async fn all_at_once(s: &TestServer, path: &str, body: Value) -> Vec<(StatusCode, Value)> {
    let clerks = [
        s.login(Some(&tenant_a()), "clerk").await,
        s.login(Some(&tenant_a()), "all").await,
    ];
    let sends: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let req = clerks[i % 2].post(s.url(path)).json(&body);
            tokio::spawn(async move {
                let r = req.send().await.expect("send");
                let status = r.status();
                (status, r.json::<Value>().await.expect("json"))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.expect("request task"));
    }
    answers
}

/// Exactly one answer is 200; every other is 409 and its message contains one of `why`.
fn exactly_one_recorded(answers: &[(StatusCode, Value)], why: &[&str]) {
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one is recorded: {answers:?}");
    for (st, body) in answers.iter().filter(|(st, _)| *st != StatusCode::OK) {
        assert_eq!(*st, StatusCode::CONFLICT, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            why.iter().any(|w| message.contains(w)),
            "the conflict is named: {body}"
        );
    }
}

/// How many ledger entries of `kind` are about `code`.
async fn entries_about(s: &TestServer, kind: &str, code: &str) -> usize {
    s.store
        .tenant(&tenant_a())
        .entries_of_kind(kind)
        .await
        .expect("entries")
        .iter()
        .filter_map(|e| {
            ResidentEvent::decode(&e.kind, e.version, &e.payload)
                .ok()
                .flatten()
        })
        .filter(|e| e.resident_code() == code)
        .count()
}

async fn concurrent_changes_record_exactly_the_valid_ones(db: Db) {
    let s = TestServer::start(db).await;
    let today = today_in_japan().to_string();

    // Fifty 転入 with one 住民票コード.
    let newcomer = common::resident_code(3_000_000_001);
    let answers = all_at_once(
        &s,
        "/api/v1/residents",
        json!({
            "resident_code": newcomer, "relationship": "世帯主",
            "family_name": "同時", "given_name": "一郎", "family_kana": "ドウジ", "given_kana": "イチロウ",
            "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "同時一郎",
            "address": "北海道深川市7条7番7号", "reason": "move_in", "previous_address": "札幌市中央区",
            "effective_date": today
        }),
    )
    .await;
    exactly_one_recorded(&answers, &["既に記録されています"]);
    assert_eq!(entries_about(&s, "resident.entered", &newcomer).await, 1);

    // Fifty 死亡 of one member of the seeded 山田 household.
    let member = common::resident_code(1_000_000_002);
    let answers = all_at_once(
        &s,
        &format!("/api/v1/residents/{member}/changes"),
        json!({"change": "death", "effective_date": today}),
    )
    .await;
    exactly_one_recorded(&answers, &["除票"]);
    assert_eq!(entries_about(&s, "resident.removed", &member).await, 1);

    // Every recorded change has its access record, and the read model is what a rebuild
    // from the ledger gives.
    for code in [&newcomer, &member] {
        let log = s
            .access_log(&format!("action=change&subject=resident:{code}"))
            .await;
        assert_eq!(
            log.len(),
            1,
            "one access record of the one change of {code}: {log:?}"
        );
    }
    let ts = s.store.tenant(&tenant_a());
    ts.verify(Chain::Ledger).await.expect("the chain verifies");
    let before = (
        ts.resident(&newcomer).await.expect("read"),
        ts.resident(&member).await.expect("read"),
    );
    ts.rebuild_projections().await.expect("rebuild");
    let after = (
        ts.resident(&newcomer).await.expect("read"),
        ts.resident(&member).await.expect("read"),
    );
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
    assert!(before.1.is_some_and(|r| r.is_removed()));
    s.stop().await;
}

/// 印鑑登録 (1人1個) at fifty counters at once: exactly one registration is recorded, and of
/// fifty 廃止 of it exactly one; each recorded change has its one access record.
async fn concurrent_seal_changes_record_exactly_the_valid_ones(db: Db) {
    let s = TestServer::start(db).await;
    let count = |kind: &'static str| {
        let ts = s.store.tenant(&tenant_a());
        async move { ts.entries_of_kind(kind).await.expect("entries").len() }
    };
    let (registered, cancelled) = (
        count("seal.registered").await,
        count("seal.cancelled").await,
    );
    let registrant = common::resident_code(1_000_000_002);
    let png = base64::engine::general_purpose::STANDARD.encode(murakumo_seal::sample_impression(7));
    let answers = all_at_once(
        &s,
        "/api/v1/seals",
        json!({"resident_code": registrant, "card_number": "C-500", "impression_png": png}),
    )
    .await;
    // Refused because the person has a registration, or (read a moment later) because
    // its card is in use: both name what is taken.
    exactly_one_recorded(&answers, &["登録済み", "C-500 は使用中"]);
    let number = answers
        .iter()
        .find_map(|(_, b)| b["registration_number"].as_str())
        .expect("the recorded registration")
        .to_string();
    assert_eq!(
        count("seal.registered").await,
        registered + 1,
        "one registration in the ledger"
    );

    let answers = all_at_once(
        &s,
        &format!("/api/v1/seals/{number}/cancel"),
        json!({"reason": "abolished"}),
    )
    .await;
    exactly_one_recorded(&answers, &["既に廃止"]);
    assert_eq!(
        count("seal.cancelled").await,
        cancelled + 1,
        "one 廃止 in the ledger"
    );
    let log = s
        .access_log(&format!("action=change&subject=resident:{registrant}"))
        .await;
    assert_eq!(log.len(), 2, "the registration's and the 廃止's: {log:?}");
    s.store
        .tenant(&tenant_a())
        .verify(Chain::Ledger)
        .await
        .expect("the chain verifies");
    s.stop().await;
}

common::on_both_backends!(
    concurrent_changes_record_exactly_the_valid_ones,
    concurrent_seal_changes_record_exactly_the_valid_ones
);

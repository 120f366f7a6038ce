//! The register at the counter, end to end on both backends: a household
//! lives at one address and has exactly one 世帯主, new 世帯番号 come from
//! the system, 異動日 follow the record, and certificates name the real
//! 世帯主.

use crate::common;

use chrono::{Duration, NaiveDate};
use common::{Db, TestServer, tenant_a};
use murakumo_core::today_in_japan;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Counter<'a> {
    s: &'a TestServer,
    clerk: reqwest::Client,
}

impl Counter<'_> {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .clerk
            .post(self.s.url(path))
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status();
        (status, r.json().await.expect("json"))
    }

    /// A 転入 (today unless `effective` is given) at `address`.
    async fn enter(
        &self,
        n: u64,
        given: &str,
        relationship: &str,
        household: Option<&str>,
        address: &str,
    ) -> (StatusCode, Value) {
        let mut body = json!({
            "resident_code": common::resident_code(n), "relationship": relationship,
            "family_name": "佐藤", "given_name": given, "family_kana": "サトウ", "given_kana": "",
            "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "佐藤一郎",
            "address": address, "reason": "move_in", "previous_address": "札幌市中央区",
            "effective_date": today_in_japan().to_string()
        });
        if let Some(h) = household {
            body["household_id"] = json!(h);
        }
        self.post("/api/v1/residents", body).await
    }

    async fn change(&self, n: u64, body: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/residents/{}/changes", common::resident_code(n)),
            body,
        )
        .await
    }

    async fn get(&self, path: &str) -> Value {
        self.clerk
            .get(self.s.url(path))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    /// The staff screen at `path`, as HTML.
    async fn html(&self, path: &str) -> String {
        self.clerk
            .get(self.s.url(path))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("html")
    }

    async fn resident(&self, n: u64) -> Value {
        self.get(&format!("/api/v1/residents/{}", common::resident_code(n)))
            .await
    }

    async fn ledger_head(&self) -> u64 {
        self.s
            .store
            .tenant(&tenant_a())
            .head(murakumo_store::Chain::Ledger)
            .await
            .expect("head")
            .seq
    }
}

fn refused(st: StatusCode, body: &Value, field: &str) {
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "a Japanese message: {message}"
    );
}

const HOME: &str = "北海道深川市5条5番5号";
const NEW_HOME: &str = "北海道深川市6条6番6号";

/// A household of 一郎 (世帯主), 花子 (妻) and 次郎 (子), entered through the
/// API; returns its 世帯番号.
async fn family(c: &Counter<'_>) -> String {
    let (st, body) = c.enter(2_000_000_001, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let h = body["resident"]["household_id"]
        .as_str()
        .expect("household")
        .to_string();
    for (n, given, rel) in [(2_000_000_002, "花子", "妻"), (2_000_000_003, "次郎", "子")] {
        let (st, body) = c.enter(n, given, rel, Some(&h), HOME).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    h
}

async fn households_keep_one_address_and_one_head(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    // The system numbers a new household; the clerk cannot invent one.
    let (st, body) = c
        .enter(2_000_000_009, "九郎", "世帯主", Some("NOPE123"), HOME)
        .await;
    refused(st, &body, "household_id");
    let h = family(&c).await;
    // The first of the series: 000000001 and its モジュラス11 check digit (§1.1.13/M3).
    assert_eq!(h, "0000000019", "the first of the series");
    // A 世帯番号 typed with a wrong check digit is told so.
    let (st, body) = c
        .enter(2_000_000_009, "九郎", "子", Some("0000000018"), HOME)
        .await;
    refused(st, &body, "household_id");
    assert!(body.to_string().contains("チェックデジット"), "{body}");
    let head = c.ledger_head().await;

    // A second 世帯主 by 転入, or someone joining at another address.
    let (st, body) = c
        .enter(2_000_000_004, "三郎", "世帯主", Some(&h), HOME)
        .await;
    refused(st, &body, "relationship");
    let (st, body) = c
        .enter(2_000_000_004, "三郎", "子", Some(&h), NEW_HOME)
        .await;
    refused(st, &body, "household_id");
    // A second 世帯主 by 世帯変更.
    let (st, body) = c
        .change(
            2_000_000_002,
            json!({"change": "household", "household_id": h, "relationship": "世帯主",
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    refused(st, &body, "former_head_relationship");
    // A 世帯変更 into a number the clerk typed.
    let (st, body) = c
        .change(
            2_000_000_003,
            json!({"change": "household", "household_id": "NOPE123", "relationship": "世帯主",
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    refused(st, &body, "household_id");
    // The 世帯主 moving alone would leave the others behind at the old address.
    let (st, body) = c
        .change(
            2_000_000_001,
            json!({"change": "relocate", "address": NEW_HOME,
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    refused(st, &body, "household_move");
    // The 世帯主 dying or moving out needs the new 世帯主 in the same request.
    for change in [
        json!({"change": "death"}),
        json!({"change": "move_out", "destination": "東京都新宿区"}),
    ] {
        let mut body = change.clone();
        body["effective_date"] = json!(today_in_japan().to_string());
        let (st, body) = c.change(2_000_000_001, body).await;
        refused(st, &body, "new_head");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("世帯主がいなくなります"),
            "{body}"
        );
    }
    assert_eq!(c.ledger_head().await, head, "nothing refused was recorded");
    assert_eq!(c.resident(2_000_000_001).await["address"], HOME);

    // The whole household moves: one request, every member.
    let (st, body) = c
        .change(
            2_000_000_001,
            json!({"change": "relocate", "address": NEW_HOME, "household_move": "all",
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    for n in 2_000_000_001..=2_000_000_003 {
        assert_eq!(c.resident(n).await["address"], NEW_HOME);
    }
    // The son leaves for a household of his own, numbered by the system.
    let (st, body) = c
        .change(
            2_000_000_003,
            json!({"change": "household", "relationship": "世帯主",
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["resident"]["household_id"], "0000000027");
    // 世帯主変更 within the household: the former head's new 続柄 with it.
    let (st, body) = c
        .change(
            2_000_000_002,
            json!({"change": "household", "household_id": h, "relationship": "世帯主",
            "former_head_relationship": "夫", "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(c.resident(2_000_000_001).await["relationship"], "夫");
    // The new 世帯主 dies: her husband follows her as 世帯主, in one append.
    let (st, body) = c
        .change(
            2_000_000_002,
            json!({"change": "death", "new_head": common::resident_code(2_000_000_001),
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(c.resident(2_000_000_002).await["status"], "removed");
    assert_eq!(c.resident(2_000_000_001).await["relationship"], "世帯主");
    let members = c.get(&format!("/api/v1/households/{h}")).await;
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");
    s.stop().await;
}

async fn dates_follow_the_record(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let day = |n: i64| (today - Duration::days(n)).to_string();
    let mut body = json!({
        "resident_code": common::resident_code(2_000_000_011), "relationship": "世帯主",
        "family_name": "田中", "family_kana": "タナカ", "birth_date": "1990-02-02", "sex_code": 2,
        "honseki": "北海道", "address": HOME, "reason": "move_in", "previous_address": "旭川市",
        "effective_date": day(30), "notified_date": day(30)
    });
    let (st, b) = c.post("/api/v1/residents", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let relocate = |address: &str, on: String| json!({"change": "relocate", "address": address, "effective_date": on.clone(), "notified_date": today.to_string()});
    // Before the 転入: not yet a resident then.
    let (st, b) = c
        .change(2_000_000_011, relocate("深川市1条", day(40)))
        .await;
    refused(st, &b, "effective_date");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("住民となった年月日"),
        "{b}"
    );
    // After it: recorded; the 住所を定めた年月日 follows.
    let (st, b) = c
        .change(2_000_000_011, relocate("深川市2条", day(10)))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Back-dated before that 転居: it would contradict it.
    let (st, b) = c
        .change(2_000_000_011, relocate("深川市3条", day(20)))
        .await;
    refused(st, &b, "effective_date");
    let r = c.resident(2_000_000_011).await;
    assert_eq!(r["address"], "深川市2条");
    assert_eq!(r["record"]["address_since"], day(10));
    assert_eq!(r["record"]["became_resident"], day(30));
    // The 住民票 prints both dates, each in its own cell.
    s.set_issuer(&tenant_a()).await;
    let pdf = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(&json!({"kind": "resident_copy", "resident_codes": [common::resident_code(2_000_000_011)],
            "requester": "本人", "purpose": "勤務先提出"}))
        .send()
        .await
        .expect("send");
    assert_eq!(pdf.status(), StatusCode::OK);
    let cert = certified(&pdf.bytes().await.expect("pdf"));
    assert_eq!(cert["members"][0]["address_since"], day(10), "{cert}");
    assert_eq!(
        cert["members"][0]["became_resident_date"],
        day(30),
        "{cert}"
    );
    // While 転出予定, no 転居.
    let (st, b) = c
        .change(2_000_000_011, json!({"change": "move_out_planned", "planned_date": (today + Duration::days(10)).to_string(),
            "destination": "東京都新宿区", "effective_date": today.to_string()}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .change(2_000_000_011, relocate("深川市4条", today.to_string()))
        .await;
    refused(st, &b, "change");
    // A 異動 of today (in Japan) is not "in the future", whatever the UTC date.
    body["resident_code"] = json!(common::resident_code(2_000_000_012));
    body["effective_date"] = json!(today.to_string());
    body["notified_date"] = json!(today.to_string());
    let (st, b) = c.post("/api/v1/residents", body).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.stop().await;
}

/// The certificate as certified: the JSON embedded in the PDF.
fn certified(pdf: &[u8]) -> Value {
    use lopdf::{Document, Object};
    let doc = Document::load_mem(pdf).expect("a PDF");
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        let Ok(ef) = dict.get(b"EF") else { continue };
        if dict.get(b"F").and_then(Object::as_str).unwrap_or(b"") != b"murakumo-certificate.json" {
            continue;
        }
        let ef = match ef {
            Object::Reference(id) => doc.get_object(*id).expect("EF"),
            o => o,
        };
        let id = ef
            .as_dict()
            .and_then(|d| d.get(b"F"))
            .and_then(Object::as_reference)
            .expect("file stream");
        let bytes = doc
            .get_object(id)
            .and_then(Object::as_stream)
            .expect("stream")
            .decompressed_content()
            .expect("content");
        return serde_json::from_slice(&bytes).expect("certificate JSON");
    }
    panic!("no certificate JSON in the PDF");
}

async fn certificates_name_the_household_head(db: Db) {
    let s = TestServer::start(db).await;
    s.set_issuer(&tenant_a()).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    family(&c).await;
    let issue = |kind: &str, n: u64, as_of: Option<NaiveDate>| {
        let mut body = json!({"kind": kind, "resident_codes": [common::resident_code(n)],
            "requester": "本人", "purpose": "勤務先提出"});
        if let Some(d) = as_of {
            body["as_of"] = json!(d.to_string());
        }
        let req = c.clerk.post(s.url("/api/v1/certificates")).json(&body);
        async move {
            let r = req.send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            certified(&r.bytes().await.expect("pdf"))
        }
    };
    // The wife's 一部: 一郎 is the 世帯主, though not printed.
    for kind in ["resident_copy", "record_statement"] {
        let cert = issue(kind, 2_000_000_002, None).await;
        assert_eq!(cert["household_head"], "佐藤　一郎", "{kind}: {cert}");
        assert_eq!(cert["members"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            cert["issue_date"],
            today_in_japan().to_string(),
            "dated in Japan"
        );
        // 備考: how and when she came, with the 届出日.
        let notes = cert["members"][0]["notes"].to_string();
        assert!(
            notes.contains("札幌市中央区から転入") && notes.contains("日届出"),
            "{notes}"
        );
        // 住所を定めた年月日 (its own cell): she has lived here since she came.
        let m = &cert["members"][0];
        assert!(m["address_since"].is_string(), "{m}");
        assert_eq!(m["address_since"], m["became_resident_date"], "{m}");
    }
    // A third party never gets 本籍・筆頭者 or 住民票コード.
    for item in ["include_honseki", "include_resident_code"] {
        let mut body = json!({"kind": "resident_copy", "resident_codes": [common::resident_code(2_000_000_002)],
            "requester": "第三者", "purpose": "債権回収"});
        body[item] = json!(true);
        let r = c
            .clerk
            .post(s.url("/api/v1/certificates"))
            .json(&body)
            .send()
            .await
            .expect("send");
        let st = r.status();
        refused(st, &r.json().await.expect("json"), item);
    }
    // A 転出予定 is on the current 住民票.
    let (st, body) = c
        .change(
            2_000_000_003,
            json!({"change": "move_out_planned", "planned_date": today_in_japan().to_string(),
            "destination": "東京都新宿区", "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let cert = issue("resident_copy", 2_000_000_003, None).await;
    assert!(
        cert["members"][0]["notes"]
            .to_string()
            .contains("東京都新宿区へ転出予定"),
        "{cert}"
    );
    // The son moves out: his 除票の写し names the 世帯主 he lived with.
    let (st, body) = c
        .change(
            2_000_000_003,
            json!({"change": "move_out", "destination": "東京都新宿区",
            "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let cert = issue("removed_copy", 2_000_000_003, None).await;
    assert_eq!(cert["household_head"], "佐藤　一郎", "{cert}");
    let notes = cert["members"][0]["notes"].to_string();
    assert!(
        notes.contains("東京都新宿区へ転出") && !notes.contains("転出予定"),
        "{notes}"
    );
    s.stop().await;
}

/// What a certificate could not print, or what does not fit it, is refused when it is entered
/// (issue 15, item 8), naming the field; an MJ character with its IVS is accepted.
async fn names_no_certificate_can_print_are_refused_at_entry(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let head = c.ledger_head().await;
    // Not in the certificate font (IPAmj明朝): an emoji, and Hangul.
    for given in ["一郎\u{1F600}", "한"] {
        let (st, body) = c.enter(2_000_000_001, given, "世帯主", None, HOME).await;
        refused(st, &body, "given_name");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("印字できません") && m.contains("U+")),
            "{body}"
        );
    }
    // Longer than the field allows.
    let (st, body) = c
        .enter(2_000_000_001, &"郎".repeat(41), "世帯主", None, HOME)
        .await;
    refused(st, &body, "given_name");
    let (st, body) = c
        .enter(2_000_000_001, "一郎", "世帯主", None, &"北".repeat(101))
        .await;
    refused(st, &body, "address");
    assert_eq!(c.ledger_head().await, head, "nothing was recorded");

    // 葛 with its IVS (an MJ variant the font has), at the longest a 名 may be.
    let given = format!("葛\u{E0102}{}", "郎".repeat(39));
    let (st, body) = c.enter(2_000_000_001, &given, "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    s.stop().await;
}

/// A 出生 gets the next 住民票コード of the range the prefecture allotted, not one the clerk
/// makes up; a 転入 must bring its own; an unset range says what to set.
async fn a_birth_gets_the_next_code_of_the_allotted_range(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let birth = |given: &str| {
        json!({
            "resident_code": "", "relationship": "世帯主",
            "family_name": "誕生", "given_name": given, "family_kana": "タンジョウ", "given_kana": "",
            "birth_date": today_in_japan().to_string(), "sex_code": 2, "honseki": "北海道深川市",
            "hittosha": "誕生花子", "address": HOME, "reason": "birth",
            "effective_date": today_in_japan().to_string()
        })
    };
    let (st, body) = c.post("/api/v1/residents", birth("一子")).await;
    refused(st, &body, "resident_code");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("resident.code_range")),
        "{body}"
    );

    let admin = s.login(Some(&tenant_a()), "admin").await;
    let (st, body) = s
        .put_setting(&admin, "resident.code_range", "1234500000-1234599999")
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let mut codes = Vec::new();
    for given in ["一子", "二子"] {
        let (st, body) = c.post("/api/v1/residents", birth(given)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let code = body["resident"]["resident_code"]
            .as_str()
            .expect("code")
            .to_string();
        murakumo_core::ResidentCode::parse(&code).expect("a valid 住民票コード");
        codes.push(code);
    }
    assert!(codes[0].starts_with("1234500000"), "{codes:?}");
    assert!(codes[1].starts_with("1234500001"), "{codes:?}");

    // A 転入 without its code is refused; a range that is not one is refused.
    let mut move_in = birth("三子");
    move_in["reason"] = json!("move_in");
    move_in["previous_address"] = json!("札幌市中央区");
    let (st, body) = c.post("/api/v1/residents", move_in).await;
    refused(st, &body, "resident_code");
    let (st, _) = s
        .put_setting(&admin, "resident.code_range", "1234599999-1234500000")
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    s.stop().await;
}

/// A record the certificate font cannot print (brought in by a migration from a system with
/// vendor 外字) is refused at issuance before a 発行番号 is taken: the series has no gap.
async fn a_refused_issuance_takes_no_number(db: Db) {
    let s = TestServer::start(db).await;
    s.set_issuer(&tenant_a()).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let unprintable = common::resident_code(4_000_000_001);
    s.store
        .tenant(&tenant_a())
        .append(vec![common::moved_in(
            unprintable.clone(),
            "外\u{1F600}",
            "ガイジ",
            true,
        )])
        .await
        .expect("as a migration brings it");
    let issue = |code: String| {
        let body = json!({"kind": "resident_copy", "resident_codes": [code],
            "requester": "本人", "purpose": "勤務先提出"});
        clerk.post(s.url("/api/v1/certificates")).json(&body).send()
    };
    let r = issue(unprintable).await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("U+1F600") && m.contains("発行番号は使われていません")),
        "{body}"
    );
    // A record whose 備考 would not fit the sheet even shrunk and wrapped (forty 転居, as a
    // migration brings them): refused, naming what does not fit, never printed cut off.
    let long = common::resident_code(4_000_000_002);
    let mut entries = vec![common::moved_in(
        long.clone(),
        "長履歴",
        "チョウリレキ",
        true,
    )];
    for i in 0..40 {
        let mut e = common::entry(&murakumo_resident::ResidentEvent::Relocated {
            resident_code: long.clone(),
            address: format!("北海道{}条{}番", i + 2, i + 1),
            katagaki: String::new(),
            notified_date: NaiveDate::from_ymd_opt(2026, 4, 2).expect("date") + Duration::days(i),
        });
        e.effective_date = NaiveDate::from_ymd_opt(2026, 4, 2).expect("date") + Duration::days(i);
        entries.push(e);
    }
    s.store
        .tenant(&tenant_a())
        .append(entries)
        .await
        .expect("as a migration brings it");
    let r = issue(long).await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("収まりません") && m.contains("交付していません")),
        "{body}"
    );
    let r = issue(common::resident_code(1_000_000_001))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let number = r.headers()["x-issue-number"]
        .to_str()
        .expect("number")
        .to_string();
    assert!(
        number.ends_with("-0000001"),
        "the first number of the series: {number}"
    );
    s.stop().await;
}

/// A 世帯全員 certificate as of a past date prints the household as it was then: a son who
/// has left it since (世帯分離) is on it; on today's he is not. Also after a rebuild.
async fn a_past_household_certificate_prints_the_household_then(db: Db) {
    let s = TestServer::start(db).await;
    s.set_issuer(&tenant_a()).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let came = today - Duration::days(10);
    let enter = |n: u64, given: &str, rel: &str, household: Option<&str>| {
        let mut body = json!({
            "resident_code": common::resident_code(n), "relationship": rel,
            "family_name": "過去", "given_name": given, "family_kana": "カコ", "given_kana": "",
            "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "過去一郎",
            "address": HOME, "reason": "move_in", "previous_address": "札幌市中央区",
            "effective_date": came.to_string(), "notified_date": came.to_string()
        });
        if let Some(h) = household {
            body["household_id"] = json!(h);
        }
        c.post("/api/v1/residents", body)
    };
    let (st, body) = enter(5_000_000_001, "一郎", "世帯主", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let h = body["resident"]["household_id"]
        .as_str()
        .expect("h")
        .to_string();
    for (n, given, rel) in [(5_000_000_002, "花子", "妻"), (5_000_000_003, "次郎", "子")] {
        let (st, body) = enter(n, given, rel, Some(&h)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    // 次郎 becomes 世帯主 of a household of his own two days ago.
    let (st, body) = c
        .change(
            5_000_000_003,
            json!({"change": "household", "relationship": "世帯主",
                "effective_date": (today - Duration::days(2)).to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let names = |as_of: NaiveDate| {
        let body = json!({"kind": "resident_copy", "household_id": h, "as_of": as_of.to_string(),
            "requester": "本人", "purpose": "勤務先提出"});
        let req = c.clerk.post(s.url("/api/v1/certificates")).json(&body);
        async move {
            let r = req.send().await.expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            let cert = certified(&r.bytes().await.expect("pdf"));
            let mut names: Vec<String> = cert["members"]
                .as_array()
                .expect("members")
                .iter()
                .map(|m| m["name"].as_str().unwrap_or_default().to_string())
                .collect();
            names.sort();
            names
        }
    };
    let then = names(today - Duration::days(5)).await;
    assert_eq!(
        then,
        ["過去　一郎", "過去　次郎", "過去　花子"],
        "five days ago"
    );
    let now = names(today).await;
    assert_eq!(now, ["過去　一郎", "過去　花子"], "today");
    s.store
        .tenant(&tenant_a())
        .rebuild_projections()
        .await
        .expect("rebuild");
    assert_eq!(
        names(today - Duration::days(5)).await,
        then,
        "after a rebuild"
    );
    s.stop().await;
}

/// A family that moves in together is recorded at once: one new 世帯 with a number from the
/// system, one 世帯主, everyone at one address; a household that would break a rule is refused
/// whole, naming the person, and nothing of it is recorded.
async fn a_household_moves_in_together_or_not_at_all(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan().to_string();
    let person = |n: u64, given: &str, relationship: &str, birth: &str| {
        json!({
            "resident_code": common::resident_code(n), "relationship": relationship,
            "family_name": "鈴木", "given_name": given, "family_kana": "スズキ", "given_kana": "",
            "birth_date": birth, "sex_code": 1, "honseki": "北海道深川市", "hittosha": "鈴木一郎",
            "address": "北海道深川市5条5番5号", "katagaki": "", "reason": "move_in",
            "previous_address": "旭川市", "effective_date": today
        })
    };
    let head = c.ledger_head().await;
    // Two 世帯主: refused whole.
    let (st, body) = c
        .post(
            "/api/v1/residents/household",
            json!({"members": [person(5_000_000_001, "一郎", "世帯主", "1980-01-01"),
                               person(5_000_000_002, "花子", "世帯主", "1982-02-02")]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // Another address for the second person: refused, naming that person.
    let mut elsewhere = person(5_000_000_002, "花子", "妻", "1982-02-02");
    elsewhere["address"] = json!("北海道深川市9条9番9号");
    let (st, body) = c
        .post(
            "/api/v1/residents/household",
            json!({"members": [person(5_000_000_001, "一郎", "世帯主", "1980-01-01"), elsewhere]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "members[1].address", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("2人目")),
        "{body}"
    );
    // A code already in the register: refused whole.
    let (st, body) = c
        .post(
            "/api/v1/residents/household",
            json!({"members": [person(5_000_000_001, "一郎", "世帯主", "1980-01-01"),
                               person(1_000_000_001, "花子", "妻", "1982-02-02")]}),
        )
        .await;
    assert!(st.is_client_error(), "{st}: {body}");
    assert_eq!(
        c.ledger_head().await,
        head,
        "nothing of a refused household"
    );
    assert_eq!(
        c.get(&format!(
            "/api/v1/residents/{}",
            common::resident_code(5_000_000_001)
        ))
        .await["error"]["code"],
        "not_found"
    );

    let (st, done) = c
        .post(
            "/api/v1/residents/household",
            json!({"members": [person(5_000_000_001, "一郎", "世帯主", "1980-01-01"),
                               person(5_000_000_002, "花子", "妻", "1982-02-02"),
                               person(5_000_000_003, "太郎", "子", "2010-03-03")]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{done}");
    let household = done["household_id"].as_str().expect("number").to_string();
    assert!(!household.is_empty());
    let members = done["members"].as_array().expect("members");
    assert_eq!(members.len(), 3);
    for (m, rel) in members.iter().zip(["世帯主", "妻", "子"]) {
        assert_eq!(m["household_id"], household.as_str(), "{m}");
        assert_eq!(m["relationship"], rel, "{m}");
    }
    let listed = c.get(&format!("/api/v1/households/{household}")).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    s.stop().await;
}

/// 人口・世帯数 and 異動集計 are counted from the ledger as the register stood on the 基準日:
/// a 転入 counts from its 異動日, a death stops counting on its own, the 町字 comes from the
/// address, and the numbers (JSON and CSV) move by exactly what was recorded.
async fn statistics_count_the_register_as_it_stood(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let day = |n: i64| (today - Duration::days(n)).to_string();
    let month_of = |d: &str| d[..7].to_string();
    let population = |on: String| {
        let c = &c;
        async move {
            c.get(&format!("/api/v1/statistics/population?on={on}"))
                .await
        }
    };
    let movements = |month: String| {
        let c = &c;
        async move {
            c.get(&format!("/api/v1/statistics/movements?month={month}"))
                .await
        }
    };
    let town = |p: &Value, name: &str| -> (u64, u64, u64) {
        p["towns"]
            .as_array()
            .expect("towns")
            .iter()
            .find(|t| t["town"] == name)
            .map_or((0, 0, 0), |t| {
                (
                    t["households"].as_u64().unwrap_or(0),
                    t["people"]["male"].as_u64().unwrap_or(0),
                    t["people"]["female"].as_u64().unwrap_or(0),
                )
            })
    };
    let kind = |m: &Value, k: &str| -> (u64, u64) {
        let row = m["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["kind"] == k)
            .cloned()
            .expect("every kind is listed");
        (
            row["people"]["male"].as_u64().unwrap_or(0),
            row["people"]["female"].as_u64().unwrap_or(0),
        )
    };
    let before_entry = population(day(31)).await;
    let moves_entry_month = movements(month_of(&day(30))).await;
    let moves_this_month = movements(month_of(&today.to_string())).await;

    // 一郎 (male) and 花子 (female, 2 years old), one household in 5条, entered 30 days ago;
    // 花子 dies today.
    let mut body = json!({
        "resident_code": common::resident_code(2_000_000_031), "relationship": "世帯主",
        "family_name": "統計", "given_name": "一郎", "family_kana": "トウケイ", "given_kana": "イチロウ",
        "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道", "address": HOME,
        "reason": "move_in", "previous_address": "旭川市", "effective_date": day(30),
        "notified_date": day(30)
    });
    let (st, b) = c.post("/api/v1/residents", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let household = b["resident"]["household_id"]
        .as_str()
        .expect("household")
        .to_string();
    body["resident_code"] = json!(common::resident_code(2_000_000_032));
    body["given_name"] = json!("花子");
    body["given_kana"] = json!("ハナコ");
    body["relationship"] = json!("子");
    body["sex_code"] = json!(2);
    body["birth_date"] = json!((today - Duration::days(2 * 365)).to_string());
    body["household_id"] = json!(household);
    let (st, b) = c.post("/api/v1/residents", body).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .change(
            2_000_000_032,
            json!({"change": "death", "effective_date": today.to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // The day before the 転入 nothing changed; the 町字 of HOME is 5条.
    assert_eq!(population(day(31)).await, before_entry);
    let (h0, m0, f0) = town(&before_entry, "5条");
    let then = population(day(29)).await;
    assert_eq!(town(&then, "5条"), (h0 + 1, m0 + 1, f0 + 1), "{then}");
    assert_eq!(
        then["households"].as_u64(),
        before_entry["households"].as_u64().map(|h| h + 1)
    );
    let band = |p: &Value| p["ages"][0]["people"]["female"].as_u64().unwrap_or(0);
    assert_eq!(then["ages"][0]["band"], "0〜4歳");
    assert_eq!(band(&then), band(&before_entry) + 1, "{then}");
    // Today 花子 is no longer counted; 一郎 still is.
    let now = population(today.to_string()).await;
    assert_eq!(town(&now, "5条"), (h0 + 1, m0 + 1, f0), "{now}");

    // 異動集計: the 転入 in their month, the death in this one.
    let entry_month = movements(month_of(&day(30))).await;
    let (m, f) = kind(&moves_entry_month, "転入");
    assert_eq!(kind(&entry_month, "転入"), (m + 1, f + 1), "{entry_month}");
    let this_month = movements(month_of(&today.to_string())).await;
    let (m, f) = kind(&moves_this_month, "死亡");
    assert_eq!(kind(&this_month, "死亡"), (m, f + 1), "{this_month}");

    // CSV as spreadsheet programs read it.
    let r = c
        .clerk
        .get(s.url(&format!(
            "/api/v1/statistics/population?on={}&format=csv&table=town",
            day(29)
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("text/csv; charset=utf-8")
    );
    let csv = r.text().await.expect("csv");
    let mut lines = csv
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark")
        .lines();
    assert_eq!(lines.next(), Some("町字,世帯数,男,女,計,うち外国人"));
    let want = format!("5条,{},{},{},{},0", h0 + 1, m0 + 1, f0 + 1, m0 + f0 + 2);
    assert!(csv.lines().any(|l| l == want), "{want} in\n{csv}");
    assert!(
        csv.lines().last().unwrap_or("").starts_with("合計,"),
        "{csv}"
    );

    // A PDF to print, for both.
    for path in [
        format!("/api/v1/statistics/population?on={}&format=pdf", day(29)),
        format!(
            "/api/v1/statistics/movements?month={}&format=pdf",
            month_of(&day(30))
        ),
    ] {
        let r = c.clerk.get(s.url(&path)).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(
            r.headers()["content-type"].to_str().ok(),
            Some("application/pdf")
        );
        let pdf = r.bytes().await.expect("pdf");
        assert!(pdf.starts_with(b"%PDF-"), "{path}");
    }

    // A date to come, or a month that is not one, is refused with the field named.
    let r = c
        .clerk
        .get(s.url(&format!(
            "/api/v1/statistics/population?on={}",
            today + Duration::days(1)
        )))
        .send()
        .await
        .expect("send");
    let st = r.status();
    refused(st, &r.json().await.expect("json"), "on");
    let r = c
        .clerk
        .get(s.url("/api/v1/statistics/movements?month=2026-13"))
        .send()
        .await
        .expect("send");
    let st = r.status();
    refused(st, &r.json().await.expect("json"), "month");

    // Staff without 住民記録の照会 (the administrator) and anonymous callers get nothing.
    let admin = s.login(Some(&tenant_a()), "admin").await;
    for (who, client) in [("admin", admin), ("anonymous", reqwest::Client::new())] {
        for path in [
            format!("/api/v1/statistics/population?on={}", day(29)),
            "/api/v1/statistics/movements".to_string(),
        ] {
            let r = client.get(s.url(&path)).send().await.expect("send");
            let want = if who == "admin" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(r.status(), want, "{who} {path}");
        }
    }

    // Each count is in the access log, as an export.
    let auditor = s.login(Some(&tenant_a()), "auditor").await;
    let log: Value = auditor
        .get(s.url(&format!(
            "/api/v1/access-log?subject=statistics:population:{}&action=export",
            day(29)
        )))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(log.as_array().is_some_and(|rows| !rows.is_empty()), "{log}");
    s.stop().await;
}

/// 転出取消: a 転出予定 is withdrawn at the counter with a reason; the person is current again
/// (a 転居 is accepted), the 住民票 no longer prints the 転出予定, and the 異動履歴 says 転出取消.
/// Nothing to withdraw is refused, naming what to do.
async fn a_planned_move_out_is_withdrawn(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let n = 2_000_000_041;
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let cancel = |reason: &str| json!({"change": "cancel_move_out", "reason": reason, "effective_date": today.to_string()});
    let (st, b) = c.change(n, cancel("本人申出")).await;
    refused(st, &b, "change");
    let (st, b) = c
        .change(
            n,
            json!({"change": "move_out_planned", "planned_date": today.to_string(),
            "destination": "東京都新宿区", "effective_date": today.to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(c.resident(n).await["status"], "moving_out");
    let relocate =
        json!({"change": "relocate", "address": NEW_HOME, "effective_date": today.to_string()});
    let (st, b) = c.change(n, relocate.clone()).await;
    refused(st, &b, "change");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("転出取消"),
        "the refusal says what to do: {b}"
    );
    let (st, b) = c.change(n, cancel("  ")).await;
    refused(st, &b, "reason");
    let (st, b) = c.change(n, cancel("転出を取りやめたため本人申出")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(c.resident(n).await["status"], "current");
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(n)
        ))
        .await;
    assert!(history.to_string().contains("転出取消"), "{history}");
    // The 住民票 no longer carries the withdrawn 転出予定.
    s.set_issuer(&tenant_a()).await;
    let pdf = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(
            &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(n)],
            "requester": "本人", "purpose": "勤務先提出"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(pdf.status(), StatusCode::OK);
    let cert = certified(&pdf.bytes().await.expect("pdf"));
    assert!(
        !cert["members"][0]["notes"].to_string().contains("転出予定"),
        "{cert}"
    );
    // Current again: the 転居 the 転出予定 blocked is recorded.
    let (st, b) = c.change(n, relocate).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.stop().await;
}

/// 旧氏 (issue 18): recorded on request with its フリガナ, printed with the 氏名 on the 住民票
/// (the signed content carries it), deleted on request; each is a 異動 in the 異動履歴, and a
/// request that does not fit is refused naming the field.
async fn a_former_surname_is_recorded_printed_and_deleted(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let n = 2_000_000_043;
    let (st, b) = c.enter(n, "花子", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let set = |name: &str, kana: &str| {
        json!({"change": "former_surname", "former_surname": name, "former_surname_kana": kana,
            "effective_date": today.to_string()})
    };
    let delete = json!({"change": "delete_former_surname", "effective_date": today.to_string()});
    let (st, b) = c.change(n, delete.clone()).await;
    refused(st, &b, "former_surname");
    let (st, b) = c.change(n, set("鈴木", "すずき")).await;
    refused(st, &b, "former_surname_kana");
    let (st, b) = c.change(n, set(" ", "サトウ")).await;
    refused(st, &b, "former_surname");
    assert!(c.resident(n).await["record"]["former_surname"].is_null());
    let (st, b) = c.change(n, set("鈴木", "スズキ")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        c.resident(n).await["record"]["former_surname"],
        json!({"name": "鈴木", "kana": "スズキ"})
    );
    s.set_issuer(&tenant_a()).await;
    let issue = || async {
        let pdf = c
            .clerk
            .post(s.url("/api/v1/certificates"))
            .json(
                &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(n)],
                "requester": "本人", "purpose": "勤務先提出"}),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(pdf.status(), StatusCode::OK);
        certified(&pdf.bytes().await.expect("pdf"))
    };
    let cert = issue().await;
    assert_eq!(
        cert["members"][0]["former_surname"], "鈴木（スズキ）",
        "{cert}"
    );
    let (st, b) = c.change(n, delete.clone()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(c.resident(n).await["record"]["former_surname"].is_null());
    let cert = issue().await;
    assert!(cert["members"][0]["former_surname"].is_null(), "{cert}");
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(n)
        ))
        .await
        .to_string();
    assert!(
        history.contains("旧氏記載") && history.contains("旧氏削除"),
        "{history}"
    );
    s.stop().await;
}

/// 通称 (issue 18): a foreign resident's 通称 is recorded on request with its フリガナ, printed
/// with the 氏名 on the 住民票, and deleted on request; a Japanese resident's is refused, naming
/// the field, and nothing changes.
async fn an_alias_is_recorded_printed_and_deleted(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let (japanese, foreign) = (2_000_000_051, 2_000_000_052);
    let (st, b) = c.enter(japanese, "花子", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .post(
            "/api/v1/residents",
            json!({
                "resident_code": common::resident_code(foreign), "relationship": "世帯主",
                "family_name": "WANG", "given_name": "WEI", "family_kana": "ワン", "given_kana": "ウェイ",
                "birth_date": "1990-04-01", "sex_code": 1, "nationality": "中国",
                "residence_status": "永住者", "address": NEW_HOME,
                "reason": "move_in", "previous_address": "札幌市中央区",
                "effective_date": today.to_string()
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let set = |name: &str, kana: &str| {
        json!({"change": "alias", "alias": name, "alias_kana": kana,
            "effective_date": today.to_string()})
    };
    let delete = json!({"change": "delete_alias", "effective_date": today.to_string()});
    let (st, b) = c.change(japanese, set("山田", "ヤマダ")).await;
    refused(st, &b, "alias");
    assert!(c.resident(japanese).await["record"]["person"]["alias"].is_null());
    let (st, b) = c.change(foreign, delete.clone()).await;
    refused(st, &b, "alias");
    let (st, b) = c.change(foreign, set("王山", "おうやま")).await;
    refused(st, &b, "alias_kana");
    let (st, b) = c.change(foreign, set("王山", "オウヤマ")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let record = c.resident(foreign).await["record"].clone();
    assert_eq!(
        (&record["person"]["alias"], &record["alias_kana"]),
        (&json!("王山"), &json!("オウヤマ")),
        "{record}"
    );
    s.set_issuer(&tenant_a()).await;
    let issue = || async {
        let pdf = c
            .clerk
            .post(s.url("/api/v1/certificates"))
            .json(
                &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(foreign)],
                "requester": "本人", "purpose": "勤務先提出"}),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(pdf.status(), StatusCode::OK);
        certified(&pdf.bytes().await.expect("pdf"))
    };
    let cert = issue().await;
    assert_eq!(cert["members"][0]["alias"], "王山（オウヤマ）", "{cert}");
    let (st, b) = c.change(foreign, delete).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let record = c.resident(foreign).await["record"].clone();
    assert!(
        record["person"]["alias"].is_null() && record["alias_kana"].is_null(),
        "{record}"
    );
    let cert = issue().await;
    assert!(cert["members"][0]["alias"].is_null(), "{cert}");
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(foreign)
        ))
        .await
        .to_string();
    assert!(
        history.contains("通称記載") && history.contains("通称削除"),
        "{history}"
    );
    s.stop().await;
}

/// The value of the `<input name="…">` of a page.
fn input_value(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no input {name} in {html}"));
    let tag_end = at + html[at..].find('>').expect("the tag ends");
    html[at..tag_end]
        .split_once("value=\"")
        .and_then(|(_, v)| v.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

/// 届出日 and 異動日 (標準仕様書 §4.0.3, §4.1.0.2): the 異動 screen starts with the 異動日
/// empty and the 届出日 as today in Japan (和暦); a 届出日 after today is refused, naming
/// it, and nothing is recorded; today's is recorded.
async fn the_notification_date_is_today_or_before(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let n = 2_000_000_061;
    let (st, b) = c.enter(n, "次郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let code = common::resident_code(n);
    let html = c
        .clerk
        .get(s.url(&format!("/residents/{code}/change?kind=relocate")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    let today = today_in_japan();
    assert_eq!(input_value(&html, "effective_date"), "");
    assert_eq!(
        input_value(&html, "notified_date"),
        murakumo_documents::wareki(today)
    );
    let relocate = |notified: chrono::NaiveDate| {
        json!({"change": "relocate", "address": NEW_HOME, "effective_date": today.to_string(),
            "notified_date": notified.to_string()})
    };
    let (st, b) = c
        .change(n, relocate(today + chrono::Duration::days(1)))
        .await;
    refused(st, &b, "notified_date");
    assert_eq!(c.resident(n).await["record"]["address"]["text"], HOME);
    let (st, b) = c.change(n, relocate(today)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(c.resident(n).await["record"]["address"]["text"], NEW_HOME);
    s.stop().await;
}

/// 転出予定 (標準仕様書 §4.1.3.0.1, §5.1): a 転出届 ten days ahead is accepted and the person
/// is 転出予定; a 住民票 issued before that date leaves the 転出予定 off (on its date it is
/// printed: `certificates_name_the_household_head`).
async fn a_planned_move_out_is_left_off_certificates_before_its_date(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let n = 2_000_000_071;
    let (st, b) = c.enter(n, "三郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .change(n, json!({"change": "move_out_planned", "planned_date": (today + Duration::days(10)).to_string(),
            "destination": "東京都新宿区", "effective_date": today.to_string()}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(c.resident(n).await["status"], "moving_out");
    s.set_issuer(&tenant_a()).await;
    let pdf = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(
            &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(n)],
            "requester": "本人", "purpose": "勤務先提出"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(pdf.status(), StatusCode::OK);
    let notes = certified(&pdf.bytes().await.expect("pdf"))["members"][0]["notes"].to_string();
    assert!(
        notes.contains("札幌市中央区から転入") && !notes.contains("転出予定"),
        "{notes}"
    );
    s.stop().await;
}

/// カナ検索 (標準仕様書 §2.1.2): a search by フリガナ ignores 濁音 and 清音, and ウ, オ or a
/// long-vowel mark after an オ段 kana; different names stay apart. The record keeps its
/// フリガナ as written.
async fn a_kana_search_ignores_what_the_standard_says(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let (st, b) = c
        .post(
            "/api/v1/residents",
            json!({
                "resident_code": common::resident_code(2_000_000_081), "relationship": "世帯主",
                "family_name": "河野", "given_name": "太郎", "family_kana": "コウノ", "given_kana": "タロウ",
                "birth_date": "1970-05-05", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "河野太郎",
                "address": HOME, "reason": "move_in", "previous_address": "札幌市中央区",
                "effective_date": today_in_japan().to_string()
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let names = |kana: &str| {
        let c = &c;
        let kana = kana.to_string();
        async move {
            let found = c.get(&format!("/api/v1/residents?kana={kana}")).await;
            let mut names: Vec<String> = found
                .as_array()
                .expect("a list")
                .iter()
                .map(|r| {
                    let name = r["name"].as_str().unwrap_or_default();
                    name.split(['　', ' ']).next().unwrap_or(name).to_string()
                })
                .collect();
            names.sort();
            names
        }
    };
    for typed in ["コウノ", "コオノ", "コーノ", "ゴウノ", "こうの"] {
        assert_eq!(names(typed).await, ["河野"], "{typed}");
    }
    let yamada = names("ヤマダ").await;
    assert!(
        !yamada.is_empty() && yamada.iter().all(|n| n == "山田"),
        "{yamada:?}"
    );
    assert_eq!(names("ヤマタ").await, yamada);
    assert!(names("コイノ").await.is_empty());
    assert_eq!(
        c.resident(2_000_000_081).await["record"]["person"]["family_kana"],
        "コウノ"
    );
    s.stop().await;
}

/// 標準仕様書 §1.1.9: a foreign resident's 生年月日 and 在留期間の満了日 are shown and printed
/// in 西暦; a Japanese resident's stay in 和暦.
async fn a_foreign_residents_dates_are_in_the_western_calendar(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let (japanese, foreign) = (2_000_000_071, 2_000_000_072);
    let (st, b) = c.enter(japanese, "花子", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .post(
            "/api/v1/residents",
            json!({
                "resident_code": common::resident_code(foreign), "relationship": "世帯主",
                "family_name": "WANG", "given_name": "WEI", "family_kana": "ワン", "given_kana": "ウェイ",
                "birth_date": "1990-04-01", "sex_code": 1, "nationality": "中国",
                "residence_status": "留学", "period_until": "2030-03-31", "address": NEW_HOME,
                "reason": "move_in", "previous_address": "札幌市中央区",
                "effective_date": today.to_string()
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let screen = |n: u64| {
        let url = s.url(&format!("/residents/{}", common::resident_code(n)));
        let clerk = c.clerk.clone();
        async move {
            clerk
                .get(url)
                .send()
                .await
                .expect("send")
                .text()
                .await
                .expect("page")
        }
    };
    let html = screen(foreign).await;
    assert!(
        html.contains("1990年4月1日") && html.contains("2030年3月31日"),
        "{html}"
    );
    assert!(!html.contains("平成2年4月1日"), "{html}");
    let japanese_birth = c.resident(japanese).await["birth_date"]
        .as_str()
        .and_then(|d| d.parse::<chrono::NaiveDate>().ok())
        .expect("birth date");
    assert!(
        screen(japanese)
            .await
            .contains(&murakumo_documents::wareki(japanese_birth)),
        "a Japanese resident's 生年月日 stays in 和暦"
    );
    s.set_issuer(&tenant_a()).await;
    let pdf = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(
            &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(foreign)],
            "requester": "本人", "purpose": "勤務先提出"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(pdf.status(), StatusCode::OK);
    let cert = certified(&pdf.bytes().await.expect("pdf"));
    assert_eq!(cert["members"][0]["foreign"], true, "{cert}");
    let notes = cert["members"][0]["notes"].to_string();
    assert!(notes.contains("在留期間の満了日 2030年3月31日"), "{notes}");
}

/// 標準仕様書 §3.3: the household screen shows the members removed from the household (here
/// a child who died), apart from the current ones; the API lists them only when asked.
async fn the_household_screen_shows_removed_members_too(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let (head, child) = (2_000_000_081, 2_000_000_082);
    let (st, b) = c.enter(head, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let h = b["resident"]["household_id"]
        .as_str()
        .expect("household")
        .to_string();
    let (st, b) = c.enter(child, "次郎", "子", Some(&h), HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .change(
            child,
            json!({"change": "death", "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let current = c.get(&format!("/api/v1/households/{h}")).await;
    assert_eq!(current.as_array().map(Vec::len), Some(1), "{current}");
    let all = c
        .get(&format!("/api/v1/households/{h}?include_removed=true"))
        .await;
    let statuses: Vec<(&str, &str)> = all
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["resident_code"].as_str().unwrap_or(""),
                m["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let (head_code, child_code) = (common::resident_code(head), common::resident_code(child));
    assert_eq!(
        statuses,
        [
            (head_code.as_str(), "current"),
            (child_code.as_str(), "removed")
        ]
    );

    let html = c
        .clerk
        .get(s.url(&format!("/residents/{head_code}")))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    let removed_list = html
        .split("消除された世帯員")
        .nth(1)
        .expect("a list of removed members");
    assert!(
        removed_list.contains(&format!("/residents/{child_code}")),
        "{html}"
    );
    let current_list = html.split("消除された世帯員").next().unwrap_or("");
    assert!(
        !current_list.contains(&format!("/residents/{child_code}\"")),
        "{html}"
    );
    s.stop().await;
}

/// 標準仕様書 §2.3.1: while a 異動 is entered, its name (転居, 転出予定 …) is on the screen and
/// in the window's title — also when the form comes back refused.
async fn the_change_screen_names_the_change_being_entered(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let n = 2_000_000_091;
    let (st, b) = c.enter(n, "三郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let code = common::resident_code(n);
    let title_and_heading = |html: &str, label: &str| {
        assert!(
            html.contains(&format!("<title>異動の入力({label})"))
                && html.contains(&format!("<h2>{label}</h2>")),
            "{label}: {html}"
        );
    };
    for (kind, label) in [("relocate", "転居"), ("death", "死亡")] {
        let html = c
            .clerk
            .get(s.url(&format!("/residents/{code}/change?kind={kind}")))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("page");
        title_and_heading(&html, label);
    }
    // Refused (no address): the form comes back, still named.
    let r = c
        .clerk
        .post(s.url(&format!("/residents/{code}/change")))
        .form(&[
            ("change", "relocate"),
            ("address", ""),
            ("effective_date", today_in_japan().to_string().as_str()),
        ])
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error(), "{}", r.status());
    title_and_heading(&r.text().await.expect("page"), "転居");
}

/// 標準仕様書 §1.1.12: 本籍・筆頭者 may be recorded as 「なし」 or 「不明」 (無籍の方, a 本籍
/// not yet known), and a 住民票 that asks for the 本籍 prints what was recorded.
async fn honseki_may_be_recorded_as_none_or_unknown(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    s.set_issuer(&tenant_a()).await;
    for (n, honseki, hittosha) in [
        (2_000_000_101u64, "なし", "なし"),
        (2_000_000_102, "不明", "不明"),
    ] {
        let (st, b) = c
            .post(
                "/api/v1/residents",
                json!({
                    "resident_code": common::resident_code(n), "relationship": "世帯主",
                    "family_name": "佐藤", "given_name": "無籍", "family_kana": "サトウ", "given_kana": "ムセキ",
                    "birth_date": "1980-01-01", "sex_code": 1, "honseki": honseki, "hittosha": hittosha,
                    "address": HOME, "reason": "move_in", "previous_address": "札幌市中央区",
                    "effective_date": today_in_japan().to_string()
                }),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let pdf = c
            .clerk
            .post(s.url("/api/v1/certificates"))
            .json(
                &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(n)],
                "requester": "本人", "purpose": "手続き", "include_honseki": true}),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(pdf.status(), StatusCode::OK);
        let cert = certified(&pdf.bytes().await.expect("pdf"));
        let m = &cert["members"][0];
        assert_eq!(
            (&m["honseki"], &m["honseki_head"]),
            (&json!(honseki), &json!(hittosha)),
            "{m}"
        );
    }
}

/// 標準仕様書 §1.1.13: every person entered gets the next 宛名番号 (15 digits, the last a
/// モジュラス11 check digit), a household's members one each in order; it is on the resident's
/// screen, stays with the person, and is not a 異動 of the 異動履歴.
async fn every_person_entered_gets_the_next_addressee_number(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let number = |v: &Value| {
        v["record"]["addressee_number"]
            .as_str()
            .unwrap_or_else(|| panic!("no 宛名番号: {v}"))
            .to_string()
    };
    let (a, b) = (2_000_000_111, 2_000_000_112);
    for n in [a, b] {
        let (st, body) = c.enter(n, "一郎", "世帯主", None, HOME).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let first = number(&c.resident(a).await);
    assert_eq!(murakumo_resident::check_addressee_number(&first), Ok(()));
    let second = number(&c.resident(b).await);
    assert_eq!(
        second,
        murakumo_resident::next_addressee_number(Some(&first))
    );

    let today = today_in_japan().to_string();
    let person = |n: u64, given: &str, relationship: &str| {
        json!({
            "resident_code": common::resident_code(n), "relationship": relationship,
            "family_name": "鈴木", "given_name": given, "family_kana": "スズキ", "given_kana": "",
            "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "鈴木一郎",
            "address": "北海道深川市5条5番5号", "katagaki": "", "reason": "move_in",
            "previous_address": "旭川市", "effective_date": today
        })
    };
    let (head, wife) = (2_000_000_113, 2_000_000_114);
    let (st, body) = c
        .post(
            "/api/v1/residents/household",
            json!({"members": [person(head, "一郎", "世帯主"), person(wife, "花子", "妻")]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let third = number(&c.resident(head).await);
    assert_eq!(
        third,
        murakumo_resident::next_addressee_number(Some(&second))
    );
    assert_eq!(
        number(&c.resident(wife).await),
        murakumo_resident::next_addressee_number(Some(&third))
    );

    // It stays with the person through a 異動, and the 異動履歴 lists the 異動 only.
    let (st, body) = c
        .change(
            a,
            json!({"change": "relocate", "address": NEW_HOME, "effective_date": today}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(number(&c.resident(a).await), first);
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(a)
        ))
        .await;
    let labels: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["label"].as_str())
        .collect();
    assert_eq!(labels, ["転入", "転居"]);
    let html = c
        .clerk
        .get(s.url(&format!("/residents/{}", common::resident_code(a))))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    assert!(
        html.contains(&format!("<th scope=\"row\">宛名番号</th><td>{first}</td>")),
        "{html}"
    );
}

/// 標準仕様書 §1.1.11: a 続柄 is 世帯主, the standard terms joined with の up to four links,
/// 妻（未届）/夫（未届）, 縁故者 or 同居人 — by 転入 and by 世帯変更 alike; anything else is
/// refused, naming the field and what to write, and nothing is recorded. The forms offer the
/// common ones.
async fn relationships_are_written_as_the_standard_writes_them(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let h = family(&c).await;
    let head = c.ledger_head().await;
    let today = today_in_japan().to_string();
    for rel in ["長男", "内縁の妻", "子の子の子の子の子", "世帯主の子"] {
        let (st, body) = c.enter(2_000_000_004, "四郎", rel, Some(&h), HOME).await;
        refused(st, &body, "relationship");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(rel) && message.contains("子の妻"),
            "{message}"
        );
        let (st, body) = c
            .change(
                2_000_000_003,
                json!({"change": "household", "household_id": h, "relationship": rel,
                "effective_date": today}),
            )
            .await;
        refused(st, &body, "relationship");
    }
    assert_eq!(c.ledger_head().await, head, "nothing refused was recorded");
    assert_eq!(c.resident(2_000_000_003).await["relationship"], "子");

    for (n, rel) in [(2_000_000_004, "子の妻"), (2_000_000_005, "同居人")] {
        let (st, body) = c.enter(n, "四郎", rel, Some(&h), HOME).await;
        assert_eq!(st, StatusCode::OK, "{rel}: {body}");
        assert_eq!(c.resident(n).await["relationship"], rel);
    }
    let (st, body) = c
        .change(
            2_000_000_002,
            json!({"change": "household", "household_id": h, "relationship": "妻（未届）",
            "effective_date": today}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        c.resident(2_000_000_002).await["relationship"],
        "妻（未届）"
    );

    let html = c
        .clerk
        .get(s.url(&format!(
            "/residents/{}/change?kind=household",
            common::resident_code(2_000_000_003)
        )))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    assert!(
        html.contains("list=\"relationship-options\"")
            && html.contains("<option value=\"子の妻\">"),
        "{html}"
    );
}

/// 標準仕様書 §1.1.6: the items the standard never leaves blank (氏, 氏のフリガナ, 生年月日,
/// 性別, 本籍 (戸籍の表示) of a Japanese resident, 国籍・地域 and 在留資格 of a foreign one (one with
/// a 在留資格 but no 国籍・地域 is not taken for Japanese), 住所,
/// 住民となった年月日, 住民票コード, 続柄, 前住所 of a 転入) are refused blank, naming the item,
/// and nothing is recorded; 宛名番号 and 世帯番号 are never asked, the system gives them; the
/// others (名, 名のフリガナ, 筆頭者, 方書) may be blank.
async fn the_items_the_standard_requires_are_never_blank(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let n = 2_000_000_121;
    let japanese = json!({
        "resident_code": common::resident_code(n), "relationship": "世帯主",
        "family_name": "佐藤", "given_name": "一郎", "family_kana": "サトウ", "given_kana": "イチロウ",
        "birth_date": "1980-01-01", "sex_code": 1, "honseki": "北海道深川市", "hittosha": "佐藤一郎",
        "address": HOME, "katagaki": "", "reason": "move_in", "previous_address": "札幌市中央区",
        "effective_date": today_in_japan().to_string()
    });
    let mut foreign = japanese.clone();
    for k in ["honseki", "hittosha"] {
        foreign.as_object_mut().expect("object").remove(k);
    }
    foreign["nationality"] = json!("ベトナム");
    foreign["residence_status"] = json!("技能実習");
    let head = c.ledger_head().await;
    for (body, item, field) in [
        (&japanese, "family_name", "family_name"),
        (&japanese, "family_kana", "family_kana"),
        (&japanese, "birth_date", "birth_date"),
        (&japanese, "sex_code", "sex_code"),
        (&japanese, "honseki", "honseki"),
        (&japanese, "address", "address"),
        (&japanese, "effective_date", "effective_date"),
        (&japanese, "resident_code", "resident_code"),
        (&japanese, "relationship", "relationship"),
        (&japanese, "previous_address", "previous_address"),
        (&foreign, "nationality", "nationality"),
        (&foreign, "residence_status", "residence_status"),
    ] {
        for blank in [json!(""), json!(null)] {
            let mut b = body.clone();
            b[item] = blank.clone();
            let (st, answer) = c.post("/api/v1/residents", b).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{item} = {blank}: {answer}");
            assert_eq!(
                answer["error"]["field"], field,
                "{item} = {blank}: {answer}"
            );
        }
    }
    assert_eq!(c.ledger_head().await, head, "nothing refused was recorded");

    let mut optional = japanese.clone();
    for item in ["given_name", "given_kana", "hittosha", "katagaki"] {
        optional[item] = json!("");
    }
    let (st, answer) = c.post("/api/v1/residents", optional).await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    let record = c.resident(n).await;
    let (household, addressee) = (
        record["household_id"].as_str().unwrap_or(""),
        record["record"]["addressee_number"].as_str().unwrap_or(""),
    );
    assert!(!household.is_empty() && !addressee.is_empty(), "{record}");
}

/// 標準仕様書 §1.1.5: a 転出 recorded on its 転入通知 is removed (消除日) on the earlier of the
/// 転出予定日 and the 転入日 the notice gives, whatever 異動日 is sent; without a 転出予定, on
/// the 転入日. The 転出確定 form asks for it.
async fn a_move_out_is_removed_on_the_earlier_of_the_planned_and_the_moved_in_date(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan();
    let days = |n: i64| (today - chrono::Duration::days(n)).to_string();
    // (person, 転出予定日, 転入日 of the notice, the 消除日 expected)
    let cases = [
        (2_000_000_131u64, Some(days(20)), days(10), days(20)),
        (2_000_000_132, Some(days(10)), days(15), days(15)),
        (2_000_000_133, None, days(5), days(5)),
    ];
    for (n, planned, moved_in, removed_on) in cases {
        // Resident for two months already.
        let (st, b) = c
            .post(
                "/api/v1/residents",
                json!({
                    "resident_code": common::resident_code(n), "relationship": "世帯主",
                    "family_name": "佐藤", "given_name": "一郎", "family_kana": "サトウ",
                    "given_kana": "", "birth_date": "1980-01-01", "sex_code": 1,
                    "honseki": "北海道深川市", "hittosha": "佐藤一郎", "address": HOME,
                    "reason": "move_in", "previous_address": "札幌市中央区",
                    "effective_date": days(60)
                }),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        if let Some(planned) = planned {
            let (st, b) = c
                .change(
                    n,
                    // 届け出られたのは30日前。
                    json!({"change": "move_out_planned", "planned_date": planned,
                    "destination": "東京都新宿区", "effective_date": days(30),
                    "notified_date": days(30)}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
        let (st, b) = c
            .change(
                n,
                json!({"change": "move_out", "destination": "東京都新宿区西新宿2-8-1",
                "moved_in_date": moved_in, "effective_date": today.to_string()}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let record = c.resident(n).await;
        assert_eq!(record["status"], "removed", "{record}");
        let status = record["record"]["status"].to_string();
        assert!(
            status.contains(&removed_on),
            "{n}: {removed_on} in {status}"
        );
    }
    let (st, b) = c.enter(2_000_000_134, "四郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let html = c
        .clerk
        .get(s.url(&format!(
            "/residents/{}/change?kind=move_out",
            common::resident_code(2_000_000_134)
        )))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("page");
    assert!(html.contains("転入通知の転入日"), "{html}");
}

/// 標準仕様書 §4.1.2.1: a move to another building at the same 住所 (another 方書) is a 転居;
/// the same 住所 and 方書 again is refused and nothing is recorded.
async fn a_move_to_another_building_at_the_same_address_is_a_relocation(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let n = 2_000_000_301;
    let (st, body) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let relocate = |katagaki: &str| {
        json!({"change": "relocate", "address": HOME, "katagaki": katagaki,
               "effective_date": today_in_japan().to_string()})
    };
    let (st, b) = c.change(n, relocate("ひまわりハイツ202")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r = c.resident(n).await;
    assert_eq!(
        (&r["address"], &r["katagaki"]),
        (&json!(HOME), &json!("ひまわりハイツ202"))
    );
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(n)
        ))
        .await;
    let labels: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["label"].as_str())
        .collect();
    assert_eq!(labels, vec!["転入", "転居"], "{history}");

    let head = c.ledger_head().await;
    let (st, b) = c.change(n, relocate(" ひまわりハイツ202 ")).await;
    refused(st, &b, "address");
    assert!(b.to_string().contains("方書"), "says what to enter: {b}");
    assert_eq!(c.ledger_head().await, head, "nothing recorded");
    s.stop().await;
}

/// 標準仕様書 §2.2.1/M2: the history of a person's 旧氏 and of a foreign resident's 通称 can be
/// read back: each 記載, 変更 and 削除 in order with what was recorded (and its フリガナ), on
/// the API and on the resident's screen.
async fn the_history_of_former_surnames_and_aliases_can_be_read_back(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan().to_string();
    let (japanese, foreign) = (2_000_000_311, 2_000_000_312);
    let (st, b) = c.enter(japanese, "花子", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = c
        .post(
            "/api/v1/residents",
            json!({
                "resident_code": common::resident_code(foreign), "relationship": "世帯主",
                "family_name": "WANG", "given_name": "WEI", "family_kana": "ワン", "given_kana": "ウェイ",
                "birth_date": "1990-04-01", "sex_code": 1, "nationality": "中国",
                "residence_status": "永住者", "address": NEW_HOME,
                "reason": "move_in", "previous_address": "札幌市中央区", "effective_date": today
            }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    for change in [
        json!({"change": "former_surname", "former_surname": "鈴木", "former_surname_kana": "スズキ"}),
        json!({"change": "former_surname", "former_surname": "高橋", "former_surname_kana": "タカハシ"}),
        json!({"change": "delete_former_surname"}),
    ] {
        let mut change = change;
        change["effective_date"] = json!(today);
        let (st, b) = c.change(japanese, change).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    for change in [
        json!({"change": "alias", "alias": "王山", "alias_kana": "オウヤマ"}),
        json!({"change": "delete_alias"}),
        json!({"change": "alias", "alias": "王野", "alias_kana": "オウノ"}),
    ] {
        let mut change = change;
        change["effective_date"] = json!(today);
        let (st, b) = c.change(foreign, change).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let history = |n: u64| {
        let c = &c;
        async move {
            let h = c
                .get(&format!(
                    "/api/v1/residents/{}/history",
                    common::resident_code(n)
                ))
                .await;
            h.as_array()
                .expect("history")
                .iter()
                .map(|i| {
                    assert_eq!(
                        i["actor"],
                        json!(format!("staff:s-clerk-{}", tenant_a())),
                        "{i}"
                    );
                    (
                        i["label"].as_str().unwrap_or_default().to_string(),
                        i["detail"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .skip(1)
                .collect::<Vec<_>>()
        }
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        history(japanese).await,
        pairs(&[
            ("旧氏記載", "鈴木(スズキ)"),
            ("旧氏記載", "高橋(タカハシ)"),
            ("旧氏削除", "")
        ])
    );
    assert_eq!(
        history(foreign).await,
        pairs(&[
            ("通称記載", "王山(オウヤマ)"),
            ("通称削除", ""),
            ("通称記載", "王野(オウノ)")
        ])
    );
    let html = c
        .html(&format!("/residents/{}", common::resident_code(japanese)))
        .await;
    assert!(
        html.contains("<th>内容</th>")
            && html.contains("鈴木(スズキ)")
            && html.contains("高橋(タカハシ)"),
        "{html}"
    );
    s.stop().await;
}

/// 標準仕様書 §1.3.9/M2: the 職務代理者's title and name, set with the 適用開始日 of the 代理
/// and cleared from the day after it ends, certify in place of the 市区町村長 while in force,
/// the switch going by date on its own; a deputy with a title but no name certifies nothing.
async fn a_deputy_certifies_while_in_force_and_the_mayor_again_after(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let admin = s.login(Some(&tenant_a()), "admin").await;
    let today = today_in_japan();
    let tomorrow = today + chrono::Days::new(1);
    let n = 2_000_000_321;
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.set_issuer(&tenant_a()).await;
    let set = |key: &'static str, value: Option<&'static str>, from: chrono::NaiveDate| {
        let admin = &admin;
        let s = &s;
        async move {
            let r = admin
                .put(s.url(&format!("/api/v1/settings/{key}")))
                .json(&json!({"value": value, "reason": "職務代理", "effective_from": from.to_string()}))
                .send()
                .await
                .expect("send");
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "{key}: {}",
                r.text().await.unwrap_or_default()
            );
        }
    };
    let issue = || async {
        let r = c
            .clerk
            .post(s.url("/api/v1/certificates"))
            .json(
                &json!({"kind": "resident_copy", "resident_codes": [common::resident_code(n)],
                "requester": "本人", "purpose": "手続き"}),
            )
            .send()
            .await
            .expect("send");
        let st = r.status();
        let bytes = r.bytes().await.expect("body");
        if st != StatusCode::OK {
            return Err((st, String::from_utf8_lossy(&bytes).to_string()));
        }
        let cert = certified(&bytes);
        Ok((
            cert["issuer_title"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            cert["issuer_name"].as_str().unwrap_or_default().to_string(),
        ))
    };
    let mayor = Ok(("深川市長".to_string(), "山下 貴史".to_string()));
    let deputy = Ok((
        "深川市長職務代理者 深川市副市長".to_string(),
        "副田 一郎".to_string(),
    ));
    assert_eq!(issue().await, mayor);

    // The 代理 from today; it ends today, so it is cleared from tomorrow.
    set(
        "certificate.deputy_title",
        Some("深川市長職務代理者 深川市副市長"),
        today,
    )
    .await;
    set("certificate.deputy_name", Some("副田 一郎"), today).await;
    set("certificate.deputy_title", None, tomorrow).await;
    set("certificate.deputy_name", None, tomorrow).await;
    assert_eq!(issue().await, deputy);
    // Tomorrow the 市区町村長 certifies again, without anyone changing anything then.
    let tomorrows: Value = admin
        .get(s.url(&format!("/api/v1/settings?on={tomorrow}")))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let value = |key: &str| {
        tomorrows
            .as_array()
            .expect("settings")
            .iter()
            .find(|v| v["key"] == key)
            .map(|v| v["value"].clone())
    };
    assert_eq!(value("certificate.deputy_title"), Some(Value::Null));
    assert_eq!(value("certificate.deputy_name"), Some(Value::Null));
    assert_eq!(value("certificate.issuer_title"), Some(json!("深川市長")));

    // A deputy's name cleared today but not the title: nothing is issued, and it says why.
    set("certificate.deputy_name", None, today).await;
    let refused = issue().await.expect_err("refused");
    assert_eq!(refused.0, StatusCode::CONFLICT, "{}", refused.1);
    assert!(refused.1.contains("職務代理者"), "{}", refused.1);
    set("certificate.deputy_title", None, today).await;
    assert_eq!(issue().await, mayor);
    s.stop().await;
}

/// 標準仕様書 §2.1.1: each staff member's searches are kept as their 検索履歴 — newest first,
/// each set of conditions once — to search again from; nobody sees another's.
async fn searches_are_kept_per_staff_member_to_search_again(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    for query in [
        "kana=ヤマダ",
        "name=山田&birth_date=1980-05-05&address=北海道1条",
        "kana=ヤマダ",
    ] {
        let found = c.get(&format!("/api/v1/residents?{query}")).await;
        assert!(found.is_array(), "{found}");
    }
    let history = c.get("/api/v1/search-history").await;
    let conditions: Vec<Value> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|h| json!([h["kana"], h["name"], h["birth_date"], h["address"]]))
        .collect();
    assert_eq!(
        conditions,
        vec![
            json!(["ヤマダ", null, null, null]),
            json!([null, "山田", "1980-05-05", "北海道1条"]),
        ],
        "{history}"
    );
    // Another staff member's history holds none of the clerk's searches.
    let other = s.login(Some(&tenant_a()), "all").await;
    let theirs: Value = other
        .get(s.url("/api/v1/search-history"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(theirs, json!([]));
    // The search screen offers them, each a link that searches again.
    let html = c.html("/residents").await;
    assert!(html.contains("最近の検索"), "{html}");
    let link = "/residents?kana=%E3%83%A4%E3%83%9E%E3%83%80";
    assert!(html.contains(link), "{html}");
    let again = c.html(link).await;
    assert!(again.contains("5 件"), "{again}");
    s.stop().await;
}

/// Sets the 公印 and the 認証者, so that 印鑑登録証明書 can be issued.
async fn seal_office(c: &Counter<'_>) {
    let admin = c.s.login(Some(&tenant_a()), "admin").await;
    let r = admin
        .put(c.s.url("/api/v1/official-seal"))
        .header("content-type", "image/png")
        .body(murakumo_seal::sample_impression(1))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    c.s.set_issuer(&tenant_a()).await;
}

/// Registers a seal of resident `n` with the card `card`; its 印鑑登録番号.
async fn register_seal(c: &Counter<'_>, n: u64, card: &str) -> String {
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.encode(murakumo_seal::sample_impression(n));
    let (st, b) = c
        .post(
            "/api/v1/seals",
            json!({"resident_code": common::resident_code(n), "card_number": card, "impression_png": png}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["registration_number"]
        .as_str()
        .expect("number")
        .to_string()
}

/// Issues a 印鑑登録証明書 with the card and the 申請書's 氏名・生年月日: the certified content
/// and the 発行番号.
async fn issue_seal_certificate(
    c: &Counter<'_>,
    card: &str,
    (name, birth): (&str, &str),
    requester: &str,
) -> (Value, String) {
    let r = c
        .clerk
        .post(c.s.url("/api/v1/certificates"))
        .json(
            &json!({"kind": "seal", "card_number": card, "requester": requester,
            "purpose": "不動産登記", "applicant_name": name, "applicant_birth_date": birth}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let number = r.headers()["x-issue-number"]
        .to_str()
        .expect("number")
        .to_string();
    (certified(&r.bytes().await.expect("pdf")), number)
}

/// 印鑑登録事務 M-INKAN-18: a 転居 and a 氏名変更 of the registrant reach the 印鑑登録証明書 at
/// once — it certifies the registrant's current 住所 and 氏名 from the register, and the 申請書
/// is checked against the current 氏名.
async fn a_seal_certificate_carries_the_registrants_current_name_and_address(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    seal_office(&c).await;
    let n = 2_000_000_331;
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let birth = c.resident(n).await["birth_date"]
        .as_str()
        .expect("birth")
        .to_string();
    register_seal(&c, n, "C-331").await;
    let member = |cert: &Value| {
        (
            cert["address"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            cert["members"][0]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (cert, _) = issue_seal_certificate(&c, "C-331", ("佐藤　一郎", &birth), "本人").await;
    assert_eq!(
        member(&cert),
        (HOME.to_string(), "佐藤　一郎".to_string()),
        "{cert}"
    );
    let today = today_in_japan().to_string();
    for change in [
        json!({"change": "relocate", "address": NEW_HOME, "effective_date": today}),
        // The seal (of the 名 only, say) still shows the 氏名: kept (M-INKAN-17).
        json!({"change": "name", "family_name": "高橋", "given_name": "一郎",
            "family_kana": "タカハシ", "given_kana": "イチロウ", "seal": "keep", "effective_date": today}),
    ] {
        let (st, b) = c.change(n, change).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let (cert, _) = issue_seal_certificate(&c, "C-331", ("高橋　一郎", &birth), "本人").await;
    assert_eq!(
        member(&cert),
        (NEW_HOME.to_string(), "高橋　一郎".to_string()),
        "{cert}"
    );
    // The 申請書 under the former 氏名 no longer matches.
    let r = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(&json!({"kind": "seal", "card_number": "C-331", "requester": "本人",
            "purpose": "不動産登記", "applicant_name": "佐藤　一郎", "applicant_birth_date": birth}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop().await;
}

/// 印鑑登録事務 M-INKAN-20: every 印鑑登録証明書 issued is in the registration's 交付履歴
/// (発行番号, 交付日, 交付者; API and screen) and in the access log under its 発行番号 with the
/// 請求者 and 利用目的.
async fn seal_certificates_have_an_issue_history_and_access_records(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    seal_office(&c).await;
    let n = 2_000_000_341;
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let birth = c.resident(n).await["birth_date"]
        .as_str()
        .expect("birth")
        .to_string();
    let number = register_seal(&c, n, "C-341").await;
    let history = || async { c.get(&format!("/api/v1/seals/{number}/issuances")).await };
    assert_eq!(history().await, json!([]));
    let mut issued = Vec::new();
    for requester in ["本人", "代理人"] {
        let (_, no) = issue_seal_certificate(&c, "C-341", ("佐藤　一郎", &birth), requester).await;
        issued.push((no, requester));
    }
    let listed = history().await;
    let rows: Vec<(String, String)> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|i| {
            assert_eq!(i["issue_date"], json!(today_in_japan().to_string()), "{i}");
            (
                i["issue_number"].as_str().unwrap_or_default().to_string(),
                i["actor"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let clerk = format!("staff:s-clerk-{}", tenant_a());
    assert_eq!(
        rows,
        issued
            .iter()
            .map(|(no, _)| (no.clone(), clerk.clone()))
            .collect::<Vec<_>>()
    );
    let logged = s
        .access_log(&format!(
            "subject=resident:{}&action=issue",
            common::resident_code(n)
        ))
        .await;
    for (no, requester) in &issued {
        assert!(
            logged.iter().any(
                |l| l["detail"] == json!(format!("{no} 請求者: {requester}"))
                    && l["purpose"] == "不動産登記"
                    && l["actor"] == json!(clerk)
            ),
            "{no}: {logged:?}"
        );
    }
    let html = c.html(&format!("/seals/{number}")).await;
    assert!(
        html.contains("交付履歴") && issued.iter().all(|(no, _)| html.contains(no.as_str())),
        "{html}"
    );
    s.stop().await;
}

/// 印鑑登録事務 M-INKAN-17: a registrant's 氏名変更 asks the clerk what the registered seal
/// shows; when it no longer shows the 氏名 the registration ends (職権抹消, in the same
/// append, its card no longer certifies), when it still does (名, 旧氏 …) it stays; without a
/// choice nothing is recorded. A person without a 印鑑登録 is not asked.
async fn a_name_change_ends_a_seal_that_no_longer_shows_the_name(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    seal_office(&c).await;
    let (n, unregistered) = (2_000_000_351, 2_000_000_352);
    for m in [n, unregistered] {
        let (st, b) = c.enter(m, "一郎", "世帯主", None, HOME).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let number = register_seal(&c, n, "C-351").await;
    let today = today_in_japan().to_string();
    let rename = |family: &str, kana: &str, seal: Option<&str>| {
        let mut change = json!({"change": "name", "family_name": family, "given_name": "一郎",
            "family_kana": kana, "given_kana": "イチロウ", "effective_date": today});
        if let Some(seal) = seal {
            change["seal"] = json!(seal);
        }
        change
    };
    let status = || async {
        c.get(&format!(
            "/api/v1/seals?registration_number={number}&include_cancelled=true"
        ))
        .await[0]
            .clone()
    };
    let head = c.ledger_head().await;
    for choice in [None, Some("maybe")] {
        let (st, b) = c.change(n, rename("高橋", "タカハシ", choice)).await;
        refused(st, &b, "seal");
    }
    assert_eq!(c.ledger_head().await, head, "nothing recorded");
    // Not asked of someone without a 印鑑登録.
    let (st, b) = c
        .change(unregistered, rename("高橋", "タカハシ", None))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Still shows the 氏名: kept.
    let (st, b) = c.change(n, rename("高橋", "タカハシ", Some("keep"))).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(status().await["status"], "active");
    // No longer does: ended ex officio with the 氏名変更, and its card certifies nothing.
    let (st, b) = c.change(n, rename("田中", "タナカ", Some("end"))).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let seal = status().await;
    assert_eq!(seal["status"], "cancelled", "{seal}");
    assert!(
        seal.to_string().contains("氏名変更"),
        "the reason names the 氏名変更: {seal}"
    );
    let birth = c.resident(n).await["birth_date"]
        .as_str()
        .expect("birth")
        .to_string();
    let r = c
        .clerk
        .post(s.url("/api/v1/certificates"))
        .json(&json!({"kind": "seal", "card_number": "C-351", "requester": "本人",
            "purpose": "不動産登記", "applicant_name": "田中　一郎", "applicant_birth_date": birth}))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error(), "{}", r.status());
    s.stop().await;
}

/// The text a printer would print from `pdf` (poppler's pdftotext).
fn printed_text(pdf: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pdf)
        .expect("write");
    let out = child.wait_with_output().expect("pdftotext");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// 印鑑登録事務 M-INKAN-19: a registration the municipality ended (here with the registrant's
/// 死亡) has its 印鑑登録抹消通知書 — to whom, the 登録番号, the dates and the 事由 — as a PDF
/// from the registration's screen; one in force, or ended at the registrant's request, has
/// none.
async fn a_seal_ended_ex_officio_has_a_removal_notice(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    seal_office(&c).await;
    let (dies, stays) = (2_000_000_361, 2_000_000_362);
    for m in [dies, stays] {
        let (st, b) = c.enter(m, "一郎", "世帯主", None, HOME).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let ended = register_seal(&c, dies, "C-361").await;
    let active = register_seal(&c, stays, "C-362").await;
    let notice = |number: String| {
        let c = &c;
        async move {
            c.clerk
                .get(c.s.url(&format!("/api/v1/seals/{number}/removal-notice")))
                .send()
                .await
                .expect("send")
        }
    };
    assert_eq!(notice(active.clone()).await.status(), StatusCode::CONFLICT);
    let (st, b) = c
        .change(
            dies,
            json!({"change": "death", "effective_date": today_in_japan().to_string()}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r = notice(ended.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("application/pdf")
    );
    let text = printed_text(&r.bytes().await.expect("pdf"));
    for want in [
        "印鑑登録抹消通知書",
        "佐藤",
        "一郎 様",
        "北海道深川市5条5番",
        ended.as_str(),
        "死亡",
        "深川市長",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    let html = c.html(&format!("/seals/{ended}")).await;
    assert!(
        html.contains(&format!("/api/v1/seals/{ended}/removal-notice")),
        "{html}"
    );
    // Ended at the registrant's request (廃止): no notice.
    let (st, b) = c
        .post(
            &format!("/api/v1/seals/{active}/cancel"),
            json!({"reason": "abolished"}),
        )
        .await;
    assert!(st.is_success(), "{b}");
    assert_eq!(notice(active).await.status(), StatusCode::CONFLICT);
    s.stop().await;
}

/// 標準仕様書 §4.1.1.2: one who moved away and comes back (a 転入 under the 住民票コード of a
/// 除票 here) is a 再転入 and keeps the 宛名番号 given before, so the other business systems
/// still know the person by it; the next new person still gets the next number.
async fn one_who_comes_back_keeps_the_addressee_number(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let today = today_in_japan().to_string();
    let (n, newcomer) = (2_000_000_371, 2_000_000_372);
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let number = |v: &Value| v["record"]["addressee_number"].as_str().map(str::to_string);
    let before = number(&c.resident(n).await).expect("a 宛名番号");
    for change in [
        json!({"change": "move_out_planned", "planned_date": today, "destination": "東京都新宿区", "effective_date": today}),
        json!({"change": "move_out", "destination": "東京都新宿区", "effective_date": today}),
    ] {
        let (st, b) = c.change(n, change).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    assert_eq!(c.resident(n).await["status"], "removed");
    let (st, b) = c.enter(n, "一郎", "世帯主", None, NEW_HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let back = c.resident(n).await;
    assert_eq!(back["status"], "current", "{back}");
    assert_eq!(number(&back), Some(before.clone()), "{back}");
    let (st, b) = c.enter(newcomer, "二郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        number(&c.resident(newcomer).await),
        Some(murakumo_resident::next_addressee_number(Some(&before))),
        "the next number follows the highest given, once"
    );
    s.stop().await;
}

/// 標準仕様書 §4.0.10 (一括入力, 標準オプション): one entry applies the same content to
/// several people — a 転居 of the whole household (`household_move: all`) moves every member
/// to the same address on the same 異動日 with one request, each with a 転居 of their own in
/// their 異動履歴; a household's 転入 is one request too (a_household_moves_in_together_or_not_at_all).
async fn one_request_applies_the_same_change_to_the_whole_household(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    family(&c).await;
    let today = today_in_japan().to_string();
    let head = c.ledger_head().await;
    let (st, b) = c
        .change(
            2_000_000_001,
            json!({"change": "relocate", "address": NEW_HOME, "katagaki": "203号",
                   "household_move": "all", "effective_date": today}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        c.ledger_head().await,
        head + 3,
        "one 転居 per member, in one append"
    );
    for n in 2_000_000_001..=2_000_000_003 {
        let r = c.resident(n).await;
        assert_eq!(
            (&r["address"], &r["katagaki"], &r["record"]["address_since"]),
            (&json!(NEW_HOME), &json!("203号"), &json!(today)),
            "{r}"
        );
        let history = c
            .get(&format!(
                "/api/v1/residents/{}/history",
                common::resident_code(n)
            ))
            .await;
        let last = history
            .as_array()
            .and_then(|h| h.last())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (&last["label"], &last["effective_date"]),
            (&json!("転居"), &json!(today)),
            "{history}"
        );
    }
    s.stop().await;
}

/// 標準仕様書 §1.1.18/M2: the フリガナ確認フラグ — recorded by a supervisor's 職権修正 once
/// the フリガナ is confirmed (with the 戸籍's 振り仮名), shown on the resident's screen and in
/// the record; a new フリガナ (氏名変更) is unconfirmed again; a value other than 1 or 0 is
/// refused. (The 旧氏 and 通称 keep their フリガナ: a_former_surname_is_recorded_printed_and_deleted,
/// an_alias_is_recorded_printed_and_deleted.)
async fn the_kana_is_marked_confirmed_until_it_changes(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let supervisor = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "all").await,
    };
    let n = 2_000_000_381;
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let confirmed = |v: &Value| v["record"]["kana_confirmed"].as_bool().unwrap_or(false);
    let screen = || async {
        c.html(&format!("/residents/{}", common::resident_code(n)))
            .await
    };
    assert!(!confirmed(&c.resident(n).await));
    assert!(screen().await.contains("未確認"));
    let today = today_in_japan().to_string();
    let mark = |value: &str| {
        json!({"change": "correct", "field": "kana_confirmed", "value": value,
            "reason": "戸籍の振り仮名と照合", "effective_date": today})
    };
    let (st, _) = c.change(n, mark("1")).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a 職権修正 is the supervisor's");
    let (st, b) = supervisor.change(n, mark("2")).await;
    refused(st, &b, "value");
    let (st, b) = supervisor.change(n, mark("1")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(confirmed(&c.resident(n).await));
    assert!(screen().await.contains("確認済"));
    let history = c
        .get(&format!(
            "/api/v1/residents/{}/history",
            common::resident_code(n)
        ))
        .await
        .to_string();
    assert!(
        history.contains("職権修正(フリガナ確認フラグ)"),
        "{history}"
    );
    // A new フリガナ is to be confirmed again; the same フリガナ stays confirmed.
    let rename = |family: &str, kana: &str| {
        json!({"change": "name", "family_name": family, "given_name": "一郎",
            "family_kana": kana, "given_kana": "", "effective_date": today})
    };
    let kana = c.resident(n).await["record"]["person"]["family_kana"]
        .as_str()
        .expect("kana")
        .to_string();
    let (st, b) = c.change(n, rename("佐籐", &kana)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(confirmed(&c.resident(n).await), "same フリガナ");
    let (st, b) = c.change(n, rename("高橋", "タカハシ")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(!confirmed(&c.resident(n).await), "a new フリガナ");
    s.stop().await;
}

/// 標準仕様書 §5.4: the 方書 is printed, never left out, on every certificate — 住民票の写し,
/// 記載事項証明書, 印鑑登録証明書 and 除票の写し — in the certified content and on the sheet.
async fn the_katagaki_is_on_every_certificate(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    seal_office(&c).await;
    let n = 2_000_000_391;
    const KATAGAKI: &str = "さくらハイツ101号";
    let (st, b) = c.enter(n, "一郎", "世帯主", None, HOME).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let today = today_in_japan().to_string();
    let (st, b) = c
        .change(
            n,
            json!({"change": "relocate", "address": NEW_HOME, "katagaki": KATAGAKI, "effective_date": today}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let birth = c.resident(n).await["birth_date"]
        .as_str()
        .expect("birth")
        .to_string();
    register_seal(&c, n, "C-391").await;
    let issue = |body: Value| {
        let c = &c;
        async move {
            let r = c
                .clerk
                .post(c.s.url("/api/v1/certificates"))
                .json(&body)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), StatusCode::OK, "{body}");
            r.bytes().await.expect("pdf").to_vec()
        }
    };
    let code = common::resident_code(n);
    let mut pdfs = Vec::new();
    for kind in ["resident_copy", "record_statement"] {
        pdfs.push((
            kind,
            issue(json!({"kind": kind, "resident_codes": [code], "requester": "本人", "purpose": "手続き"}))
                .await,
        ));
    }
    pdfs.push((
        "seal",
        issue(
            json!({"kind": "seal", "card_number": "C-391", "requester": "本人", "purpose": "登記",
            "applicant_name": "佐藤　一郎", "applicant_birth_date": birth}),
        )
        .await,
    ));
    for change in [
        json!({"change": "move_out_planned", "planned_date": today, "destination": "東京都新宿区", "effective_date": today}),
        json!({"change": "move_out", "destination": "東京都新宿区", "effective_date": today}),
    ] {
        let (st, b) = c.change(n, change).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    pdfs.push((
        "removed_copy",
        issue(json!({"kind": "removed_copy", "resident_codes": [code], "requester": "本人", "purpose": "手続き"}))
            .await,
    ));
    for (kind, pdf) in &pdfs {
        let cert = certified(pdf);
        assert_eq!(cert["address"]["katagaki"], KATAGAKI, "{kind}: {cert}");
        let text = printed_text(pdf);
        assert!(text.contains(KATAGAKI), "{kind} prints the 方書:\n{text}");
    }
    s.stop().await;
}

/// 標準仕様書 §2.1.3/M2 (in part): a person is found by the 宛名番号 the other business
/// systems know them by — exactly, on the API, the search screen and in the 検索履歴.
async fn a_person_is_found_by_the_addressee_number(db: Db) {
    let s = TestServer::start(db).await;
    let c = Counter {
        s: &s,
        clerk: s.login(Some(&tenant_a()), "clerk").await,
    };
    let (n, other) = (2_000_000_401, 2_000_000_402);
    for m in [n, other] {
        let (st, b) = c.enter(m, "一郎", "世帯主", None, HOME).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let number = c.resident(n).await["record"]["addressee_number"]
        .as_str()
        .expect("a 宛名番号")
        .to_string();
    let found = c
        .get(&format!("/api/v1/residents?addressee_number={number}"))
        .await;
    let codes: Vec<&str> = found
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["resident_code"].as_str())
        .collect();
    assert_eq!(codes, vec![common::resident_code(n)], "{found}");
    let none = c
        .get(&format!("/api/v1/residents?addressee_number={number}1"))
        .await;
    assert_eq!(none, json!([]));
    let html = c
        .html(&format!("/residents?addressee_number={number}"))
        .await;
    assert!(
        html.contains("1 件") && html.contains(&common::resident_code(n)),
        "{html}"
    );
    let history = c.get("/api/v1/search-history").await;
    assert_eq!(history[0]["addressee_number"], json!(number), "{history}");
    s.stop().await;
}

common::on_both_backends!(
    a_move_out_is_removed_on_the_earlier_of_the_planned_and_the_moved_in_date,
    the_items_the_standard_requires_are_never_blank,
    relationships_are_written_as_the_standard_writes_them,
    a_kana_search_ignores_what_the_standard_says,
    a_planned_move_out_is_left_off_certificates_before_its_date,
    the_notification_date_is_today_or_before,
    an_alias_is_recorded_printed_and_deleted,
    a_foreign_residents_dates_are_in_the_western_calendar,
    the_household_screen_shows_removed_members_too,
    the_change_screen_names_the_change_being_entered,
    honseki_may_be_recorded_as_none_or_unknown,
    every_person_entered_gets_the_next_addressee_number,
    a_former_surname_is_recorded_printed_and_deleted,
    a_planned_move_out_is_withdrawn,
    statistics_count_the_register_as_it_stood,
    a_household_moves_in_together_or_not_at_all,
    a_past_household_certificate_prints_the_household_then,
    a_refused_issuance_takes_no_number,
    a_birth_gets_the_next_code_of_the_allotted_range,
    names_no_certificate_can_print_are_refused_at_entry,
    households_keep_one_address_and_one_head,
    dates_follow_the_record,
    certificates_name_the_household_head,
    a_move_to_another_building_at_the_same_address_is_a_relocation,
    the_history_of_former_surnames_and_aliases_can_be_read_back,
    a_deputy_certifies_while_in_force_and_the_mayor_again_after,
    searches_are_kept_per_staff_member_to_search_again,
    a_seal_certificate_carries_the_registrants_current_name_and_address,
    seal_certificates_have_an_issue_history_and_access_records,
    a_name_change_ends_a_seal_that_no_longer_shows_the_name,
    a_seal_ended_ex_officio_has_a_removal_notice,
    one_who_comes_back_keeps_the_addressee_number,
    one_request_applies_the_same_change_to_the_whole_household,
    the_kana_is_marked_confirmed_until_it_changes,
    the_katagaki_is_on_every_certificate,
    a_person_is_found_by_the_addressee_number,
);

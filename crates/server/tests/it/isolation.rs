//! Tenant isolation judged by what the other tenant holds: staff of 深川市
//! (A) request every API route (from the OpenAPI document) and every
//! screen (from the router's own source), aimed at 北竜町's (B) data, and
//! no answer may contain anything of B's — any string of B's ledger that A's
//! lacks (住民票コード, names, 印鑑登録番号, card numbers, 発行番号, staff
//! ids and logins …), B's 印影, or a certificate.

use crate::common;

use std::collections::BTreeSet;

use common::{B_MARKERS, B_SEAL, Db, TestServer, b_resident, resident_code, tenant_a, tenant_b};
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_resident::ResidentEvent;
use murakumo_seal::{OfficialSealSet, SealEvent};
use murakumo_store::{Chain, Store};
use murakumo_tenancy::CertificateIssued;
use murakumo_tenancy::TenancyEvent;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The screens and other non-API routes, as the router registers them in
/// `crates/server/src/lib.rs` and `saml.rs`; checked against that source by
/// `the_screen_list_is_the_routers`, so a new screen cannot be forgotten.
const SCREENS: &[&str] = &[
    "/",
    "/access-log",
    "/assets/keys.js",
    "/assets/murakumo.css",
    "/assets/verify.js",
    "/changes/{change_id}/approve",
    "/changes/{change_id}/reject",
    "/healthz",
    "/inspection-copy",
    "/login",
    "/logout",
    "/metrics",
    "/official-seal",
    "/official-seal/image",
    "/protections",
    "/residents",
    "/residents/new",
    "/residents/new-household",
    "/residents/{code}",
    "/residents/{code}/certificate",
    "/residents/{code}/change",
    "/saml/acs",
    "/saml/login",
    "/saml/logout",
    "/saml/metadata",
    "/saml/slo",
    "/seals",
    "/seals/certificate",
    "/seals/new",
    "/seals/{number}",
    "/seals/{number}/cancel",
    "/seals/{number}/image",
    "/settings",
    "/sso",
    "/staff",
    "/staff/{staff_id}/roles",
    "/statistics",
    "/verify",
];

/// The paths given to `.route(` in the router's source files.
fn routed_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for src in [
        include_str!("../../src/lib.rs"),
        include_str!("../../src/saml.rs"),
    ] {
        for part in src.split(".route(").skip(1) {
            let path = part
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
                .expect("a literal path after .route(");
            if !path.starts_with("/api/") {
                out.insert(path.to_string());
            }
        }
    }
    out
}

#[test]
fn the_screen_list_is_the_routers() {
    let listed: BTreeSet<String> = SCREENS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        routed_paths(),
        listed,
        "a route was added or removed: update SCREENS in this file, so the isolation sweep covers it"
    );
}

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

/// `path` with its parameters aimed at B's data.
fn fill(path: &str) -> String {
    // `{code}` is a tenant in the API, a 住民票コード on the screens.
    let code = if path.starts_with("/api/") {
        tenant_b().to_string()
    } else {
        b_resident()
    };
    path.replace("{resident_code}", &b_resident())
        .replace("{code}", &code)
        .replace("{staff_id}", &format!("s-admin-{}", tenant_b()))
        .replace("{prefecture}", "01")
        .replace("{key}", "login.max_failures")
        .replace("{household_id}", "H-秘匿野")
        .replace("{registration_number}", B_SEAL)
        .replace("{number}", B_SEAL)
}

/// Query strings for a GET, each carrying one identifier of B's under
/// every name the API and the screens use for it (an answer may echo what
/// the request carried, so one identifier at a time lets every other one
/// show a leak).
fn queries() -> Vec<String> {
    let r = b_resident();
    let always = "limit=100&include_cancelled=true&include_removed=on";
    [
        String::new(),
        format!("resident_code={r}&code={r}&subject=resident:{r}"),
        format!(
            "staff_id=staff:s-admin-{}&actor=staff:s-admin-{}",
            tenant_b(),
            tenant_b()
        ),
        format!("registration_number={B_SEAL}&number={B_SEAL}"),
        "card_number=B-CARD-1&card=B-CARD-1".into(),
        "kana=ヒトクノ".into(),
        "name=秘匿野".into(),
        "household_id=H-秘匿野".into(),
        // B's residents live at the same address as A's: an area listing must hold A's only.
        "address=北海道".into(),
    ]
    .into_iter()
    .map(|q| {
        if q.is_empty() {
            always.to_string()
        } else {
            format!("{q}&{always}")
        }
    })
    .collect()
}

/// A JSON body for an API write aimed at B's data.
fn api_body(path: &str) -> Value {
    match path {
        "/api/v1/settings/{key}" => json!({"value": "9", "reason": "isolation test"}),
        "/api/v1/staff" => {
            json!({"login": "intruder", "display_name": "侵入", "roles": ["auditor"], "password": "intruder password 123"})
        }
        "/api/v1/staff/{staff_id}/roles" => json!({"roles": ["auditor"]}),
        // A 転入 in A of a code B does not have: B's codes never become A's.
        "/api/v1/residents" => json!({
            "resident_code": resident_code(1_000_000_777), "household_id": "H-intruder", "family_name": "侵入",
            "family_kana": "シンニユウ", "birth_date": "1990-01-01", "sex_code": 1, "address": "どこか",
            "relationship": "世帯主", "honseki": "x", "reason": "move_in", "previous_address": "x",
            "effective_date": "2026-01-01"
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
    }
}

/// A form for a screen's POST aimed at B's data: every field the screens
/// read, at once.
fn form() -> Vec<(&'static str, String)> {
    vec![
        ("tenant", tenant_b().to_string()),
        ("login", "all".into()),
        ("password", "wrong password!!".into()),
        ("resident_code", b_resident()),
        ("registration_number", B_SEAL.into()),
        ("card_number", "B-CARD-1".into()),
        ("applicant_name", "秘匿野花子".into()),
        ("applicant_birth_date", "1980-05-05".into()),
        ("household_id", "H-秘匿野".into()),
        ("kind", "resident_copy".into()),
        ("requester", "本人".into()),
        ("purpose", "isolation".into()),
        ("reason", "card_lost".into()),
        ("address", "乗っ取り".into()),
        ("effective_date", "2026-01-01".into()),
    ]
}

/// The strings of every ledger entry of `t`, from each event's decoded form
/// (so a new kind of data is covered without naming it), and its images.
async fn ledger_strings(store: &Store, t: &TenantCode) -> (BTreeSet<String>, Vec<Vec<u8>>) {
    let entries: Vec<Entry> = store
        .tenant(t)
        .read_after(Chain::Ledger, 0, 1_000_000)
        .await
        .expect("read ledger");
    let mut strings = BTreeSet::new();
    let mut images = Vec::new();
    for e in &entries {
        let (k, v, p) = (e.kind.as_str(), e.version, e.payload.as_slice());
        let shown = if let Some(ev) = TenancyEvent::decode(k, v, p).expect("decodes") {
            format!("{ev:?}")
        } else if let Some(ev) = ResidentEvent::decode(k, v, p).expect("decodes") {
            format!("{ev:?}")
        } else if let Some(ev) = SealEvent::decode(k, v, p).expect("decodes") {
            if let SealEvent::Registered { impression_png, .. } = &ev {
                images.push(impression_png.clone());
            }
            format!("{ev:?}")
        } else if let Some(ev) = OfficialSealSet::decode(k, v, p).expect("decodes") {
            format!("{ev:?}")
        } else if let Some(ev) = CertificateIssued::decode(k, v, p).expect("decodes") {
            format!("{ev:?}")
        } else {
            panic!("entry kind {k}: add its decoder here, so its data counts as the tenant's")
        };
        strings.extend(quoted(&shown));
    }
    (strings, images)
}

/// The string literals in a `Debug` rendering.
fn quoted(debug: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = debug.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                }
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// What identifies B's data: every string of B's ledger that A's lacks (of
/// three characters or more), B's names, and B's 印影.
async fn b_identifiers(store: &Store) -> (Vec<String>, Vec<Vec<u8>>) {
    let (b, images) = ledger_strings(store, &tenant_b()).await;
    let (a, _) = ledger_strings(store, &tenant_a()).await;
    let mut ids: BTreeSet<String> = b
        .difference(&a)
        .filter(|s| s.chars().count() >= 3)
        // Lower-case ASCII words are the platform's vocabulary (setting keys such as
        // `certificate.issuer_name`, event kinds, certificate kinds such as `resident_copy`),
        // not B's data; B's identifiers have digits, capitals or Japanese.
        .filter(|s| {
            !s.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
        })
        .cloned()
        .collect();
    ids.extend(B_MARKERS.iter().map(|m| m.to_string()));
    (ids.into_iter().collect(), images)
}

/// Whether `text` names `id`: numbers inside a longer number are not it (a metric's
/// `0.014362135` seconds does not name B's `014362`).
fn mentions(text: &str, id: &str) -> bool {
    let is_digit = |c: char| c.is_ascii_digit();
    text.match_indices(id).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + id.len()..].chars().next();
        let number_before =
            id.starts_with(is_digit) && before.is_some_and(|c| is_digit(c) || c == '.');
        let number_after = id.ends_with(is_digit) && after.is_some_and(is_digit);
        !number_before && !number_after
    })
}

#[test]
fn an_identifier_inside_a_longer_number_is_not_named() {
    assert!(mentions("code 014362 found", "014362"));
    assert!(mentions("\"014362\"", "014362"));
    assert!(!mentions("sum 0.014362135", "014362"));
    assert!(!mentions("12014362", "014362"));
    assert!(mentions("B-CARD-1,", "B-CARD-1"));
    assert!(!mentions("B-CARD-10", "B-CARD-1"));
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Routes whose answers name another municipality on purpose, each with its reason above.
const PUBLIC_BY_DESIGN: &[&str] = &["/api/v1/public/tenants/{code}/signing-keys"];

struct Sweep {
    ids: Vec<String>,
    images: Vec<Vec<u8>>,
    requests: usize,
    /// Everything A has sent so far: its own access log may show it back.
    sent: String,
}

impl Sweep {
    /// Fails if the answer to a request that carried `carried` (its URL
    /// and body) holds anything of B's beyond what it carried (beyond what A
    /// has sent so far, for A's own access log, which records it).
    fn judge(&mut self, who: &str, what: &str, carried: &str, status: StatusCode, body: &[u8]) {
        self.requests += 1;
        // Public by design: every municipality's public signing keys are published so that
        // anyone can verify its certificates; they are no personal data.
        if PUBLIC_BY_DESIGN.iter().any(|p| what.ends_with(p)) {
            return;
        }
        self.sent.push_str(carried);
        self.sent.push('\n');
        // Only A's access log and A's own 検索履歴 (its API, and the search screen before a
        // search, which lists it) may show back what A sent in earlier requests; any other
        // answer may hold only what its own request carried.
        let conditions = ["kana=", "name=", "address=", "birth_date=", "code="];
        let own_history = what.ends_with(" /api/v1/search-history")
            || (what.ends_with(" /residents") && !conditions.iter().any(|c| carried.contains(c)));
        let known = if what.contains("/api/v1/access-log") || own_history {
            self.sent.as_str()
        } else {
            carried
        };
        let text = String::from_utf8_lossy(body);
        for id in &self.ids {
            if mentions(&text, id) && !known.contains(id.as_str()) {
                panic!("{who} of A got B's {id:?} from {what}: {status} {text}");
            }
        }
        for image in &self.images {
            assert!(
                !contains_bytes(body, image),
                "{who} of A got B's 印影 from {what}: {status}"
            );
        }
        // A has no certificate issuer set, so it can issue nothing: any
        // certificate answered here would be B's.
        assert!(
            !body.starts_with(b"%PDF"),
            "{who} of A got a certificate from {what}: {status}"
        );
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {text}");
    }
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Vec<u8>) {
    let resp = req.send().await.expect("send");
    let status = resp.status();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// B's data that the sweep aims at: besides the seed's residents, staff and
/// 印鑑登録, a certificate (a 発行番号) and a login only B has.
async fn give_b_more_data(s: &TestServer) {
    let b_admin = s.login(Some(&tenant_b()), "admin").await;
    // B's own issuer (not `set_issuer`'s 深川市長, which a setting's label shows as an example).
    for (key, value) in [
        ("certificate.issuer_title", "北竜町長"),
        ("certificate.issuer_name", "佐野 豊"),
    ] {
        let (status, body) = s.put_setting(&b_admin, key, value).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (status, body) = send(b_admin.post(s.url("/api/v1/staff")).json(&json!({
        "login": "hokuryu-only", "display_name": "北竜 専任", "roles": ["auditor"],
        "password": "a password of hokuryu 123"
    })))
    .await;
    assert!(
        status.is_success(),
        "{status} {}",
        String::from_utf8_lossy(&body)
    );
    let b_all = s.login(Some(&tenant_b()), "all").await;
    let (status, body) = send(b_all.post(s.url("/api/v1/certificates")).json(&json!({
        "kind": "resident_copy", "household_id": "H-秘匿野", "requester": "本人", "purpose": "勤務先提出"
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

async fn nothing_of_b_reaches_a_on_any_route(db: Db) {
    let s = TestServer::start(db).await;
    give_b_more_data(&s).await;
    let (ids, images) = b_identifiers(&s.store).await;
    for expected in [
        b_resident(),
        B_SEAL.to_string(),
        "B-CARD-1".to_string(),
        "hokuryu-only".to_string(),
        format!("s-admin-{}", tenant_b()),
    ] {
        assert!(
            ids.contains(&expected),
            "{expected} is among B's identifiers: {ids:?}"
        );
    }
    assert!(
        s.store
            .tenant(&tenant_b())
            .read_after(Chain::Ledger, 0, 1_000_000)
            .await
            .expect("read")
            .iter()
            .any(
                |e| CertificateIssued::decode(&e.kind, e.version, &e.payload)
                    .ok()
                    .flatten()
                    .is_some_and(|c| ids.contains(&c.issue_number))
            ),
        "B's 発行番号 is among its identifiers"
    );
    assert!(!images.is_empty(), "B's 印影 is known");
    let mut sweep = Sweep {
        ids,
        images,
        requests: 0,
        sent: String::new(),
    };

    let mut api = documented();
    // Log out last, so the sweep runs with a live session.
    api.sort_by_key(|(m, p)| (*m == Method::DELETE && p == "/api/v1/session", p.clone()));
    for login in ["all", "admin", "auditor"] {
        let client = s.login(Some(&tenant_a()), login).await;
        for (method, path) in &api {
            let what = format!("{method} {path}");
            if *method == Method::GET {
                for q in queries() {
                    let url = format!("{}?{q}", fill(path));
                    let (status, body) = send(client.get(s.url(&url))).await;
                    sweep.judge(login, &what, &url, status, &body);
                }
            } else {
                let url = fill(path);
                let body = api_body(path);
                let (status, answer) =
                    send(client.request(method.clone(), s.url(&url)).json(&body)).await;
                sweep.judge(login, &what, &format!("{url} {body}"), status, &answer);
            }
        }
        let client = s.login(Some(&tenant_a()), login).await;
        for path in SCREENS {
            if *path == "/logout" || *path == "/saml/logout" {
                continue; // would end the session; they show no data
            }
            for q in queries() {
                let url = format!("{}?{q}", fill(path));
                let (status, body) = send(client.get(s.url(&url))).await;
                sweep.judge(login, &format!("GET {path}"), &url, status, &body);
            }
            let url = fill(path);
            let fields = form();
            let carried = format!("{url} {fields:?}");
            let (status, body) = send(client.post(s.url(&url)).form(&fields)).await;
            sweep.judge(login, &format!("POST {path}"), &carried, status, &body);
        }
    }
    assert!(sweep.requests > 500, "{} requests", sweep.requests);
    s.stop().await;
}

common::on_both_backends!(nothing_of_b_reaches_a_on_any_route);

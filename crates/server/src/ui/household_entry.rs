//! 世帯での転入: a family that moves in together is entered on one screen — the address and
//! dates once, then each person — and recorded all at once or not at all
//! (`/residents/new-household`, through `POST /api/v1/residents/household`).

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use murakumo_core::today_in_japan;
use murakumo_documents::wareki;
use murakumo_tenancy::Permission;
use serde_json::Value;

use super::residents::{DATE_INPUT, form_json, from_form};
use super::{error_box, esc, page, staff};
use crate::api::residents::{self as api, EntryRequest, HouseholdEntryRequest};
use crate::error::{ApiError, ApiJson};
use crate::session::StaffSession;

type Session = Result<StaffSession, ApiError>;

/// Persons the form offers (a larger household records the rest one by one).
const ROWS: usize = 6;

/// What is asked once for the whole household.
const SHARED: [(&str, &str, &str); 5] = [
    ("address", "住所", " required"),
    ("katagaki", "方書", ""),
    ("previous_address", "前住所", " required"),
    ("effective_date", "異動日(転入した日)", " required"),
    ("notified_date", "届出日", ""),
];

/// What is asked of each person: (field, label, input kind).
const PERSON: [(&str, &str, &str); 13] = [
    ("resident_code", "住民票コード(11桁)", "code"),
    ("relationship", "続柄", "text"),
    ("family_name", "氏", "text"),
    ("given_name", "名", "text"),
    ("family_kana", "氏(フリガナ)", "text"),
    ("given_kana", "名(フリガナ)", "text"),
    ("birth_date", "生年月日", "date"),
    ("sex_code", "性別", "sex"),
    ("honseki", "本籍(日本国籍の方)", "text"),
    ("hittosha", "筆頭者", "text"),
    ("nationality", "国籍・地域(外国人住民の方)", "text"),
    ("residence_status", "在留資格", "text"),
    ("period_until", "在留期間の満了日", "date"),
];

fn form_page(
    who: &StaffSession,
    values: &[(String, String)],
    error: Option<&ApiError>,
) -> Response {
    let value = |name: &str| {
        values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| esc(v))
            .unwrap_or_default()
    };
    let today = wareki(today_in_japan());
    let shared: String = SHARED
        .iter()
        .map(|(name, label, extra)| {
            let v = match value(name) {
                v if v.is_empty() && name.ends_with("_date") => today.clone(),
                v => v,
            };
            let kind = if name.ends_with("_date") {
                DATE_INPUT.to_string()
            } else {
                "type=\"text\"".to_string()
            };
            let focus = if *name == "address" { " autofocus" } else { "" };
            format!(
                "<div><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" {kind} value=\"{v}\"{extra}{focus}></div>"
            )
        })
        .collect();
    let persons: String = (0..ROWS)
        .map(|i| {
            let fields: String = PERSON
                .iter()
                .map(|(field, label, kind)| {
                    let name = format!("m{i}.{field}");
                    let mut v = value(&name);
                    if i == 0 && *field == "relationship" && v.is_empty() {
                        v = "世帯主".into();
                    }
                    let input = match *kind {
                        "sex" => {
                            let opt = |code: &str, l: &str| {
                                format!(
                                    "<option value=\"{code}\"{}>{l}</option>",
                                    if v == code { " selected" } else { "" }
                                )
                            };
                            format!(
                                "<select id=\"{name}\" name=\"{name}\">{}{}{}</select>",
                                opt("1", "男"),
                                opt("2", "女"),
                                opt("9", "記載しない")
                            )
                        }
                        "date" => format!("<input id=\"{name}\" name=\"{name}\" {DATE_INPUT} value=\"{v}\">"),
                        "code" => format!(
                            "<input id=\"{name}\" name=\"{name}\" type=\"text\" inputmode=\"numeric\" value=\"{v}\">"
                        ),
                        _ => {
                            let (list, options) = super::relationship_list(&name);
                            format!("<input id=\"{name}\" name=\"{name}\" type=\"text\" value=\"{v}\"{list}>{options}")
                        }
                    };
                    format!("<div><label for=\"{name}\">{label}</label>{input}</div>")
                })
                .collect();
            let title = if i == 0 {
                "1人目(世帯主)".to_string()
            } else {
                format!("{}人目", i + 1)
            };
            format!("<fieldset><legend>{title}</legend><div class=\"grid\">{fields}</div></fieldset>")
        })
        .collect();
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/residents\">住民検索</a> › 世帯での転入</nav><h1>世帯での転入</h1>{err}\
         <form class=\"card\" method=\"post\" action=\"/residents/new-household\">\
         <p class=\"muted\">一緒に転入する世帯の全員を、この画面でまとめて記録します(全員が記録されるか、誰も記録されないかのどちらかです)。\
         世帯番号は自動で付きます。氏と住民票コードが空欄の行は使いません。既存の世帯に入る方は「転入・出生」から1人ずつ記録してください。</p>\
         <h2>世帯(全員に共通)</h2><div class=\"grid\">{shared}</div>\
         <h2>世帯員</h2>{persons}\
         <p><button type=\"submit\">全員の転入を記録する</button></p></form>",
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("世帯での転入", Some(who), &body)).into_response()
}

/// `GET /residents/new-household`
pub async fn household_entry_form(session: Session) -> Response {
    match staff(session, Permission::ResidentChange) {
        Ok(s) => form_page(&s, &[], None),
        Err(r) => r,
    }
}

/// The API request the form describes: the shared fields copied into each person who was
/// filled in (a row with neither 氏 nor 住民票コード is not used).
fn request(fields: &[(String, String)]) -> Result<HouseholdEntryRequest, ApiError> {
    let shared: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| SHARED.iter().any(|(name, _, _)| name == k))
        .cloned()
        .collect();
    let mut members = Vec::new();
    for i in 0..ROWS {
        let prefix = format!("m{i}.");
        let own: Vec<(String, String)> = fields
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|f| (f.to_string(), v.clone())))
            .collect();
        let filled = |f: &str| own.iter().any(|(k, v)| k == f && !v.trim().is_empty());
        if !filled("family_name") && !filled("resident_code") {
            continue;
        }
        let mut all = own;
        all.extend(shared.iter().cloned());
        all.push(("reason".into(), "move_in".into()));
        let json: Value = form_json(&all, &["sex_code"], &[]);
        let member: EntryRequest = from_form(json).map_err(|mut e| {
            e.message = format!("{}人目: {}", i + 1, e.message);
            e.field = e.field.map(|f| format!("members[{}].{f}", members.len()));
            e
        })?;
        members.push(member);
    }
    Ok(HouseholdEntryRequest { members })
}

/// `POST /residents/new-household`: records everyone, or shows the form again with what was
/// typed and the first problem.
pub async fn household_entry_submit(
    State(state): State<crate::state::AppState>,
    headers: HeaderMap,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = match request(&fields) {
        Ok(req) => api::enter_household(State(state), s.clone(), headers, ApiJson(req)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(axum::Json(done)) => done_page(&s, &done),
        Err(e) => form_page(&s, &fields, Some(&e)),
    }
}

fn done_page(who: &StaffSession, done: &api::HouseholdEntryResult) -> Response {
    let rows: String = done
        .members
        .iter()
        .map(|m| {
            format!(
                "<tr><td><a href=\"/residents/{c}\">{name}</a></td><td>{c}</td><td>{rel}</td></tr>",
                c = esc(&m.resident_code),
                name = esc(m.name.as_deref().unwrap_or("")),
                rel = esc(m.relationship.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let warn = super::residents::warnings_box(&done.warnings);
    let first = done
        .members
        .first()
        .map(|m| esc(&m.resident_code))
        .unwrap_or_default();
    let body = format!(
        "<div class=\"card\"><h1 tabindex=\"-1\">世帯での転入を記録しました</h1>\
         <table class=\"facts\"><tr><th>世帯番号</th><td id=\"household-id\">{hid}</td></tr><tr><th>人数</th><td>{n} 人</td></tr></table>\
         <table class=\"results\"><thead><tr><th scope=\"col\">氏名</th><th scope=\"col\">住民票コード</th><th scope=\"col\">続柄</th></tr></thead>\
         <tbody>{rows}</tbody></table>{warn}\
         <p class=\"actions\"><a class=\"button\" href=\"/residents/{first}\" autofocus>世帯主の詳細へ</a> \
         <a class=\"button\" href=\"/residents/{first}/certificate\">証明書を交付</a> <a href=\"/residents\">住民検索へ</a></p></div>",
        hid = esc(&done.household_id),
        n = done.members.len(),
    );
    page("記録しました", Some(who), &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_shared_fields_go_to_everyone_and_blank_rows_are_left_out() {
        let req = request(&fields(&[
            ("address", "北海道深川市1条1番1号"),
            ("previous_address", "札幌市中央区"),
            ("effective_date", "R8.4.1"),
            ("m0.resident_code", "12345678906"),
            ("m0.relationship", "世帯主"),
            ("m0.family_name", "鈴木"),
            ("m0.family_kana", "スズキ"),
            ("m0.birth_date", "S60.4.12"),
            ("m0.sex_code", "1"),
            ("m1.relationship", ""),
            ("m1.family_name", ""),
            ("m2.resident_code", "10000000014"),
            ("m2.relationship", "妻"),
            ("m2.family_name", "鈴木"),
            ("m2.family_kana", "スズキ"),
            ("m2.birth_date", "1987-01-02"),
            ("m2.sex_code", "2"),
        ]))
        .expect("reads");
        assert_eq!(req.members.len(), 2, "the blank second row is not used");
        let wife = &req.members[1];
        assert_eq!(wife.relationship, "妻");
        assert_eq!(wife.address, "北海道深川市1条1番1号");
        assert_eq!(wife.reason, "move_in");
        assert_eq!(
            wife.effective_date,
            chrono::NaiveDate::from_ymd_opt(2026, 4, 1).expect("date")
        );
        assert_eq!(
            req.members[0].birth_date,
            chrono::NaiveDate::from_ymd_opt(1985, 4, 12).expect("date")
        );
    }

    #[test]
    fn a_persons_unreadable_field_is_named_with_the_person() {
        let e = request(&fields(&[
            ("address", "x"),
            ("effective_date", "R8.4.1"),
            ("m0.family_name", "鈴木"),
            ("m0.family_kana", "スズキ"),
            ("m0.relationship", "世帯主"),
            ("m0.birth_date", "きのう"),
            ("m0.sex_code", "1"),
        ]))
        .err()
        .expect("refused");
        assert_eq!(e.field.as_deref(), Some("members[0].birth_date"));
        assert!(e.message.starts_with("1人目: "), "{}", e.message);
    }
}

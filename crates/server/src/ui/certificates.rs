//! Certificate issuance at the counter: choose the certificate, the people
//! and the items, then the signed PDF opens in the browser for printing.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use murakumo_resident::Record;
use murakumo_tenancy::Permission;

use super::residents::{form_json, from_form};
use super::{error_box, esc, page, staff, wareki};
use crate::api::certificates as api;
use crate::api::residents as residents_api;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::session::StaffSession;
use crate::state::AppState;

type Session = Result<StaffSession, ApiError>;

const REQUESTERS: [&str; 5] = ["本人", "同一世帯", "代理人", "第三者", "公用"];

async fn load(
    state: &AppState,
    s: &StaffSession,
    headers: &HeaderMap,
    code: &str,
) -> Result<(Record, Vec<residents_api::ResidentView>), ApiError> {
    let v = residents_api::get_resident(
        State(state.clone()),
        s.clone(),
        headers.clone(),
        ApiPath(code.to_string()),
        ApiQuery(residents_api::AsOfQuery { as_of: None }),
    )
    .await?
    .0;
    let r: Record = v
        .record
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            ApiError::internal("住民記録を読み込めませんでした。もう一度お試しください")
        })?;
    let household = if r.is_removed() {
        Vec::new()
    } else {
        residents_api::get_household(
            State(state.clone()),
            s.clone(),
            headers.clone(),
            ApiPath(r.household_id.clone()),
            ApiQuery(residents_api::HouseholdQuery {
                include_removed: false,
            }),
        )
        .await?
        .0
    };
    Ok((r, household))
}

fn form_page(
    who: &StaffSession,
    r: &Record,
    household: &[residents_api::ResidentView],
    values: &[(String, String)],
    error: Option<&ApiError>,
) -> Response {
    let code = esc(&r.resident_code);
    let has = |k: &str, v: &str| values.iter().any(|(a, b)| a == k && b == v);
    let first = values.is_empty();
    let value = |k: &str| {
        values
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, b)| esc(b))
            .unwrap_or_default()
    };
    let kinds: &[(&str, &str)] = if r.is_removed() {
        &[("removed_copy", "除票の写し")]
    } else {
        &[
            ("resident_copy", "住民票の写し"),
            ("record_statement", "住民票記載事項証明書"),
        ]
    };
    let kind_inputs: String = kinds
        .iter()
        .enumerate()
        .map(|(i, (k, l))| {
            let checked = has("kind", k) || (i == 0 && value("kind").is_empty());
            format!(
                "<label class=\"inline\"><input type=\"radio\" name=\"kind\" value=\"{k}\"{}{}> {l}</label> ",
                if checked { " checked" } else { "" },
                if i == 0 { " autofocus" } else { "" }
            )
        })
        .collect();
    let members: String = if household.is_empty() {
        format!(
            "<label class=\"inline\"><input type=\"checkbox\" name=\"resident_codes\" value=\"{code}\" checked> {}</label>",
            esc(&r.full_name())
        )
    } else {
        household
            .iter()
            .map(|m| {
                let checked = if first {
                    m.resident_code == r.resident_code
                } else {
                    has("resident_codes", &m.resident_code)
                };
                format!(
                    "<label class=\"inline\"><input type=\"checkbox\" name=\"resident_codes\" value=\"{}\"{}> {}({})</label><br>",
                    esc(&m.resident_code),
                    if checked { " checked" } else { "" },
                    esc(m.name.as_deref().unwrap_or("")),
                    esc(m.relationship.as_deref().unwrap_or(""))
                )
            })
            .collect()
    };
    let whole = if household.is_empty() {
        String::new()
    } else {
        format!(
            "<label class=\"inline\"><input type=\"checkbox\" name=\"household_id\" value=\"{}\"{}> 世帯全員</label>",
            esc(&r.household_id),
            if has("household_id", &r.household_id) {
                " checked"
            } else {
                ""
            }
        )
    };
    let option = |k: &str, l: &str, default: bool| {
        let on = if first { default } else { has(k, "true") };
        format!(
            "<label class=\"inline\"><input type=\"checkbox\" name=\"{k}\" value=\"true\"{}> {l}</label> ",
            if on { " checked" } else { "" }
        )
    };
    let requester = value("requester");
    let requesters: String = REQUESTERS
        .iter()
        .map(|q| {
            format!(
                "<option{}>{q}</option>",
                if requester == *q { " selected" } else { "" }
            )
        })
        .collect();
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/residents\">住民検索</a> › <a href=\"/residents/{code}\">{name}</a> › 証明書の交付</nav>\
         <h1>証明書の交付:{name}</h1>{err}\
         <form class=\"card\" method=\"post\" action=\"/residents/{code}/certificate\">\
         <fieldset><legend>証明書の種類</legend>{kind_inputs}</fieldset>\
         <fieldset><legend>記載する方</legend>{members}{whole}</fieldset>\
         <fieldset><legend>記載事項</legend>{}{}{}<p class=\"muted\">第三者からの請求には本籍・筆頭者と住民票コードは記載できません。</p></fieldset>\
         <div class=\"grid\"><div><label for=\"as_of\">基準日(過去の時点の証明)</label><input id=\"as_of\" name=\"as_of\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{}\"></div>\
         <div><label for=\"requester\">請求者</label><select id=\"requester\" name=\"requester\">{requesters}</select></div>\
         <div><label for=\"purpose\">利用目的</label><input id=\"purpose\" name=\"purpose\" value=\"{}\" required placeholder=\"勤務先提出\"></div></div>\
         <p><button type=\"submit\">交付する(PDFを開いて印刷)</button></p>\
         <p class=\"muted\">交付すると発行番号が付き、交付の記録が残ります。本日の日付は{}です。</p></form>",
        option("include_relationship", "続柄", true),
        option("include_honseki", "本籍・筆頭者", false),
        option("include_resident_code", "住民票コード", false),
        value("as_of"),
        value("purpose"),
        wareki(murakumo_core::today_in_japan()),
        name = esc(&r.full_name()),
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("証明書の交付", Some(who), &body)).into_response()
}

/// `GET /residents/{code}/certificate`: the issuance form.
pub async fn certificate_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(code): Path<String>,
) -> Response {
    let s = match staff(session, Permission::CertificateIssue) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match load(&state, &s, &headers, &code).await {
        Ok((r, household)) => form_page(&s, &r, &household, &[], None),
        Err(e) => (e.status, page("証明書の交付", Some(&s), &error_box(&e))).into_response(),
    }
}

/// The signed PDF, shown inline so the browser's viewer prints it.
pub(crate) fn pdf_inline(resp: Response) -> Response {
    let mut resp = resp;
    let number = resp
        .headers()
        .get("x-issue-number")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("certificate")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{number}.pdf\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `POST /residents/{code}/certificate`: issues and returns the PDF, or
/// shows the form again with what to correct.
pub async fn certificate_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(code): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::CertificateIssue) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut json = form_json(&fields, &[], &["resident_codes"]);
    if let Some(obj) = json.as_object_mut() {
        // Checkboxes send nothing when unticked: say false explicitly.
        for k in [
            "include_relationship",
            "include_honseki",
            "include_resident_code",
        ] {
            let on = obj.get(k).is_some_and(|v| v == "true");
            obj.insert(k.into(), on.into());
        }
        // 世帯全員 wins over ticked members.
        if obj.contains_key("household_id") {
            obj.remove("resident_codes");
        }
    }
    let result = match from_form::<api::CertificateRequest>(json) {
        Ok(req) => {
            api::issue_certificate(
                State(state.clone()),
                s.clone(),
                headers.clone(),
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(pdf) => pdf_inline(pdf),
        Err(e) => match load(&state, &s, &headers, &code).await {
            Ok((r, household)) => form_page(&s, &r, &household, &fields, Some(&e)),
            Err(e2) => (e2.status, page("証明書の交付", Some(&s), &error_box(&e))).into_response(),
        },
    }
}

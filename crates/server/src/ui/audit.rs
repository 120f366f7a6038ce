//! The auditor's screen: the access log searched by person, staff member, period and action,
//! with the 利用目的 and 請求者 that were recorded (`/access-log`). Reads through the same
//! handler as `GET /api/v1/access-log`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate, TimeZone};
use murakumo_core::japan_time::jst;
use murakumo_core::{format_japan_time, parse_date_input};
use murakumo_tenancy::{AccessAction, Permission};
use serde::Deserialize;

use super::{error_box, esc, page, staff};
use crate::api::access_log::{AccessLogView, AccessQuery, search_access_log};
use crate::error::{ApiError, ApiQuery};
use crate::session::StaffSession;
use crate::state::AppState;

/// The search as the form sends it: every field optional, dates in any form clerks type.
#[derive(Deserialize, Default)]
pub struct AuditSearch {
    #[serde(default)]
    resident_code: String,
    #[serde(default)]
    staff_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The actions an auditor filters by, with their Japanese names.
const ACTIONS: [(AccessAction, &str); 6] = [
    (AccessAction::Read, "閲覧"),
    (AccessAction::Search, "検索"),
    (AccessAction::Change, "異動"),
    (AccessAction::Issue, "証明書の交付"),
    (AccessAction::Export, "出力"),
    (AccessAction::Login, "ログイン(SSO)"),
];

fn action_label(code: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(a, _)| a.code() == code)
        .map_or(code, |(_, label)| label)
}

/// A day typed in the form, as the start of that day in Japan time.
fn day_start(field: &str, text: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day: NaiveDate =
        parse_date_input(text).map_err(|e| ApiError::invalid(field, e.message_ja()))?;
    Ok(jst()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.to_utc()))
}

/// `GET /access-log`: the search form and, once asked, what was found (newest first).
pub async fn access_log(
    State(state): State<AppState>,
    session: Result<StaffSession, ApiError>,
    Query(q): Query<AuditSearch>,
) -> Response {
    let s = match staff(session, Permission::AccessLogRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let staff_list = state
        .store
        .tenant(&s.tenant)
        .staff_list()
        .await
        .unwrap_or_default();
    let names: HashMap<String, String> = staff_list
        .iter()
        .map(|m| {
            (
                format!("staff:{}", m.staff_id),
                format!("{}({})", m.display_name, m.login),
            )
        })
        .collect();
    let asked = [&q.resident_code, &q.staff_id, &q.action, &q.from, &q.to]
        .iter()
        .any(|v| !v.trim().is_empty());
    let results = if asked {
        match find(&state, &s, &q).await {
            Ok(rows) => results_table(&rows, &names),
            Err(e) => error_box(&e),
        }
    } else {
        "<p class=\"muted\">条件を入れて検索してください。条件のない項目は絞り込みません。</p>"
            .to_string()
    };
    let staff_options: String = staff_list
        .iter()
        .map(|m| {
            let id = format!("staff:{}", m.staff_id);
            format!(
                "<option value=\"{}\"{}>{}({})</option>",
                esc(&id),
                if q.staff_id == id { " selected" } else { "" },
                esc(&m.display_name),
                esc(&m.login)
            )
        })
        .collect();
    let action_options: String = ACTIONS
        .iter()
        .map(|(a, label)| {
            format!(
                "<option value=\"{}\"{}>{label}</option>",
                a.code(),
                if q.action == a.code() {
                    " selected"
                } else {
                    ""
                },
            )
        })
        .collect();
    let body = format!(
        "<form class=\"card\" method=\"get\" action=\"/access-log\"><h1>アクセス記録の検索</h1>\
         <div class=\"grid\">\
         <div><label for=\"resident_code\">対象の住民票コード</label><input id=\"resident_code\" name=\"resident_code\" inputmode=\"numeric\" value=\"{rc}\" autofocus></div>\
         <div><label for=\"staff_id\">職員</label><select id=\"staff_id\" name=\"staff_id\"><option value=\"\">すべて</option>{staff_options}</select></div>\
         <div><label for=\"action\">操作</label><select id=\"action\" name=\"action\"><option value=\"\">すべて</option>{action_options}</select></div>\
         <div><label for=\"from\">期間(から)</label><input id=\"from\" name=\"from\" value=\"{from}\" placeholder=\"R8.12.1\"></div>\
         <div><label for=\"to\">期間(まで)</label><input id=\"to\" name=\"to\" value=\"{to}\" placeholder=\"R8.12.31\"></div>\
         </div><p><button type=\"submit\">検索</button></p></form>{results}",
        rc = esc(&q.resident_code),
        from = esc(&q.from),
        to = esc(&q.to),
    );
    page("アクセス記録", Some(&s), &body).into_response()
}

async fn find(
    state: &AppState,
    s: &StaffSession,
    q: &AuditSearch,
) -> Result<Vec<AccessLogView>, ApiError> {
    let code = q.resident_code.trim();
    let subject = if code.is_empty() {
        None
    } else {
        let code = murakumo_core::ResidentCode::parse(code)
            .map_err(|e| ApiError::invalid("resident_code", e.message_ja()))?;
        Some(format!("resident:{}", code.as_str()))
    };
    let from = day_start("from", &q.from)?;
    // "まで" includes that whole day.
    let to = day_start("to", &q.to)?.map(|t| t + Days::new(1));
    let query = AccessQuery {
        actor: Some(q.staff_id.trim().to_string()).filter(|a| !a.is_empty()),
        subject,
        action: Some(q.action.trim().to_string()).filter(|a| !a.is_empty()),
        from,
        to,
        limit: Some(500),
    };
    let rows = search_access_log(State(state.clone()), s.clone(), ApiQuery(query)).await?;
    Ok(rows.0)
}

fn results_table(rows: &[AccessLogView], names: &HashMap<String, String>) -> String {
    if rows.is_empty() {
        return "<p class=\"notice\">該当するアクセス記録はありません。期間や条件を変えて検索してください。</p>"
            .to_string();
    }
    let lines: String = rows
        .iter()
        .map(|r| {
            let when = chrono::DateTime::parse_from_rfc3339(&r.recorded_at)
                .map_or_else(|_| r.recorded_at.clone(), |t| format_japan_time(t.to_utc()));
            let who = names.get(&r.actor).map_or(r.actor.as_str(), String::as_str);
            let subject = match r.subject.strip_prefix("resident:") {
                Some(code) => format!(
                    "<a href=\"/residents/{c}\">住民 {c}</a>",
                    c = esc(code)
                ),
                None => esc(&r.subject),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{subject}</td><td>{}</td><td>{}</td></tr>",
                esc(&when),
                esc(who),
                esc(action_label(&r.action)),
                esc(&r.purpose),
                esc(&r.detail),
            )
        })
        .collect();
    format!(
        "<div class=\"card\"><h2>{} 件(新しい順)</h2><table class=\"results\"><thead><tr>\
         <th scope=\"col\">記録日時</th><th scope=\"col\">職員</th><th scope=\"col\">操作</th>\
         <th scope=\"col\">対象</th><th scope=\"col\">利用目的</th><th scope=\"col\">内容(請求者・発行番号など)</th>\
         </tr></thead><tbody>{lines}</tbody></table></div>",
        rows.len()
    )
}

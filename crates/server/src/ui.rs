//! The staff web UI: server-rendered Japanese pages, usable with the
//! keyboard alone, with every asset served from this server.
//!
//! This is the entrance (login, the municipality's overview, resident
//! search); the counter (窓口) screens of each business system grow here.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use murakumo_tenancy::{AccessAction, Permission};
use serde::Deserialize;

use crate::session::{self, LoginRequest, StaffSession};
use crate::state::AppState;

pub const CSS: &str = include_str!("../assets/murakumo.css");

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn page(title: &str, who: Option<&str>, body: &str) -> Html<String> {
    let bar = who.map_or(String::new(), |w| {
        format!(
            "<span>{}</span> <form method=\"post\" action=\"/logout\" style=\"display:inline\"><button type=\"submit\">ログアウト</button></form>",
            esc(w)
        )
    });
    Html(format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} | Murakumo</title><link rel=\"stylesheet\" href=\"/assets/murakumo.css\"></head>\
         <body><header><strong>Murakumo 自治体クラウド</strong>{bar}</header><main>{body}</main></body></html>",
        esc(title)
    ))
}

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// `/`: the overview when logged in, the login form otherwise.
pub async fn home(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let Ok(s) = StaffSession::from_request_parts(&mut parts, &state).await else {
        return login_page(None).into_response();
    };
    let name = state
        .store
        .tenant_info(&s.tenant)
        .await
        .map(|t| t.name)
        .unwrap_or_default();
    let count = if s.staff.can(Permission::ResidentRead) {
        state
            .store
            .tenant(&s.tenant)
            .count_residents()
            .await
            .map(|n| format!("{n} 人"))
            .unwrap_or_default()
    } else {
        "—".to_string()
    };
    let roles: Vec<&str> = s.staff.roles.iter().map(|r| r.label_ja()).collect();
    let search = if s.staff.can(Permission::ResidentRead) {
        "<form class=\"card\" method=\"get\" action=\"/residents\"><label for=\"kana\">住民検索(氏のフリガナ)</label>\
         <input id=\"kana\" name=\"kana\" autofocus placeholder=\"ヤマダ\"> <button type=\"submit\">検索</button></form>"
    } else {
        ""
    };
    let body = format!(
        "<div class=\"card\"><h1>{}</h1><p>団体コード {} ・ 住民数 {}</p><p class=\"muted\">{} さん({})</p></div>{search}",
        esc(&name),
        esc(s.tenant.as_str()),
        esc(&count),
        esc(&s.staff.display_name),
        esc(&roles.join("、"))
    );
    page(
        &name,
        Some(&format!("{} / {}", name, s.staff.display_name)),
        &body,
    )
    .into_response()
}

fn login_page(error: Option<&str>) -> Html<String> {
    let err = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    });
    page(
        "ログイン",
        None,
        &format!(
            "<form class=\"card\" method=\"post\" action=\"/login\" style=\"max-width:28rem\"><h1>ログイン</h1>{err}\
             <label for=\"tenant\">団体コード(6桁)</label><input id=\"tenant\" name=\"tenant\" inputmode=\"numeric\" autofocus>\
             <label for=\"login\">ログインID</label><input id=\"login\" name=\"login\" autocomplete=\"username\">\
             <label for=\"password\">パスワード</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
             <p><button type=\"submit\">ログイン</button></p>\
             <p class=\"muted\">運用者は団体コードを空欄にしてください。</p></form>\
             <form class=\"card\" method=\"get\" action=\"/saml/login\" style=\"max-width:28rem\"><h2>シングルサインオン</h2>\
             <p class=\"muted\">団体のIdP(認証基盤)でログインします。</p>\
             <label for=\"sso-tenant\">団体コード(6桁)</label><input id=\"sso-tenant\" name=\"tenant\" inputmode=\"numeric\">\
             <p><button id=\"sso-login\" type=\"submit\">IdPでログイン</button></p></form>"
        ),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    tenant: String,
    login: String,
    password: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let req = LoginRequest {
        tenant: Some(f.tenant),
        login: f.login,
        password: f.password,
    };
    match session::login_inner(&state, peer.ip(), req).await {
        Ok((token, _)) => {
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session::cookie_header(&state, &token));
            resp
        }
        Err(e) => (e.status, login_page(Some(&e.message))).into_response(),
    }
}

pub async fn logout_submit(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let _ = session::end_session(&state, &headers).await;
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie_header(&state));
    resp
}

#[derive(Deserialize)]
pub struct SearchForm {
    kana: String,
}

pub async fn residents(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Result<StaffSession, crate::error::ApiError>,
    Query(q): Query<SearchForm>,
) -> Response {
    let Ok(s) = session else {
        return Redirect::to("/").into_response();
    };
    if !s.staff.can(Permission::ResidentRead) {
        return (
            StatusCode::FORBIDDEN,
            page(
                "権限がありません",
                None,
                "<p class=\"error\">住民記録を閲覧する権限がありません。</p>",
            ),
        )
            .into_response();
    }
    let kana = q.kana.trim();
    let query = murakumo_store::ResidentQuery {
        kana: Some(kana.to_string()),
        limit: 100,
        ..Default::default()
    };
    let found = match state.store.tenant(&s.tenant).search_residents(&query).await {
        Ok(f) => f,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let today = chrono::Utc::now().date_naive();
    let may = s.staff.can(Permission::ProtectedResidentView);
    let visible = |r: &&murakumo_resident::Record| may || !r.protected_on(today);
    let subjects = std::iter::once(format!("search:kana={kana}")).chain(
        found
            .iter()
            .filter(visible)
            .map(|r| format!("resident:{}", r.resident_code)),
    );
    if let Err(e) = crate::api::log_access(
        &state,
        &s,
        &headers,
        AccessAction::Search,
        subjects,
        "name,kana,birth_date,address",
    )
    .await
    {
        return e.into_response();
    }
    let rows: String = found
        .iter()
        .map(|r| {
            if !visible(&r) {
                return format!(
                    "<tr><td>{}</td><td colspan=\"4\">支援措置対象(表示できません)</td></tr>",
                    esc(&r.resident_code)
                );
            }
            let birth = murakumo_core::WarekiDate::from_gregorian(r.person.birth_date)
                .map_or(r.person.birth_date.to_string(), |w| w.to_string());
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                esc(&r.resident_code),
                esc(&r.full_name()),
                esc(&r.full_kana()),
                esc(&birth),
                esc(&r.address.text),
                esc(&r.address.katagaki)
            )
        })
        .collect();
    let body = format!(
        "<nav><a href=\"/\">← トップ</a></nav><form class=\"card\" method=\"get\" action=\"/residents\"><label for=\"kana\">住民検索(氏のフリガナ)</label>\
         <input id=\"kana\" name=\"kana\" value=\"{}\" autofocus> <button type=\"submit\">検索</button></form>\
         <p>{} 件</p><table><thead><tr><th>住民票コード</th><th>氏名</th><th>フリガナ</th><th>生年月日</th><th>住所</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(kana),
        found.len()
    );
    page("住民検索", Some(&s.staff.display_name), &body).into_response()
}

/// `/verify`: a public page where anyone holding a certificate PDF can
/// check it is genuine. The file is checked by this server and never
/// stored; the answer names only the issuer, number and date.
pub async fn verify_page() -> Html<String> {
    page(
        "証明書の真正性確認",
        None,
        "<div class=\"card\" style=\"max-width:40rem\"><h1>証明書の真正性確認</h1>\
         <p>Murakumo で交付された証明書(PDF)が、発行団体の署名どおり改ざんされていないかを確認します。\
         ファイルの内容(個人情報)は表示も保存もしません。</p>\
         <label for=\"pdf\">証明書ファイル(PDF)</label><input id=\"pdf\" type=\"file\" accept=\"application/pdf\">\
         <p><button id=\"check\" type=\"button\">確認する</button></p><p id=\"result\" role=\"status\"></p></div>\
         <script>\
         document.getElementById('check').addEventListener('click', async () => {\
           const f = document.getElementById('pdf').files[0]; const out = document.getElementById('result');\
           if (!f) { out.textContent = 'ファイルを選んでください。'; return; }\
           const r = await fetch('/api/v1/public/verify-certificate', {method: 'POST', headers: {'content-type': 'application/pdf'}, body: f});\
           const v = await r.json();\
           out.className = v.genuine ? '' : 'error';\
           out.textContent = v.genuine ? `真正な証明書です(団体コード ${v.tenant}、発行番号 ${v.issue_number}、発行日 ${v.issue_date})。` : `確認できません: ${v.message}`;\
         });\
         </script>",
    )
}

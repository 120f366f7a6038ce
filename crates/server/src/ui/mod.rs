//! The staff web UI: server-rendered Japanese pages, usable with the
//! keyboard alone, with every asset served from this server.
//!
//! Screens: login, the municipality's overview (`mod.rs`); the 住民記録
//! counter — search, resident and household detail with 異動履歴, 異動 forms
//! (`residents.rs`); certificate issuance and printing (`certificates.rs`);
//! 印鑑登録 and the 公印 (`seals.rs`); the 団体管理者's settings, staff, roles and approvals
//! (`admin.rs`); the auditor's access-log search (`audit.rs`). The
//! header's menu offers only what the staff member's roles may use. The screens call the same handlers as the JSON API,
//! so validation, access logging and the ledger are shared, and turn their
//! errors into Japanese messages next to the form.
//!
//! Keyboard: every screen starts with a skip link, each form's first field
//! has focus, and the header's menu has access keys (Alt+1 … Alt+8).

mod admin;
mod audit;
mod certificates;
mod household_entry;
mod residents;
mod seals;
mod statistics;

pub use admin::{
    change_approve_submit, change_reject_submit, settings_form, settings_submit, sso_form,
    sso_submit, staff_create_submit, staff_form, staff_roles_submit,
};
pub use audit::access_log;
pub use certificates::{certificate_form, certificate_submit};
pub use household_entry::{household_entry_form, household_entry_submit};
pub use residents::{
    change_form, change_submit, entry_form, entry_submit, inspection_copy, protections_ending,
    resident_detail, residents,
};
pub use seals::{
    official_seal_form, official_seal_image, official_seal_submit, seal_cancel_submit,
    seal_certificate_submit, seal_detail, seal_form, seal_image, seal_submit, seals,
};
pub use statistics::statistics;

use murakumo_resident_store::ResidentReads;
use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use murakumo_tenancy::Permission;
use serde::Deserialize;

use crate::session::{self, LoginRequest, StaffSession};
use crate::state::AppState;

pub const CSS: &str = include_str!("../../assets/murakumo.css");

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

/// A page of the staff UI. `who` is the logged-in staff member: the header names them and its
/// menu offers only what their roles may use (the handlers refuse the rest anyway).
pub(crate) fn page(title: &str, who: Option<&StaffSession>, body: &str) -> Html<String> {
    let bar = who.map_or(String::new(), |s| {
        let mut menu = String::from("<a href=\"/\" accesskey=\"1\">トップ</a>");
        for (need, link) in [
            (
                Permission::ResidentRead,
                "<a href=\"/residents\" accesskey=\"2\">住民検索</a>",
            ),
            (
                Permission::ResidentChange,
                "<a href=\"/residents/new\" accesskey=\"3\">転入・出生</a>",
            ),
            (
                Permission::ResidentRead,
                "<a href=\"/seals\" accesskey=\"4\">印鑑登録</a>",
            ),
            (
                Permission::ResidentRead,
                "<a href=\"/statistics\" accesskey=\"9\">統計</a>",
            ),
            (
                Permission::StaffManage,
                "<a href=\"/staff\" accesskey=\"5\">職員と役割</a>",
            ),
            (
                Permission::SettingsManage,
                "<a href=\"/settings\" accesskey=\"6\">設定</a>",
            ),
            (
                Permission::SettingsManage,
                "<a href=\"/official-seal\" accesskey=\"7\">公印</a>",
            ),
            (
                Permission::AccessLogRead,
                "<a href=\"/access-log\" accesskey=\"8\">アクセス記録</a>",
            ),
        ] {
            if s.staff.can(need) {
                menu.push_str(link);
            }
        }
        format!(
            "<nav aria-label=\"メニュー\">{menu}</nav>\
             <span><span class=\"who\">{}</span> <form method=\"post\" action=\"/logout\" class=\"inline\"><button type=\"submit\">ログアウト</button></form></span>",
            esc(&s.staff.display_name)
        )
    });
    Html(format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} | Murakumo</title><link rel=\"stylesheet\" href=\"/assets/murakumo.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">本文へ移動</a><header><strong>Murakumo 自治体クラウド</strong>{bar}</header><main id=\"main\" tabindex=\"-1\">{body}</main>{keys}</body></html>",
        esc(title),
        // Staff screens only: the arrow keys through result lists.
        keys = if who.is_some() {
            "<script src=\"/assets/keys.js\"></script>"
        } else {
            ""
        },
    ))
}

/// The staff member of a screen, or the response that sends them to log in
/// or says they lack the right.
#[allow(clippy::result_large_err)] // the Err is the page itself, returned at once
pub(crate) fn staff(
    session: Result<StaffSession, crate::error::ApiError>,
    need: Permission,
) -> Result<StaffSession, Response> {
    let s = match session {
        Ok(s) => s,
        Err(e)
            if e.status == StatusCode::TOO_MANY_REQUESTS
                || e.status == StatusCode::SERVICE_UNAVAILABLE =>
        {
            return Err(wait_page(&e));
        }
        Err(_) => return Err(Redirect::to("/").into_response()),
    };
    if !s.staff.can(need) {
        return Err((
            StatusCode::FORBIDDEN,
            page(
                "権限がありません",
                Some(&s),
                "<p class=\"error\" role=\"alert\">この操作を行う権限がありません。団体管理者に役割の付与を依頼してください。</p>",
            ),
        )
            .into_response());
    }
    Ok(s)
}

/// A screen refused for now (the municipality's request quota, an import under way): the
/// message, and when to retry.
fn wait_page(e: &crate::error::ApiError) -> Response {
    let mut resp = (
        e.status,
        page("しばらくお待ちください", None, &error_box(e)),
    )
        .into_response();
    if let Some(v) = e
        .retry_after_secs
        .and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The Japanese name of an input field, for error messages.
pub(crate) fn field_label(field: &str) -> std::borrow::Cow<'_, str> {
    // `members[2].birth_date`: the third person's 生年月日 (世帯での転入).
    if let Some((index, inner)) = field
        .strip_prefix("members[")
        .and_then(|rest| rest.split_once("]."))
        && let Ok(i) = index.parse::<usize>()
    {
        return format!("{}人目の{}", i + 1, field_label(inner)).into();
    }
    match field {
        "resident_code" | "resident_codes" => "住民票コード",
        "household_id" => "世帯番号",
        "new_head" => "新しい世帯主",
        "former_head_relationship" => "元の世帯主の新しい続柄",
        "household_move" => "世帯の扱い",
        "change" => "異動の種類",
        "relationship" => "続柄",
        "family_name" => "氏",
        "given_name" => "名",
        "family_kana" => "氏(フリガナ)",
        "given_kana" => "名(フリガナ)",
        "birth_date" => "生年月日",
        "sex_code" => "性別",
        "address" => "住所",
        "katagaki" => "方書",
        "honseki" => "本籍",
        "hittosha" => "筆頭者",
        "nationality" => "国籍・地域",
        "residence_status" => "在留資格",
        "period_until" => "在留期間の満了日",
        "previous_address" => "前住所",
        "destination" => "転出先",
        "planned_date" => "転出予定日",
        "moved_in_date" => "転入通知の転入日",
        "effective_date" => "異動日",
        "notified_date" => "届出日",
        "card_number" => "印鑑登録証番号",
        "impression" | "impression_png" => "印影",
        "reason" => "事由",
        "kind" => "証明書の種類",
        "requester" => "請求者",
        "purpose" => "利用目的",
        "as_of" => "基準日",
        "include_honseki" => "本籍・筆頭者",
        "include_resident_code" => "住民票コード",
        "until" => "支援措置の期限",
        "applicant_name" => "申請書の登録者の氏名",
        "applicant_birth_date" => "申請書の登録者の生年月日",
        "from" => "期間(から)",
        "to" => "期間(まで)",
        "action" => "操作",
        "effective_from" => "適用開始日",
        "idp_metadata_xml" => "IdP のメタデータ",
        "role_values" => "役割の対応",
        "field" => "修正する項目",
        "value" => "修正後の内容",
        "members" => "世帯員",
        other => other,
    }
    .into()
}

/// An error of a submitted form, shown above it (and announced).
pub(crate) fn error_box(e: &crate::error::ApiError) -> String {
    let what = match e.status {
        StatusCode::BAD_REQUEST => "入力内容を確認してください",
        StatusCode::CONFLICT => "登録できません",
        StatusCode::FORBIDDEN => "この操作はできません",
        StatusCode::NOT_FOUND => "見つかりません",
        StatusCode::TOO_MANY_REQUESTS => "しばらく待ってからもう一度お試しください",
        _ => "処理できませんでした",
    };
    let field = e
        .field
        .as_deref()
        .map_or(String::new(), |f| format!("【{}】", esc(&field_label(f))));
    // keys.js marks the input named here (aria-invalid) and puts the cursor in it.
    let input = e.field.as_deref().map_or(String::new(), |f| {
        format!(" data-field=\"{}\"", esc(&input_name(f)))
    });
    format!(
        "<div class=\"error-box\" role=\"alert\" tabindex=\"-1\" id=\"form-error\"{input}><strong>{what}</strong><p>{field}{}</p></div>",
        esc(&e.message)
    )
}

/// The form input an API field is typed in: `members[1].birth_date` is `m1.birth_date` on the
/// 世帯での転入 screen; other fields have the API's name.
fn input_name(field: &str) -> String {
    field
        .strip_prefix("members[")
        .and_then(|rest| rest.split_once("]."))
        .map_or_else(|| field.to_string(), |(i, inner)| format!("m{i}.{inner}"))
}

/// 和暦 for display, e.g. 令和8年4月1日.
pub(crate) fn wareki(d: chrono::NaiveDate) -> String {
    murakumo_documents::wareki(d)
}

pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// The script of `/verify` (no inline script: see `web_security`).
pub async fn keys_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/keys.js"),
    )
}

pub async fn verify_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/verify.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `/`: the overview when logged in, the login form otherwise.
pub async fn home(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let s = match StaffSession::from_request_parts(&mut parts, &state).await {
        Ok(s) => s,
        Err(e)
            if e.status == StatusCode::TOO_MANY_REQUESTS
                || e.status == StatusCode::SERVICE_UNAVAILABLE =>
        {
            return wait_page(&e);
        }
        Err(_) => return login_page(None).into_response(),
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
    let mut search = String::new();
    if s.staff.can(Permission::ResidentRead) {
        search.push_str(
            "<form class=\"card\" method=\"get\" action=\"/residents\"><label for=\"kana\">住民検索(フリガナ)</label>\
             <input id=\"kana\" name=\"kana\" autofocus placeholder=\"ヤマダ タロウ\"> <button type=\"submit\">検索</button>\
             <p class=\"muted\">氏名・生年月日・住所・住民票コードでの検索は<a href=\"/residents\">住民検索</a>から。</p></form>\
             <div class=\"card\"><h2>窓口業務</h2><ul class=\"menu\"><li><a href=\"/residents\">住民検索・異動・証明書交付</a></li>\
             <li><a href=\"/residents/new\">転入・出生の届出</a></li><li><a href=\"/residents/new-household\">世帯での転入(家族全員をまとめて)</a></li><li><a href=\"/seals\">印鑑登録・廃止・亡失</a></li><li><a href=\"/inspection-copy\">住民基本台帳の一部の写し(閲覧用)</a></li></ul></div>",
        );
    }
    if s.staff.can(Permission::ProtectedResidentView) {
        search.push_str(
            "<div class=\"card\"><h2>支援措置</h2><ul class=\"menu\"><li><a href=\"/protections\">期限が近い支援措置(延長の確認)</a></li></ul></div>",
        );
    }
    if s.staff.can(Permission::AccessLogRead) {
        search.push_str(
            "<div class=\"card\"><h2>監査</h2><ul class=\"menu\"><li><a href=\"/access-log\">アクセス記録の検索(住民・職員・期間・操作)</a></li></ul></div>",
        );
    }
    if s.staff.can(Permission::SettingsManage) {
        search.push_str(
            "<div class=\"card\"><h2>団体の管理</h2><ul class=\"menu\"><li><a href=\"/staff\">職員と役割(承認待ちの変更)</a></li>\
             <li><a href=\"/settings\">設定(標準・県版・個別と変更履歴)</a></li><li><a href=\"/sso\">シングルサインオン(IdP)</a></li><li><a href=\"/official-seal\">公印の登録</a></li></ul></div>",
        );
    }
    let body = format!(
        "<div class=\"card\"><h1>{}</h1><p>団体コード {} ・ 住民数 {}</p><p class=\"muted\">{} さん({})</p></div>{search}",
        esc(&name),
        esc(s.tenant.as_str()),
        esc(&count),
        esc(&s.staff.display_name),
        esc(&roles.join("、"))
    );
    page(&name, Some(&s), &body).into_response()
}

fn login_page(error: Option<&str>) -> Html<String> {
    let err = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    });
    page(
        "ログイン",
        None,
        &format!(
            "<form class=\"card narrow\" method=\"post\" action=\"/login\"><h1>ログイン</h1>{err}\
             <label for=\"tenant\">団体コード(6桁)</label><input id=\"tenant\" name=\"tenant\" inputmode=\"numeric\" autofocus>\
             <label for=\"login\">ログインID</label><input id=\"login\" name=\"login\" autocomplete=\"username\">\
             <label for=\"password\">パスワード</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
             <p><button type=\"submit\">ログイン</button></p>\
             <p class=\"muted\">運用者は団体コードを空欄にしてください。</p></form>\
             <form class=\"card narrow\" method=\"get\" action=\"/saml/login\"><h2>シングルサインオン</h2>\
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

/// Ends the session; a session opened by SAML also ends at the IdP
/// (single logout), which sends the browser back here.
pub async fn logout_submit(state: State<AppState>, headers: HeaderMap) -> Response {
    crate::saml::logout(state, headers).await
}

/// `/verify`: a public page where anyone holding a certificate PDF can
/// check it is genuine. The file is checked by this server and never
/// stored; the answer names only the issuer, number and date.
pub async fn verify_page() -> Html<String> {
    page(
        "証明書の真正性確認",
        None,
        "<div class=\"card medium\"><h1>証明書の真正性確認</h1>\
         <p>Murakumo で交付された証明書が、発行した市区町村の署名どおりのものかを確認します。\
         証明書の内容(個人情報)は表示も保存もしません。</p>\
         <div id=\"result\" role=\"status\" aria-live=\"polite\" tabindex=\"-1\"></div>\
         <h2>紙の証明書: QRコードで確認</h2>\
         <p>証明書の左下のQRコードをスマートフォンで読み取ると、このページが開いて自動で確認します。\
         読み取った文字列を貼り付けても確認できます。</p>\
         <label for=\"code\">QRコードの内容</label><input id=\"code\" type=\"text\" autocomplete=\"off\" spellcheck=\"false\" placeholder=\"MKC2|…\">\
         <p><button id=\"check-code\" type=\"button\">QRコードを確認する</button></p>\
         <h2>電子の証明書: PDFで確認</h2>\
         <p>PDFでは、署名に加えて印字された内容まで照合します。</p>\
         <label for=\"pdf\">証明書ファイル(PDF)</label><input id=\"pdf\" type=\"file\" accept=\"application/pdf\">\
         <p><button id=\"check\" type=\"button\">PDFを確認する</button></p></div>\
         <script src=\"/assets/verify.js\"></script>",
    )
}

/// For an input of a 続柄 (`…relationship`): the `list` attribute and its `<datalist>` of the
/// standard relations most often entered (any other the standard allows may be typed).
fn relationship_list(name: &str) -> (String, String) {
    if !name.ends_with("relationship") {
        return (String::new(), String::new());
    }
    let id = format!("{}-options", name.replace('.', "-"));
    let options: String = murakumo_resident::relationship::SUGGESTED
        .iter()
        .map(|r| format!("<option value=\"{r}\">"))
        .collect();
    (
        format!(" list=\"{id}\""),
        format!("<datalist id=\"{id}\">{options}</datalist>"),
    )
}

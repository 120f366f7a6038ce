//! The 団体管理者's screens: the municipality's settings with the tier each value comes from
//! and their history (`/settings`), and staff accounts, roles and the changes that wait for a
//! second administrator (`/staff`). They call the same handlers as the JSON API, so the four
//! eyes rule and every check hold here as there.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use murakumo_core::format_japan_time;
use murakumo_tenancy::{Permission, Role, settings};
use serde::Deserialize;

use super::{error_box, esc, page, staff};
use crate::api::changes::{ChangeView, ChangesQuery, approve_change, list_changes, reject_change};
use crate::api::platform::SetValue;
use crate::api::settings::{
    HistoryQuery, SettingsQuery, list_settings, set_setting, setting_history,
};
use crate::api::staff::{CreateStaff, SetRoles, StaffView, create_staff, list_staff, set_roles};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::session::StaffSession;
use crate::state::AppState;

type Session = Result<StaffSession, ApiError>;

fn tier_ja(tier: &str) -> &str {
    match tier {
        "standard" => "標準",
        "prefecture" => "県版",
        "municipal" => "個別",
        other => other,
    }
}

/// A time the API gives as RFC 3339, as staff read it (Japan time).
fn japan(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map_or_else(|_| t.to_string(), |t| format_japan_time(t.to_utc()))
}

async fn settings_page(
    state: &AppState,
    s: &StaffSession,
    notice: &str,
    error: Option<&ApiError>,
) -> Response {
    let all = match list_settings(
        State(state.clone()),
        s.clone(),
        ApiQuery(SettingsQuery { on: None }),
    )
    .await
    {
        Ok(v) => v.0,
        Err(e) => return (e.status, page("設定", Some(s), &error_box(&e))).into_response(),
    };
    let history = setting_history(
        State(state.clone()),
        s.clone(),
        ApiQuery(HistoryQuery { key: None }),
    )
    .await
    .map(|h| h.0)
    .unwrap_or_default();
    let labels: HashMap<&str, &str> = all
        .iter()
        .map(|v| (v.key.as_str(), v.label_ja.as_str()))
        .collect();
    let rows: String = all
        .iter()
        .map(|v| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&v.label_ja),
                esc(&v.key),
                v.value
                    .as_deref()
                    .map_or_else(|| "<span class=\"muted\">未設定</span>".to_string(), esc),
                tier_ja(&v.tier),
            )
        })
        .collect();
    // Only what the municipality sets itself: the quotas (`platform.*`) are the operator's.
    let options: String = all
        .iter()
        .filter(|v| settings::find(&v.key).is_ok_and(|d| d.set_by == settings::SetBy::Municipality))
        .map(|v| {
            format!(
                "<option value=\"{}\">{}</option>",
                esc(&v.key),
                esc(&v.label_ja)
            )
        })
        .collect();
    let changes: String = history
        .iter()
        .rev()
        .take(50)
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&japan(&c.recorded_at)),
                esc(&c
                    .effective_date
                    .parse::<chrono::NaiveDate>()
                    .map_or_else(|_| c.effective_date.clone(), murakumo_documents::wareki)),
                esc(labels.get(c.key.as_str()).copied().unwrap_or(&c.key)),
                c.value.as_deref().map_or_else(
                    || "<span class=\"muted\">(個別の値を削除)</span>".to_string(),
                    esc
                ),
                esc(&c.reason),
                esc(&c.actor),
            )
        })
        .collect();
    let body = format!(
        "<h1>設定</h1>{notice}{err}\
         <div class=\"card\"><h2>現在の値</h2><p class=\"muted\">今日適用されている値です。区分: 標準(全国の標準値)→ 県版(都道府県の値)→ 個別(この団体の値)の順に、後のものが優先されます。個別の値は適用開始日から次の変更まで適用されます。</p>\
         <table class=\"results\"><thead><tr><th scope=\"col\">項目</th><th scope=\"col\">キー</th><th scope=\"col\">値</th><th scope=\"col\">区分</th></tr></thead><tbody>{rows}</tbody></table></div>\
         <form class=\"card\" method=\"post\" action=\"/settings\"><h2>この団体の値(個別)を変更する</h2>\
         <div class=\"grid\"><div><label for=\"key\">項目</label><select id=\"key\" name=\"key\" autofocus>{options}</select></div>\
         <div><label for=\"value\">新しい値(空欄なら個別の値を削除し、県版・標準に戻します)</label><input id=\"value\" name=\"value\"></div>\
         <div><label for=\"effective_from\">適用開始日(空欄なら今日から。例: R9.4.1)</label><input id=\"effective_from\" name=\"effective_from\" autocomplete=\"off\"></div>\
         <div><label for=\"reason\">変更の理由</label><input id=\"reason\" name=\"reason\" required placeholder=\"例: 条例改正\"></div></div>\
         <p><button type=\"submit\">変更する</button></p></form>\
         <div class=\"card\"><h2>変更履歴(新しい順、50件まで)</h2><table class=\"results\"><thead><tr><th scope=\"col\">記録日時</th><th scope=\"col\">適用開始日</th><th scope=\"col\">項目</th>\
         <th scope=\"col\">値</th><th scope=\"col\">理由</th><th scope=\"col\">変更者</th></tr></thead><tbody>{changes}</tbody></table></div>",
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("設定", Some(s), &body)).into_response()
}

/// `GET /settings`
pub async fn settings_form(State(state): State<AppState>, session: Session) -> Response {
    match staff(session, Permission::SettingsManage) {
        Ok(s) => settings_page(&state, &s, "", None).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct SettingForm {
    key: String,
    #[serde(default)]
    value: String,
    /// Typed like any date (和暦 too); blank: today.
    #[serde(default)]
    effective_from: String,
    #[serde(default)]
    reason: String,
}

/// `POST /settings`: sets or clears one 個別 value.
pub async fn settings_submit(
    State(state): State<AppState>,
    session: Session,
    Form(f): Form<SettingForm>,
) -> Response {
    let s = match staff(session, Permission::SettingsManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if f.reason.trim().is_empty() {
        let e = ApiError::invalid("reason", "変更の理由を入力してください(例: 条例改正)");
        return settings_page(&state, &s, "", Some(&e)).await;
    }
    let effective_from = match f.effective_from.trim() {
        "" => None,
        typed => match murakumo_core::parse_date_input(typed) {
            Ok(d) => Some(d),
            Err(e) => {
                let e = ApiError::invalid("effective_from", e.message_ja());
                return settings_page(&state, &s, "", Some(&e)).await;
            }
        },
    };
    let value = Some(f.value.trim().to_string()).filter(|v| !v.is_empty());
    let req = SetValue {
        value,
        reason: f.reason,
        effective_from,
    };
    match set_setting(
        State(state.clone()),
        s.clone(),
        ApiPath(f.key),
        ApiJson(req),
    )
    .await
    {
        Ok(_) => {
            settings_page(
                &state,
                &s,
                "<div class=\"ok-box\" role=\"status\">設定を変更しました。</div>",
                None,
            )
            .await
        }
        Err(e) => settings_page(&state, &s, "", Some(&e)).await,
    }
}

fn roles_ja(codes: &[String]) -> String {
    codes
        .iter()
        .map(|c| {
            c.parse::<Role>()
                .map_or_else(|_| c.clone(), |r| r.label_ja().to_string())
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn role_boxes(prefix: &str, checked: &[String]) -> String {
    Role::ALL
        .iter()
        .map(|r| {
            let id = format!("{prefix}-{}", r.code().replace('.', "-"));
            format!(
                "<label class=\"inline\" for=\"{id}\"><input type=\"checkbox\" id=\"{id}\" name=\"roles\" value=\"{code}\"{on}> {label}</label>",
                code = r.code(),
                on = if checked.iter().any(|c| c == r.code()) {
                    " checked"
                } else {
                    ""
                },
                label = r.label_ja(),
            )
        })
        .collect()
}

async fn staff_page(
    state: &AppState,
    s: &StaffSession,
    notice: &str,
    error: Option<&ApiError>,
) -> Response {
    let list: Vec<StaffView> = match list_staff(State(state.clone()), s.clone()).await {
        Ok(v) => v.0,
        Err(e) => return (e.status, page("職員と役割", Some(s), &error_box(&e))).into_response(),
    };
    let changes: Vec<ChangeView> = list_changes(
        State(state.clone()),
        s.clone(),
        ApiQuery(ChangesQuery { all: false }),
    )
    .await
    .map(|c| c.0)
    .unwrap_or_default();
    let names: HashMap<String, String> = list
        .iter()
        .map(|m| (format!("staff:{}", m.staff_id), m.display_name.clone()))
        .collect();
    let name_of = |id: &str| {
        names
            .get(&format!("staff:{id}"))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let rows: String = list
        .iter()
        .map(|m| {
            let id = esc(&m.staff_id);
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>\
                 <form method=\"post\" action=\"/staff/{id}/roles\"><fieldset><legend>役割を変更</legend>{}</fieldset>\
                 <button type=\"submit\">役割を変更する</button></form></td></tr>",
                esc(&m.display_name),
                esc(&m.login),
                esc(&roles_ja(&m.roles)),
                if m.disabled { "(停止中)" } else { "" },
                role_boxes(&format!("r-{}", m.staff_id), &m.roles),
            )
        })
        .collect();
    // The first action: the oldest change waiting for approval, else registering staff.
    let pending: String = changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let focus = if i == 0 { " autofocus" } else { "" };
            let what = match c.kind.as_str() {
                "set_roles" => format!(
                    "{} さんの役割を「{}」にする",
                    esc(&name_of(c.staff_id.as_deref().unwrap_or(""))),
                    esc(&roles_ja(c.roles.as_deref().unwrap_or(&[])))
                ),
                "configure_sso" => format!(
                    "シングルサインオンの IdP を {} にする",
                    esc(c.idp_entity_id.as_deref().unwrap_or(""))
                ),
                "link_sso" => format!(
                    "{} さんをシングルサインオンと連携する",
                    esc(&name_of(c.staff_id.as_deref().unwrap_or("")))
                ),
                other => esc(other),
            };
            let id = esc(&c.change_id);
            format!(
                "<tr><td>{what}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/changes/{id}/approve\" class=\"inline\"><button type=\"submit\"{focus}>承認する</button></form> \
                 <form method=\"post\" action=\"/changes/{id}/reject\" class=\"inline\"><input type=\"hidden\" name=\"reason\" value=\"画面から却下\">\
                 <button type=\"submit\" class=\"danger\">却下する</button></form></td></tr>",
                esc(&names.get(&c.proposed_by).cloned().unwrap_or_else(|| c.proposed_by.clone())),
                esc(&japan(&c.proposed_at)),
            )
        })
        .collect();
    let pending = if pending.is_empty() {
        "<p class=\"muted\">承認を待っている変更はありません。</p>".to_string()
    } else {
        format!(
            "<p class=\"muted\">個人情報を扱える役割や管理者の役割、シングルサインオンの変更は、申請した方とは別の団体管理者が承認すると有効になります。</p>\
             <table class=\"results\"><thead><tr><th scope=\"col\">変更の内容</th><th scope=\"col\">申請者</th><th scope=\"col\">申請日時</th><th scope=\"col\">操作</th></tr></thead>\
             <tbody>{pending}</tbody></table>"
        )
    };
    let body = format!(
        "<h1>職員と役割</h1>{notice}{err}\
         <div class=\"card\"><h2>承認を待っている変更</h2>{pending}</div>\
         <div class=\"card\"><h2>職員</h2><table class=\"results\"><thead><tr><th scope=\"col\">氏名</th><th scope=\"col\">ログインID</th>\
         <th scope=\"col\">役割</th><th scope=\"col\">変更</th></tr></thead><tbody>{rows}</tbody></table></div>\
         <form class=\"card\" method=\"post\" action=\"/staff\"><h2>職員を登録する</h2><div class=\"grid\">\
         <div><label for=\"display_name\">氏名</label><input id=\"display_name\" name=\"display_name\" required{name_focus}></div>\
         <div><label for=\"login\">ログインID(半角英小文字・数字・「.」「_」「-」)</label><input id=\"login\" name=\"login\" required autocomplete=\"off\"></div>\
         <div><label for=\"password\">初期パスワード(12文字以上)</label><input id=\"password\" name=\"password\" type=\"password\" required autocomplete=\"new-password\"></div></div>\
         <fieldset><legend>役割</legend>{boxes}</fieldset><p><button type=\"submit\">登録する</button></p></form>",
        err = error.map(error_box).unwrap_or_default(),
        boxes = role_boxes("new", &[]),
        name_focus = if changes.is_empty() { " autofocus" } else { "" },
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("職員と役割", Some(s), &body)).into_response()
}

/// `GET /staff`
pub async fn staff_form(State(state): State<AppState>, session: Session) -> Response {
    match staff(session, Permission::StaffManage) {
        Ok(s) => staff_page(&state, &s, "", None).await,
        Err(r) => r,
    }
}

/// The checked roles of a form (`roles` repeated).
fn checked_roles(fields: &[(String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == "roles")
        .map(|(_, v)| v.clone())
        .collect()
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `POST /staff`: creates an account (roles that need a second administrator wait).
pub async fn staff_create_submit(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::StaffManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = CreateStaff {
        login: field(&fields, "login"),
        display_name: field(&fields, "display_name"),
        roles: checked_roles(&fields),
        password: field(&fields, "password"),
    };
    match create_staff(State(state.clone()), s.clone(), ApiJson(req)).await {
        Ok(v) => {
            let waits = if v.0.pending_change.is_some() {
                "個人情報を扱える役割は、別の団体管理者が承認すると付きます。"
            } else {
                ""
            };
            let notice = format!(
                "<div class=\"ok-box\" role=\"status\">{} さんを登録しました。{waits}</div>",
                esc(&v.0.display_name)
            );
            staff_page(&state, &s, &notice, None).await
        }
        Err(e) => staff_page(&state, &s, "", Some(&e)).await,
    }
}

/// `POST /staff/{staff_id}/roles`: changes the roles, or proposes the change.
pub async fn staff_roles_submit(
    State(state): State<AppState>,
    session: Session,
    Path(staff_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::StaffManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = SetRoles {
        roles: checked_roles(&fields),
    };
    match set_roles(
        State(state.clone()),
        s.clone(),
        ApiPath(staff_id),
        ApiJson(req),
    )
    .await
    {
        Ok(r) if r.status() == axum::http::StatusCode::ACCEPTED => {
            let notice = "<div class=\"ok-box\" role=\"status\">役割の変更を申請しました。別の団体管理者が承認すると有効になります。</div>";
            staff_page(&state, &s, notice, None).await
        }
        Ok(_) => {
            staff_page(
                &state,
                &s,
                "<div class=\"ok-box\" role=\"status\">役割を変更しました。</div>",
                None,
            )
            .await
        }
        Err(e) => staff_page(&state, &s, "", Some(&e)).await,
    }
}

/// `POST /changes/{change_id}/approve`
pub async fn change_approve_submit(
    State(state): State<AppState>,
    session: Session,
    Path(change_id): Path<String>,
) -> Response {
    let s = match staff(session, Permission::StaffManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match approve_change(State(state.clone()), s.clone(), ApiPath(change_id)).await {
        Ok(_) => Redirect::to("/staff").into_response(),
        Err(e) => staff_page(&state, &s, "", Some(&e)).await,
    }
}

#[derive(Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// `POST /changes/{change_id}/reject`
pub async fn change_reject_submit(
    State(state): State<AppState>,
    session: Session,
    Path(change_id): Path<String>,
    Form(f): Form<RejectForm>,
) -> Response {
    let s = match staff(session, Permission::StaffManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = crate::api::changes::RejectChange { reason: f.reason };
    match reject_change(
        State(state.clone()),
        s.clone(),
        ApiPath(change_id),
        ApiJson(req),
    )
    .await
    {
        Ok(_) => Redirect::to("/staff").into_response(),
        Err(e) => staff_page(&state, &s, "", Some(&e)).await,
    }
}

/// The role codes listed in a mapping line's right side (`jumin=resident.clerk,auditor`).
fn role_list(text: &str) -> Vec<String> {
    text.split([',', '、', ' '])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

async fn sso_page(
    state: &AppState,
    s: &StaffSession,
    notice: &str,
    error: Option<&ApiError>,
) -> Response {
    use crate::api::sso::get_own_sso;
    let current = match get_own_sso(State(state.clone()), s.clone()).await {
        Ok(v) => {
            let v = v.0;
            let values: String = v
                .mapping
                .role_values
                .iter()
                .map(|(value, roles)| format!("{} → {}", esc(value), esc(&roles_ja(roles))))
                .collect::<Vec<_>>()
                .join("<br>");
            format!(
                "<table class=\"facts\"><tr><th scope=\"row\">IdP(エンティティID)</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">ログインURL</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">署名証明書の有効期限</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">役割の対応</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">初回ログインで職員を自動登録</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">IdP のポータルからのログイン</th><td>{}</td></tr></table>\
                 <p class=\"muted\">IdP に登録する情報: SP メタデータ {} 、ACS {}</p>",
                esc(&v.idp_entity_id),
                esc(&v.sso_url),
                esc(&v.certificate_not_after.join("、")),
                if values.is_empty() { "なし".to_string() } else { values },
                if v.jit { "する" } else { "しない" },
                if v.allow_idp_initiated { "受け付ける" } else { "受け付けない" },
                esc(&v.sp_metadata_url),
                esc(&v.sp_acs_url),
            )
        }
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
            "<p>シングルサインオンはまだ設定されていません。職員はパスワードでログインしています。</p>".to_string()
        }
        Err(e) => error_box(&e),
    };
    let body = format!(
        "<h1>シングルサインオン(SSO)</h1>{notice}{err}<div class=\"card\"><h2>現在の設定</h2>{current}</div>\
         <form class=\"card\" method=\"post\" action=\"/sso\"><h2>IdP を設定する(別の団体管理者の承認で有効)</h2>\
         <label for=\"idp_metadata_xml\">IdP のメタデータ(SAML 2.0 の XML をそのまま貼り付け)</label>\
         <textarea id=\"idp_metadata_xml\" name=\"idp_metadata_xml\" rows=\"8\" required autofocus></textarea>\
         <div class=\"grid\"><div><label for=\"login\">ログインIDの属性(空欄なら NameID)</label><input id=\"login\" name=\"login\"></div>\
         <div><label for=\"display_name\">氏名の属性</label><input id=\"display_name\" name=\"display_name\"></div>\
         <div><label for=\"tenant\">団体コードの属性</label><input id=\"tenant\" name=\"tenant\"></div>\
         <div><label for=\"roles\">役割の属性</label><input id=\"roles\" name=\"roles\"></div></div>\
         <label for=\"role_values\">役割の対応(1行に「IdP の値=役割コード,役割コード」。例: jumin=resident.clerk)</label>\
         <textarea id=\"role_values\" name=\"role_values\" rows=\"4\"></textarea>\
         <p><label class=\"inline\"><input type=\"checkbox\" name=\"jit\" value=\"on\"> 初回ログインで職員を自動登録する</label>\
         <label class=\"inline\"><input type=\"checkbox\" name=\"allow_idp_initiated\" value=\"on\"> IdP のポータルからのログインを受け付ける</label></p>\
         <p><button type=\"submit\">設定を申請する</button></p></form>",
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("シングルサインオン", Some(s), &body)).into_response()
}

/// `GET /sso`
pub async fn sso_form(State(state): State<AppState>, session: Session) -> Response {
    match staff(session, Permission::SettingsManage) {
        Ok(s) => sso_page(&state, &s, "", None).await,
        Err(r) => r,
    }
}

/// `POST /sso`: proposes the IdP and its mapping; a different administrator approves it on
/// the staff screen.
pub async fn sso_submit(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    use crate::api::sso::{SsoMapping, SsoSettings, put_own_sso};
    let s = match staff(session, Permission::SettingsManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let optional =
        |name: &str| Some(field(&fields, name).trim().to_string()).filter(|v| !v.is_empty());
    let mut role_values = std::collections::BTreeMap::new();
    for line in field(&fields, "role_values")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let Some((value, roles)) = line.split_once('=') else {
            let e = ApiError::invalid(
                "role_values",
                format!(
                    "「{line}」に「=」がありません。1行に「IdP の値=役割コード」の形で入力してください"
                ),
            );
            return sso_page(&state, &s, "", Some(&e)).await;
        };
        role_values.insert(value.trim().to_string(), role_list(roles));
    }
    let req = SsoSettings {
        idp_metadata_xml: field(&fields, "idp_metadata_xml"),
        mapping: SsoMapping {
            login: optional("login"),
            display_name: optional("display_name"),
            tenant: optional("tenant"),
            roles: optional("roles"),
            role_values,
            default_roles: Vec::new(),
        },
        jit: field(&fields, "jit") == "on",
        allow_idp_initiated: field(&fields, "allow_idp_initiated") == "on",
    };
    match put_own_sso(State(state.clone()), s.clone(), ApiJson(req)).await {
        Ok(_) => {
            sso_page(
                &state,
                &s,
                "<div class=\"ok-box\" role=\"status\">シングルサインオンの設定を申請しました。別の団体管理者が「職員と役割」で承認すると有効になります。</div>",
                None,
            )
            .await
        }
        Err(e) => sso_page(&state, &s, "", Some(&e)).await,
    }
}

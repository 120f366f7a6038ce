//! 印鑑登録 counter screens: search (cancelled registrations too), register
//! with a scanned 印影, 廃止・亡失, 印鑑登録証明書 with the card, and the
//! administrator's 公印 image.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use murakumo_seal::{CancelReason, SealRecord};
use murakumo_seal_store::SealReads;
use murakumo_tenancy::Permission;
use serde::Deserialize;

use super::{error_box, esc, page, staff, wareki};
use crate::api::seals as api;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::session::StaffSession;
use crate::state::AppState;

type Session = Result<StaffSession, ApiError>;

#[derive(Deserialize, Default)]
pub struct SealSearchForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    card: String,
    #[serde(default)]
    resident_code: String,
    include_cancelled: Option<String>,
}

fn search_form(q: &SealSearchForm) -> String {
    format!(
        "<form class=\"card\" method=\"get\" action=\"/seals\" role=\"search\"><h1>印鑑登録</h1>\
         <div class=\"grid\"><div><label for=\"number\">印鑑登録番号</label><input id=\"number\" name=\"number\" value=\"{}\" autofocus></div>\
         <div><label for=\"card\">印鑑登録証番号</label><input id=\"card\" name=\"card\" value=\"{}\"></div>\
         <div><label for=\"resident_code\">住民票コード</label><input id=\"resident_code\" name=\"resident_code\" inputmode=\"numeric\" value=\"{}\"></div></div>\
         <p><label class=\"inline\"><input type=\"checkbox\" name=\"include_cancelled\" value=\"1\"{}> 廃止・亡失・職権抹消も含める</label> \
         <button type=\"submit\">検索</button></p>\
         <p class=\"muted\">新しい登録は、住民の詳細画面の「印鑑登録」から行います。</p></form>",
        esc(&q.number),
        esc(&q.card),
        esc(&q.resident_code),
        if q.include_cancelled.is_some() {
            " checked"
        } else {
            ""
        }
    )
}

fn rows(found: &[SealRecord]) -> String {
    found
        .iter()
        .map(|r| {
            let v = api::seal_view(r);
            format!(
                "<tr><td><a href=\"/seals/{0}\">{0}</a></td><td>{1}</td><td><a href=\"/residents/{2}\">{2}</a></td><td>{3}</td><td>{4}</td></tr>",
                esc(&v.registration_number),
                esc(&v.card_number),
                esc(&v.resident_code),
                wareki(v.registered_on),
                v.cancel_reason.map_or("登録中".into(), |c| format!(
                    "{}({})",
                    esc(&c),
                    v.cancelled_on.map(wareki).unwrap_or_default()
                ))
            )
        })
        .collect()
}

/// `/seals`: search registrations by number, card or registrant.
pub async fn seals(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<SealSearchForm>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    if q.number.trim().is_empty() && q.card.trim().is_empty() && q.resident_code.trim().is_empty() {
        return page("印鑑登録", Some(&who), &search_form(&q)).into_response();
    }
    let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let query = api::SealSearch {
        registration_number: opt(&q.number),
        card_number: opt(&q.card),
        resident_code: opt(&q.resident_code),
        include_cancelled: q.include_cancelled.is_some(),
    };
    match api::search(&state, &s, &headers, query).await {
        Ok(found) => page(
            "印鑑登録",
            Some(&who),
            &format!(
                "{}<p role=\"status\">{} 件</p><table><thead><tr><th>印鑑登録番号</th><th>登録証番号</th><th>住民票コード</th><th>登録日</th><th>状態</th></tr></thead><tbody>{}</tbody></table>",
                search_form(&q),
                found.len(),
                rows(&found)
            ),
        )
        .into_response(),
        Err(e) => page("印鑑登録", Some(&who), &format!("{}{}", error_box(&e), search_form(&q))).into_response(),
    }
}

#[derive(Deserialize)]
pub struct NewSeal {
    #[serde(default)]
    resident_code: String,
}

fn seal_form_page(
    who: &StaffSession,
    resident_code: &str,
    card: &str,
    error: Option<&ApiError>,
) -> Response {
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/seals\">印鑑登録</a> › 新規登録</nav><h1>印鑑登録</h1>{}\
         <form class=\"card\" method=\"post\" action=\"/seals/new\" enctype=\"multipart/form-data\">\
         <label for=\"resident_code\">住民票コード</label><input id=\"resident_code\" name=\"resident_code\" value=\"{}\" inputmode=\"numeric\" required>\
         <label for=\"card_number\">印鑑登録証番号(交付する登録証の番号)</label><input id=\"card_number\" name=\"card_number\" value=\"{}\" autofocus required>\
         <label for=\"impression\">印影(スキャンした PNG 画像)</label><input id=\"impression\" name=\"impression\" type=\"file\" accept=\"image/png\" required>\
         <p><button type=\"submit\">登録する</button></p>\
         <p class=\"muted\">登録できるのは15歳以上の住民の方、1人1個です。</p></form>",
        error.map(error_box).unwrap_or_default(),
        esc(resident_code),
        esc(card)
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("印鑑登録", Some(who), &body)).into_response()
}

/// `GET /seals/new?resident_code=…`: the registration form.
pub async fn seal_form(session: Session, Query(q): Query<NewSeal>) -> Response {
    match staff(session, Permission::ResidentChange) {
        Ok(s) => seal_form_page(&s, &q.resident_code, "", None),
        Err(r) => r,
    }
}

/// Text fields and one file of a multipart form.
async fn read_multipart(mut m: Multipart) -> Result<(Vec<(String, String)>, Vec<u8>), ApiError> {
    let mut fields = Vec::new();
    let mut file = Vec::new();
    while let Some(part) = m.next_field().await.map_err(|e| {
        ApiError::bad_request(format!("送信された画面の内容を読み取れませんでした: {e}"))
    })? {
        let name = part.name().unwrap_or("").to_string();
        let is_file = part.file_name().is_some();
        let data = part.bytes().await.map_err(|e| {
            ApiError::bad_request(format!("送信された画面の内容を読み取れませんでした: {e}"))
        })?;
        if is_file {
            file = data.to_vec();
        } else {
            fields.push((name, String::from_utf8_lossy(&data).trim().to_string()));
        }
    }
    Ok((fields, file))
}

/// `POST /seals/new`: registers, then shows the registration.
pub async fn seal_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    form: Multipart,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let (fields, png) = match read_multipart(form).await {
        Ok(x) => x,
        Err(e) => return seal_form_page(&who, "", "", Some(&e)),
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (code, card) = (get("resident_code"), get("card_number"));
    match api::register(&state, &s, &headers, &code, &card, png, None, None).await {
        Ok(r) => {
            Redirect::to(&format!("/seals/{}?registered=1", r.registration_number)).into_response()
        }
        Err(e) => seal_form_page(&who, &code, &card, Some(&e)),
    }
}

#[derive(Deserialize)]
pub struct DetailFlags {
    registered: Option<String>,
    cancelled: Option<String>,
}

async fn detail_page(
    state: &AppState,
    s: &StaffSession,
    headers: &HeaderMap,
    number: &str,
    notice: &str,
    error: Option<&ApiError>,
) -> Response {
    let who = s.clone();
    let found = api::search(
        state,
        s,
        headers,
        api::SealSearch {
            registration_number: Some(number.to_string()),
            card_number: None,
            resident_code: None,
            include_cancelled: true,
        },
    )
    .await;
    let r = match found.map(|f| f.into_iter().next()) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let e = ApiError::not_found("この印鑑登録番号の登録はありません");
            return (e.status, page("印鑑登録", Some(&who), &error_box(&e))).into_response();
        }
        Err(e) => return (e.status, page("印鑑登録", Some(&who), &error_box(&e))).into_response(),
    };
    let v = api::seal_view(&r);
    let n = esc(&v.registration_number);
    let actions = if r.is_active() {
        format!(
            "<form class=\"card\" method=\"post\" action=\"/seals/certificate\"><h2>印鑑登録証明書の交付</h2>\
             <label for=\"card_number\">提示された印鑑登録証の番号</label><input id=\"card_number\" name=\"card_number\" autofocus required>\
             <input type=\"hidden\" name=\"registration_number\" value=\"{n}\">\
             <label for=\"applicant_name\">申請書の登録者の氏名</label><input id=\"applicant_name\" name=\"applicant_name\" required autocomplete=\"off\">\
             <label for=\"applicant_birth_date\">申請書の登録者の生年月日(例: S60.4.12)</label><input id=\"applicant_birth_date\" name=\"applicant_birth_date\" required autocomplete=\"off\">\
             <label for=\"purpose\">利用目的</label><input id=\"purpose\" name=\"purpose\" required placeholder=\"不動産登記\">\
             <label for=\"requester\">請求者</label><select id=\"requester\" name=\"requester\"><option>本人</option><option>代理人</option></select>\
             <p><button type=\"submit\">交付する(PDF)</button></p></form>\
             <form class=\"card\" method=\"post\" action=\"/seals/{n}/cancel\"><h2>登録の廃止・亡失</h2>\
             <label class=\"inline\"><input type=\"radio\" name=\"reason\" value=\"abolished\" checked> 廃止(本人の申請)</label> \
             <label class=\"inline\"><input type=\"radio\" name=\"reason\" value=\"card_lost\"> 亡失(登録証の紛失)</label>\
             <p><button type=\"submit\" class=\"danger\">登録を終了する</button></p></form>"
        )
    } else {
        String::new()
    };
    // 職権抹消: the 抹消通知書 to send to the registrant (M-INKAN-19).
    let removal = if matches!(
        &r.status,
        murakumo_seal::SealStatus::Cancelled {
            reason: murakumo_seal::CancelReason::ExOfficio { .. },
            ..
        }
    ) {
        format!(
            "<section class=\"card\"><h2>職権抹消</h2><p><a href=\"/api/v1/seals/{n}/removal-notice\" target=\"_blank\">印鑑登録抹消通知書(印刷用PDF)</a></p></section>"
        )
    } else {
        String::new()
    };
    let issued = match api::issuances(state, s, headers, number).await {
        Ok(list) if list.is_empty() => "<p class=\"muted\">まだ交付していません。</p>".to_string(),
        Ok(list) => {
            let rows: String = list
                .iter()
                .map(|i| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&i.issue_number),
                        chrono::NaiveDate::parse_from_str(&i.issue_date, "%Y-%m-%d")
                            .map_or_else(|_| esc(&i.issue_date), wareki),
                        esc(&i.actor)
                    )
                })
                .collect();
            format!(
                "<table><thead><tr><th>発行番号</th><th>交付日</th><th>交付者</th></tr></thead><tbody>{rows}</tbody></table>"
            )
        }
        Err(e) => error_box(&e),
    };
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/seals\">印鑑登録</a> › {n}</nav>{notice}{err}\
         <div class=\"columns\"><section class=\"card\"><h1>印鑑登録 {n}</h1><table class=\"facts\">\
         <tr><th scope=\"row\">住民票コード</th><td><a href=\"/residents/{code}\">{code}</a></td></tr>\
         <tr><th scope=\"row\">印鑑登録証番号</th><td>{card}</td></tr>\
         <tr><th scope=\"row\">登録日</th><td>{on}</td></tr>\
         <tr><th scope=\"row\">状態</th><td>{state}</td></tr></table></section>\
         <section class=\"card\"><h2>印影</h2><img class=\"impression\" src=\"/seals/{n}/image\" alt=\"登録されている印影\"></section></div>{actions}\
         {removal}<section class=\"card\"><h2>印鑑登録証明書の交付履歴</h2>{issued}</section>",
        err = error.map(error_box).unwrap_or_default(),
        code = esc(&v.resident_code),
        card = esc(&v.card_number),
        on = wareki(v.registered_on),
        state = v.cancel_reason.map_or("登録中".into(), |c| format!(
            "{}({})",
            esc(&c),
            v.cancelled_on.map(wareki).unwrap_or_default()
        )),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("印鑑登録", Some(&who), &body)).into_response()
}

/// `/seals/{number}`: one registration, its 印影, and what can be done.
pub async fn seal_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(number): Path<String>,
    Query(f): Query<DetailFlags>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = if f.registered.is_some() {
        "<div class=\"ok-box\" role=\"status\">印鑑登録しました。印鑑登録証をお渡しください。</div>"
    } else if f.cancelled.is_some() {
        "<div class=\"ok-box\" role=\"status\">登録を終了しました。この印鑑登録証は使えません。</div>"
    } else {
        ""
    };
    detail_page(&state, &s, &headers, &number, notice, None).await
}

#[derive(Deserialize)]
pub struct CancelForm {
    reason: String,
    /// `yes` once the clerk has confirmed on the confirmation page.
    #[serde(default)]
    confirm: String,
}

/// `POST /seals/{number}/cancel`: 廃止 or 亡失.
pub async fn seal_cancel_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(number): Path<String>,
    Form(f): Form<CancelForm>,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (reason, label) = match f.reason.as_str() {
        "card_lost" => (CancelReason::CardLost, "亡失(登録証の紛失)"),
        _ => (CancelReason::Abolished, "廃止(本人の申請)"),
    };
    if f.confirm != "yes" {
        // Ending a registration cannot be undone: the clerk confirms first, on a page that
        // shows only a registration this municipality holds (looked up through the gate).
        let found = api::search(
            &state,
            &s,
            &headers,
            api::SealSearch {
                registration_number: Some(number.clone()),
                card_number: None,
                resident_code: None,
                include_cancelled: false,
            },
        )
        .await;
        let r = match found.map(|f| f.into_iter().next()) {
            Ok(Some(r)) => r,
            Ok(None) => {
                let e = ApiError::not_found("この印鑑登録番号の有効な登録はありません");
                return detail_page(&state, &s, &headers, &number, "", Some(&e)).await;
            }
            Err(e) => return detail_page(&state, &s, &headers, &number, "", Some(&e)).await,
        };
        let v = api::seal_view(&r);
        let n = esc(&v.registration_number);
        let body = format!(
            "<div class=\"card medium\" role=\"alert\"><h1>印鑑登録の終了の確認</h1>\
             <p>印鑑登録 {n}(印鑑登録証 {card})を<strong>{label}</strong>として終了します。\
             終了した登録とその印鑑登録証の番号は、二度と使えません。</p>\
             <form method=\"post\" action=\"/seals/{n}/cancel\">\
             <input type=\"hidden\" name=\"reason\" value=\"{reason}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
             <p class=\"actions\"><button type=\"submit\" class=\"danger\" autofocus>終了する</button> \
             <a href=\"/seals/{n}\">やめる</a></p></form></div>",
            card = esc(&v.card_number),
            reason = esc(&f.reason),
        );
        return page("印鑑登録の終了の確認", Some(&s), &body).into_response();
    }
    match api::cancel(&state, &s, &headers, &number, reason, None, None).await {
        Ok(_) => Redirect::to(&format!("/seals/{number}?cancelled=1")).into_response(),
        Err(e) => detail_page(&state, &s, &headers, &number, "", Some(&e)).await,
    }
}

#[derive(Deserialize)]
pub struct SealCertificateForm {
    registration_number: String,
    card_number: String,
    #[serde(default)]
    applicant_name: String,
    /// In any form [`murakumo_core::parse_date_input`] reads (和暦 included).
    #[serde(default)]
    applicant_birth_date: String,
    purpose: String,
    requester: String,
}

/// `POST /seals/certificate`: 印鑑登録証明書 for the card presented.
pub async fn seal_certificate_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Form(f): Form<SealCertificateForm>,
) -> Response {
    let s = match staff(session, Permission::CertificateIssue) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let applicant_birth_date = match murakumo_core::parse_date_input(&f.applicant_birth_date) {
        Ok(d) => d,
        Err(e) => {
            let e = ApiError::invalid("applicant_birth_date", e.message_ja());
            return detail_page(&state, &s, &headers, &f.registration_number, "", Some(&e)).await;
        }
    };
    let req = crate::api::certificates::CertificateRequest {
        kind: "seal".into(),
        card_number: Some(f.card_number.clone()),
        registration_number: Some(f.registration_number.clone()),
        applicant_name: Some(f.applicant_name.clone()),
        applicant_birth_date: Some(applicant_birth_date),
        resident_codes: None,
        household_id: None,
        as_of: None,
        include_honseki: false,
        include_relationship: false,
        include_resident_code: false,
        requester: f.requester.clone(),
        purpose: f.purpose.clone(),
    };
    match crate::api::certificates::issue_certificate(
        State(state.clone()),
        s.clone(),
        headers.clone(),
        ApiJson(req),
    )
    .await
    {
        Ok(pdf) => super::certificates::pdf_inline(pdf),
        Err(e) => detail_page(&state, &s, &headers, &f.registration_number, "", Some(&e)).await,
    }
}

/// `/seals/{number}/image`: the 印影 for the detail screen (logged).
pub async fn seal_image(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(number): Path<String>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::seal_impression(State(state), s, headers, ApiPath(number)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn official_page(
    who: &StaffSession,
    has_seal: bool,
    notice: &str,
    error: Option<&ApiError>,
) -> Response {
    let current = if has_seal {
        "<img class=\"impression\" src=\"/official-seal/image\" alt=\"現在の公印\">"
    } else {
        "<p class=\"error\">公印が登録されていません。証明書は公印なしで印刷されます。</p>"
    };
    let body = format!(
        "<h1>公印の登録</h1>{notice}{}<div class=\"card\"><h2>現在の公印</h2>{current}</div>\
         <form class=\"card\" method=\"post\" action=\"/official-seal\" enctype=\"multipart/form-data\">\
         <label for=\"png\">公印の画像(PNG)</label><input id=\"png\" name=\"png\" type=\"file\" accept=\"image/png\" autofocus required>\
         <label for=\"reason\">変更の理由(変更のときは必須)</label><input id=\"reason\" name=\"reason\" placeholder=\"新市長就任\">\
         <p><button type=\"submit\">登録する</button></p></form>",
        error.map(error_box).unwrap_or_default()
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("公印の登録", Some(who), &body)).into_response()
}

/// `GET /official-seal`: the administrator's 公印 screen.
pub async fn official_seal_form(State(state): State<AppState>, session: Session) -> Response {
    let s = match staff(session, Permission::SettingsManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let has = matches!(
        state.store.tenant(&s.tenant).official_seal().await,
        Ok(Some(_))
    );
    official_page(&s, has, "", None)
}

/// `GET /official-seal/image`
pub async fn official_seal_image(State(state): State<AppState>, session: Session) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match api::get_official_seal(State(state), s).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// `POST /official-seal`: replaces the 公印 image.
pub async fn official_seal_submit(
    State(state): State<AppState>,
    session: Session,
    form: Multipart,
) -> Response {
    let s = match staff(session, Permission::SettingsManage) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let has = matches!(
        state.store.tenant(&s.tenant).official_seal().await,
        Ok(Some(_))
    );
    let (fields, png) = match read_multipart(form).await {
        Ok(x) => x,
        Err(e) => return official_page(&who, has, "", Some(&e)),
    };
    let reason = fields
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.clone());
    match api::store_official_seal(&state, &s, png, reason).await {
        Ok(_) => official_page(
            &who,
            true,
            "<div class=\"ok-box\" role=\"status\">公印を登録しました。以後の証明書に印刷されます。</div>",
            None,
        ),
        Err(e) => official_page(&who, has, "", Some(&e)),
    }
}

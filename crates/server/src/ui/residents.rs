//! 住民記録 counter screens: search, resident and household detail with
//! 異動履歴, and the 異動 forms (転入・出生, 転居, 転出, 死亡, 世帯変更,
//! 氏名変更, 職権修正, 支援措置).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use murakumo_core::today_in_japan;
use murakumo_resident::{Citizenship, Record, Status};
use murakumo_seal_store::SealReads;
use murakumo_tenancy::Permission;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{error_box, esc, page, staff, wareki};
use crate::api::residents as api;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::session::StaffSession;
use crate::state::AppState;

type Session = Result<StaffSession, ApiError>;

/// The submitted fields of a form as a JSON object for the API's request
/// types: blank fields are left out (so they take their defaults), `numbers`
/// become numbers and `lists` collect repeated fields.
/// Form fields that hold a date: typed in any form [`murakumo_core::parse_date_input`] reads.
pub(crate) const DATE_FIELDS: [&str; 8] = [
    "moved_in_date",
    "birth_date",
    "effective_date",
    "notified_date",
    "planned_date",
    "period_until",
    "until",
    "as_of",
];

/// The attributes of an input of kind `ty`: a date is a text field, so that it can be typed
/// in 和暦 (`S60.4.12`, `3-600412`) as clerks do; the browser's date picker cannot.
fn input_type(ty: &str) -> String {
    match ty {
        "date" => DATE_INPUT.to_string(),
        other => format!("type=\"{other}\""),
    }
}

/// The attributes of every date input.
pub(crate) const DATE_INPUT: &str = "type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\"";

pub(crate) fn form_json(fields: &[(String, String)], numbers: &[&str], lists: &[&str]) -> Value {
    let mut out = Map::new();
    for (k, v) in fields {
        let v = v.trim();
        if lists.contains(&k.as_str()) {
            let list = out
                .entry(k.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list
                && !v.is_empty()
            {
                a.push(Value::String(v.to_string()));
            }
            continue;
        }
        if v.is_empty() {
            continue;
        }
        if DATE_FIELDS.contains(&k.as_str()) {
            // Typed as staff write dates (和暦 too); the API takes ISO. What cannot be read
            // is left as typed, and `from_form` names the field.
            let iso = murakumo_core::parse_date_input(v)
                .map_or_else(|_| v.to_string(), |d| d.to_string());
            out.insert(k.clone(), Value::String(iso));
            continue;
        }
        let value = match (numbers.contains(&k.as_str()), v.parse::<u64>()) {
            (true, Ok(n)) => Value::from(n),
            _ => Value::String(v.to_string()),
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// A request type from form fields, or a 400 naming the field at fault.
pub(crate) fn from_form<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    // A date `form_json` could not read is still as typed: name it (serde would not).
    for field in DATE_FIELDS {
        if let Some(typed) = v.get(field).and_then(Value::as_str)
            && chrono::NaiveDate::parse_from_str(typed, "%Y-%m-%d").is_err()
        {
            return Err(ApiError::invalid(
                field,
                format!(
                    "{}を読み取れません。1985-04-12、S60.4.12、昭和60年4月12日、3-600412(元号の数字-年月日)のいずれかの形で入力してください",
                    super::field_label(field)
                ),
            ));
        }
    }
    serde_json::from_value(v).map_err(|e| {
        let msg = e.to_string();
        // serde says "missing field `x`" or "invalid type … for key `x`".
        let field = msg.split('`').nth(1).unwrap_or("").to_string();
        let label = match super::field_label(&field).as_ref() {
            "" => "入力".to_string(),
            l => l.to_string(),
        };
        if msg.starts_with("missing field") {
            ApiError::invalid(&field, format!("{label}を入力してください"))
        } else {
            tracing::debug!(field = %field, error = %msg, "form field refused");
            ApiError::invalid(
                &field,
                format!("{label}の形式が正しくありません。入力した内容を確認してください"),
            )
        }
    })
}

fn status_label(r: &Record) -> String {
    match &r.status {
        Status::Current => "住民".into(),
        Status::MovingOut { planned_date, .. } => format!("転出予定({})", wareki(*planned_date)),
        Status::Removed { reason, date } => {
            format!("除票({} {})", reason.label_ja(), wareki(*date))
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    kana: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    addressee_number: String,
    #[serde(default)]
    include_removed: Option<String>,
}

fn search_form(q: &SearchForm) -> String {
    format!(
        "<form class=\"card search\" method=\"get\" action=\"/residents\" role=\"search\"><h1>住民検索</h1>\
         <div class=\"grid\"><div><label for=\"kana\">フリガナ(前方一致)</label><input id=\"kana\" name=\"kana\" value=\"{}\" autofocus placeholder=\"ヤマダ タロウ\"></div>\
         <div><label for=\"name\">氏名(漢字)</label><input id=\"name\" name=\"name\" value=\"{}\" placeholder=\"山田\"></div>\
         <div><label for=\"birth_date\">生年月日</label><input id=\"birth_date\" name=\"birth_date\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{}\"></div>\
         <div><label for=\"address\">住所(都道府県からなら前方一致、町字・番地だけなら部分一致)</label><input id=\"address\" name=\"address\" value=\"{}\" placeholder=\"3条3番\"></div>\
         <div><label for=\"code\">住民票コード</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" value=\"{}\"></div>\
         <div><label for=\"addressee_number\">宛名番号</label><input id=\"addressee_number\" name=\"addressee_number\" inputmode=\"numeric\" value=\"{}\"></div></div>\
         <p><label class=\"inline\"><input type=\"checkbox\" name=\"include_removed\" value=\"1\"{}> 除票も含める</label> \
         <button type=\"submit\">検索</button></p></form>",
        esc(&q.kana),
        esc(&q.name),
        esc(&q.birth_date),
        esc(&q.address),
        esc(&q.code),
        esc(&q.addressee_number),
        if q.include_removed.is_some() {
            " checked"
        } else {
            ""
        }
    )
}

/// 検索履歴 (標準仕様書 §2.1.1): the staff member's own latest searches, each a link that
/// searches again.
fn past_searches(past: &[api::PastSearchView]) -> String {
    if past.is_empty() {
        return String::new();
    }
    let items: String = past
        .iter()
        .map(|p| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            let mut shown = Vec::new();
            for (key, label, value) in [
                ("kana", "フリガナ", p.kana.clone()),
                ("name", "氏名", p.name.clone()),
                ("birth_date", "生年月日", p.birth_date.map(wareki)),
                ("address", "住所", p.address.clone()),
                ("addressee_number", "宛名番号", p.addressee_number.clone()),
            ] {
                if let Some(v) = value {
                    let sent = match key {
                        "birth_date" => p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                        _ => v.clone(),
                    };
                    query.append_pair(key, &sent);
                    shown.push(format!("{label}: {}", esc(&v)));
                }
            }
            format!(
                "<li><a href=\"/residents?{}\">{}</a> <span class=\"muted\">{}</span></li>",
                esc(&query.finish()),
                shown.join("、"),
                esc(&p.searched_at)
            )
        })
        .collect();
    format!(
        "<section class=\"card\"><h2>最近の検索(あなたの検索履歴)</h2><ul class=\"menu\">{items}</ul></section>"
    )
}

/// `/residents`: search by kana, kanji name, birth date, address or
/// 住民票コード; a code goes straight to the resident.
pub async fn residents(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<SearchForm>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let code = q.code.trim();
    if !code.is_empty() {
        return match murakumo_core::ResidentCode::parse(code) {
            Ok(c) => Redirect::to(&format!("/residents/{}", c.as_str())).into_response(),
            Err(e) => page(
                "住民検索",
                Some(&who),
                &format!(
                    "{}{}",
                    error_box(&ApiError::invalid("resident_code", e.message_ja())),
                    search_form(&q)
                ),
            )
            .into_response(),
        };
    }
    let blank = q.kana.trim().is_empty()
        && q.name.trim().is_empty()
        && q.address.trim().is_empty()
        && q.addressee_number.trim().is_empty()
        && q.birth_date.trim().is_empty();
    if blank {
        let past = match api::search_history(State(state), s, headers).await {
            Ok(axum::Json(past)) => past_searches(&past),
            Err(e) => error_box(&e),
        };
        return page(
            "住民検索",
            Some(&who),
            &format!("{}{past}", search_form(&q)),
        )
        .into_response();
    }
    let birth_date = match q.birth_date.trim() {
        "" => None,
        d => match murakumo_core::parse_date_input(d) {
            Ok(d) => Some(d),
            Err(e) => {
                let e = ApiError::invalid("birth_date", e.message_ja());
                return page(
                    "住民検索",
                    Some(&who),
                    &format!("{}{}", error_box(&e), search_form(&q)),
                )
                .into_response();
            }
        },
    };
    let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let query = api::SearchQuery {
        kana: opt(&q.kana),
        name: opt(&q.name),
        birth_date,
        address: opt(&q.address),
        addressee_number: opt(&q.addressee_number),
        include_removed: q.include_removed.is_some(),
        limit: Some(100),
    };
    // The same search as a CSV file (標準仕様書 §2.1.3/M3).
    let export = {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("kana", &query.kana),
            ("name", &query.name),
            ("address", &query.address),
            ("addressee_number", &query.addressee_number),
        ] {
            if let Some(v) = value {
                link.append_pair(key, v);
            }
        }
        if let Some(d) = query.birth_date {
            link.append_pair("birth_date", &d.to_string());
        }
        if query.include_removed {
            link.append_pair("include_removed", "true");
        }
        link.append_pair("limit", "100");
        format!(
            "<p><a href=\"/api/v1/residents.csv?{}\" download>この結果をCSVで出力</a> <span class=\"muted\">(出力はアクセス記録に残ります)</span></p>",
            esc(&link.finish())
        )
    };
    let found = match api::search_residents(State(state), s, headers, ApiQuery(query)).await {
        Ok(axum::Json(v)) => v,
        Err(e) => {
            return page(
                "住民検索",
                Some(&who),
                &format!("{}{}", error_box(&e), search_form(&q)),
            )
            .into_response();
        }
    };
    let rows: String = found
        .iter()
        .map(|v| {
            let status = api::status_label(&v.status);
            let sex = api::sex_label(v.sex_code);
            // 外字 are marked, so that the printed form is checked against the 届書.
            let gaiji = if murakumo_resident::has_gaiji(&v.name) {
                " <span class=\"badge\" title=\"JIS第1・第2水準にない文字(外字)を含みます\">外字</span>"
            } else {
                ""
            };
            let relationship = if v.household_head {
                "<strong>世帯主</strong>"
            } else {
                ""
            };
            format!(
                "<tr><td><a href=\"/residents/{0}\">{0}</a></td><td>{1}{gaiji}</td><td>{2}</td><td>{3}</td><td>{sex}</td><td>{relationship}</td><td>{4} {5}</td><td>{6}</td></tr>",
                esc(&v.resident_code),
                esc(&v.name),
                esc(&v.kana),
                wareki(v.birth_date),
                esc(&v.address),
                esc(&v.katagaki),
                status
            )
        })
        .collect();
    let body = format!(
        "{}<p role=\"status\">{} 件{}</p>{export}<table class=\"results\"><thead><tr><th>住民票コード</th><th>氏名</th><th>フリガナ</th><th>生年月日</th><th>性別</th><th>世帯主</th><th>住所</th><th>状態</th></tr></thead><tbody>{rows}</tbody></table>{none}",
        search_form(&q),
        found.len(),
        if found.len() >= 100 {
            "(上位100件。条件を絞ってください)"
        } else {
            ""
        },
        none = if found.is_empty() {
            "<p class=\"notice\">該当する住民はいません。条件を変えて検索してください(フリガナ・氏名は前方一致、住所は都道府県から入力すれば前方一致・町字や番地だけなら部分一致です。除票も探すときは「除票も含める」にチェックしてください)。</p>"
        } else {
            ""
        }
    );
    page("住民検索", Some(&who), &body).into_response()
}

#[derive(Deserialize)]
pub struct InspectionForm {
    #[serde(default)]
    address: String,
}

/// 住民基本台帳の一部の写し (閲覧用): the area's current residents, 氏名・生年月日・性別・住所,
/// for the 閲覧 desk to print; a person under 支援措置 is never in it (標準仕様書 §3.4/M2).
pub async fn inspection_copy(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Query(q): Query<InspectionForm>,
) -> Response {
    const TITLE: &str = "住民基本台帳の一部の写し(閲覧用)";
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let form = format!(
        "<form class=\"card\" method=\"get\" action=\"/inspection-copy\"><h1>{TITLE}</h1>\
         <label for=\"address\">範囲(住所を都道府県から。例: 北海道深川市1条)</label>\
         <input id=\"address\" name=\"address\" value=\"{}\" required> <button type=\"submit\">作成</button>\
         <p class=\"muted\">氏名・生年月日・性別・住所の4項目です(住民基本台帳法第11条)。支援措置の対象の方は載りません。作成はアクセス記録に残ります。</p></form>",
        esc(&q.address)
    );
    if q.address.trim().is_empty() {
        return page(TITLE, Some(&who), &form).into_response();
    }
    let query = api::InspectionQuery {
        address: q.address.clone(),
    };
    let listed = match api::inspection_copy(State(state), s, headers, ApiQuery(query)).await {
        Ok(axum::Json(v)) => v,
        Err(e) => {
            return page(TITLE, Some(&who), &format!("{}{form}", error_box(&e))).into_response();
        }
    };
    let rows: String = listed
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                esc(&l.name),
                wareki(l.birth_date),
                api::sex_label(l.sex_code),
                esc(&l.address),
                esc(&l.katagaki)
            )
        })
        .collect();
    let body = format!(
        "{form}<p role=\"status\">{} 人</p><table class=\"results\"><thead><tr><th>氏名</th><th>生年月日</th><th>性別</th><th>住所</th></tr></thead><tbody>{rows}</tbody></table>",
        listed.len()
    );
    page(TITLE, Some(&who), &body).into_response()
}

/// 支援措置の期限が近い住民 (標準仕様書 §3.4/M3): whom to ask about an extension; each
/// links to the 異動 screen, where 「支援措置の開始・延長」 with a blank 期限 extends by a year.
pub async fn protections_ending(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
) -> Response {
    let s = match staff(session, Permission::ProtectedResidentView) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let ending = match api::protections_ending(State(state), s, headers).await {
        Ok(axum::Json(v)) => v,
        Err(e) => return page("支援措置の期限", Some(&who), &error_box(&e)).into_response(),
    };
    let rows: String = ending
        .iter()
        .map(|p| {
            format!(
                "<tr><td><a href=\"/residents/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td><strong>{5}</strong></td><td><a href=\"/residents/{0}/change?kind=protect\">延長する</a></td></tr>",
                esc(&p.resident_code),
                esc(&p.name),
                esc(&p.kana),
                wareki(p.birth_date),
                esc(&p.address),
                wareki(p.until),
            )
        })
        .collect();
    let body = format!(
        "<div class=\"card\"><h1>支援措置の期限が近い方</h1><p>期限まで1か月以内の方です。支援措置の期間は1年で、延長の申出は期限の1か月前から受け付けます。延長するときは「延長する」から、期限を空欄のまま記録してください(1年延長されます)。この一覧の表示はアクセス記録に残ります。</p></div>\
         <p role=\"status\">{} 人</p><table class=\"results\"><thead><tr><th>住民票コード</th><th>氏名</th><th>フリガナ</th><th>生年月日</th><th>住所</th><th>期限</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        ending.len()
    );
    page("支援措置の期限", Some(&who), &body).into_response()
}

#[derive(Deserialize)]
pub struct DetailQuery {
    /// 基準日, typed in any form staff write dates.
    #[serde(default)]
    as_of: String,
}

/// `/residents/{code}`: the record (now or as of a date), the household,
/// 異動履歴, 印鑑登録, and what can be done next.
pub async fn resident_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(code): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let fail = |e: ApiError| {
        (
            e.status,
            page(
                "住民の詳細",
                Some(&who),
                &format!(
                    "{}<p><a href=\"/residents\">住民検索へ戻る</a></p>",
                    error_box(&e)
                ),
            ),
        )
            .into_response()
    };
    let as_of = match q.as_of.trim() {
        "" => None,
        typed => match murakumo_core::parse_date_input(typed) {
            Ok(d) => Some(d),
            Err(e) => return fail(ApiError::invalid("as_of", e.message_ja())),
        },
    };
    let view = match api::get_resident(
        State(state.clone()),
        s.clone(),
        headers.clone(),
        ApiPath(code.clone()),
        ApiQuery(api::AsOfQuery { as_of }),
    )
    .await
    {
        Ok(axum::Json(v)) => v,
        Err(e) => return fail(e),
    };
    let Some(r) = view
        .record
        .and_then(|v| serde_json::from_value::<Record>(v).ok())
    else {
        return fail(ApiError::internal(
            "住民記録を読み込めませんでした。もう一度お試しください",
        ));
    };
    let history = match api::resident_history(
        State(state.clone()),
        s.clone(),
        headers.clone(),
        ApiPath(code.clone()),
    )
    .await
    {
        Ok(axum::Json(h)) => h,
        Err(e) => return fail(e),
    };
    let household = if r.is_removed() {
        Vec::new()
    } else {
        match api::get_household(
            State(state.clone()),
            s.clone(),
            headers.clone(),
            ApiPath(r.household_id.clone()),
            ApiQuery(api::HouseholdQuery {
                include_removed: true,
            }),
        )
        .await
        {
            Ok(j) => j.0,
            Err(e) => return fail(e),
        }
    };
    let seals = match state
        .store
        .tenant(&s.tenant)
        .seals_of_resident(&r.resident_code)
        .await
    {
        Ok(seals) => seals,
        Err(e) => return fail(e.into()),
    };

    let p = &r.person;
    // 西暦 for a foreign resident's 生年月日 and 在留期間の満了日 (標準仕様書 §1.1.9).
    let birth = if p.is_foreign() {
        murakumo_documents::seireki(p.birth_date)
    } else {
        wareki(p.birth_date)
    };
    let mut facts = vec![
        ("住民票コード", esc(&r.resident_code)),
        (
            "宛名番号",
            esc(r.addressee_number.as_deref().unwrap_or("(未付番)")),
        ),
        ("状態", esc(&status_label(&r))),
        ("氏名", esc(&r.full_name())),
        (
            "フリガナ",
            format!(
                "{} <span class=\"badge\">{}</span>",
                esc(&r.full_kana()),
                if r.kana_confirmed {
                    "確認済"
                } else {
                    "未確認"
                }
            ),
        ),
        ("生年月日", birth),
        ("性別", p.sex.label_ja().to_string()),
        ("続柄", esc(&r.relationship)),
        (
            "住所",
            format!("{} {}", esc(&r.address.text), esc(&r.address.katagaki)),
        ),
        ("住民となった年月日", wareki(r.became_resident)),
        ("住所を定めた年月日", wareki(r.address_since)),
    ];
    if let Some(romaji) = &p.romaji {
        facts.push(("ローマ字", esc(romaji)));
    }
    if let Some(alias) = &p.alias {
        let kana = r
            .alias_kana
            .as_deref()
            .map(|k| format!("({})", esc(k)))
            .unwrap_or_default();
        facts.push(("通称", format!("{}{kana}", esc(alias))));
    }
    if let Some(former) = &r.former_surname {
        facts.push((
            "旧氏",
            format!("{}({})", esc(&former.name), esc(&former.kana)),
        ));
    }
    match &p.citizenship {
        Citizenship::Japanese { honseki, hittosha } => {
            facts.push(("本籍", esc(honseki)));
            facts.push(("筆頭者", esc(hittosha)));
        }
        Citizenship::Foreign {
            nationality,
            residence_status,
            period_until,
        } => {
            facts.push(("国籍・地域", esc(nationality)));
            facts.push(("在留資格", esc(residence_status)));
            if let Some(d) = period_until {
                facts.push(("在留期間の満了日", murakumo_documents::seireki(*d)));
            }
        }
    }
    if let Some(prot) = &r.protection {
        let today = today_in_japan();
        // The extension is taken from one month before the term ends (§3.4/M3).
        let extension = if prot.until >= today
            && murakumo_resident::protection::extension_opens(prot.until) <= today
        {
            " <span class=\"badge warn\">期限まで1か月以内: 延長の申出を受け付けられます</span>"
        } else {
            ""
        };
        facts.push((
            "支援措置",
            format!(
                "<span class=\"badge warn\">対象({}まで)</span>{extension}",
                wareki(prot.until)
            ),
        ));
    }
    let facts: String = facts
        .iter()
        .map(|(k, v)| format!("<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>"))
        .collect();
    let member_item = |m: &api::ResidentView| {
        format!(
            "<li><a href=\"/residents/{0}\">{1}</a>({2}・{3})</li>",
            esc(&m.resident_code),
            esc(m.name.as_deref().unwrap_or("")),
            esc(m.relationship.as_deref().unwrap_or("")),
            m.birth_date
                .map(|d| if m.foreign == Some(true) {
                    murakumo_documents::seireki(d)
                } else {
                    wareki(d)
                })
                .unwrap_or_default()
        )
    };
    let (removed, current): (Vec<_>, Vec<_>) =
        household.iter().partition(|m| m.status == "removed");
    let mut members: String = current.into_iter().map(member_item).collect();
    // 標準仕様書 §3.3: the members removed from the household (転出, 死亡 …) are shown too.
    if !removed.is_empty() {
        members.push_str(&format!(
            "</ul><h3>消除された世帯員(除票)</h3><ul class=\"removed\">{}",
            removed.into_iter().map(member_item).collect::<String>()
        ));
    }
    let history: String = history
        .iter()
        .map(|h| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                wareki(h.effective_date),
                esc(&h.label),
                esc(&h.detail),
                esc(&h
                    .recorded_at
                    .chars()
                    .take(19)
                    .collect::<String>()
                    .replace('T', " ")),
                esc(&h.actor)
            )
        })
        .collect();
    let seal_rows: String = seals
        .iter()
        .map(|x| {
            let v = crate::api::seals::seal_view(x);
            format!(
                "<tr><td><a href=\"/seals/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td></tr>",
                esc(&v.registration_number),
                esc(&v.card_number),
                wareki(v.registered_on),
                v.cancel_reason.map_or("登録中".to_string(), |c| format!(
                    "{}({})",
                    esc(&c),
                    v.cancelled_on.map(wareki).unwrap_or_default()
                ))
            )
        })
        .collect();
    let code = esc(&r.resident_code);
    let actions = if r.is_removed() {
        format!(
            "<a class=\"button\" href=\"/residents/{code}/certificate\" autofocus>除票の写しを交付</a>"
        )
    } else {
        format!(
            "<a class=\"button\" href=\"/residents/{code}/certificate\" accesskey=\"c\" autofocus>証明書を交付(C)</a> \
             <a class=\"button\" href=\"/residents/{code}/change\" accesskey=\"i\">異動を入力(I)</a> \
             <a class=\"button\" href=\"/seals/new?resident_code={code}\">印鑑登録</a>"
        )
    };
    let as_of_note = as_of.map_or(String::new(), |d| {
        format!("<p class=\"badge\">{}時点の記載</p>", wareki(d))
    });
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/residents\">住民検索</a> › 住民の詳細</nav>\
         <div class=\"card\"><h1>{name}</h1>{as_of_note}<p class=\"actions\">{actions}</p>\
         <form method=\"get\" action=\"/residents/{code}\" class=\"inline-form\"><label class=\"inline\" for=\"as_of\">基準日</label> \
         <input id=\"as_of\" name=\"as_of\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{as_of}\"> <button type=\"submit\">この日の記載を表示</button></form></div>\
         <div class=\"columns\"><section class=\"card\"><h2>記載事項</h2><table class=\"facts\">{facts}</table></section>\
         <section class=\"card\"><h2>世帯({hh})</h2><ul>{members}</ul><h2>印鑑登録</h2>\
         <table><thead><tr><th>登録番号</th><th>登録証番号</th><th>登録日</th><th>状態</th></tr></thead><tbody>{seal_rows}</tbody></table></section></div>\
         <section class=\"card\"><h2>異動履歴</h2><table><thead><tr><th>異動日</th><th>事由</th><th>内容</th><th>記録日時</th><th>記録者</th></tr></thead><tbody>{history}</tbody></table></section>",
        name = esc(&r.full_name()),
        as_of = as_of.map(wareki).unwrap_or_default(),
        hh = esc(&r.household_id),
    );
    page(&r.full_name(), Some(&who), &body).into_response()
}

/// A form field: (name, label, input type). A type `select:v=label|…`
/// is a choice (the first option the default).
type Field = (&'static str, &'static str, &'static str);

/// The 新しい世帯主 a 世帯主's 死亡, 転出 or leaving needs (世帯主変更).
const NEW_HEAD: Field = (
    "new_head",
    "新しい世帯主の住民票コード(世帯主が死亡・転出・転居で世帯を出て、世帯に残る方がいる場合)",
    "text",
);

/// The 異動 a clerk can enter for a registered resident, with the fields
/// each needs: (code, label, fields).
const CHANGES: &[(&str, &str, &[Field])] = &[
    (
        "relocate",
        "転居",
        &[
            ("address", "新しい住所", "text"),
            ("katagaki", "方書", "text"),
            (
                "household_move",
                "世帯の扱い",
                "select:=本人のみ(一人世帯)|all=世帯全員で転居|separate=本人のみ転居し、新しい世帯の世帯主になる",
            ),
            NEW_HEAD,
        ],
    ),
    (
        "move_out_planned",
        "転出届(転出予定)",
        &[
            ("planned_date", "転出予定日", "date"),
            ("destination", "転出先", "text"),
        ],
    ),
    (
        "cancel_move_out",
        "転出取消(転出予定の取消)",
        &[("reason", "取消の理由", "text")],
    ),
    (
        "move_out",
        "転出確定(転入通知受理)",
        &[
            ("destination", "転出先", "text"),
            (
                "moved_in_date",
                "転入通知の転入日(消除日は転出予定日とこの日の早い日になります)",
                "date",
            ),
            (
                "household_move",
                "世帯の扱い",
                "select:=本人のみ|all=世帯全員が転出",
            ),
            NEW_HEAD,
        ],
    ),
    ("death", "死亡", &[NEW_HEAD]),
    (
        "household",
        "世帯変更(分離・合併・世帯主変更)",
        &[
            (
                "household_id",
                "世帯番号(既存の世帯に入る・世帯内で続柄を変える場合。空欄なら新しい世帯になり、番号は自動で付きます)",
                "text",
            ),
            ("relationship", "続柄", "text"),
            (
                "former_head_relationship",
                "元の世帯主の新しい続柄(この方が世帯主になる場合)",
                "text",
            ),
            NEW_HEAD,
        ],
    ),
    (
        "name",
        "氏名変更",
        &[
            ("family_name", "氏", "text"),
            ("given_name", "名", "text"),
            ("family_kana", "氏(フリガナ)", "text"),
            ("given_kana", "名(フリガナ)", "text"),
            (
                "seal",
                "印鑑登録(登録のある方のみ)",
                "select:=登録なし|end=登録印鑑が新しい氏名を表さないので職権で抹消する|keep=登録印鑑は名・旧氏などで引き続き氏名を表すので継続する",
            ),
        ],
    ),
    (
        "former_surname",
        "旧氏の記載・変更(請求による)",
        &[
            (
                "former_surname",
                "旧氏(戸籍に記載されている以前の氏)",
                "text",
            ),
            ("former_surname_kana", "旧氏(フリガナ)", "text"),
        ],
    ),
    ("delete_former_surname", "旧氏の削除(請求による)", &[]),
    (
        "alias",
        "通称の記載・変更(申出による)",
        &[
            ("alias", "通称", "text"),
            ("alias_kana", "通称(フリガナ)", "text"),
        ],
    ),
    ("delete_alias", "通称の削除(申出による)", &[]),
    (
        "correct",
        "職権修正",
        &[
            ("field", "修正する項目", CORRECTABLE_SELECT),
            ("value", "修正後の内容", "text"),
            ("reason", "修正の理由", "text"),
        ],
    ),
    (
        "ex_officio_removal",
        "職権消除",
        &[("reason", "消除の理由", "text"), NEW_HEAD],
    ),
    (
        "protect",
        "支援措置の開始・延長",
        &[
            ("until", "支援措置の期限(空欄なら1年)", "date"),
            ("reason", "理由", "text"),
        ],
    ),
    ("unprotect", "支援措置の終了", &[("reason", "理由", "text")]),
];

/// One input of a 異動 form, keeping what was typed.
/// The 職権修正 items as a select (`select:` + `field=名前|…`), from the domain's list.
const CORRECTABLE_SELECT: &str = "select:family_name=氏|given_name=名|family_kana=氏(フリガナ)|\
given_kana=名(フリガナ)|birth_date=生年月日|sex=性別(1 男・2 女・9 記載しない)|katagaki=方書|\
relationship=続柄|honseki=本籍|hittosha=筆頭者|nationality=国籍・地域|residence_status=在留資格|\
kana_confirmed=フリガナ確認フラグ(1 確認済・0 未確認)";

fn change_input(name: &str, label: &str, ty: &str, value: &str, first: bool) -> String {
    let focus = if first { " autofocus" } else { "" };
    match ty.strip_prefix("select:") {
        Some(options) => {
            let options: String = options
                .split('|')
                .filter_map(|o| o.split_once('='))
                .map(|(v, l)| {
                    format!(
                        "<option value=\"{v}\"{}>{l}</option>",
                        if v == value { " selected" } else { "" }
                    )
                })
                .collect();
            format!(
                "<label for=\"{name}\">{label}</label><select id=\"{name}\" name=\"{name}\"{focus}>{options}</select>"
            )
        }
        None => {
            let (list, options) = super::relationship_list(name);
            format!(
                "<label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" {} value=\"{}\"{list}{focus}>{options}",
                input_type(ty),
                esc(value)
            )
        }
    }
}

#[derive(Deserialize)]
pub struct ChangeKind {
    kind: Option<String>,
}

fn change_page(
    who: &StaffSession,
    r: &Record,
    kind: &str,
    values: &[(String, String)],
    error: Option<&ApiError>,
) -> Response {
    let today = wareki(today_in_japan());
    let value = |name: &str| {
        values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let code = esc(&r.resident_code);
    // No kind chosen yet: the cursor starts on the first kind.
    let chosen = CHANGES.iter().any(|(k, ..)| *k == kind);
    // 旧氏 is a Japanese resident's, 通称 a foreign resident's: the other tabs would only be refused.
    let foreign = matches!(r.person.citizenship, Citizenship::Foreign { .. });
    let tabs: String = CHANGES
        .iter()
        .filter(|(k, ..)| match *k {
            "former_surname" | "delete_former_surname" => !foreign,
            "alias" | "delete_alias" => foreign,
            _ => true,
        })
        .enumerate()
        .map(|(i, (k, label, _))| {
            if *k == kind {
                format!("<li><strong aria-current=\"page\">{label}</strong></li>")
            } else {
                let focus = if !chosen && i == 0 { " autofocus" } else { "" };
                format!("<li><a href=\"/residents/{code}/change?kind={k}\"{focus}>{label}</a></li>")
            }
        })
        .collect();
    let form = CHANGES.iter().find(|(k, ..)| *k == kind).map_or(
        "<p>上の一覧から異動の種類を選んでください。</p>".to_string(),
        |(k, label, fields)| {
            let inputs: String = fields
                .iter()
                .enumerate()
                .map(|(i, (name, label, ty))| change_input(name, label, ty, &value(name), i == 0))
                .collect();
            // 標準仕様書 §4.0.3: the 異動日 starts empty (the clerk types the day of the
            // move, never takes today by default), the 届出日 (処理日) as today.
            let effective = value("effective_date");
            let notified = Some(value("notified_date")).filter(|v| !v.is_empty()).unwrap_or(today.clone());
            format!(
                "<form class=\"card\" method=\"post\" action=\"/residents/{code}/change\"><h2>{label}</h2>\
                 <input type=\"hidden\" name=\"change\" value=\"{k}\">{inputs}\
                 <div class=\"grid\"><div><label for=\"effective_date\">異動日</label><input id=\"effective_date\" name=\"effective_date\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{effective}\" required></div>\
                 <div><label for=\"notified_date\">届出日</label><input id=\"notified_date\" name=\"notified_date\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{notified}\"></div></div>\
                 <p><button type=\"submit\">記録する</button> <a href=\"/residents/{code}\">取消</a></p></form>"
            )
        },
    );
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/residents\">住民検索</a> › <a href=\"/residents/{code}\">{name}</a> › 異動の入力</nav>\
         <h1>異動の入力:{name}</h1>{err}<ul class=\"tabs\">{tabs}</ul>{form}",
        name = esc(&r.full_name()),
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    // 標準仕様書 §2.3.1: the name of the 異動 being entered stays on the screen (and in the
    // window's title, which the task bar shows), also when the form comes back with an error.
    let title = match CHANGES.iter().find(|(k, ..)| *k == kind) {
        Some((_, label, _)) => format!("異動の入力({label})"),
        None => "異動の入力".to_string(),
    };
    (status, page(&title, Some(who), &body)).into_response()
}

async fn current_record(
    state: &AppState,
    s: &StaffSession,
    headers: &HeaderMap,
    code: &str,
) -> Result<Record, ApiError> {
    let v = api::get_resident(
        State(state.clone()),
        s.clone(),
        headers.clone(),
        ApiPath(code.to_string()),
        ApiQuery(api::AsOfQuery { as_of: None }),
    )
    .await?
    .0;
    v.record
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| ApiError::internal("住民記録を読み込めませんでした。もう一度お試しください"))
}

/// `GET /residents/{code}/change?kind=…`: the 異動 form.
pub async fn change_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(code): Path<String>,
    Query(q): Query<ChangeKind>,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match current_record(&state, &s, &headers, &code).await {
        Ok(r) => change_page(&s, &r, q.kind.as_deref().unwrap_or(""), &[], None),
        Err(e) => (e.status, page("異動の入力", Some(&s), &error_box(&e))).into_response(),
    }
}

/// `POST /residents/{code}/change`: records the 異動, or shows the form
/// again with what to correct.
pub async fn change_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Path(code): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let r = match current_record(&state, &s, &headers, &code).await {
        Ok(r) => r,
        Err(e) => {
            return (e.status, page("異動の入力", Some(&who), &error_box(&e))).into_response();
        }
    };
    let kind = fields
        .iter()
        .find(|(k, _)| k == "change")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let label = CHANGES
        .iter()
        .find(|(k, ..)| *k == kind)
        .map_or("異動", |(_, l, _)| l);
    // A corrected 生年月日 is typed like any date (和暦 too); the API takes ISO.
    let mut json = form_json(&fields, &[], &[]);
    if json["change"] == "correct"
        && json["field"] == "birth_date"
        && let Some(typed) = json["value"].as_str()
        && let Ok(d) = murakumo_core::parse_date_input(typed)
    {
        json["value"] = Value::String(d.to_string());
    }
    let result = match from_form::<api::ChangeRequest>(json) {
        Ok(req) => {
            api::change_resident(
                State(state),
                s,
                headers,
                ApiPath(code.clone()),
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(axum::Json(done)) => done_page(&who, label, &done),
        Err(e) => change_page(&who, &r, &kind, &fields, Some(&e)),
    }
}

/// What the clerk should know about a recorded 異動 (e.g. 届出期間経過), each with its field.
pub(crate) fn warnings_box(warnings: &[api::WarningView]) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let items: String = warnings
        .iter()
        .map(|w| {
            format!(
                "<li>【{}】{}</li>",
                esc(&super::field_label(&w.field)),
                esc(&w.message)
            )
        })
        .collect();
    format!(
        "<div class=\"warn-box\" role=\"status\"><strong>確認してください</strong><ul>{items}</ul></div>"
    )
}

fn done_page(who: &StaffSession, label: &str, done: &api::ChangeResult) -> Response {
    let code = esc(&done.resident.resident_code);
    let warn = warnings_box(&done.warnings);
    let body = format!(
        "<div class=\"card\"><h1 tabindex=\"-1\" autofocus>{label}を記録しました</h1>\
         <table class=\"facts\"><tr><th>氏名</th><td>{}</td></tr><tr><th>住民票コード</th><td>{code}</td></tr>\
         <tr><th>世帯番号</th><td>{}</td></tr><tr><th>続柄</th><td>{}</td></tr></table>{warn}\
         <p class=\"actions\"><a class=\"button\" href=\"/residents/{code}\" autofocus>住民の詳細へ</a> \
         <a class=\"button\" href=\"/residents/{code}/certificate\">証明書を交付</a> <a href=\"/residents\">住民検索へ</a></p></div>",
        esc(done.resident.name.as_deref().unwrap_or("")),
        esc(done.resident.household_id.as_deref().unwrap_or("")),
        esc(done.resident.relationship.as_deref().unwrap_or("")),
    );
    page("記録しました", Some(who), &body).into_response()
}

fn entry_page(
    who: &StaffSession,
    values: &[(String, String)],
    error: Option<&ApiError>,
) -> Response {
    let today = wareki(today_in_japan());
    let value = |name: &str| {
        values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| esc(v))
            .unwrap_or_default()
    };
    let input = |name: &str, label: &str, ty: &str, extra: &str| {
        format!(
            "<div><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" {} value=\"{}\"{extra}></div>",
            input_type(ty),
            value(name)
        )
    };
    let reason = value("reason");
    let option = |v: &str, l: &str| {
        format!(
            "<option value=\"{v}\"{}>{l}</option>",
            if reason == v { " selected" } else { "" }
        )
    };
    let sex = value("sex_code");
    let sex_option = |v: &str, l: &str| {
        format!(
            "<option value=\"{v}\"{}>{l}</option>",
            if sex == v { " selected" } else { "" }
        )
    };
    let date_or_today = |name: &str| {
        Some(value(name))
            .filter(|v| !v.is_empty())
            .unwrap_or(today.clone())
    };
    let body = format!(
        "<nav class=\"crumbs\"><a href=\"/residents\">住民検索</a> › 転入・出生</nav><h1>転入・出生の届出</h1>{err}\
         <p>家族がそろって転入するときは <a href=\"/residents/new-household\">世帯での転入</a> で全員をまとめて記録できます。</p>\
         <form class=\"card\" method=\"post\" action=\"/residents/new\">\
         <div class=\"grid\"><div><label for=\"reason\">届出の種類</label><select id=\"reason\" name=\"reason\" autofocus>{}{}{}</select></div>\
         {}{}</div>\
         <h2>本人</h2><div class=\"grid\">{}{}{}{}{}\
         <div><label for=\"sex_code\">性別</label><select id=\"sex_code\" name=\"sex_code\">{}{}{}</select></div>{}{}</div>\
         <h2>住所・世帯</h2><div class=\"grid\">{}{}{}{}{}</div>\
         <h2>本籍(日本国籍の方)</h2><div class=\"grid\">{}{}</div>\
         <h2>外国人住民の方</h2><div class=\"grid\">{}{}{}{}{}</div>\
         <h2>日付</h2><div class=\"grid\"><div><label for=\"effective_date\">異動日</label><input id=\"effective_date\" name=\"effective_date\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{}\"></div>\
         <div><label for=\"notified_date\">届出日</label><input id=\"notified_date\" name=\"notified_date\" type=\"text\" inputmode=\"text\" autocomplete=\"off\" placeholder=\"例: R8.4.1 / S60.4.12 / 1985-04-12\" value=\"{}\"></div></div>\
         <p><button type=\"submit\">記録する</button></p></form>",
        option("move_in", "転入"),
        option("birth", "出生"),
        option("ex_officio", "職権記載"),
        input(
            "resident_code",
            "住民票コード(11桁。出生は空欄で自動付番)",
            "text",
            " inputmode=\"numeric\""
        ),
        input("previous_address", "前住所(転入)", "text", ""),
        input("family_name", "氏", "text", " required"),
        input("given_name", "名", "text", ""),
        input("family_kana", "氏(フリガナ)", "text", " required"),
        input("given_kana", "名(フリガナ)", "text", ""),
        input("birth_date", "生年月日", "date", " required"),
        sex_option("1", "男"),
        sex_option("2", "女"),
        sex_option("9", "記載しない"),
        input("romaji", "ローマ字", "text", ""),
        input("alias", "通称", "text", ""),
        input("address", "住所", "text", " required"),
        input("katagaki", "方書", "text", ""),
        input(
            "household_id",
            "世帯番号(既存の世帯に入る場合。空欄なら新しい世帯になり、番号は自動で付きます)",
            "text",
            ""
        ),
        input(
            "relationship",
            "続柄",
            "text",
            " required placeholder=\"世帯主\""
        ),
        input("ex_officio_reason", "職権記載の理由", "text", ""),
        input("honseki", "本籍", "text", ""),
        input("hittosha", "筆頭者", "text", ""),
        input("nationality", "国籍・地域", "text", ""),
        input("residence_status", "在留資格", "text", ""),
        input("period_until", "在留期間の満了日", "date", ""),
        "",
        "",
        date_or_today("effective_date"),
        date_or_today("notified_date"),
        err = error.map(error_box).unwrap_or_default(),
    );
    let status = error.map_or(axum::http::StatusCode::OK, |e| e.status);
    (status, page("転入・出生", Some(who), &body)).into_response()
}

/// `GET /residents/new`: the 転入・出生・職権記載 form.
pub async fn entry_form(session: Session) -> Response {
    match staff(session, Permission::ResidentChange) {
        Ok(s) => entry_page(&s, &[], None),
        Err(r) => r,
    }
}

/// `POST /residents/new`: records the entry, or shows the form again.
pub async fn entry_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let s = match staff(session, Permission::ResidentChange) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = s.clone();
    let label = match fields
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.as_str())
    {
        Some("birth") => "出生",
        Some("ex_officio") => "職権記載",
        _ => "転入",
    };
    let result = match from_form::<api::EntryRequest>(form_json(&fields, &["sex_code"], &[])) {
        Ok(req) => api::enter_resident(State(state), s, headers, ApiJson(req)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(axum::Json(done)) => done_page(&who, label, &done),
        Err(e) => entry_page(&who, &fields, Some(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_correction_form_offers_exactly_the_domains_correctable_items() {
        let offered: Vec<(&str, &str)> = CORRECTABLE_SELECT
            .strip_prefix("select:")
            .expect("a select")
            .split('|')
            .filter_map(|o| o.split_once('='))
            .collect();
        assert_eq!(offered, murakumo_resident::CORRECTABLE.to_vec());
    }

    #[test]
    fn blank_fields_are_left_out_numbers_and_lists_are_typed() {
        let v = form_json(
            &f(&[
                ("a", " x "),
                ("b", ""),
                ("n", "2"),
                ("l", "1"),
                ("l", ""),
                ("l", "3"),
            ]),
            &["n"],
            &["l"],
        );
        assert_eq!(v, serde_json::json!({"a": "x", "n": 2, "l": ["1", "3"]}));
    }

    #[test]
    fn dates_are_read_in_wareki_and_what_cannot_be_read_is_named() {
        let v = form_json(
            &f(&[
                ("change", "relocate"),
                ("address", "北海道深川市1条1番"),
                ("effective_date", "R8.11.20"),
                ("notified_date", "3-600412"),
            ]),
            &[],
            &[],
        );
        assert_eq!(v["effective_date"], "2026-11-20");
        assert_eq!(v["notified_date"], "1985-04-12");
        let v = form_json(
            &f(&[
                ("change", "relocate"),
                ("address", "x"),
                ("effective_date", "きのう"),
            ]),
            &[],
            &[],
        );
        let Err(e) = from_form::<api::ChangeRequest>(v) else {
            panic!("accepted an unreadable 異動日");
        };
        assert_eq!(e.field.as_deref(), Some("effective_date"));
        assert!(e.message.contains("異動日を読み取れません") && e.message.contains("S60.4.12"));
    }

    #[test]
    fn a_missing_field_is_named_in_japanese() {
        let Err(e) = from_form::<api::ChangeRequest>(
            serde_json::json!({"change": "relocate", "address": "x"}),
        ) else {
            panic!("accepted without 異動日");
        };
        assert_eq!(e.field.as_deref(), Some("effective_date"));
        assert!(
            e.message.contains("異動日を入力してください"),
            "{}",
            e.message
        );
    }
}

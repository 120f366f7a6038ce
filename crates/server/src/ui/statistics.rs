//! The statistics screen (`/statistics`): 人口・世帯数 by 町字 and 年齢 as of a 基準日, and the
//! 異動集計 of a month, with their CSV and a PDF to print. Counted by the same functions as
//! `GET /api/v1/statistics/…`, which the CSV links download.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use murakumo_app::statistics;
use murakumo_core::{parse_date_input, today_in_japan};
use murakumo_resident::statistics::{BySex, Movements, Population};
use murakumo_seal::statistics::SealStatistics;
use murakumo_tenancy::Permission;
use serde::Deserialize;

use super::{error_box, esc, page, staff, wareki};
use crate::api::statistics::{parse_month, this_month};
use crate::error::ApiError;
use crate::session::StaffSession;
use crate::state::AppState;

/// The form as sent: dates in any form clerks type (和暦 too).
#[derive(Deserialize, Default)]
pub struct StatisticsForm {
    #[serde(default)]
    on: String,
    #[serde(default)]
    month: String,
}

/// `GET /statistics`: as of today and for this month until the clerk asks otherwise.
pub async fn statistics(
    State(state): State<AppState>,
    session: Result<StaffSession, ApiError>,
    headers: HeaderMap,
    Query(form): Query<StatisticsForm>,
) -> Response {
    let s = match staff(session, Permission::ResidentRead) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let population = match parse_on(&form.on) {
        Ok(on) => statistics::population(&state.app(), &s.acting(&headers), on)
            .await
            .map_err(ApiError::from)
            .map_or_else(|e| error_box(&e), |p| population_tables(&p)),
        Err(e) => error_box(&e),
    };
    let movements = match parse_month_input(&form.month) {
        Ok(first) => statistics::movements(&state.app(), &s.acting(&headers), first)
            .await
            .map_err(ApiError::from)
            .map_or_else(|e| error_box(&e), |m| movements_table(&m)),
        Err(e) => error_box(&e),
    };
    let seals = match parse_month_input(&form.month) {
        Ok(first) => statistics::seals(&state.app(), &s.acting(&headers), first)
            .await
            .map_err(ApiError::from)
            .map_or_else(|e| error_box(&e), |m| seals_table(&m)),
        Err(e) => error_box(&e),
    };
    let body = format!(
        "<form class=\"card\" method=\"get\" action=\"/statistics\"><h1>人口・世帯数と異動集計</h1>\
         <div class=\"grid\">\
         <div><label for=\"on\">基準日</label><input id=\"on\" name=\"on\" value=\"{on}\" placeholder=\"R8.11.30(空欄は今日)\" autofocus></div>\
         <div><label for=\"month\">異動集計の月</label><input id=\"month\" name=\"month\" value=\"{month}\" placeholder=\"2026-11 または R8.11(空欄は今月)\"></div>\
         </div><p><button type=\"submit\">集計</button></p></form>{population}{movements}{seals}",
        on = esc(&form.on),
        month = esc(&form.month),
    );
    page("統計", Some(&s), &body).into_response()
}

fn parse_on(text: &str) -> Result<NaiveDate, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(today_in_japan());
    }
    parse_date_input(text).map_err(|e| ApiError::invalid("on", e.message_ja()))
}

/// A month as `2026-11`, or as a date in any form (和暦 too) of which the month is taken:
/// `R8.11` and `令和8年11月` are read as the first of that month.
fn parse_month_input(text: &str) -> Result<NaiveDate, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(this_month());
    }
    if let Ok(first) = parse_month(text) {
        return Ok(first);
    }
    let with_day = if text.ends_with('月') {
        format!("{text}1日")
    } else {
        format!("{text}.1")
    };
    parse_date_input(text)
        .or_else(|_| parse_date_input(&with_day))
        .map(|d| d.with_day(1).unwrap_or(d))
        .map_err(|_| {
            ApiError::invalid(
                "month",
                format!(
                    "月「{text}」が読めません。2026-11 や R8.11 のように年と月を入力してください。"
                ),
            )
        })
}

fn cells(p: &BySex) -> String {
    format!(
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
        p.male,
        p.female,
        p.total()
    )
}

fn population_tables(p: &Population) -> String {
    let towns: String = p
        .towns
        .iter()
        .map(|t| {
            format!(
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td>{}<td class=\"n\">{}</td></tr>",
                esc(&t.town),
                t.households,
                cells(&t.people),
                t.foreign
            )
        })
        .collect();
    let ages: String = p
        .ages
        .iter()
        .map(|a| {
            format!(
                "<tr><th scope=\"row\">{}</th>{}</tr>",
                esc(&a.band),
                cells(&a.people)
            )
        })
        .collect();
    let on = p.on.to_string();
    format!(
        "<div class=\"card\" id=\"population\"><h2>{when}現在の人口・世帯数</h2>\
         <p>世帯数 <strong>{households}</strong>、人口 <strong>{total}</strong>(男 {male}、女 {female})、うち外国人住民 {foreign}</p>\
         <p><a href=\"/api/v1/statistics/population?on={on}&amp;format=csv&amp;table=town\" download>町字別をCSVで保存</a> \
         <a href=\"/api/v1/statistics/population?on={on}&amp;format=csv&amp;table=age\" download>年齢別をCSVで保存</a> \
         <a href=\"/api/v1/statistics/population?on={on}&amp;format=pdf\" target=\"_blank\">印刷用PDF</a></p>\
         <h3>町字別</h3><table class=\"stats\"><thead><tr><th scope=\"col\">町字</th><th scope=\"col\">世帯数</th>\
         <th scope=\"col\">男</th><th scope=\"col\">女</th><th scope=\"col\">計</th><th scope=\"col\">うち外国人</th></tr></thead>\
         <tbody>{towns}</tbody></table>\
         <h3>年齢別(5歳階級)</h3><table class=\"stats\"><thead><tr><th scope=\"col\">年齢</th>\
         <th scope=\"col\">男</th><th scope=\"col\">女</th><th scope=\"col\">計</th></tr></thead>\
         <tbody>{ages}</tbody></table></div>",
        when = wareki(p.on),
        households = p.households,
        total = p.people.total(),
        male = p.people.male,
        female = p.people.female,
        foreign = p.foreign,
    )
}

fn movements_table(m: &Movements) -> String {
    let rows: String = m
        .rows
        .iter()
        .map(|r| {
            format!(
                "<tr><th scope=\"row\">{}</th>{}</tr>",
                esc(&r.kind),
                cells(&r.people)
            )
        })
        .collect();
    let month = format!("{:04}-{:02}", m.from.year(), m.from.month());
    format!(
        "<div class=\"card\" id=\"movements\"><h2>{from}から{to}までの異動集計</h2>\
         <p class=\"muted\">異動日がこの期間にある届出・職権の件数です(転出予定の届出は数えず、転出した日で数えます)。</p>\
         <p><a href=\"/api/v1/statistics/movements?month={month}&amp;format=csv\" download>CSVで保存</a> \
         <a href=\"/api/v1/statistics/movements?month={month}&amp;format=pdf\" target=\"_blank\">印刷用PDF</a></p>\
         <table class=\"stats\"><thead><tr><th scope=\"col\">異動事由</th>\
         <th scope=\"col\">男</th><th scope=\"col\">女</th><th scope=\"col\">計</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>",
        from = wareki(m.from),
        to = wareki(m.to),
    )
}

/// 印鑑登録の統計 of the month (M-INKAN-22).
fn seals_table(m: &SealStatistics) -> String {
    let rows: String = crate::api::statistics::seal_rows(m)
        .iter()
        .map(|(item, n)| format!("<tr><th scope=\"row\">{item}</th><td>{n}</td></tr>"))
        .collect();
    let month = format!("{:04}-{:02}", m.from.year(), m.from.month());
    format!(
        "<div class=\"card\" id=\"seals\"><h2>{from}から{to}までの印鑑登録</h2>\
         <p><a href=\"/api/v1/statistics/seals?month={month}&amp;format=csv\" download>CSVで保存</a></p>\
         <table class=\"stats\"><thead><tr><th scope=\"col\">項目</th><th scope=\"col\">件数</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>",
        from = wareki(m.from),
        to = wareki(m.to),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_typed_as_clerks_write_it() {
        let nov = NaiveDate::from_ymd_opt(2026, 11, 1);
        for typed in ["2026-11", "R8.11", "令和8年11月", "R8.11.25"] {
            assert_eq!(parse_month_input(typed).ok(), nov, "{typed}");
        }
        let e = parse_month_input("11月ごろ").expect_err("not a month");
        assert_eq!(e.field.as_deref(), Some("month"));
    }
}

//! 統計: 人口・世帯数 by 町字, 男女 and 年齢 as of a date, and the 異動集計 of a month. Both are
//! counted from the ledger (not the read model), so a past date counts the register as it then
//! stood, 異動 entered later with an earlier 異動日 included. JSON, CSV with `format=csv`
//! (UTF-8 with a byte-order mark, which spreadsheet programs need to read it as UTF-8), or a PDF
//! to print with `format=pdf`.
//!
//! The counting and its access-log record are the use case `murakumo_app::statistics`; this
//! module parses the query and writes JSON, CSV or PDF.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use murakumo_app::statistics;
use murakumo_core::today_in_japan;
use murakumo_documents::{Report, ReportTable, wareki};
use murakumo_resident::statistics::{BySex, Movements, Population};
use murakumo_seal::statistics::SealStatistics;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::certificates::renderer;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

/// How the answer is written.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
    /// A4 tables to print.
    Pdf,
}

/// Which table of the population a CSV holds (JSON holds both).
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// By 町字.
    #[default]
    Town,
    /// By age, in 5-year bands.
    Age,
}

#[derive(Deserialize, IntoParams)]
pub struct PopulationQuery {
    /// 基準日 (YYYY-MM-DD); today (Japan time) if omitted.
    pub on: Option<NaiveDate>,
    /// `json` (default), `csv` or `pdf`.
    pub format: Option<Format>,
    /// For CSV: `town` (default) or `age`.
    pub table: Option<Table>,
}

#[derive(Deserialize, IntoParams)]
pub struct MovementsQuery {
    /// The month counted (YYYY-MM); this month (Japan time) if omitted.
    pub month: Option<String>,
    /// `json` (default), `csv` or `pdf`.
    pub format: Option<Format>,
}

/// 人口・世帯数 as of a date, by 町字, 男女 and age.
#[utoipa::path(get, path = "/api/v1/statistics/population", tag = "resident",
    params(PopulationQuery),
    responses((status = 200, description = "JSON (Population) or CSV"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn population(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PopulationQuery>,
) -> ApiResult<Response> {
    let on = q.on.unwrap_or_else(today_in_japan);
    let app = state.app();
    let result = statistics::population(&app, &session.acting(&headers), on).await?;
    Ok(match q.format.unwrap_or_default() {
        Format::Json => axum::Json(result).into_response(),
        Format::Pdf => {
            let municipality = statistics::municipality(&app, &session.tenant).await?;
            pdf(
                population_report(&result, &municipality),
                &format!("population-{on}.pdf"),
            )
            .await?
        }
        Format::Csv => {
            let table = q.table.unwrap_or_default();
            let name = match table {
                Table::Town => "town",
                Table::Age => "age",
            };
            csv(
                &population_csv(&result, table),
                &format!("population-{name}-{on}.csv"),
            )
        }
    })
}

/// 異動集計: the 異動 whose 異動日 falls in a month, by kind and sex.
#[utoipa::path(get, path = "/api/v1/statistics/movements", tag = "resident",
    params(MovementsQuery),
    responses((status = 200, description = "JSON (Movements) or CSV"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn movements(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<MovementsQuery>,
) -> ApiResult<Response> {
    let first = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => this_month(),
        Some(m) => parse_month(m)?,
    };
    let app = state.app();
    let result = statistics::movements(&app, &session.acting(&headers), first).await?;
    let month = format!("{:04}-{:02}", first.year(), first.month());
    Ok(match q.format.unwrap_or_default() {
        Format::Json => axum::Json(result).into_response(),
        Format::Csv => csv(&movements_csv(&result), &format!("movements-{month}.csv")),
        Format::Pdf => {
            let municipality = statistics::municipality(&app, &session.tenant).await?;
            pdf(
                movements_report(&result, &municipality),
                &format!("movements-{month}.pdf"),
            )
            .await?
        }
    })
}

#[derive(Deserialize, IntoParams)]
pub struct SealStatisticsQuery {
    /// The month counted (YYYY-MM); this month (Japan time) if omitted.
    pub month: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<Format>,
}

/// 印鑑登録の統計 (M-INKAN-22): registrations in force at the end of a month, and those
/// registered, ended (廃止・亡失・職権抹消) and 印鑑登録証明書 issued in it, counted from the
/// ledger.
#[utoipa::path(get, path = "/api/v1/statistics/seals", tag = "seal",
    params(SealStatisticsQuery),
    responses((status = 200, description = "JSON (SealStatistics) or CSV"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn seals(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SealStatisticsQuery>,
) -> ApiResult<Response> {
    let first = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => this_month(),
        Some(m) => parse_month(m)?,
    };
    let result = statistics::seals(&state.app(), &session.acting(&headers), first).await?;
    let month = format!("{:04}-{:02}", first.year(), first.month());
    Ok(match q.format.unwrap_or_default() {
        Format::Json => axum::Json(result).into_response(),
        Format::Csv => csv(&seals_csv(&result), &format!("seals-{month}.csv")),
        Format::Pdf => {
            return Err(ApiError::invalid(
                "format",
                "印鑑登録の統計は json か csv で出力できます(印刷は統計の画面から)",
            ));
        }
    })
}

/// The rows of 印鑑登録の統計: each item and its count.
pub(crate) fn seal_rows(s: &SealStatistics) -> [(&'static str, u64); 6] {
    [
        ("登録者数(期間の末日)", s.in_force),
        ("新規登録", s.registered),
        ("廃止", s.abolished),
        ("亡失", s.card_lost),
        ("職権抹消", s.ex_officio),
        ("印鑑登録証明書の交付", s.certificates),
    ]
}

pub(crate) fn seals_csv(s: &SealStatistics) -> String {
    let mut out = String::from("項目,件数\r\n");
    for (item, n) in seal_rows(s) {
        out.push_str(&format!("{},{n}\r\n", field(item)));
    }
    out
}

/// The first day of this month, Japan time.
pub(crate) fn this_month() -> NaiveDate {
    let today = today_in_japan();
    today.with_day(1).unwrap_or(today)
}

/// `YYYY-MM` (also `YYYY-M`) as the first day of that month.
pub(crate) fn parse_month(text: &str) -> ApiResult<NaiveDate> {
    let wrong = || {
        ApiError::invalid(
            "month",
            format!("月「{text}」が読めません。2026-11 のように年と月で指定してください。"),
        )
    };
    let (y, m) = text.split_once('-').ok_or_else(wrong)?;
    let y: i32 = y.parse().map_err(|_| wrong())?;
    let m: u32 = m.parse().map_err(|_| wrong())?;
    NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(wrong)
}

pub(crate) fn csv(body: &str, filename: &str) -> Response {
    let mut response = format!("\u{feff}{body}").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

pub(crate) async fn pdf(report: Report, filename: &str) -> ApiResult<Response> {
    let renderer = renderer()?;
    let bytes = tokio::task::spawn_blocking(move || renderer.report(&report))
        .await
        .map_err(|e| ApiError::internal(format!("rendering the report stopped: {e}")))?
        .map_err(|e| ApiError::internal(format!("the report cannot be printed: {e}")))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn sex_cells(p: &BySex) -> [String; 3] {
    [
        p.male.to_string(),
        p.female.to_string(),
        p.total().to_string(),
    ]
}

fn heading(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

/// 人口・世帯数 as printed: by 町字 (with a 合計 row) and by age.
pub(crate) fn population_report(p: &Population, municipality: &str) -> Report {
    let mut towns: Vec<Vec<String>> = p
        .towns
        .iter()
        .map(|t| {
            let mut row = vec![t.town.clone(), t.households.to_string()];
            row.extend(sex_cells(&t.people));
            row.push(t.foreign.to_string());
            row
        })
        .collect();
    let mut total = vec!["合計".to_string(), p.households.to_string()];
    total.extend(sex_cells(&p.people));
    total.push(p.foreign.to_string());
    towns.push(total);
    let mut ages: Vec<Vec<String>> = p
        .ages
        .iter()
        .map(|a| {
            let mut row = vec![a.band.clone()];
            row.extend(sex_cells(&a.people));
            row
        })
        .collect();
    let mut total = vec!["合計".to_string()];
    total.extend(sex_cells(&p.people));
    ages.push(total);
    Report {
        title: "人口・世帯数".into(),
        subtitle: format!("{}現在　{municipality}", wareki(p.on)),
        tables: vec![
            ReportTable {
                caption: "町字別".into(),
                columns: heading(&["町字", "世帯数", "男", "女", "計", "うち外国人"]),
                rows: towns,
            },
            ReportTable {
                caption: "年齢別(5歳階級)".into(),
                columns: heading(&["年齢", "男", "女", "計"]),
                rows: ages,
            },
        ],
        created: today_in_japan(),
    }
}

/// The 異動集計 as printed.
pub(crate) fn movements_report(m: &Movements, municipality: &str) -> Report {
    Report {
        title: "異動集計".into(),
        subtitle: format!("{}から{}まで　{municipality}", wareki(m.from), wareki(m.to)),
        tables: vec![ReportTable {
            caption: "異動事由別".into(),
            columns: heading(&["異動事由", "男", "女", "計"]),
            rows: m
                .rows
                .iter()
                .map(|r| {
                    let mut row = vec![r.kind.clone()];
                    row.extend(sex_cells(&r.people));
                    row
                })
                .collect(),
        }],
        created: today_in_japan(),
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break.
/// One CSV field: quoted when it must be; a text a spreadsheet would take for a formula
/// (`=`, `+`, `-`, `@` first) is given a leading `'` so that it stays text.
pub(crate) fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// 男,女,計 as CSV fields.
fn sexes(p: &BySex) -> String {
    sex_cells(p).join(",")
}

/// The population as CSV lines (CRLF, as spreadsheet programs write them), a 合計 line last.
pub(crate) fn population_csv(p: &Population, table: Table) -> String {
    let mut out = String::new();
    match table {
        Table::Town => {
            out.push_str("町字,世帯数,男,女,計,うち外国人\r\n");
            for t in &p.towns {
                out.push_str(&format!(
                    "{},{},{},{}\r\n",
                    field(&t.town),
                    t.households,
                    sexes(&t.people),
                    t.foreign
                ));
            }
            out.push_str(&format!(
                "合計,{},{},{}\r\n",
                p.households,
                sexes(&p.people),
                p.foreign
            ));
        }
        Table::Age => {
            out.push_str("年齢,男,女,計\r\n");
            for a in &p.ages {
                out.push_str(&format!("{},{}\r\n", a.band, sexes(&a.people)));
            }
            out.push_str(&format!("合計,{}\r\n", sexes(&p.people)));
        }
    }
    out
}

pub(crate) fn movements_csv(m: &Movements) -> String {
    let mut out = String::from("異動事由,男,女,計\r\n");
    for r in &m.rows {
        out.push_str(&format!("{},{}\r\n", r.kind, sexes(&r.people)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_field_is_quoted_when_needed_and_never_read_as_a_formula() {
        assert_eq!(field("山田　花子"), "山田　花子");
        assert_eq!(field("1条,2番"), "\"1条,2番\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+81"), "'+81");
        assert_eq!(field("-"), "'-");
        assert_eq!(field("@SUM"), "'@SUM");
    }

    #[test]
    fn a_month_is_read_with_or_without_its_leading_zero_and_refused_otherwise() {
        let nov = NaiveDate::from_ymd_opt(2026, 11, 1);
        assert_eq!(parse_month("2026-11").ok(), nov);
        assert_eq!(
            parse_month("2026-1").ok(),
            NaiveDate::from_ymd_opt(2026, 1, 1)
        );
        for bad in ["2026-13", "2026", "R8-11", "2026-11-01"] {
            let e = parse_month(bad).expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("month"), "{bad}");
        }
    }

    #[test]
    fn a_town_name_with_a_comma_is_quoted_in_the_csv() {
        assert_eq!(field("本町"), "本町");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}

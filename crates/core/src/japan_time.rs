//! Japan time (日本標準時, JST): the dates a person sees and the law counts
//! (異動日, 届出日, 発行日, "today") are dates in Japan, not in UTC.
//!
//! Japan has had no daylight saving time since 1951, so JST is always
//! UTC+09:00: a fixed [`FixedOffset`] is exact and no time-zone database
//! (chrono-tz) is needed.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// UTC+09:00, Japan Standard Time.
pub fn jst() -> FixedOffset {
    // 9 hours is within ±24 h, so this cannot fail.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// An instant in Japan time.
pub fn in_japan(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&jst())
}

/// The date in Japan at instant `t` (from 15:00 UTC on, it is already the next day).
pub fn date_in_japan(t: DateTime<Utc>) -> NaiveDate {
    in_japan(t).date_naive()
}

/// Today's date in Japan. The one place that reads the clock for a date:
/// everything else takes the date as an argument.
pub fn today_in_japan() -> NaiveDate {
    date_in_japan(Utc::now())
}

/// An instant as staff read it: `2026-11-24 08:30:00` in Japan time (記録日時).
pub fn format_japan_time(t: DateTime<Utc>) -> String {
    in_japan(t).format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn at_23_30_utc_it_is_already_tomorrow_in_japan() {
        let t = utc("2026-11-23T23:30:00Z");
        assert_eq!(
            t.date_naive(),
            NaiveDate::from_ymd_opt(2026, 11, 23).expect("d")
        );
        assert_eq!(
            date_in_japan(t),
            NaiveDate::from_ymd_opt(2026, 11, 24).expect("d")
        );
        assert_eq!(format_japan_time(t), "2026-11-24 08:30:00");
        assert_eq!(in_japan(t).to_rfc3339(), "2026-11-24T08:30:00+09:00");
    }

    #[test]
    fn the_day_turns_at_15_00_utc() {
        let d = |s| date_in_japan(utc(s));
        assert_eq!(
            d("2026-12-31T14:59:59Z"),
            NaiveDate::from_ymd_opt(2026, 12, 31).expect("d")
        );
        assert_eq!(
            d("2026-12-31T15:00:00Z"),
            NaiveDate::from_ymd_opt(2027, 1, 1).expect("d")
        );
        // No daylight saving: the same offset in summer.
        assert_eq!(
            format_japan_time(utc("2026-07-01T00:00:00Z")),
            "2026-07-01 09:00:00"
        );
    }
}

//! 支援措置の期間 (標準仕様書 §3.4/M3; 住民基本台帳事務処理要領 第5-10): a 支援措置 runs
//! one year, counted from its first day, and may be extended by another year on the
//! person's 申出, which is taken from one month before the term ends. The system sets the
//! end itself; an end given by hand may not lie beyond the same date a year on (data kept
//! as "365 days" by other systems stays valid).

use chrono::{Datelike, Days, Months, NaiveDate};

/// The last day of a one-year term begun on `start`: the day before the same date a year
/// on; a term begun on 29 February ends on 28 February (民法 第143条: with no
/// corresponding day, the term ends on the last day of that month).
pub fn term_end(start: NaiveDate) -> NaiveDate {
    let a_year_on = latest_end(start);
    if a_year_on.day0() != start.day0() || a_year_on == NaiveDate::MAX {
        // 29 February → 28 February: that is already the month's last day.
        return a_year_on;
    }
    a_year_on.pred_opt().unwrap_or(a_year_on)
}

/// The latest end accepted for a term begun on `start`: the same date a year on.
pub fn latest_end(start: NaiveDate) -> NaiveDate {
    // Saturates: a date typed at the end of the calendar is refused elsewhere, not here.
    start
        .checked_add_months(Months::new(12))
        .unwrap_or(NaiveDate::MAX)
}

/// The first day on which the extension of a term ending on `until` is taken: one month
/// before it ends.
pub fn extension_opens(until: NaiveDate) -> NaiveDate {
    until.checked_sub_months(Months::new(1)).unwrap_or(until)
}

/// Where a new term begins when a 支援措置 is set on `effective`, given the term in force
/// then (`current`, its last day), if any: the day after the current term for an extension,
/// else `effective`. `Err` with the day the extension opens when it is asked too early.
pub fn next_term_start(
    effective: NaiveDate,
    current: Option<NaiveDate>,
) -> Result<NaiveDate, NaiveDate> {
    match current {
        Some(until) if until >= effective => {
            let opens = extension_opens(until);
            if effective < opens {
                return Err(opens);
            }
            Ok(until.checked_add_days(Days::new(1)).unwrap_or(until))
        }
        _ => Ok(effective),
    }
}

/// The end the system sets for a 支援措置 set on `effective` with the term in force then
/// (`current`, its last day), if any: a year from the new term's start.
pub fn default_end(effective: NaiveDate, current: Option<NaiveDate>) -> NaiveDate {
    term_end(next_term_start(effective, current).unwrap_or(effective))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn a_term_is_one_year_counted_from_its_first_day() {
        assert_eq!(term_end(d(2026, 12, 6)), d(2027, 12, 5));
        assert_eq!(term_end(d(2027, 1, 1)), d(2027, 12, 31));
        // Across a 29 February.
        assert_eq!(term_end(d(2027, 3, 1)), d(2028, 2, 29));
        // Begun on 29 February: no 29 February a year on, so the month's last day.
        assert_eq!(term_end(d(2028, 2, 29)), d(2029, 2, 28));
        assert_eq!(latest_end(d(2026, 12, 6)), d(2027, 12, 6));
        assert_eq!(latest_end(d(2028, 2, 29)), d(2029, 2, 28));
    }

    #[test]
    fn an_extension_is_taken_from_one_month_before_the_end_and_follows_on() {
        let until = d(2027, 12, 5);
        assert_eq!(extension_opens(until), d(2027, 11, 5));
        assert_eq!(
            next_term_start(d(2027, 11, 4), Some(until)),
            Err(d(2027, 11, 5))
        );
        assert_eq!(
            next_term_start(d(2027, 11, 5), Some(until)),
            Ok(d(2027, 12, 6))
        );
        assert_eq!(next_term_start(until, Some(until)), Ok(d(2027, 12, 6)));
        // A term that has ended: the new one begins on its own day.
        assert_eq!(
            next_term_start(d(2027, 12, 6), Some(until)),
            Ok(d(2027, 12, 6))
        );
        assert_eq!(next_term_start(d(2027, 1, 6), None), Ok(d(2027, 1, 6)));
        // Month ends: one month before 31 March is the last day of February.
        assert_eq!(extension_opens(d(2027, 3, 31)), d(2027, 2, 28));
    }
}

//! 住民記録 (resident register): what a resident record holds, the 異動
//! (changes) that make and alter it, their validation, and replay.
//!
//! The register is bitemporal: every event carries its 異動日 (effective
//! date, in the ledger entry) and its 届出日 (notified date, in the event);
//! the ledger adds the recording time. [`replay`] folds a resident's events
//! into the [`Record`] as of any date, so current values, 異動履歴 and 除票
//! all come from the same events.
//!
//! Pure: no I/O, no SQL. The store projects events into search tables; the
//! server turns requests into events with [`validate`] (one person's 異動,
//! as of its 異動日 and against later ones) and [`check_households`] (a
//! household lives at one address and has exactly one 世帯主), which the
//! migration import calls too.

mod addressee;
mod allot;

mod event;
mod household;
mod kana;
pub mod protection;
mod record;
pub mod relationship;
pub mod statistics;
mod text;

pub use addressee::{
    ADDRESSEE_NUMBER_DIGITS, check_addressee_number, m11_check_digit, next_addressee_number,
    numbers_for_those_without,
};
pub use allot::next_resident_code;

pub use event::{
    Alias, Citizenship, EntryReason, FormerSurname, Person, RemovalReason, ResidentEvent, Sex,
};
pub use household::{
    HEAD, HouseholdBook, check_households, household_id_checks, households_touched,
    is_series_household_id, next_household_id,
};
pub use kana::{normalize_kana, normalize_name};
pub use record::{
    Address, CORRECTABLE, HistoryItem, Protection, Record, Status, apply, replay, validate,
};
pub use text::{EventText, char_count, check_lengths, has_gaiji};

/// Why a change was refused, naming the field and what to do.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ResidentError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("住民票コード {0} はこの団体の住民記録にありません")]
    NotFound(String),
    #[error("住民票コード {0} は既に記録されています")]
    AlreadyRegistered(String),
    #[error(
        "住民票コード {code} は{reason}により除票になっています。除票は職権修正以外で変更できません"
    )]
    Removed { code: String, reason: String },
}

/// A warning the clerk should see but that does not block the change
/// (e.g. a late notification: 届出期間経過).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub field: &'static str,
    pub message: String,
}

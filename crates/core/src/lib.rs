//! Domain primitives of Murakumo that every other crate shares: the codes that identify
//! municipalities and people, Japanese era dates and yen amounts, each as a type that can only
//! hold a valid value.
//!
//! - [`tenant_code`]: 全国地方公共団体コード ([`TenantCode`], 6 digits with check digit) and
//!   the 47 prefectures ([`Prefecture`]).
//! - [`resident_code`]: 住民票コード ([`ResidentCode`], 11 digits with check digit).
//! - [`individual_number`]: 個人番号 ([`IndividualNumber`], 12 digits with check digit), whose
//!   `Debug` output never shows the number.
//! - [`wareki`]: 和暦 dates ([`Era`], [`WarekiDate`]) from 明治 to 令和, in the notations of
//!   certificates and migration files.
//! - [`money`]: whole-yen amounts ([`Yen`]) with checked arithmetic.
//! - [`japan_time`]: Japan time (JST, a fixed UTC+09:00): [`today_in_japan`], the one
//!   function here that reads the clock, and the pure conversions it is built from.
//!
//! Every constructor that takes outside input validates it and returns a [`CodeError`] whose
//! message says what was wrong, with which value, why, and what to do. Codes serialize as
//! strings and are validated again when deserialized.
//!
//! What this crate deliberately does not do: any I/O (files, network, environment; the clock
//! only in [`today_in_japan`]),
//! storage or persistence, logging, or knowledge of tenants' settings and business rules.
//! It holds no lists that change over time (such as 総務省's list of municipalities): whether
//! a well-formed code names a 団体 that exists today is for the tenancy crate to decide.

pub mod error;
pub mod individual_number;
pub mod japan_time;
pub mod money;
pub mod prefecture;
pub mod resident_code;
pub mod tenant_code;
pub mod wareki;

mod digits;
mod serde_str;

pub use error::{CodeError, CodeKind};
pub use individual_number::IndividualNumber;
pub use japan_time::{date_in_japan, format_japan_time, in_japan, today_in_japan};
pub use money::Yen;
pub use prefecture::Prefecture;
pub use resident_code::ResidentCode;
pub use tenant_code::TenantCode;
pub use wareki::{Era, WarekiDate, parse_date_input};

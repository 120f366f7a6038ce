//! 印鑑登録 (seal registration): a resident registers one seal (印鑑) with
//! the municipality, receives a numbered card (印鑑登録証), and later proves
//! with that card that an impression is theirs (印鑑登録証明書).
//!
//! The rules follow the common 印鑑条例 of Japanese municipalities:
//! - only a current resident of 15 or more may register, one seal at a time;
//! - the registration ends by 廃止 (the registrant's request), 亡失 (the card
//!   was lost: the registration is cancelled so the card cannot be misused),
//!   or 職権抹消 (ex officio, e.g. when the registrant moves out or dies);
//! - cancelled registrations stay on record and can be searched.
//!
//! The 印影 (impression) image travels inside the ledger event, so backups,
//! replicas and migrations carry it with no separate file store.
//!
//! Pure: no I/O, no SQL. The store projects events into the `seals` table.

use chrono::NaiveDate;
use murakumo_ledger::{EventCodec, EventDecodeError, decode_enum, decode_payload, encode_payload};
use murakumo_resident::{Record, Status};
use serde::{Deserialize, Serialize};

mod image;
pub mod statistics;
pub use image::{
    ImageError, SAMPLE_PIXELS_PER_METRE, check_impression, check_registered_impression,
    physical_size_mm, sample_impression,
};

/// The youngest age at which a seal may be registered (印鑑条例: 15歳以上).
pub const MINIMUM_AGE: u32 = 15;

/// Why a registration ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelReason {
    /// 廃止: the registrant asked to end it.
    Abolished,
    /// 亡失: the 印鑑登録証 was lost.
    CardLost,
    /// 職権抹消: ended by the municipality (転出, 死亡, …), with the reason.
    ExOfficio { reason: String },
}

impl CancelReason {
    pub fn label_ja(&self) -> String {
        match self {
            CancelReason::Abolished => "廃止".into(),
            CancelReason::CardLost => "亡失".into(),
            CancelReason::ExOfficio { reason } => format!("職権抹消({reason})"),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CancelReason::Abolished => "abolished",
            CancelReason::CardLost => "card_lost",
            CancelReason::ExOfficio { .. } => "ex_officio",
        }
    }
}

/// 印鑑登録 events (ledger kinds `seal.*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealEvent {
    /// 印鑑登録: a seal registered, with its numbered card.
    Registered {
        /// 印鑑登録番号, unique per municipality.
        registration_number: String,
        /// 住民票コード of the registrant.
        resident_code: String,
        /// 印鑑登録証 (card) number.
        card_number: String,
        /// 印影 as PNG (see [`check_impression`]).
        impression_png: Vec<u8>,
        /// 申請日
        notified_date: NaiveDate,
    },
    /// 廃止, 亡失 or 職権抹消.
    Cancelled {
        registration_number: String,
        resident_code: String,
        reason: CancelReason,
        notified_date: NaiveDate,
    },
}

const KINDS: [&str; 2] = ["seal.registered", "seal.cancelled"];

impl SealEvent {
    pub fn registration_number(&self) -> &str {
        match self {
            SealEvent::Registered {
                registration_number,
                ..
            }
            | SealEvent::Cancelled {
                registration_number,
                ..
            } => registration_number,
        }
    }

    pub fn resident_code(&self) -> &str {
        match self {
            SealEvent::Registered { resident_code, .. }
            | SealEvent::Cancelled { resident_code, .. } => resident_code,
        }
    }

    /// 異動事由 as shown in histories.
    pub fn label_ja(&self) -> String {
        match self {
            SealEvent::Registered { .. } => "印鑑登録".into(),
            SealEvent::Cancelled { reason, .. } => format!("印鑑登録{}", reason.label_ja()),
        }
    }

    fn index(&self) -> usize {
        match self {
            SealEvent::Registered { .. } => 0,
            SealEvent::Cancelled { .. } => 1,
        }
    }
}

impl EventCodec for SealEvent {
    const NAMESPACE: &'static str = "seal.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        (KINDS[self.index()], 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        decode_enum(
            &KINDS,
            Self::NAMESPACE,
            SealEvent::index,
            kind,
            version,
            payload,
        )
    }
}

/// The municipality's 公印 (official seal, 「○○市長之印」) printed on every
/// certificate, replaced by the administrator (ledger kind
/// `official_seal.set`). Like the 印影, the image lives in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficialSealSet {
    /// PNG, checked like an impression (see [`check_impression`]).
    pub png: Vec<u8>,
    /// Why it changed (新市長就任, 印影の更新 …).
    pub reason: String,
}

const OFFICIAL_SEAL_SET: &str = "official_seal.set";

impl EventCodec for OfficialSealSet {
    const NAMESPACE: &'static str = "official_seal.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        (OFFICIAL_SEAL_SET, 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        match (kind, version) {
            (OFFICIAL_SEAL_SET, 1) => decode_payload(kind, version, payload).map(Some),
            _ if kind.starts_with(Self::NAMESPACE) => Err(EventDecodeError::UnknownVersion {
                kind: kind.to_string(),
                version,
            }),
            _ => Ok(None),
        }
    }
}

/// Whether a registration is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealStatus {
    Active,
    Cancelled {
        date: NaiveDate,
        reason: CancelReason,
    },
}

/// One registration, as projected from its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealRecord {
    pub registration_number: String,
    pub resident_code: String,
    pub card_number: String,
    pub registered_on: NaiveDate,
    pub status: SealStatus,
}

impl SealRecord {
    pub fn is_active(&self) -> bool {
        self.status == SealStatus::Active
    }
}

/// Why a 印鑑登録 request was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("印鑑登録番号 {0} はこの団体に登録されていません")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

fn invalid<T>(field: &'static str, reason: impl Into<String>) -> Result<T, SealError> {
    Err(SealError::Invalid {
        field,
        reason: reason.into(),
    })
}

/// What the store knows that a request is checked against.
pub struct Context<'a> {
    /// The registrant's resident record, if any.
    pub resident: Option<&'a Record>,
    /// The registration the event names, if it exists.
    pub registration: Option<&'a SealRecord>,
    /// The registrant's registration in force, if any.
    pub active_of_resident: Option<&'a SealRecord>,
    /// Whether the card number is taken: on a registration in force, or (at the counter) on
    /// any registration ever — a card returned (廃止) or reported lost (亡失) is never valid
    /// again. A migration passes only the cards in force: it imports history as it was.
    pub card_in_use: bool,
    /// The 印影 was scanned at the counter just now: its scan must record its resolution and
    /// the seal's size keep to the 印鑑条例 ([`check_registered_impression`]). A migration
    /// imports impressions as another system kept them ([`check_impression`]).
    pub scanned_at_counter: bool,
}

/// Checks a request against the 印鑑条例 rules; `effective` is the 異動日.
pub fn validate(
    event: &SealEvent,
    ctx: &Context<'_>,
    effective: NaiveDate,
    today: NaiveDate,
) -> Result<(), SealError> {
    if effective > today {
        return invalid("effective_date", "登録日が未来の日付です");
    }
    match event {
        SealEvent::Registered {
            resident_code,
            card_number,
            impression_png,
            registration_number,
            ..
        } => {
            if ctx.registration.is_some() {
                return Err(SealError::Conflict(format!(
                    "印鑑登録番号 {registration_number} は使用済みです"
                )));
            }
            let r = ctx.resident.ok_or_else(|| SealError::Invalid {
                field: "resident_code",
                reason: format!("住民票コード {resident_code} はこの団体の住民記録にありません"),
            })?;
            if !matches!(r.status, Status::Current) {
                return invalid(
                    "resident_code",
                    "印鑑登録できるのは現に住民の方だけです(転出予定者・除票の方は登録できません)",
                );
            }
            if age_on(r.person.birth_date, effective) < MINIMUM_AGE {
                return invalid(
                    "resident_code",
                    format!("印鑑登録は{MINIMUM_AGE}歳以上の方に限ります"),
                );
            }
            if let Some(active) = ctx.active_of_resident {
                return Err(SealError::Conflict(format!(
                    "この方は印鑑登録番号 {} を登録済みです。先に廃止してください(1人1個)",
                    active.registration_number
                )));
            }
            let card = card_number.trim();
            if card.is_empty()
                || card.len() > 20
                || !card.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return invalid("card_number", "印鑑登録証番号は英数字と - の20文字以内です");
            }
            if ctx.card_in_use {
                return Err(SealError::Conflict(format!(
                    "印鑑登録証番号 {card} は使用中か、廃止・亡失などで使えなくなった番号です。新しい印鑑登録証の番号を入力してください"
                )));
            }
            let checked = if ctx.scanned_at_counter {
                check_registered_impression(impression_png)
            } else {
                check_impression(impression_png)
            };
            checked.map_err(|e| SealError::Invalid {
                field: "impression",
                reason: e.to_string(),
            })?;
            Ok(())
        }
        SealEvent::Cancelled {
            registration_number,
            resident_code,
            ..
        } => {
            let reg = ctx
                .registration
                .ok_or_else(|| SealError::NotFound(registration_number.clone()))?;
            if &reg.resident_code != resident_code {
                return invalid("resident_code", "この登録は別の方のものです");
            }
            if !reg.is_active() {
                return Err(SealError::Conflict(format!(
                    "印鑑登録番号 {registration_number} は既に廃止されています"
                )));
            }
            Ok(())
        }
    }
}

/// Applies an event to the registration it names.
pub fn apply(
    current: Option<SealRecord>,
    event: &SealEvent,
    effective: NaiveDate,
) -> Option<SealRecord> {
    match event {
        SealEvent::Registered {
            registration_number,
            resident_code,
            card_number,
            ..
        } => Some(SealRecord {
            registration_number: registration_number.clone(),
            resident_code: resident_code.clone(),
            card_number: card_number.trim().to_string(),
            registered_on: effective,
            status: SealStatus::Active,
        }),
        SealEvent::Cancelled { reason, .. } => current.map(|mut r| {
            r.status = SealStatus::Cancelled {
                date: effective,
                reason: reason.clone(),
            };
            r
        }),
    }
}

/// The 印鑑登録証明書 申請書 names the registrant; the card alone is not enough (a found or
/// stolen card must not yield a certificate to whoever holds it): its 氏名 and 生年月日 must
/// match the register. The name matches as written (氏名 or 通称) or in フリガナ, ignoring
/// spaces, the difference between hiragana and katakana, and variation selectors (a clerk types
/// the base character of a 外字 registered with an IVS). The refusal never shows the
/// registered items.
pub fn check_applicant(
    registrant: &Record,
    name: &str,
    birth_date: NaiveDate,
) -> Result<(), SealError> {
    let p = &registrant.person;
    let given = comparable(name);
    if given.is_empty() {
        return invalid(
            "applicant_name",
            "申請書に書かれた登録者の氏名を入力してください",
        );
    }
    let written = [
        Some(format!("{}{}", p.family_name, p.given_name)),
        Some(format!("{}{}", p.family_kana, p.given_kana)),
        p.alias.clone(),
    ];
    if !written.iter().flatten().any(|w| comparable(w) == given) {
        return invalid(
            "applicant_name",
            "申請書の氏名が、この印鑑登録証の登録者と一致しません。申請書と本人確認書類を確認してください(証明書は交付していません)",
        );
    }
    if birth_date != p.birth_date {
        return invalid(
            "applicant_birth_date",
            "申請書の生年月日が、この印鑑登録証の登録者と一致しません。申請書と本人確認書類を確認してください(証明書は交付していません)",
        );
    }
    Ok(())
}

/// A name reduced to what a clerk can be expected to type the same way.
fn comparable(name: &str) -> String {
    name.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !('\u{FE00}'..='\u{FE0F}').contains(c)
                && !('\u{E0100}'..='\u{E01EF}').contains(c)
        })
        // ひらがな → カタカナ (the two blocks are 0x60 apart).
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// 満年齢 on a date (a person turns a year older on the day before their
/// birthday under 年齢計算ニ関スル法律; counting on the birthday itself is
/// what 印鑑条例 and everyday counting use).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

#[cfg(test)]
mod tests;

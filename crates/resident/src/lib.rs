//! 住民記録 (resident register) domain: commands → events → (projected by the
//! store) read models.
//!
//! This is the first slice: a resident enters the register by 転入 and can be
//! read and searched. 異動 of every kind, 世帯 operations, 支援措置 and
//! certificates build on it. Pure: no I/O.

use chrono::NaiveDate;
use murakumo_core::ResidentCode;
use murakumo_ledger::{EventCodec, EventDecodeError, decode_payload, encode_payload};
use serde::{Deserialize, Serialize};

/// 性別 as in the 住民記録 standard: 1 男, 2 女 (9 for not stated/other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
    Other,
}

impl Sex {
    pub fn code(self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Other => 9,
        }
    }

    pub fn from_code(c: u8) -> Option<Sex> {
        match c {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            9 => Some(Sex::Other),
            _ => None,
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
            Sex::Other => "",
        }
    }
}

/// Payload of `resident.moved_in` v1 (転入).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedIn {
    pub resident_code: String,
    pub household_id: String,
    pub family_name: String,
    pub given_name: String,
    pub family_kana: String,
    pub given_kana: String,
    pub birth_date: NaiveDate,
    pub sex_code: u8,
    pub address: String,
    /// 続柄 to the household head, e.g. 世帯主, 妻, 子.
    pub relationship: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResidentEvent {
    MovedIn(MovedIn),
}

const MOVED_IN: &str = "resident.moved_in";

impl EventCodec for ResidentEvent {
    const NAMESPACE: &'static str = "resident.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        match self {
            ResidentEvent::MovedIn(m) => (MOVED_IN, 1, encode_payload(m)),
        }
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        match (kind, version) {
            (MOVED_IN, 1) => Ok(Some(ResidentEvent::MovedIn(decode_payload(
                kind, version, payload,
            )?))),
            _ if kind.starts_with(Self::NAMESPACE) => Err(EventDecodeError::UnknownVersion {
                kind: kind.to_string(),
                version,
            }),
            _ => Ok(None),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResidentError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Validates a 転入 before it is recorded.
pub fn validate_move_in(m: &MovedIn, today: NaiveDate) -> Result<(), ResidentError> {
    let invalid = |field, reason: &str| {
        Err(ResidentError::Invalid {
            field,
            reason: reason.to_string(),
        })
    };
    if let Err(e) = ResidentCode::parse(&m.resident_code) {
        return invalid("resident_code", &e.to_string());
    }
    if m.family_name.trim().is_empty() {
        return invalid("family_name", "氏 is required");
    }
    if m.family_kana.trim().is_empty() {
        return invalid("family_kana", "フリガナ(氏) is required");
    }
    if m.birth_date > today {
        return invalid("birth_date", "生年月日 is in the future");
    }
    if Sex::from_code(m.sex_code).is_none() {
        return invalid("sex_code", "性別 must be 1 (男), 2 (女) or 9");
    }
    if m.address.trim().is_empty() {
        return invalid("address", "住所 is required");
    }
    Ok(())
}

/// A resident as the read model holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resident {
    pub resident_code: String,
    pub household_id: String,
    pub family_name: String,
    pub given_name: String,
    pub family_kana: String,
    pub given_kana: String,
    pub birth_date: NaiveDate,
    pub sex_code: u8,
    pub address: String,
    pub relationship: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MovedIn {
        MovedIn {
            resident_code: ResidentCode::from_ten_digits("1234567890")
                .expect("valid")
                .as_str()
                .to_string(),
            household_id: "H1".into(),
            family_name: "山田".into(),
            given_name: "太郎".into(),
            family_kana: "ヤマダ".into(),
            given_kana: "タロウ".into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 1, 2).expect("date"),
            sex_code: 1,
            address: "北海道深川市1条1番1号".into(),
            relationship: "世帯主".into(),
        }
    }

    #[test]
    fn round_trip() {
        let e = ResidentEvent::MovedIn(sample());
        let (k, v, b) = e.encode();
        assert_eq!(ResidentEvent::decode(k, v, &b), Ok(Some(e)));
        assert_eq!(ResidentEvent::decode("tenancy.x", 1, &b), Ok(None));
    }

    #[test]
    fn validation() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        assert!(validate_move_in(&sample(), today).is_ok());
        let mut bad = sample();
        bad.resident_code = "12345678901".into();
        assert!(validate_move_in(&bad, today).is_err());
        let mut future = sample();
        future.birth_date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        assert!(matches!(
            validate_move_in(&future, today),
            Err(ResidentError::Invalid {
                field: "birth_date",
                ..
            })
        ));
    }
}

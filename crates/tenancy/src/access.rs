//! Records of the access log: who read or changed whose personal data, why.
//!
//! Access records are entries of a second hash chain per tenant (the store
//! keeps it beside the ledger), so they verify, back up and replicate by the
//! same mechanism as the ledger.

use murakumo_ledger::{EventDecodeError, NewEntry, decode_payload, encode_payload};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    Read,
    Search,
    Change,
    Issue,
    Export,
    /// A single sign-on login, accepted or refused (with the reason).
    Login,
}

impl AccessAction {
    pub fn code(self) -> &'static str {
        match self {
            AccessAction::Read => "read",
            AccessAction::Search => "search",
            AccessAction::Change => "change",
            AccessAction::Issue => "issue",
            AccessAction::Export => "export",
            AccessAction::Login => "login",
        }
    }

    pub fn parse(s: &str) -> Option<AccessAction> {
        [
            Self::Read,
            Self::Search,
            Self::Change,
            Self::Issue,
            Self::Export,
            Self::Login,
        ]
        .into_iter()
        .find(|a| a.code() == s)
    }
}

/// One access to personal data. `subject` names the person or record
/// (e.g. `resident:12345678901`), or the query for a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    pub action: AccessAction,
    pub subject: String,
    /// 利用目的, as the staff member stated it or as the screen implies.
    pub purpose: String,
    /// Which items were disclosed or changed, e.g. `name,address`.
    pub detail: String,
    pub request_id: String,
}

pub const ACCESS_KIND: &str = "access.record";

impl AccessRecord {
    pub fn to_entry(&self, actor: &str, today: chrono::NaiveDate) -> NewEntry {
        // postcard encodes unit enum variants by index: keep the order of
        // AccessAction stable (append new actions at the end).
        NewEntry {
            kind: ACCESS_KIND.to_string(),
            version: 1,
            effective_date: today,
            actor: actor.to_string(),
            payload: encode_payload(self),
        }
    }

    pub fn from_payload(version: u16, payload: &[u8]) -> Result<AccessRecord, EventDecodeError> {
        if version != 1 {
            return Err(EventDecodeError::UnknownVersion {
                kind: ACCESS_KIND.into(),
                version,
            });
        }
        decode_payload(ACCESS_KIND, version, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = AccessRecord {
            action: AccessAction::Read,
            subject: "resident:12345678901".into(),
            purpose: "窓口交付".into(),
            detail: "name,address".into(),
            request_id: "req-1".into(),
        };
        let e = r.to_entry(
            "staff:1",
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        );
        assert_eq!(AccessRecord::from_payload(e.version, &e.payload), Ok(r));
        assert_eq!(AccessAction::parse("issue"), Some(AccessAction::Issue));
    }
}

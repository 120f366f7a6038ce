//! The record that a certificate was issued (`certificate.issued`): who,
//! for whom, why, and a digest of what it certified. The PDF itself is not
//! kept; the same request as of the same date certifies the same content.

use chrono::NaiveDate;
use murakumo_ledger::{EventCodec, EventDecodeError, decode_payload, encode_payload};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateIssued {
    /// 発行番号
    pub issue_number: String,
    /// `resident_copy`, `record_statement`, `removed_copy`, `seal`.
    pub kind: String,
    /// 住民票コード of the people certified.
    pub subjects: Vec<String>,
    /// The date the certificate is "as of".
    pub as_of: NaiveDate,
    /// 請求者: `本人`, `同一世帯`, `代理人`, `第三者`, `公用`.
    pub requester: String,
    /// 利用目的
    pub purpose: String,
    /// BLAKE3 of the certified content (hex), as in the QR seal.
    pub digest: String,
    pub key_id: String,
}

const KIND: &str = "certificate.issued";

impl EventCodec for CertificateIssued {
    const NAMESPACE: &'static str = "certificate.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        (KIND, 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        match (kind, version) {
            (KIND, 1) => decode_payload(kind, version, payload).map(Some),
            _ if kind.starts_with(Self::NAMESPACE) => Err(EventDecodeError::UnknownVersion {
                kind: kind.to_string(),
                version,
            }),
            _ => Ok(None),
        }
    }
}

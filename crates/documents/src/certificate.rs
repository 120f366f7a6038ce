//! The data printed on a certificate, as plain serde structs.
//!
//! The resident register maps its records onto these types; this crate never looks anything
//! up. Strings are printed exactly as given: no Unicode normalization is applied anywhere,
//! because NFC/NFKC would rewrite CJK compatibility ideographs and could disturb 外字 that the
//! register stores as a base character plus an Ideographic Variation Sequence (IVS).

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

/// Which certificate is printed; decides the title, the layout and the certification sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// 住民票の写し (世帯連記式, up to four persons per sheet).
    ResidentCopy,
    /// 住民票記載事項証明書.
    ResidentRecordStatement,
    /// 除票の写し.
    RemovedRecordCopy,
    /// 印鑑登録証明書 (the registrant is the first member).
    SealCertificate,
}

impl CertificateKind {
    /// The title printed at the top of the sheet.
    pub fn title(self) -> &'static str {
        match self {
            CertificateKind::ResidentCopy => "住民票の写し",
            CertificateKind::ResidentRecordStatement => "住民票記載事項証明書",
            CertificateKind::RemovedRecordCopy => "除票の写し",
            CertificateKind::SealCertificate => "印鑑登録証明書",
        }
    }

    /// The code used in the canonical encoding (see [`crate::digest`]); never reused.
    pub(crate) fn code(self) -> u8 {
        match self {
            CertificateKind::ResidentCopy => 1,
            CertificateKind::ResidentRecordStatement => 2,
            CertificateKind::RemovedRecordCopy => 3,
            CertificateKind::SealCertificate => 4,
        }
    }
}

/// 性別 as printed (男 / 女).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
    /// Not stated (性別コード 9): printed blank.
    Unstated,
}

impl Sex {
    /// The printed form.
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
            Sex::Unstated => "",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Unstated => 9,
        }
    }
}

/// An address as printed: the address proper and the 方書 (building, room) if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Address {
    /// e.g. "北海道深川市2条9番1号".
    pub text: String,
    /// 方書, e.g. "深川マンション101号室".
    pub katagaki: Option<String>,
}

impl Address {
    /// The address and 方書 on one line, separated by an ideographic space.
    pub fn one_line(&self) -> String {
        match &self.katagaki {
            Some(k) if !k.is_empty() => format!("{}　{}", self.text, k),
            _ => self.text.clone(),
        }
    }
}

/// One person on the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// 氏名, possibly with IVS (e.g. "葛\u{E0100}城 太郎").
    pub name: String,
    /// フリガナ.
    pub kana: String,
    /// 生年月日 (printed in 和暦; in 西暦 for a foreign resident, see [`Member::foreign`]).
    pub birth_date: NaiveDate,
    /// 性別.
    pub sex: Sex,
    /// 続柄, e.g. "世帯主", "妻", "子".
    pub relationship: String,
    /// 住民票コード (11 digits); printed only when [`CertificateOptions::resident_code`].
    pub resident_code: Option<String>,
    /// 個人番号 (12 digits); printed only when [`CertificateOptions::individual_number`].
    pub individual_number: Option<String>,
    /// 本籍; printed only when [`CertificateOptions::honseki`].
    pub honseki: Option<String>,
    /// 筆頭者; printed with the 本籍.
    pub honseki_head: Option<String>,
    /// 住民となった年月日.
    pub became_resident_date: Option<NaiveDate>,
    /// 住所を定めた年月日 (法7条7号): when the person began living at the printed address.
    /// Printed in its own cell from layout 4 on; absent in certificates issued before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_since: Option<NaiveDate>,
    /// 前住所 (with the date of the move, as the register words it).
    pub previous_address: Option<String>,
    /// 旧氏 with its フリガナ, e.g. 「佐藤（サトウ）」: printed with the 氏名 from layout 5 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_surname: Option<String>,
    /// 通称 (foreign residents): printed with the 氏名 from layout 5 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// 外国人住民: from layout 6 on, the 生年月日 is printed in 西暦 (標準仕様書 §1.1.9).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foreign: bool,
    /// 備考 lines, e.g. "令和6年3月31日 札幌市中央区…へ転出" on a 除票.
    pub notes: Vec<String>,
}

/// Which optional items the applicant asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CertificateOptions {
    /// Every member of the household is listed (changes the certification sentence).
    pub whole_household: bool,
    /// Print 本籍 and 筆頭者.
    pub honseki: bool,
    /// Print 続柄.
    pub relationship: bool,
    /// Print 住民票コード.
    pub resident_code: bool,
    /// Print 個人番号.
    pub individual_number: bool,
}

/// Everything printed on one certificate.
///
/// Two certificates "certify the same" iff their [`certified_digest`](crate::certified_digest)
/// is equal: that covers every field except [`issue_number`](Self::issue_number) and
/// [`issue_time`](Self::issue_time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Certificate {
    /// Which certificate.
    pub kind: CertificateKind,
    /// 全国地方公共団体コード of the issuing municipality (6 digits).
    pub tenant_code: String,
    /// e.g. "北海道深川市".
    pub tenant_name: String,
    /// e.g. "深川市長".
    pub issuer_title: String,
    /// e.g. "山下　貴史".
    pub issuer_name: String,
    /// 発行番号, unique per tenant. Must not contain `|` or control characters.
    pub issue_number: String,
    /// 発行日, printed in 和暦.
    pub issue_date: NaiveDate,
    /// Time of issue (JST); only used as the PDF creation time. Not certified.
    pub issue_time: Option<NaiveTime>,
    /// The register is read as of this date.
    pub as_of: NaiveDate,
    /// 世帯主 氏名.
    pub household_head: String,
    /// 住所 (with 方書).
    pub address: Address,
    /// The persons listed, in order.
    pub members: Vec<Member>,
    /// Optional items requested.
    pub options: CertificateOptions,
    /// 印鑑登録番号 (印鑑登録証明書 only).
    pub seal_registration_number: Option<String>,
    /// 印影 as PNG (印鑑登録証明書 only).
    #[serde(with = "base64_bytes")]
    pub seal_image: Option<Vec<u8>>,
    /// 公印 as PNG, printed overlapping the issuer's name.
    #[serde(with = "base64_bytes")]
    pub official_seal_image: Option<Vec<u8>>,
    /// The issuing municipality's verification page (e.g. `https://murakumo.example.jp/verify`):
    /// the QR code then holds `<verify_url>#<payload>`, which a phone opens as a link. Certified
    /// content (a changed link would send a reader to a page of the forger's choosing), so it
    /// must be an `https://` or `http://` URL of printable ASCII without `#`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_url: Option<String>,
}

/// PNG bytes as standard base64 in JSON (a JSON array of numbers would be four times larger).
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

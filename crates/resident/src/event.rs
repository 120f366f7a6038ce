//! 異動 events kept in the ledger (`resident.*` kinds).
//!
//! Payloads are postcard-encoded structs. postcard writes enum variants by
//! index, so variants of the enums inside payloads are only ever appended,
//! never reordered or removed.

use chrono::NaiveDate;
use murakumo_ledger::{EventCodec, EventDecodeError, decode_enum, encode_payload};
use serde::{Deserialize, Serialize};

/// 性別 as in the 住民記録 standard: 1 男, 2 女, 9 other/not stated.
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

/// 本籍・筆頭者 for Japanese nationals; 国籍・在留資格・在留期間 for
/// foreign residents (住民基本台帳法 第30条の45).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Citizenship {
    Japanese {
        honseki: String,
        hittosha: String,
    },
    Foreign {
        nationality: String,
        residence_status: String,
        period_until: Option<NaiveDate>,
    },
}

/// Who the resident is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub family_name: String,
    pub given_name: String,
    pub family_kana: String,
    pub given_kana: String,
    /// ローマ字氏名 (foreign residents).
    pub romaji: Option<String>,
    /// 通称 (foreign residents).
    pub alias: Option<String>,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub citizenship: Citizenship,
}

impl Person {
    /// 外国人住民 (法第30条の45): dates such as the 生年月日 are written in 西暦 for them.
    pub fn is_foreign(&self) -> bool {
        matches!(self.citizenship, Citizenship::Foreign { .. })
    }
}

/// 旧氏 (住民基本台帳法施行令30条の13): a surname the person had before, as the 戸籍 shows it,
/// recorded in the 住民票 at the person's request (Japanese residents only) and printed with
/// the 氏名.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormerSurname {
    pub name: String,
    /// フリガナ (全角カタカナ).
    pub kana: String,
}

/// 通称 (住民基本台帳法施行令30条の26): a name a foreign resident is commonly known by in
/// Japan, recorded at the person's 申出 and printed with the 氏名.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    /// フリガナ (全角カタカナ).
    pub kana: String,
}

/// How a resident entered the register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryReason {
    /// 転入, from the previous address (前住所).
    MoveIn { previous_address: String },
    /// 出生
    Birth,
    /// 職権記載
    ExOfficio { reason: String },
    /// 転入通知 received from the previous municipality, matched to a 転入.
    MoveInNotice {
        previous_address: String,
        notice_number: String,
    },
}

/// How a resident left the register (the record becomes a 除票).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemovalReason {
    /// 転出確定, to the new address.
    MovedOut { destination: String },
    /// 死亡
    Died,
    /// 職権消除
    ExOfficio { reason: String },
}

impl RemovalReason {
    pub fn label_ja(&self) -> &'static str {
        match self {
            RemovalReason::MovedOut { .. } => "転出",
            RemovalReason::Died => "死亡",
            RemovalReason::ExOfficio { .. } => "職権消除",
        }
    }
}

// `Entered` carries the whole person and is much larger than the other
// variants; events are decoded one at a time, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidentEvent {
    /// 転入 / 出生 / 職権記載
    Entered {
        resident_code: String,
        household_id: String,
        /// 続柄 to the household head (世帯主, 妻, 子 …).
        relationship: String,
        person: Person,
        address: String,
        /// 方書 (building, room).
        katagaki: String,
        reason: EntryReason,
        notified_date: NaiveDate,
    },
    /// 転居 within the municipality.
    Relocated {
        resident_code: String,
        address: String,
        katagaki: String,
        notified_date: NaiveDate,
    },
    /// 転出予定 (届出); the record stays current until 転出確定.
    MoveOutPlanned {
        resident_code: String,
        planned_date: NaiveDate,
        destination: String,
        notified_date: NaiveDate,
    },
    /// 転出確定 / 死亡 / 職権消除: the record becomes a 除票.
    Removed {
        resident_code: String,
        reason: RemovalReason,
        notified_date: NaiveDate,
    },
    /// 世帯分離 / 世帯合併 / 世帯主変更: a new household or relationship.
    HouseholdChanged {
        resident_code: String,
        household_id: String,
        relationship: String,
        notified_date: NaiveDate,
    },
    /// 氏名変更 (婚姻, 養子縁組 …).
    NameChanged {
        resident_code: String,
        family_name: String,
        given_name: String,
        family_kana: String,
        given_kana: String,
        notified_date: NaiveDate,
    },
    /// 職権修正 of one item, with the reason.
    Corrected {
        resident_code: String,
        field: String,
        value: String,
        reason: String,
    },
    /// 支援措置 (DV, stalking, abuse) until a date.
    ProtectionSet {
        resident_code: String,
        until: NaiveDate,
        reason: String,
    },
    ProtectionLifted {
        resident_code: String,
        reason: String,
    },
    /// 転出取消: a 転出予定 withdrawn (the person does not move after all); the record is
    /// current again, as before the 転出届.
    MoveOutCancelled {
        resident_code: String,
        /// Why (e.g. 「転出を取りやめたため本人申出」).
        reason: String,
        notified_date: NaiveDate,
    },
    /// 旧氏の記載・変更 (`Some`) or 削除 (`None`), on the person's 請求.
    FormerSurnameSet {
        resident_code: String,
        former_surname: Option<FormerSurname>,
        notified_date: NaiveDate,
    },
    /// 通称の記載・変更 (`Some`) or 削除 (`None`), on the person's 申出.
    AliasSet {
        resident_code: String,
        alias: Option<Alias>,
        notified_date: NaiveDate,
    },
    /// 宛名番号の付番: the number every business system knows the person by, given with the
    /// person's first entry (see [`crate::next_addressee_number`]). Not a 異動.
    AddresseeNumberAssigned {
        resident_code: String,
        addressee_number: String,
    },
}

// Append only: an event's index is stored in its payload.
const KINDS: [&str; 13] = [
    "resident.entered",
    "resident.relocated",
    "resident.move_out_planned",
    "resident.removed",
    "resident.household_changed",
    "resident.name_changed",
    "resident.corrected",
    "resident.protection_set",
    "resident.protection_lifted",
    "resident.move_out_cancelled",
    "resident.former_surname_set",
    "resident.alias_set",
    "resident.addressee_number_assigned",
];

impl ResidentEvent {
    pub fn resident_code(&self) -> &str {
        match self {
            ResidentEvent::Entered { resident_code, .. }
            | ResidentEvent::Relocated { resident_code, .. }
            | ResidentEvent::MoveOutPlanned { resident_code, .. }
            | ResidentEvent::Removed { resident_code, .. }
            | ResidentEvent::HouseholdChanged { resident_code, .. }
            | ResidentEvent::NameChanged { resident_code, .. }
            | ResidentEvent::Corrected { resident_code, .. }
            | ResidentEvent::ProtectionSet { resident_code, .. }
            | ResidentEvent::ProtectionLifted { resident_code, .. }
            | ResidentEvent::MoveOutCancelled { resident_code, .. }
            | ResidentEvent::FormerSurnameSet { resident_code, .. }
            | ResidentEvent::AliasSet { resident_code, .. }
            | ResidentEvent::AddresseeNumberAssigned { resident_code, .. } => resident_code,
        }
    }

    fn index(&self) -> usize {
        match self {
            ResidentEvent::Entered { .. } => 0,
            ResidentEvent::Relocated { .. } => 1,
            ResidentEvent::MoveOutPlanned { .. } => 2,
            ResidentEvent::Removed { .. } => 3,
            ResidentEvent::HouseholdChanged { .. } => 4,
            ResidentEvent::NameChanged { .. } => 5,
            ResidentEvent::Corrected { .. } => 6,
            ResidentEvent::ProtectionSet { .. } => 7,
            ResidentEvent::ProtectionLifted { .. } => 8,
            ResidentEvent::MoveOutCancelled { .. } => 9,
            ResidentEvent::FormerSurnameSet { .. } => 10,
            ResidentEvent::AliasSet { .. } => 11,
            ResidentEvent::AddresseeNumberAssigned { .. } => 12,
        }
    }

    /// 異動事由 as printed in 異動履歴.
    pub fn label_ja(&self) -> String {
        match self {
            ResidentEvent::Entered { reason, .. } => match reason {
                EntryReason::MoveIn { .. } => "転入".into(),
                EntryReason::Birth => "出生".into(),
                EntryReason::ExOfficio { .. } => "職権記載".into(),
                EntryReason::MoveInNotice { .. } => "転入(通知)".into(),
            },
            ResidentEvent::Relocated { .. } => "転居".into(),
            ResidentEvent::MoveOutPlanned { .. } => "転出予定".into(),
            ResidentEvent::Removed { reason, .. } => reason.label_ja().into(),
            ResidentEvent::HouseholdChanged { relationship, .. } => {
                format!("世帯変更({relationship})")
            }
            ResidentEvent::NameChanged { .. } => "氏名変更".into(),
            ResidentEvent::Corrected { field, .. } => {
                format!("職権修正({})", crate::record::correctable_name(field))
            }
            ResidentEvent::ProtectionSet { .. } => "支援措置開始".into(),
            ResidentEvent::ProtectionLifted { .. } => "支援措置終了".into(),
            ResidentEvent::MoveOutCancelled { .. } => "転出取消".into(),
            ResidentEvent::FormerSurnameSet {
                former_surname: Some(_),
                ..
            } => "旧氏記載".into(),
            ResidentEvent::FormerSurnameSet { .. } => "旧氏削除".into(),
            ResidentEvent::AliasSet { alias: Some(_), .. } => "通称記載".into(),
            ResidentEvent::AliasSet { .. } => "通称削除".into(),
            ResidentEvent::AddresseeNumberAssigned { .. } => "宛名番号付番".into(),
        }
    }
}

impl ResidentEvent {
    /// What the 異動 recorded, as the 異動履歴 shows it beside the 異動事由: the new address,
    /// name, 続柄, 旧氏 or 通称 (with its フリガナ), the corrected item and value, the reason.
    /// Empty where the 異動事由 says it all (死亡). So the history of a 旧氏 or 通称 can be
    /// read back (標準仕様書 §2.2.1/M2).
    pub fn detail_ja(&self) -> String {
        let with_kana = |name: &str, kana: &str| {
            if kana.trim().is_empty() {
                name.to_string()
            } else {
                format!("{name}({kana})")
            }
        };
        let place =
            |address: &str, katagaki: &str| format!("{address} {katagaki}").trim().to_string();
        match self {
            ResidentEvent::Entered {
                address,
                katagaki,
                relationship,
                reason,
                ..
            } => {
                let from = match reason {
                    EntryReason::MoveIn { previous_address }
                    | EntryReason::MoveInNotice {
                        previous_address, ..
                    } => format!("(転入前住所 {previous_address})"),
                    EntryReason::ExOfficio { reason } => format!("(事由 {reason})"),
                    EntryReason::Birth => String::new(),
                };
                format!("{}・{relationship}{from}", place(address, katagaki))
            }
            ResidentEvent::Relocated {
                address, katagaki, ..
            } => place(address, katagaki),
            ResidentEvent::MoveOutPlanned { destination, .. } => format!("転出先 {destination}"),
            ResidentEvent::Removed { reason, .. } => match reason {
                RemovalReason::MovedOut { destination } => format!("転出先 {destination}"),
                RemovalReason::ExOfficio { reason } => format!("事由 {reason}"),
                RemovalReason::Died => String::new(),
            },
            ResidentEvent::HouseholdChanged {
                household_id,
                relationship,
                ..
            } => format!("世帯番号 {household_id}・{relationship}"),
            ResidentEvent::NameChanged {
                family_name,
                given_name,
                family_kana,
                given_kana,
                ..
            } => with_kana(
                format!("{family_name}　{given_name}").trim(),
                format!("{family_kana}　{given_kana}").trim(),
            ),
            ResidentEvent::Corrected {
                field,
                value,
                reason,
                ..
            } => format!(
                "{} → {value}(事由 {reason})",
                crate::record::correctable_name(field)
            ),
            ResidentEvent::ProtectionSet { until, reason, .. } => {
                format!("{}まで(事由 {reason})", crate::record::date_ja(*until))
            }
            ResidentEvent::ProtectionLifted { reason, .. }
            | ResidentEvent::MoveOutCancelled { reason, .. } => format!("事由 {reason}"),
            ResidentEvent::FormerSurnameSet {
                former_surname: Some(f),
                ..
            } => with_kana(&f.name, &f.kana),
            ResidentEvent::AliasSet { alias: Some(a), .. } => with_kana(&a.name, &a.kana),
            ResidentEvent::FormerSurnameSet { .. } | ResidentEvent::AliasSet { .. } => {
                String::new()
            }
            ResidentEvent::AddresseeNumberAssigned {
                addressee_number, ..
            } => addressee_number.clone(),
        }
    }
}

impl EventCodec for ResidentEvent {
    const NAMESPACE: &'static str = "resident.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        // The whole enum is the payload; its variant index matches the kind,
        // so decoding checks the two agree.
        (KINDS[self.index()], 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        decode_enum(
            &KINDS,
            Self::NAMESPACE,
            ResidentEvent::index,
            kind,
            version,
            payload,
        )
    }
}

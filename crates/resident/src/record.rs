//! The resident record and how events change it.

use chrono::NaiveDate;
use murakumo_core::ResidentCode;
use serde::{Deserialize, Serialize};

use crate::{
    Citizenship, EntryReason, FormerSurname, Person, RemovalReason, ResidentError, ResidentEvent,
    Warning,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub text: String,
    /// 方書
    pub katagaki: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Current,
    /// 転出予定: still a resident until 転出確定.
    MovingOut {
        planned_date: NaiveDate,
        destination: String,
    },
    /// 除票
    Removed {
        reason: RemovalReason,
        date: NaiveDate,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub until: NaiveDate,
    pub reason: String,
}

/// A resident's 住民票 as of some date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub resident_code: String,
    pub household_id: String,
    pub relationship: String,
    pub person: Person,
    pub address: Address,
    pub status: Status,
    /// 住民となった年月日
    pub became_resident: NaiveDate,
    /// 住所を定めた年月日
    pub address_since: NaiveDate,
    pub entry_reason: EntryReason,
    /// 支援措置, if in force.
    pub protection: Option<Protection>,
    /// 異動日 of the latest 異動 that changed the record (entry, address,
    /// household, name, status; not 職権修正 or 支援措置): an 異動 dated
    /// before it would contradict it and is refused. Absent in records
    /// projected before it existed (the projection version was bumped).
    #[serde(default)]
    pub last_change: Option<NaiveDate>,
    /// 旧氏, if recorded on request (absent in records projected before it existed: none
    /// had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_surname: Option<FormerSurname>,
    /// The フリガナ of the 通称 (`person.alias`), when the 通称 was recorded with one by
    /// 申出 (a 通称 given at 転入 has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_kana: Option<String>,
    /// 宛名番号, once given (people recorded before 宛名番号 existed, or imported without one,
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressee_number: Option<String>,
    /// フリガナ確認フラグ (標準仕様書 §1.1.18/M2): the 氏名's フリガナ has been confirmed (with
    /// the 戸籍's 振り仮名, or the person). Recorded by 職権修正 of `kana_confirmed`; a new
    /// フリガナ (氏名変更, or a 職権修正 of it) is unconfirmed again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kana_confirmed: bool,
}

impl Record {
    pub fn is_removed(&self) -> bool {
        matches!(self.status, Status::Removed { .. })
    }

    /// Whether a 支援措置 is in force on `date`.
    pub fn protected_on(&self, date: NaiveDate) -> bool {
        self.protection.as_ref().is_some_and(|p| p.until >= date)
    }

    pub fn full_name(&self) -> String {
        format!("{}　{}", self.person.family_name, self.person.given_name)
            .trim()
            .to_string()
    }

    pub fn full_kana(&self) -> String {
        format!("{} {}", self.person.family_kana, self.person.given_kana)
            .trim()
            .to_string()
    }
}

/// One line of 異動履歴.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub seq: u64,
    pub effective_date: NaiveDate,
    pub label: String,
}

/// A date as staff read it in a message: 和暦 (令和8年11月20日).
pub(crate) fn date_ja(d: NaiveDate) -> String {
    murakumo_core::WarekiDate::from_gregorian(d).map_or_else(|| d.to_string(), |w| w.to_string())
}

/// Whether an event changes the record's state as of its 異動日 (and so must
/// not be dated before a later such change). 職権修正 corrects what was
/// recorded, and 支援措置 is not a 異動.
fn changes_state(event: &ResidentEvent) -> bool {
    !matches!(
        event,
        ResidentEvent::Corrected { .. }
            | ResidentEvent::ProtectionSet { .. }
            | ResidentEvent::ProtectionLifted { .. }
            // A 旧氏 is a request about the name's printing: it does not contradict a 異動
            // dated before it.
            | ResidentEvent::FormerSurnameSet { .. }
            | ResidentEvent::AliasSet { .. }
            // A number for the other systems, given with the entry.
            | ResidentEvent::AddresseeNumberAssigned { .. }
    )
}

fn invalid<T>(field: &'static str, reason: impl Into<String>) -> Result<T, ResidentError> {
    Err(ResidentError::Invalid {
        field,
        reason: reason.into(),
    })
}

fn is_katakana(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, 'ァ'..='ヶ' | 'ー' | '・' | ' ' | '　'))
}

fn check_kana(field: &'static str, s: &str, required: bool) -> Result<(), ResidentError> {
    if required && s.trim().is_empty() {
        return invalid(field, "フリガナを入力してください");
    }
    if !is_katakana(s) {
        return invalid(
            field,
            "フリガナは全角カタカナで入力してください(例: ヤマダ)",
        );
    }
    Ok(())
}

/// Checks a change before it is recorded, against the person's record as
/// of its 異動日 (`at`) and as last recorded (`latest`, which knows the 異動
/// dated after it). Returns warnings that do not block it; refuses what must
/// not happen. Household rules are [`crate::check_households`].
pub fn validate(
    event: &ResidentEvent,
    at: Option<&Record>,
    latest: Option<&Record>,
    effective: NaiveDate,
    today: NaiveDate,
    deadline_days: i64,
) -> Result<Vec<Warning>, ResidentError> {
    let code = event.resident_code();
    if let Err(e) = ResidentCode::parse(code) {
        return invalid("resident_code", e.message_ja());
    }
    crate::check_lengths(event)?;
    let planned = matches!(event, ResidentEvent::MoveOutPlanned { .. });
    if effective > today && !planned {
        return invalid(
            "effective_date",
            "異動日が未来の日付です。異動の当日以降に記録してください",
        );
    }
    let current = at;
    let live = |r: Option<&Record>| -> Result<(), ResidentError> {
        match r {
            None if latest.is_some_and(|l| !l.is_removed()) => Err(ResidentError::Invalid {
                field: "effective_date",
                reason: format!(
                    "異動日 {} にはまだこの団体の住民ではありません(住民となった年月日 {})。異動日を確認してください",
                    date_ja(effective),
                    latest.map_or_else(String::new, |l| date_ja(l.became_resident))
                ),
            }),
            None => Err(ResidentError::NotFound(code.to_string())),
            Some(r) => match &r.status {
                Status::Removed { reason, .. } => Err(ResidentError::Removed {
                    code: code.to_string(),
                    reason: reason.label_ja().to_string(),
                }),
                _ => Ok(()),
            },
        }
    };
    let mut warnings = Vec::new();
    let mut notified = None;
    match event {
        ResidentEvent::Entered {
            person,
            reason,
            address,
            relationship,
            household_id,
            notified_date,
            ..
        } => {
            if current.or(latest).is_some_and(|r| !r.is_removed()) {
                return Err(ResidentError::AlreadyRegistered(code.to_string()));
            }
            if person.family_name.trim().is_empty() {
                return invalid("family_name", "氏を入力してください");
            }
            check_kana("family_kana", &person.family_kana, true)?;
            check_kana("given_kana", &person.given_kana, false)?;
            if person.birth_date > effective {
                return invalid("birth_date", "生年月日が異動日より後になっています");
            }
            if matches!(reason, EntryReason::Birth) && person.birth_date != effective {
                return invalid(
                    "effective_date",
                    "出生の異動日は生年月日と同じ日にしてください",
                );
            }
            if let EntryReason::MoveIn { previous_address }
            | EntryReason::MoveInNotice {
                previous_address, ..
            } = reason
            {
                if previous_address.trim().is_empty() {
                    return invalid("previous_address", "転入には前住所が必要です");
                }
                if *notified_date < effective {
                    return invalid("notified_date", "転入届の届出日は転入した日以降になります");
                }
            }
            match &person.citizenship {
                Citizenship::Japanese { honseki, .. } if honseki.trim().is_empty() => {
                    return invalid("honseki", "日本国籍の方は本籍が必要です");
                }
                Citizenship::Foreign { nationality, .. } if nationality.trim().is_empty() => {
                    return invalid("nationality", "外国人住民は国籍・地域が必要です");
                }
                Citizenship::Foreign {
                    residence_status, ..
                } if residence_status.trim().is_empty() => {
                    return invalid("residence_status", "外国人住民は在留資格が必要です");
                }
                _ => {}
            }
            if address.trim().is_empty() {
                return invalid("address", "住所を入力してください");
            }
            if household_id.trim().is_empty() {
                return invalid("household_id", "世帯を入力してください");
            }
            crate::relationship::check(relationship).or_else(|m| invalid("relationship", m))?;
            notified = Some(*notified_date);
        }
        ResidentEvent::Relocated {
            address,
            katagaki,
            notified_date,
            ..
        } => {
            live(current)?;
            if let Some(Record {
                status: Status::MovingOut { planned_date, .. },
                ..
            }) = current
            {
                return invalid(
                    "change",
                    format!(
                        "この方は転出届が出ています(転出予定日 {})。転出予定の方の転居は記録できません。転出をやめた場合は、先に転出取消を入力してください",
                        date_ja(*planned_date)
                    ),
                );
            }
            if address.trim().is_empty() {
                return invalid("address", "新しい住所を入力してください");
            }
            // Another building at the same 住所 (another 方書) is a 転居 too (§4.1.2.1).
            if current.is_some_and(|r| {
                r.address.text == address.trim() && r.address.katagaki.trim() == katagaki.trim()
            }) {
                return invalid(
                    "address",
                    "新しい住所・方書が現在と同じです。同じ住所の別の建物に移ったときは、新しい方書を入力してください",
                );
            }
            notified = Some(*notified_date);
        }
        ResidentEvent::MoveOutPlanned {
            planned_date,
            destination,
            notified_date,
            ..
        } => {
            live(current)?;
            if destination.trim().is_empty() {
                return invalid("destination", "転出先を入力してください");
            }
            if *planned_date < *notified_date - chrono::Duration::days(deadline_days) {
                warnings.push(Warning {
                    field: "planned_date",
                    message: "転出予定日が届出日よりかなり前です。日付を確認してください".into(),
                });
            }
        }
        ResidentEvent::Removed {
            reason,
            notified_date,
            ..
        } => {
            live(current)?;
            if matches!(reason, RemovalReason::Died) && effective > today {
                return invalid(
                    "effective_date",
                    "未来の日付で死亡を記録することはできません",
                );
            }
            if let RemovalReason::ExOfficio { reason } = reason {
                if reason.trim().is_empty() {
                    return invalid("reason", "職権消除の理由を入力してください");
                }
            }
            notified = Some(*notified_date);
        }
        ResidentEvent::HouseholdChanged {
            household_id,
            relationship,
            notified_date,
            ..
        } => {
            live(current)?;
            if household_id.trim().is_empty() || relationship.trim().is_empty() {
                return invalid("household_id", "世帯と続柄を入力してください");
            }
            crate::relationship::check(relationship).or_else(|m| invalid("relationship", m))?;
            notified = Some(*notified_date);
        }
        ResidentEvent::NameChanged {
            family_name,
            family_kana,
            given_kana,
            notified_date,
            ..
        } => {
            live(current)?;
            if family_name.trim().is_empty() {
                return invalid("family_name", "氏を入力してください");
            }
            check_kana("family_kana", family_kana, true)?;
            check_kana("given_kana", given_kana, false)?;
            notified = Some(*notified_date);
        }
        ResidentEvent::Corrected {
            field,
            value,
            reason,
            ..
        } => {
            if current.or(latest).is_none() {
                return Err(ResidentError::NotFound(code.to_string()));
            }
            if reason.trim().is_empty() {
                return invalid(
                    "reason",
                    "職権修正の理由を入力してください(例: 戸籍照合による)",
                );
            }
            if !CORRECTABLE.iter().any(|(f, _)| f == field) {
                let names: Vec<&str> = CORRECTABLE.iter().map(|(_, label)| *label).collect();
                return invalid(
                    "field",
                    format!(
                        "{field:?} は職権修正できる項目ではありません。修正できる項目: {}",
                        names.join("、")
                    ),
                );
            }
            if field == "birth_date" && NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err() {
                return invalid("value", "生年月日は 1980-05-05 の形で入力してください");
            }
            if field == "sex" && !matches!(value.as_str(), "1" | "2" | "9") {
                return invalid("value", "性別は 1(男)、2(女)、9 のいずれかです");
            }
            if field == "kana_confirmed" && !matches!(value.as_str(), "0" | "1") {
                return invalid("value", "フリガナ確認フラグは 1(確認済)か 0(未確認)です");
            }
            if field.ends_with("kana") {
                check_kana("value", value, false)?;
            }
        }
        ResidentEvent::FormerSurnameSet {
            former_surname,
            notified_date,
            ..
        } => {
            live(current)?;
            let Some(r) = current else {
                return Err(ResidentError::NotFound(code.to_string()));
            };
            if !matches!(r.person.citizenship, Citizenship::Japanese { .. }) {
                return invalid(
                    "former_surname",
                    "旧氏は日本人住民についてだけ記載できます(外国人住民の方は通称を記載します)",
                );
            }
            match former_surname {
                Some(f) => {
                    if f.name.trim().is_empty() {
                        return invalid("former_surname", "旧氏を入力してください");
                    }
                    if f.name.trim() == r.person.family_name.trim() {
                        return invalid(
                            "former_surname",
                            "旧氏には、戸籍に記載されている以前の氏(現在の氏と異なる氏)を入力してください",
                        );
                    }
                    check_kana("former_surname_kana", &f.kana, true)?;
                }
                None if r.former_surname.is_none() => {
                    return invalid(
                        "former_surname",
                        "この方には旧氏が記載されていないため、削除できません",
                    );
                }
                None => {}
            }
            notified = Some(*notified_date);
        }
        ResidentEvent::AliasSet {
            alias,
            notified_date,
            ..
        } => {
            live(current)?;
            let Some(r) = current else {
                return Err(ResidentError::NotFound(code.to_string()));
            };
            if !matches!(r.person.citizenship, Citizenship::Foreign { .. }) {
                return invalid(
                    "alias",
                    "通称は外国人住民についてだけ記載できます(日本人住民の方は旧氏を記載できます)",
                );
            }
            match alias {
                Some(a) => {
                    if a.name.trim().is_empty() {
                        return invalid("alias", "通称を入力してください");
                    }
                    check_kana("alias_kana", &a.kana, true)?;
                }
                None if r.person.alias.is_none() => {
                    return invalid(
                        "alias",
                        "この方には通称が記載されていないため、削除できません",
                    );
                }
                None => {}
            }
            notified = Some(*notified_date);
        }
        ResidentEvent::AddresseeNumberAssigned {
            addressee_number, ..
        } => {
            crate::check_addressee_number(addressee_number)?;
            let Some(r) = current else {
                return Err(ResidentError::NotFound(code.to_string()));
            };
            if let Some(given) = r
                .addressee_number
                .as_ref()
                .filter(|g| *g != addressee_number)
            {
                return invalid(
                    "addressee_number",
                    format!("この方には宛名番号 {given} が付番済みです。宛名番号は変わりません"),
                );
            }
        }
        ResidentEvent::MoveOutCancelled {
            reason,
            notified_date,
            ..
        } => {
            live(current)?;
            if !matches!(current.map(|r| &r.status), Some(Status::MovingOut { .. })) {
                return invalid(
                    "change",
                    "この方には転出予定(転出届)がありません。転出取消は転出届が出ていて、まだ転出していない方についてだけ記録できます",
                );
            }
            if reason.trim().is_empty() {
                return invalid(
                    "reason",
                    "転出取消の理由を入力してください(例: 転出を取りやめたため本人申出)",
                );
            }
            notified = Some(*notified_date);
        }
        ResidentEvent::ProtectionSet { until, reason, .. } => {
            live(current)?;
            if *until <= effective {
                return invalid("until", "支援措置の期限は開始日より後にしてください");
            }
            let in_force = current.and_then(|r| r.protection.as_ref()).map(|p| p.until);
            let start = crate::protection::next_term_start(effective, in_force).or_else(|opens| {
                invalid(
                    "effective_date",
                    format!(
                        "支援措置は{}まで続いています。延長の申出は期間が終わる1か月前の{}から受け付けます",
                        date_ja(in_force.unwrap_or(effective)),
                        date_ja(opens)
                    ),
                )
            })?;
            if *until < start {
                return invalid(
                    "until",
                    format!(
                        "延長後の期限は、いまの期間の終了日({})より後にしてください",
                        date_ja(in_force.unwrap_or(effective))
                    ),
                );
            }
            if *until > crate::protection::latest_end(start) {
                return invalid(
                    "until",
                    format!(
                        "支援措置の期間は1年です。{}からの期間は{}までです(期限を空欄にすると自動で設定されます)",
                        date_ja(start),
                        date_ja(crate::protection::term_end(start))
                    ),
                );
            }
            if reason.trim().is_empty() {
                return invalid(
                    "reason",
                    "支援措置の種類を入力してください(DV、ストーカー、児童虐待 など)",
                );
            }
        }
        ResidentEvent::ProtectionLifted { .. } => {
            if current
                .or(latest)
                .and_then(|r| r.protection.as_ref())
                .is_none()
            {
                return invalid("resident_code", "この方には支援措置が設定されていません");
            }
        }
    }
    if changes_state(event)
        && let Some(last) = latest.and_then(|r| r.last_change)
        && last > effective
    {
        return invalid(
            "effective_date",
            format!(
                "この方には{}付けの異動が記録されています。それより前の日付の異動は後の異動と矛盾するため記録できません。異動日を確認してください(記録済みの異動の誤りは職権修正で直します)",
                date_ja(last)
            ),
        );
    }
    if let Some(n) = notified {
        if n > today {
            return invalid("notified_date", "届出日が未来の日付です");
        }
        if (n - effective).num_days() > deadline_days {
            warnings.push(Warning {
                field: "notified_date",
                message: format!(
                    "届出期間({deadline_days}日)を過ぎています(異動日から{}日): 届出期間経過の処理が必要です",
                    (n - effective).num_days()
                ),
            });
        }
    }
    Ok(warnings)
}

/// Items a 職権修正 may change: the field and its name as staff know it.
pub const CORRECTABLE: [(&str, &str); 13] = [
    ("family_name", "氏"),
    ("given_name", "名"),
    ("family_kana", "氏(フリガナ)"),
    ("given_kana", "名(フリガナ)"),
    ("birth_date", "生年月日"),
    ("sex", "性別(1 男・2 女・9 記載しない)"),
    ("katagaki", "方書"),
    ("relationship", "続柄"),
    ("honseki", "本籍"),
    ("hittosha", "筆頭者"),
    ("nationality", "国籍・地域"),
    ("residence_status", "在留資格"),
    ("kana_confirmed", "フリガナ確認フラグ(1 確認済・0 未確認)"),
];

/// The name staff know a [`CORRECTABLE`] item by, without the hint on its values (「性別」,
/// 「フリガナ確認フラグ」, 「氏(フリガナ)」); an unknown field as it is.
pub(crate) fn correctable_name(field: &str) -> &str {
    CORRECTABLE
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(field, |(_, label)| {
            // 「性別(1 男・2 女・9 記載しない)」→「性別」; 「氏(フリガナ)」 stays whole.
            label
                .split_once('(')
                .filter(|(_, hint)| hint.starts_with(|c: char| c.is_ascii_digit()))
                .map_or(*label, |(name, _)| name)
        })
}

/// Applies one event. Events that do not fit (e.g. a change before the
/// resident entered) are refused: replay then stops with the reason.
pub fn apply(
    record: Option<Record>,
    event: &ResidentEvent,
    effective: NaiveDate,
) -> Result<Record, ResidentError> {
    let code = event.resident_code().to_string();
    if let ResidentEvent::Entered {
        household_id,
        relationship,
        person,
        address,
        katagaki,
        reason,
        ..
    } = event
    {
        return Ok(Record {
            resident_code: code,
            household_id: household_id.clone(),
            relationship: relationship.clone(),
            person: person.clone(),
            address: Address {
                text: address.clone(),
                katagaki: katagaki.clone(),
            },
            status: Status::Current,
            became_resident: effective,
            address_since: effective,
            entry_reason: reason.clone(),
            protection: None,
            last_change: Some(effective),
            former_surname: None,
            alias_kana: None,
            addressee_number: None,
            kana_confirmed: false,
        });
    }
    let mut r = record.ok_or(ResidentError::NotFound(code))?;
    if changes_state(event) {
        r.last_change = Some(r.last_change.map_or(effective, |d| d.max(effective)));
    }
    match event {
        ResidentEvent::Entered { .. } => {}
        ResidentEvent::Relocated {
            address, katagaki, ..
        } => {
            r.address = Address {
                text: address.clone(),
                katagaki: katagaki.clone(),
            };
            r.address_since = effective;
        }
        ResidentEvent::MoveOutPlanned {
            planned_date,
            destination,
            ..
        } => {
            r.status = Status::MovingOut {
                planned_date: *planned_date,
                destination: destination.clone(),
            };
        }
        ResidentEvent::Removed { reason, .. } => {
            r.status = Status::Removed {
                reason: reason.clone(),
                date: effective,
            };
        }
        ResidentEvent::HouseholdChanged {
            household_id,
            relationship,
            ..
        } => {
            r.household_id = household_id.clone();
            r.relationship = relationship.clone();
        }
        ResidentEvent::NameChanged {
            family_name,
            given_name,
            family_kana,
            given_kana,
            ..
        } => {
            // A new フリガナ is to be confirmed again.
            if (&r.person.family_kana, &r.person.given_kana) != (family_kana, given_kana) {
                r.kana_confirmed = false;
            }
            r.person.family_name = family_name.clone();
            r.person.given_name = given_name.clone();
            r.person.family_kana = family_kana.clone();
            r.person.given_kana = given_kana.clone();
        }
        ResidentEvent::Corrected { field, value, .. } => correct(&mut r, field, value),
        ResidentEvent::ProtectionSet { until, reason, .. } => {
            r.protection = Some(Protection {
                until: *until,
                reason: reason.clone(),
            });
        }
        ResidentEvent::ProtectionLifted { .. } => r.protection = None,
        ResidentEvent::MoveOutCancelled { .. } => r.status = Status::Current,
        ResidentEvent::FormerSurnameSet { former_surname, .. } => {
            r.former_surname = former_surname.clone();
        }
        ResidentEvent::AliasSet { alias, .. } => {
            r.person.alias = alias.as_ref().map(|a| a.name.clone());
            r.alias_kana = alias.as_ref().map(|a| a.kana.clone());
        }
        ResidentEvent::AddresseeNumberAssigned {
            addressee_number, ..
        } => r.addressee_number = Some(addressee_number.clone()),
    }
    Ok(r)
}

fn correct(r: &mut Record, field: &str, value: &str) {
    let p = &mut r.person;
    match field {
        "family_name" => p.family_name = value.into(),
        "given_name" => p.given_name = value.into(),
        "family_kana" => {
            p.family_kana = value.into();
            r.kana_confirmed = false;
        }
        "given_kana" => {
            p.given_kana = value.into();
            r.kana_confirmed = false;
        }
        "birth_date" => {
            if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                p.birth_date = d;
            }
        }
        "sex" => {
            if let Some(s) = value.parse().ok().and_then(crate::Sex::from_code) {
                p.sex = s;
            }
        }
        "katagaki" => r.address.katagaki = value.into(),
        "relationship" => r.relationship = value.into(),
        "kana_confirmed" => r.kana_confirmed = value == "1",
        "honseki" | "hittosha" => {
            if let Citizenship::Japanese { honseki, hittosha } = &mut p.citizenship {
                if field == "honseki" {
                    *honseki = value.into()
                } else {
                    *hittosha = value.into()
                }
            }
        }
        "nationality" | "residence_status" => {
            if let Citizenship::Foreign {
                nationality,
                residence_status,
                ..
            } = &mut p.citizenship
            {
                if field == "nationality" {
                    *nationality = value.into()
                } else {
                    *residence_status = value.into()
                }
            }
        }
        _ => {}
    }
}

/// The record as of `as_of`: the events (in ledger order) whose 異動日 is on
/// or before that date, applied in turn. `None` if not yet a resident then.
pub fn replay<'a>(
    events: impl IntoIterator<Item = (&'a ResidentEvent, NaiveDate)>,
    as_of: NaiveDate,
) -> Result<Option<Record>, ResidentError> {
    let mut record = None;
    for (event, effective) in events {
        if effective > as_of {
            continue;
        }
        record = Some(apply(record, event, effective)?);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Alias;
    use crate::Sex;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn code() -> String {
        ResidentCode::from_ten_digits("1234567890")
            .expect("valid")
            .as_str()
            .to_string()
    }

    fn person() -> Person {
        Person {
            family_name: "山田".into(),
            given_name: "太郎".into(),
            family_kana: "ヤマダ".into(),
            given_kana: "タロウ".into(),
            romaji: None,
            alias: None,
            birth_date: d(1980, 1, 2),
            sex: Sex::Male,
            citizenship: Citizenship::Japanese {
                honseki: "北海道深川市1条1番".into(),
                hittosha: "山田太郎".into(),
            },
        }
    }

    fn move_in(notified: NaiveDate) -> ResidentEvent {
        ResidentEvent::Entered {
            resident_code: code(),
            household_id: "H1".into(),
            relationship: "世帯主".into(),
            person: person(),
            address: "北海道深川市1条1番1号".into(),
            katagaki: "".into(),
            reason: EntryReason::MoveIn {
                previous_address: "札幌市中央区北1条西2丁目".into(),
            },
            notified_date: notified,
        }
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 23);

    fn today() -> NaiveDate {
        d(TODAY.0, TODAY.1, TODAY.2)
    }

    #[test]
    fn move_in_then_relocate_then_move_out_replays_as_of_any_date() {
        let events = [
            (move_in(d(2020, 4, 3)), d(2020, 4, 1)),
            (
                ResidentEvent::Relocated {
                    resident_code: code(),
                    address: "北海道深川市2条2番2号".into(),
                    katagaki: "301号室".into(),
                    notified_date: d(2023, 6, 1),
                },
                d(2023, 6, 1),
            ),
            (
                ResidentEvent::Removed {
                    resident_code: code(),
                    reason: RemovalReason::MovedOut {
                        destination: "東京都千代田区".into(),
                    },
                    notified_date: d(2026, 3, 31),
                },
                d(2026, 3, 31),
            ),
        ];
        let at = |date| replay(events.iter().map(|(e, eff)| (e, *eff)), date).expect("replays");
        assert_eq!(at(d(2019, 1, 1)), None);
        let r2021 = at(d(2021, 1, 1)).expect("resident");
        assert_eq!(r2021.address.text, "北海道深川市1条1番1号");
        assert_eq!(r2021.became_resident, d(2020, 4, 1));
        let r2024 = at(d(2024, 1, 1)).expect("resident");
        assert_eq!(
            (r2024.address.katagaki.as_str(), r2024.address_since),
            ("301号室", d(2023, 6, 1))
        );
        assert_eq!(r2024.status, Status::Current);
        let now = at(today()).expect("除票");
        assert!(now.is_removed());
        assert_eq!(
            now.address.text, "北海道深川市2条2番2号",
            "a 除票 keeps the last address"
        );
    }

    #[test]
    fn rules() {
        let t = today();
        assert!(
            validate(
                &move_in(d(2026, 11, 20)),
                None,
                None,
                d(2026, 11, 20),
                t,
                14
            )
            .expect("ok")
            .is_empty()
        );
        let current = apply(None, &move_in(d(2026, 11, 20)), d(2026, 11, 20)).expect("applies");
        assert!(matches!(
            validate(&move_in(t), Some(&current), Some(&current), t, t, 14),
            Err(ResidentError::AlreadyRegistered(_))
        ));
        // Late notification: a warning, not a refusal.
        let w = validate(&move_in(d(2026, 11, 20)), None, None, d(2026, 10, 1), t, 14).expect("ok");
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("届出期間"));
        // 転入届 before moving in: refused.
        assert!(validate(&move_in(d(2026, 9, 1)), None, None, d(2026, 10, 1), t, 14).is_err());
        // Future 異動日: refused.
        assert!(validate(&move_in(d(2026, 12, 1)), None, None, d(2026, 12, 1), t, 14).is_err());
        // No future death, no 転居 of a removed resident.
        let died = |date| ResidentEvent::Removed {
            resident_code: code(),
            reason: RemovalReason::Died,
            notified_date: t.min(date),
        };
        assert!(
            validate(
                &died(d(2026, 12, 24)),
                Some(&current),
                Some(&current),
                d(2026, 12, 24),
                t,
                14
            )
            .is_err()
        );
        let removed = apply(Some(current.clone()), &died(t), t).expect("applies");
        let relocate = ResidentEvent::Relocated {
            resident_code: code(),
            address: "別".into(),
            katagaki: "".into(),
            notified_date: t,
        };
        assert!(matches!(
            validate(&relocate, Some(&removed), Some(&removed), t, t, 14),
            Err(ResidentError::Removed { .. })
        ));
        // A 除票 can still be corrected by 職権修正, with a reason.
        let fix = |reason: &str| ResidentEvent::Corrected {
            resident_code: code(),
            field: "given_kana".into(),
            value: "タロー".into(),
            reason: reason.into(),
        };
        assert!(validate(&fix("戸籍照合"), Some(&removed), Some(&removed), t, t, 14).is_ok());
        assert!(validate(&fix(""), Some(&removed), Some(&removed), t, t, 14).is_err());
        // Kana must be katakana.
        let mut bad = move_in(t);
        if let ResidentEvent::Entered { person, .. } = &mut bad {
            person.family_kana = "やまだ".into();
        }
        assert!(matches!(
            validate(&bad, None, None, t, t, 14),
            Err(ResidentError::Invalid {
                field: "family_kana",
                ..
            })
        ));
    }

    #[test]
    fn dates_are_checked_as_of_the_change_and_against_later_changes() {
        let t = today();
        let entered = apply(None, &move_in(d(2026, 4, 3)), d(2026, 4, 1)).expect("applies");
        let relocate = |n: u32, addr: &str| ResidentEvent::Relocated {
            resident_code: code(),
            address: addr.into(),
            katagaki: "".into(),
            notified_date: d(2026, 11, n),
        };
        // 転居 before the 転入: not yet a resident on the 異動日.
        let before =
            replay([(&move_in(d(2026, 4, 3)), d(2026, 4, 1))], d(2026, 3, 1)).expect("replays");
        let Err(ResidentError::Invalid { field, reason }) = validate(
            &relocate(1, "北海道深川市3条"),
            before.as_ref(),
            Some(&entered),
            d(2026, 3, 1),
            t,
            14,
        ) else {
            panic!("a 転居 before the 転入 was accepted");
        };
        assert_eq!(field, "effective_date");
        assert!(reason.contains("住民となった年月日"), "{reason}");
        // 転居 on 10-01 recorded; a back-dated 転居 on 09-01 contradicts it.
        let moved = apply(
            Some(entered.clone()),
            &relocate(2, "北海道深川市3条"),
            d(2026, 10, 1),
        )
        .expect("applies");
        assert_eq!(moved.last_change, Some(d(2026, 10, 1)));
        assert!(matches!(
            validate(
                &relocate(3, "北海道深川市4条"),
                Some(&entered),
                Some(&moved),
                d(2026, 9, 1),
                t,
                14
            ),
            Err(ResidentError::Invalid {
                field: "effective_date",
                ..
            })
        ));
        // After it: fine. A 職権修正 may be back-dated.
        assert!(
            validate(
                &relocate(3, "北海道深川市4条"),
                Some(&moved),
                Some(&moved),
                d(2026, 10, 5),
                t,
                14
            )
            .is_ok()
        );
        let fix = ResidentEvent::Corrected {
            resident_code: code(),
            field: "katagaki".into(),
            value: "101".into(),
            reason: "調査".into(),
        };
        assert!(validate(&fix, Some(&entered), Some(&moved), d(2026, 9, 1), t, 14).is_ok());
        // 転居 while 転出予定: refused.
        let planned = apply(
            Some(moved.clone()),
            &ResidentEvent::MoveOutPlanned {
                resident_code: code(),
                planned_date: d(2026, 12, 1),
                destination: "東京都千代田区".into(),
                notified_date: d(2026, 11, 10),
            },
            d(2026, 11, 10),
        )
        .expect("applies");
        assert!(matches!(
            validate(
                &relocate(20, "北海道深川市5条"),
                Some(&planned),
                Some(&planned),
                d(2026, 11, 20),
                t,
                14
            ),
            Err(ResidentError::Invalid {
                field: "change",
                ..
            })
        ));
    }

    /// 旧氏: recorded, changed and deleted on request, for Japanese residents only, never the
    /// current 氏, with its フリガナ in katakana; replayed as of a date like any 異動, and it
    /// does not make an earlier-dated 異動 look back-dated.
    #[test]
    fn a_former_surname_is_recorded_changed_and_deleted_for_japanese_residents_only() {
        let entered = apply(None, &move_in(d(2020, 4, 1)), d(2020, 4, 1)).expect("entered");
        let set = |name: &str, kana: &str| ResidentEvent::FormerSurnameSet {
            resident_code: code(),
            former_surname: Some(FormerSurname {
                name: name.into(),
                kana: kana.into(),
            }),
            notified_date: d(2026, 11, 10),
        };
        let delete = ResidentEvent::FormerSurnameSet {
            resident_code: code(),
            former_surname: None,
            notified_date: d(2026, 11, 20),
        };
        let check = |event: &ResidentEvent, record: &Record| {
            validate(
                event,
                Some(record),
                Some(record),
                d(2026, 11, 10),
                today(),
                14,
            )
        };
        let field = |r: Result<Vec<Warning>, ResidentError>| match r {
            Err(ResidentError::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(field(check(&set("", "サトウ"), &entered)), "former_surname");
        assert_eq!(
            field(check(&set("山田", "ヤマダ"), &entered)),
            "former_surname"
        );
        assert_eq!(
            field(check(&set("佐藤", "さとう"), &entered)),
            "former_surname_kana"
        );
        assert_eq!(field(check(&delete, &entered)), "former_surname");
        assert!(check(&set("佐藤", "サトウ"), &entered).is_ok());
        let with = apply(
            Some(entered.clone()),
            &set("佐藤", "サトウ"),
            d(2026, 11, 10),
        )
        .expect("applies");
        assert_eq!(
            with.former_surname,
            Some(FormerSurname {
                name: "佐藤".into(),
                kana: "サトウ".into()
            })
        );
        assert_eq!(with.last_change, entered.last_change);
        assert!(check(&delete, &with).is_ok());
        let without = apply(Some(with.clone()), &delete, d(2026, 11, 20)).expect("applies");
        assert_eq!(without.former_surname, None);
        // As of a date between the two, the 旧氏 is there; before, not yet.
        let events = [
            (move_in(d(2020, 4, 1)), d(2020, 4, 1)),
            (set("佐藤", "サトウ"), d(2026, 11, 10)),
            (delete.clone(), d(2026, 11, 20)),
        ];
        let as_of = |day: NaiveDate| {
            replay(events.iter().map(|(e, d)| (e, *d)), day)
                .expect("replays")
                .expect("registered")
                .former_surname
                .map(|f| f.name)
        };
        assert_eq!(as_of(d(2026, 11, 9)), None);
        assert_eq!(as_of(d(2026, 11, 15)).as_deref(), Some("佐藤"));
        assert_eq!(as_of(d(2026, 11, 21)), None);
        // A foreign resident records a 通称 instead.
        let mut foreign = entered.clone();
        foreign.person.citizenship = Citizenship::Foreign {
            nationality: "ベトナム".into(),
            residence_status: "技能実習".into(),
            period_until: None,
        };
        assert_eq!(
            field(check(&set("佐藤", "サトウ"), &foreign)),
            "former_surname"
        );
        // The event's 異動事由.
        assert_eq!(set("佐藤", "サトウ").label_ja(), "旧氏記載");
        assert_eq!(delete.label_ja(), "旧氏削除");
    }

    /// 通称: recorded, changed and deleted on 申出, for foreign residents only, with its
    /// フリガナ in katakana; the record's 通称 is what was recorded last.
    #[test]
    fn an_alias_is_recorded_and_deleted_for_foreign_residents_only() {
        let japanese = apply(None, &move_in(d(2020, 4, 1)), d(2020, 4, 1)).expect("entered");
        let mut foreign = japanese.clone();
        foreign.person.citizenship = Citizenship::Foreign {
            nationality: "中国".into(),
            residence_status: "永住者".into(),
            period_until: None,
        };
        let set = |name: &str, kana: &str| ResidentEvent::AliasSet {
            resident_code: code(),
            alias: Some(Alias {
                name: name.into(),
                kana: kana.into(),
            }),
            notified_date: d(2026, 11, 10),
        };
        let delete = ResidentEvent::AliasSet {
            resident_code: code(),
            alias: None,
            notified_date: d(2026, 11, 20),
        };
        let check = |event: &ResidentEvent, record: &Record| {
            validate(
                event,
                Some(record),
                Some(record),
                d(2026, 11, 10),
                today(),
                14,
            )
        };
        let field = |r: Result<Vec<Warning>, ResidentError>| match r {
            Err(ResidentError::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(
            field(check(&set("王 太郎", "オウ タロウ"), &japanese)),
            "alias"
        );
        assert_eq!(field(check(&set(" ", "オウ"), &foreign)), "alias");
        assert_eq!(
            field(check(&set("王 太郎", "おう"), &foreign)),
            "alias_kana"
        );
        assert_eq!(field(check(&delete, &foreign)), "alias");
        assert!(check(&set("王 太郎", "オウ タロウ"), &foreign).is_ok());
        let with = apply(
            Some(foreign.clone()),
            &set("王 太郎", "オウ タロウ"),
            d(2026, 11, 10),
        )
        .expect("applies");
        assert_eq!(
            (with.person.alias.as_deref(), with.alias_kana.as_deref()),
            (Some("王 太郎"), Some("オウ タロウ"))
        );
        assert!(check(&delete, &with).is_ok());
        let without = apply(Some(with), &delete, d(2026, 11, 20)).expect("applies");
        assert_eq!((without.person.alias, without.alias_kana), (None, None));
        assert_eq!(delete.label_ja(), "通称削除");
    }

    /// 転出取消: only while 転出予定, with a reason; the record is current again (and may then
    /// 転居), and the as-of view before the 取消 still shows the 転出予定.
    #[test]
    fn a_planned_move_out_is_cancelled_only_while_planned() {
        let entered = move_in(d(2020, 4, 1));
        let planned = ResidentEvent::MoveOutPlanned {
            resident_code: code(),
            planned_date: d(2026, 12, 1),
            destination: "東京都新宿区".into(),
            notified_date: d(2026, 11, 1),
        };
        let cancel = |reason: &str| ResidentEvent::MoveOutCancelled {
            resident_code: code(),
            reason: reason.into(),
            notified_date: d(2026, 11, 10),
        };
        let check = |event: &ResidentEvent, record: &Record| {
            validate(
                event,
                Some(record),
                Some(record),
                d(2026, 11, 10),
                today(),
                14,
            )
        };
        let current = apply(None, &entered, d(2020, 4, 1)).expect("entered");
        // Nothing to cancel before a 転出届.
        let e = check(&cancel("本人申出"), &current).expect_err("not moving out");
        assert!(
            matches!(
                e,
                ResidentError::Invalid {
                    field: "change",
                    ..
                }
            ),
            "{e:?}"
        );
        let moving = apply(Some(current), &planned, d(2026, 11, 1)).expect("planned");
        let e = check(&cancel(" "), &moving).expect_err("no reason");
        assert!(
            matches!(
                e,
                ResidentError::Invalid {
                    field: "reason",
                    ..
                }
            ),
            "{e:?}"
        );
        check(&cancel("転出を取りやめたため本人申出"), &moving).expect("cancelled");
        let back = apply(Some(moving), &cancel("本人申出"), d(2026, 11, 10)).expect("applied");
        assert_eq!(back.status, Status::Current);
        let events = [
            (entered, d(2020, 4, 1)),
            (planned, d(2026, 11, 1)),
            (cancel("本人申出"), d(2026, 11, 10)),
        ];
        let at = |date| {
            replay(events.iter().map(|(e, eff)| (e, *eff)), date)
                .expect("replays")
                .expect("resident")
        };
        assert!(matches!(
            at(d(2026, 11, 5)).status,
            Status::MovingOut { .. }
        ));
        assert_eq!(at(d(2026, 11, 10)).status, Status::Current);
        // Once 転出 is confirmed (a 除票) there is nothing to cancel: that is 職権回復.
        let removed = apply(
            Some(back),
            &ResidentEvent::Removed {
                resident_code: code(),
                reason: RemovalReason::MovedOut {
                    destination: "東京都新宿区".into(),
                },
                notified_date: d(2026, 11, 12),
            },
            d(2026, 11, 12),
        )
        .expect("removed");
        let e = validate(
            &cancel("本人申出"),
            Some(&removed),
            Some(&removed),
            d(2026, 11, 20),
            today(),
            14,
        )
        .expect_err("a 除票");
        assert!(matches!(e, ResidentError::Removed { .. }), "{e:?}");
    }

    #[test]
    fn protection_is_in_force_until_its_end() {
        let r = apply(None, &move_in(d(2026, 1, 5)), d(2026, 1, 5)).expect("applies");
        let set = ResidentEvent::ProtectionSet {
            resident_code: code(),
            until: d(2027, 1, 31),
            reason: "DV".into(),
        };
        assert!(validate(&set, Some(&r), Some(&r), d(2026, 2, 1), today(), 14).is_ok());
        let p = apply(Some(r), &set, d(2026, 2, 1)).expect("applies");
        assert!(p.protected_on(d(2026, 12, 1)));
        assert!(!p.protected_on(d(2027, 2, 1)));
    }

    #[test]
    fn events_round_trip_through_the_codec() {
        use murakumo_ledger::EventCodec;
        let e = move_in(today());
        let (k, v, b) = e.encode();
        assert_eq!(k, "resident.entered");
        assert_eq!(ResidentEvent::decode(k, v, &b), Ok(Some(e)));
        // The kind and the payload must agree.
        assert!(ResidentEvent::decode("resident.relocated", 1, &b).is_err());
        assert_eq!(ResidentEvent::decode("tenancy.x", 1, &b), Ok(None));
        let cancelled = ResidentEvent::MoveOutCancelled {
            resident_code: code(),
            reason: "本人申出".into(),
            notified_date: today(),
        };
        let (k, v, b) = cancelled.encode();
        assert_eq!(k, "resident.move_out_cancelled");
        assert_eq!(ResidentEvent::decode(k, v, &b), Ok(Some(cancelled)));
    }
}

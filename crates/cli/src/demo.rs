//! `serve --demo`: two demo municipalities with synthetic residents and
//! staff logins, created on first start and reused afterwards.
//!
//! The residents are plausible but invented (common surnames and given
//! names, households, an age spread); the standard-format generator
//! (`murakumo gen`) is the full version of this.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate, Utc};
use murakumo_core::{ResidentCode, TenantCode};
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_resident::{Citizenship, EntryReason, Person, ResidentEvent, Sex};
use murakumo_store::{Operator, Store};
use murakumo_tenancy::{StaffCreated, TenancyEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (5-digit code, name, residents, 市区町村長 title)
const DEMO_TOWNS: [(&str, &str, usize, &str); 2] = [
    ("01436", "北竜町", 1_600, "北竜町長"),
    ("01228", "深川市", 20_000, "深川市長"),
];

const STAFF: [(&str, &str, &str); 5] = [
    ("admin", "管理 太郎", "tenant.admin"),
    ("clerk", "窓口 花子", "resident.clerk"),
    ("supervisor", "係長 一郎", "resident.supervisor"),
    ("tax", "税務 次郎", "tax.clerk"),
    ("auditor", "監査 三郎", "auditor"),
];

const SURNAMES: [(&str, &str); 24] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("髙橋", "タカハシ"),
    ("齋藤", "サイトウ"),
    ("渡邉", "ワタナベ"),
    ("菅原", "スガワラ"),
];
const PREVIOUS: [&str; 4] = [
    "北海道札幌市中央区北1条西2丁目",
    "北海道旭川市6条通9丁目",
    "北海道滝川市大町1丁目",
    "東京都千代田区丸の内1丁目",
];
const MALE: [(&str, &str); 12] = [
    ("太郎", "タロウ"),
    ("一郎", "イチロウ"),
    ("健", "ケン"),
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("誠", "マコト"),
    ("蓮", "レン"),
    ("悠真", "ユウマ"),
    ("浩", "ヒロシ"),
    ("茂", "シゲル"),
    ("勇", "イサム"),
    ("湊", "ミナト"),
];
const FEMALE: [(&str, &str); 12] = [
    ("花子", "ハナコ"),
    ("陽子", "ヨウコ"),
    ("美咲", "ミサキ"),
    ("結衣", "ユイ"),
    ("恵子", "ケイコ"),
    ("幸子", "サチコ"),
    ("陽菜", "ヒナ"),
    ("葵", "アオイ"),
    ("和子", "カズコ"),
    ("由美", "ユミ"),
    ("さくら", "サクラ"),
    ("凛", "リン"),
];

/// Creates the demo on first start; returns the login lines to print.
pub async fn ensure(store: &Store, data_dir: &Path) -> Result<Vec<String>> {
    let creds_path = data_dir.join("demo-logins.txt");
    let existing = store.list_tenants().await?;
    let mut lines = Vec::new();
    if store.operator_for_login("operator").await?.is_none() {
        let pw = murakumo_auth::generate_password();
        store
            .create_operator(&Operator {
                operator_id: "op-1".into(),
                login: "operator".into(),
                display_name: "運用者".into(),
                password_hash: murakumo_auth::hash_password(&pw)?,
            })
            .await?;
        lines.push(format!(
            "platform operator  (団体コード空欄)  login: operator      password: {pw}"
        ));
    }
    for (five, name, population, title) in DEMO_TOWNS {
        let code = TenantCode::from_five_digits(five)?;
        if existing.iter().any(|t| t.code == code) {
            continue;
        }
        store.create_tenant(&code, name, "system:demo").await?;
        let ts = store.tenant(&code);
        let mut entries = vec![
            entry(&TenancyEvent::SettingChanged {
                key: "certificate.issuer_title".into(),
                value: Some(title.into()),
                reason: "demo".into(),
            }),
            entry(&TenancyEvent::SettingChanged {
                key: "certificate.issuer_name".into(),
                value: Some("叢雲 太郎".into()),
                reason: "demo".into(),
            }),
        ];
        for (login, display, role) in STAFF {
            let pw = murakumo_auth::generate_password();
            entries.push(entry(&TenancyEvent::StaffCreated(StaffCreated {
                staff_id: format!("s-{login}"),
                login: login.into(),
                display_name: display.into(),
                roles: vec![role.into()],
                password_hash: murakumo_auth::hash_password(&pw)?,
            })));
            lines.push(format!(
                "{name} 団体コード {code}  login: {login:<10}  password: {pw}  ({role})"
            ));
        }
        ts.append(entries).await?;
        let residents = residents(&code, name, population);
        for chunk in residents.chunks(2_000) {
            ts.append(chunk.to_vec()).await?;
        }
    }
    if !lines.is_empty() {
        let mut text = std::fs::read_to_string(&creds_path).unwrap_or_default();
        text.push_str(&lines.join("\n"));
        text.push('\n');
        write_private(&creds_path, &text)
            .with_context(|| format!("writing {}", creds_path.display()))?;
    }
    let text = std::fs::read_to_string(&creds_path).unwrap_or_default();
    Ok(text.lines().map(str::to_string).collect())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn entry(event: &impl EventCodec) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: Utc::now().date_naive(),
        actor: "system:demo".into(),
        payload,
    }
}

/// Deterministic synthetic residents for one town, in households.
pub fn residents(code: &TenantCode, town: &str, population: usize) -> Vec<NewEntry> {
    let seed: u64 = code.as_str().parse().unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let today = Utc::now().date_naive();
    let mut out = Vec::with_capacity(population);
    let mut household = 0u32;
    while out.len() < population {
        household += 1;
        let (surname, surname_kana) = SURNAMES[rng.gen_range(0..SURNAMES.len())];
        let address = format!(
            "北海道{town}{}条{}丁目{}番{}号",
            rng.gen_range(1..=9),
            rng.gen_range(1..=6),
            rng.gen_range(1..=30),
            rng.gen_range(1..=20)
        );
        let size = [1, 1, 2, 2, 2, 3, 3, 4, 5][rng.gen_range(0..9)];
        let head_age = rng.gen_range(22..=92);
        for member in 0..size {
            if out.len() >= population {
                break;
            }
            let (age, relationship, male) = match member {
                0 => (head_age, "世帯主", rng.gen_bool(0.6)),
                1 => ((head_age + rng.gen_range(-5..=5)).max(20), "妻", false),
                _ => (
                    rng.gen_range(0..(head_age - 20).clamp(1, 30)),
                    "子",
                    rng.gen_bool(0.5),
                ),
            };
            let (given, given_kana) = if male {
                MALE[rng.gen_range(0..12)]
            } else {
                FEMALE[rng.gen_range(0..12)]
            };
            let birth = NaiveDate::from_ymd_opt(
                today.year() - age,
                rng.gen_range(1..=12),
                rng.gen_range(1..=28),
            )
            .unwrap_or(today);
            let n = out.len() as u64 + 1;
            let ten = format!("{:05}{:05}", &code.as_str()[..5], n % 100_000);
            let Ok(resident_code) = ResidentCode::from_ten_digits(&ten) else {
                continue;
            };
            let effective = birth.max(today - chrono::Duration::days(rng.gen_range(0..3650)));
            let reason = if effective == birth {
                EntryReason::Birth
            } else {
                EntryReason::MoveIn {
                    previous_address: PREVIOUS[rng.gen_range(0..PREVIOUS.len())].into(),
                }
            };
            let event = ResidentEvent::Entered {
                resident_code: resident_code.as_str().to_string(),
                household_id: format!("H{household:06}"),
                relationship: relationship.into(),
                person: Person {
                    family_name: surname.into(),
                    given_name: given.into(),
                    family_kana: surname_kana.into(),
                    given_kana: given_kana.into(),
                    romaji: None,
                    alias: None,
                    birth_date: birth,
                    sex: if male { Sex::Male } else { Sex::Female },
                    citizenship: Citizenship::Japanese {
                        honseki: address.clone(),
                        hittosha: surname.into(),
                    },
                },
                address: address.clone(),
                katagaki: String::new(),
                reason,
                notified_date: effective,
            };
            let mut e = entry(&event);
            e.effective_date = effective;
            out.push(e);
        }
    }
    out
}

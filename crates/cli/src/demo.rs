//! `serve --demo`: two demo municipalities with synthetic residents and
//! staff logins, created on first start and reused afterwards.
//!
//! The residents come from the synthetic data generator that `murakumo gen`
//! writes files from (crate `murakumo-migration`, module `synth`).

use std::path::Path;

use anyhow::{Context, Result};
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_migration::{MigrationEvent, synth};
use murakumo_store::{Operator, Store};
use murakumo_tenancy::{StaffCreated, TenancyEvent};

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
        let people = residents(&code, population);
        let seals = seals(&people, five.parse().unwrap_or(1));
        ts.import(people).await?;
        ts.append(seals).await?;
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
        effective_date: murakumo_core::today_in_japan(),
        actor: "system:demo".into(),
        payload,
    }
}

/// The town's 公印 and a 印鑑登録 for every tenth resident of 15 or more
/// who is still registered (cards `D-000001` …), so the counter has seals
/// to look up and 印鑑登録証明書 to issue.
fn seals(people: &[NewEntry], seed: u64) -> Vec<NewEntry> {
    use murakumo_resident::ResidentEvent;
    use murakumo_seal::{OfficialSealSet, SealEvent, sample_impression};
    let today = murakumo_core::today_in_japan();
    let adult = today - chrono::Months::new(12 * 16);
    let mut entered = Vec::new();
    let mut gone = std::collections::HashSet::new();
    for e in people {
        match ResidentEvent::decode(&e.kind, e.version, &e.payload) {
            Ok(Some(ResidentEvent::Entered {
                resident_code,
                person,
                ..
            })) if person.birth_date <= adult => entered.push(resident_code),
            Ok(Some(
                ResidentEvent::Removed { resident_code, .. }
                | ResidentEvent::MoveOutPlanned { resident_code, .. },
            )) => {
                gone.insert(resident_code);
            }
            _ => {}
        }
    }
    let mut out = vec![entry(&OfficialSealSet {
        png: sample_impression(seed),
        reason: "demo".into(),
    })];
    for (i, code) in entered
        .into_iter()
        .filter(|c| !gone.contains(c))
        .step_by(10)
        .enumerate()
    {
        out.push(entry(&SealEvent::Registered {
            registration_number: format!("S-{:07}", i + 1),
            resident_code: code,
            card_number: format!("D-{:06}", i + 1),
            impression_png: sample_impression(seed * 1_000_003 + i as u64),
            notified_date: today,
        }));
    }
    out
}

/// Synthetic residents of one town from the generator (`murakumo gen`'s
/// model): households, an age pyramid, 外字 names, real 町名 and a year of
/// 異動 up to today; the same every day for the same code.
pub fn residents(code: &TenantCode, population: usize) -> Vec<NewEntry> {
    let g = synth::generate(&synth::Options {
        municipality: *code,
        population,
        seed: code.as_str().parse().unwrap_or(1),
        as_of: murakumo_core::today_in_japan(),
        history_days: 365,
    });
    let today = murakumo_core::today_in_japan();
    let mut out: Vec<NewEntry> = g
        .events
        .iter()
        .map(|d| {
            let mut e = entry(&d.event);
            e.effective_date = d.effective;
            e
        })
        .collect();
    let mut table = entry(&MigrationEvent::GaijiTableSet {
        entries: g.gaiji.entries().to_vec(),
    });
    table.effective_date = today;
    out.push(table);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use murakumo_resident::{Record, ResidentEvent};
    use murakumo_seal::{Context, OfficialSealSet, SealEvent};
    use std::collections::HashMap;

    #[test]
    fn demo_seals_are_valid_registrations_of_adults_still_registered() {
        let code = TenantCode::from_five_digits("01436").expect("code");
        let people = residents(&code, 800);
        let mut records: HashMap<String, Record> = HashMap::new();
        for e in &people {
            if let Ok(Some(ev)) = ResidentEvent::decode(&e.kind, e.version, &e.payload) {
                let code = ev.resident_code().to_string();
                if let Ok(r) =
                    murakumo_resident::apply(records.remove(&code), &ev, e.effective_date)
                {
                    records.insert(code, r);
                }
            }
        }
        let seals = seals(&people, 1);
        assert!(
            OfficialSealSet::decode(&seals[0].kind, seals[0].version, &seals[0].payload)
                .expect("decode")
                .is_some()
        );
        let today = murakumo_core::today_in_japan();
        let mut registered = 0;
        for e in &seals[1..] {
            let Ok(Some(ev)) = SealEvent::decode(&e.kind, e.version, &e.payload) else {
                panic!("not a seal event: {}", e.kind);
            };
            let ctx = Context {
                resident: records.get(ev.resident_code()),
                registration: None,
                active_of_resident: None,
                card_in_use: false,
            };
            assert_eq!(murakumo_seal::validate(&ev, &ctx, today, today), Ok(()));
            registered += 1;
        }
        assert!(registered >= 20, "{registered} seals for 800 residents");
    }
}

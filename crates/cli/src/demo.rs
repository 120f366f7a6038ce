//! `serve --demo`: two demo municipalities with synthetic residents and
//! staff logins, created on first start and reused afterwards.
//!
//! The residents come from the synthetic data generator that `murakumo gen`
//! writes files from (crate `murakumo-migration`, module `synth`).

use murakumo_resident_store::ResidentReads;
use murakumo_seal_store::SealReads;
use std::path::Path;

use anyhow::{Context, Result};
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_migration::{MigrationEvent, synth};
use murakumo_store::Store;
use murakumo_tenancy::TenancyEvent;

/// (5-digit code, name, residents, 市区町村長 title)
const DEMO_TOWNS: [(&str, &str, usize, &str); 2] = [
    ("01436", "北竜町", 1_600, "北竜町長"),
    ("01228", "深川市", 20_000, "深川市長"),
];

/// Two administrators, so that a change needing a second person (a role
/// that opens personal data, the IdP) can be approved in the demo.
const STAFF: [(&str, &str, &str); 6] = [
    ("admin", "管理 太郎", "tenant.admin"),
    ("admin2", "管理 花子", "tenant.admin"),
    ("clerk", "窓口 花子", "resident.clerk"),
    ("supervisor", "係長 一郎", "resident.supervisor"),
    ("tax", "税務 次郎", "tax.clerk"),
    ("auditor", "監査 三郎", "auditor"),
];

/// Creates the demo on first start; returns the login lines to print.
///
/// Every step is done only if its result is not there yet (operator, tenant, staff,
/// residents, seals), so a start that failed half-way is completed by the next one instead
/// of leaving a demo without staff or residents. A password is written to the logins file
/// (in `data_dir`, also on PostgreSQL) before the account it opens is created, as a pending
/// line that becomes final once the account exists: a login is never created whose
/// password was not kept.
///
/// `verify_url` is the page the demo certificates' QR codes link to (this server's `/verify`).
pub async fn ensure(store: &Store, data_dir: &Path, verify_url: &str) -> Result<Vec<String>> {
    let logins = Logins::open(data_dir)?;
    if store.operator_for_login("operator").await?.is_some() {
        logins.confirm_if_pending("operator")?;
    } else {
        let pw = murakumo_auth::generate_password_for("operator");
        let line =
            format!("platform operator  (団体コード空欄)  login: operator      password: {pw}");
        logins.pending("operator", &[line])?;
        let app = murakumo_app::App::new(store.clone());
        let actor = murakumo_app::Actor::System("system:demo".into());
        murakumo_app::platform::create_operator(
            &app,
            &actor,
            "operator",
            "運用者",
            Some("op-1"),
            &pw,
        )
        .await?;
        logins.confirm()?;
    }
    for (five, name, population, title) in DEMO_TOWNS {
        let code = TenantCode::from_five_digits(five)?;
        if !store.list_tenants().await?.iter().any(|t| t.code == code) {
            store.create_tenant(&code, name, "system:demo").await?;
        }
        let ts = store.tenant(&code);
        if ts.staff_for_login(STAFF[0].0).await?.is_some() {
            logins.confirm_if_pending(five)?;
        } else {
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
                entry(&TenancyEvent::SettingChanged {
                    key: "certificate.verify_url".into(),
                    value: Some(verify_url.into()),
                    reason: "demo".into(),
                }),
            ];
            let mut lines = Vec::new();
            for (login, display, role) in STAFF {
                // The one staff creation (murakumo_app::staff), appended with the settings.
                let checked = murakumo_app::staff::check(murakumo_app::staff::NewStaff {
                    staff_id: Some(format!("s-{login}")),
                    login: login.to_string(),
                    display_name: display.to_string(),
                    roles: vec![role.to_string()],
                    password: murakumo_app::staff::Password::Generate,
                })
                .await?;
                let pw = checked.password.clone().unwrap_or_default();
                entries.push(murakumo_app::staff::created_entry(
                    &murakumo_app::Actor::System("system:demo".into()),
                    &checked,
                ));
                lines.push(format!(
                    "{name} 団体コード {code}  login: {login:<10}  password: {pw}  ({role})"
                ));
            }
            logins.pending(five, &lines)?;
            ts.append(entries).await?;
            logins.confirm()?;
        }
        if !ts.has_residents().await? {
            let entries = residents(&code, population);
            ts.import(
                &format!("demo:{population}"),
                entries,
                murakumo_store::IMPORT_CHUNK,
                |_, _| {},
            )
            .await?;
        }
        if ts.official_seal().await?.is_none() {
            let people = residents(&code, population);
            ts.append(seals(&people, five.parse().unwrap_or(1))).await?;
        }
    }
    logins.read()
}

/// `demo-logins.txt` (readable by the owner only) and, while accounts are being created,
/// `demo-logins.pending`: a first line naming the step (`#operator`, `#01436`), then the
/// lines of the accounts that step creates.
struct Logins {
    path: std::path::PathBuf,
    pending: std::path::PathBuf,
}

impl Logins {
    /// Creates the directory; checks that the file can be written before anything is created.
    fn open(dir: &Path) -> Result<Logins> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for the demo logins", dir.display()))?;
        let logins = Logins {
            path: dir.join("demo-logins.txt"),
            pending: dir.join("demo-logins.pending"),
        };
        // Fails now, before anything is created, if the file cannot be written.
        let text = logins.text()?;
        write_private(&logins.path, &text)
            .with_context(|| format!("writing {}", logins.path.display()))?;
        Ok(logins)
    }

    fn text(&self) -> Result<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Keeps the lines of accounts about to be created by `step`, replacing the pending lines
    /// of a start that stopped before its accounts were created (they get new passwords).
    fn pending(&self, step: &str, lines: &[String]) -> Result<()> {
        write_private(&self.pending, &format!("#{step}\n{}\n", lines.join("\n")))
            .with_context(|| format!("writing {}", self.pending.display()))
    }

    /// The accounts of `step` exist: if a start stopped after creating them but before
    /// keeping their lines, keep them now.
    fn confirm_if_pending(&self, step: &str) -> Result<()> {
        match std::fs::read_to_string(&self.pending) {
            Ok(t) if t.lines().next() == Some(&format!("#{step}")) => self.confirm(),
            _ => Ok(()),
        }
    }

    /// The accounts of the pending lines exist now: keep their lines for good.
    fn confirm(&self) -> Result<()> {
        let pending = std::fs::read_to_string(&self.pending)
            .with_context(|| format!("reading {}", self.pending.display()))?;
        let lines = pending.split_once('\n').map_or("", |(_, rest)| rest);
        write_private(&self.path, &(self.text()? + lines))
            .with_context(|| format!("writing {}", self.path.display()))?;
        std::fs::remove_file(&self.pending)
            .with_context(|| format!("removing {}", self.pending.display()))
    }

    fn read(&self) -> Result<Vec<String>> {
        Ok(self.text()?.lines().map(str::to_string).collect())
    }
}

/// Writes `text` to `path` (mode 0600) through a temporary file and a rename, so that a
/// crash leaves the old or the new content, never a part.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
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
    fn logins_are_kept_once_their_accounts_exist_and_never_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("not/yet/there");
        let logins = Logins::open(&data).expect("open creates the directory");
        logins
            .pending("operator", &["op pw1".into()])
            .expect("pending");
        assert_eq!(logins.read().expect("read"), Vec::<String>::new());
        logins.confirm().expect("confirm");
        assert_eq!(logins.read().expect("read"), ["op pw1"]);

        // A start stopped after creating 01436's staff, before keeping their lines.
        logins
            .pending("01436", &["a pw2".into(), "b pw3".into()])
            .expect("pending");
        let again = Logins::open(&data).expect("reopen");
        again.confirm_if_pending("operator").expect("other step");
        assert_eq!(
            again.read().expect("read"),
            ["op pw1"],
            "not this step's lines"
        );
        again.confirm_if_pending("01436").expect("this step");
        assert_eq!(again.read().expect("read"), ["op pw1", "a pw2", "b pw3"]);
        again.confirm_if_pending("01436").expect("nothing pending");
        assert_eq!(again.read().expect("read").len(), 3, "kept once");

        // A start stopped before creating 01228's staff: the next start replaces the lines.
        again
            .pending("01228", &["c stale".into()])
            .expect("pending");
        again
            .pending("01228", &["c fresh".into()])
            .expect("pending");
        again.confirm().expect("confirm");
        assert_eq!(again.read().expect("read")[3..], ["c fresh"]);
    }

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
                scanned_at_counter: true,
            };
            assert_eq!(murakumo_seal::validate(&ev, &ctx, today, today), Ok(()));
            registered += 1;
        }
        assert!(registered >= 20, "{registered} seals for 800 residents");
    }
}

//! The backup benchmark (issue 6): what a daily backup of a city costs in
//! bytes sent (and so in time over a 48 KB/s line), against restic and
//! borgbackup backing up the same SQLite files in the same run.
//!
//! 1. a city of `residents` (転入, [`Population`]) is appended to tenant
//!    362018 徳島市 in a fresh SQLite data directory, then a full
//!    `murakumo backup --to file://…` runs (the real binary);
//! 2. an ordinary day: 転居 (`Relocated`), 転入/出生 (`Entered`), 転出/死亡
//!    (`Removed`) and certificate issuances — each as the server records
//!    it: a `certificate.issued` ledger entry (発行番号, subjects, digest)
//!    and an access-log entry (`AccessAction::Issue`) — then an incremental
//!    backup;
//! 3. a month-end day: ten times that, plus a batch of `Corrected`
//!    (本籍 after a 地番整理) touching `batch_records` residents, then
//!    another incremental;
//! 4. after each of the three states, restic and borg back up the data
//!    directory (`murakumo.db` after `PRAGMA wal_checkpoint(TRUNCATE)`, so
//!    the file is complete and the `-wal` empty) into their own
//!    repositories; the bytes each repository grew by are what that run
//!    stored (and would have sent);
//! 5. `murakumo restore --from file://…` into an empty directory.
//!
//! Only the backup / restore commands are timed (generating and appending
//! the day's events is not).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{Datelike, NaiveDate};
use murakumo_core::{ResidentCode, TenantCode};
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_resident::{EntryReason, RemovalReason, ResidentEvent};
use murakumo_store::{Chain, Store};
use murakumo_tenancy::CertificateIssued;
use murakumo_tenancy::{AccessAction, AccessRecord};

use crate::population::{Population, Rng};

/// Tenant of the city: 徳島市.
const TENANT: &str = "36201";
const CITY: &str = "徳島県徳島市";
/// The passphrase of every repository (a benchmark, not a secret).
const PASSPHRASE: &str = "murakumo-bench backup passphrase";
/// The line of the seed report's worst towns, bytes per second.
pub const LINK_BYTES_PER_S: f64 = 48_000.0;
/// Entries per `append` / `log_access` call on the simulated days.
const DAY_BATCH: usize = 100;

pub struct Options {
    pub residents: usize,
    pub batch: usize,
    /// 転居 / 転入・出生 / 転出・死亡 / certificates of an ordinary day.
    pub day: DayMix,
    /// Records touched by the month-end batch.
    pub batch_records: usize,
    /// The `murakumo` binary.
    pub murakumo: PathBuf,
    pub peers: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct DayMix {
    pub relocated: usize,
    pub entered: usize,
    pub removed: usize,
    pub certificates: usize,
}

impl DayMix {
    pub const ORDINARY: DayMix = DayMix {
        relocated: 120,
        entered: 40,
        removed: 45,
        certificates: 1_500,
    };

    fn times(self, k: usize) -> DayMix {
        DayMix {
            relocated: self.relocated * k,
            entered: self.entered * k,
            removed: self.removed * k,
            certificates: self.certificates * k,
        }
    }
}

/// One backup run of one tool.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// Bytes the tool sent (murakumo: its `sent:` line; peers: what the
    /// repository grew by, which is what they upload).
    pub sent: u64,
    /// Bytes the repository grew by.
    pub stored: u64,
    pub elapsed: Duration,
}

/// The three backup points: full load, ordinary day, month-end day.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tool {
    pub full: Run,
    pub ordinary: Run,
    pub month_end: Run,
}

impl Tool {
    pub fn runs(&self) -> [Run; 3] {
        [self.full, self.ordinary, self.month_end]
    }
}

pub struct Report {
    pub residents: usize,
    pub ordinary: DayMix,
    pub month_end: DayMix,
    pub batch_records: usize,
    /// Ledger / access-log entries added by each phase.
    pub entries: [(u64, u64); 3],
    /// murakumo.db (+ -wal) after each phase.
    pub db_bytes: [u64; 3],
    pub load: Duration,
    pub murakumo: Tool,
    pub restic: Option<(String, Tool)>,
    pub borg: Option<(String, Tool)>,
    pub restore: Duration,
    pub restored_entries: String,
}

pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    ensure!(
        opts.murakumo.is_file(),
        "{} not found: build it first with `cargo build --release -p murakumo-cli`",
        opts.murakumo.display()
    );
    let month = opts.day.times(10);
    let needed = opts.day.relocated
        + opts.day.removed
        + month.relocated
        + month.removed
        + opts.batch_records;
    ensure!(
        needed < opts.residents,
        "the days touch {needed} residents: more than the city's {}",
        opts.residents
    );
    let dir = tempfile::Builder::new()
        .prefix("murakumo-bench-backup-")
        .tempdir()?;
    let data = dir.path().join("data");
    let repo = dir.path().join("repo-murakumo");
    let code = TenantCode::from_five_digits(TENANT)?;

    let mut restic = if opts.peers {
        Peer::restic(dir.path())?
    } else {
        None
    };
    let mut borg = if opts.peers {
        Peer::borg(dir.path())?
    } else {
        None
    };

    // 1. The city, and the full backups.
    let store = Store::open_sqlite(&data, murakumo_app::systems()).await?;
    store.create_tenant(&code, "徳島市", "system:bench").await?;
    let mut population = Population::new(42, CITY);
    let t = Instant::now();
    let mut done = 0;
    while done < opts.residents {
        let take = opts.batch.min(opts.residents - done);
        store.tenant(&code).append(population.entries(take)).await?;
        done += take;
        if done % 50_000 < take {
            eprintln!("  appended {done} residents");
        }
    }
    let load = t.elapsed();
    eprintln!(
        "  {} residents appended in {:.1} s",
        opts.residents,
        load.as_secs_f64()
    );
    let heads0 = heads(&store, &code).await?;
    store.close().await;
    drop(store);
    checkpoint(&data).await?;
    let db0 = db_bytes(&data);

    let mut murakumo = Tool::default();
    let mut restic_tool = Tool::default();
    let mut borg_tool = Tool::default();
    let full = backup_murakumo(&opts.murakumo, &data, &repo)?;
    eprintln!("  murakumo full: {full:?}");
    murakumo.full = full;
    if let Some(p) = restic.as_mut() {
        restic_tool.full = p.backup(&data, "full")?;
        eprintln!("  restic full: {:?}", restic_tool.full);
    }
    if let Some(p) = borg.as_mut() {
        borg_tool.full = p.backup(&data, "full")?;
        eprintln!("  borg full: {:?}", borg_tool.full);
    }

    // 2. An ordinary day; 3. a month-end day.
    let mut touch = Touch::new(opts.residents);
    let mut heads_after = [(0, 0); 3];
    heads_after[0] = heads0;
    let mut dbs = [db0, 0, 0];
    for (i, (mix, batch, date, label)) in [
        (opts.day, 0, day(2026, 4, 15), "ordinary"),
        (month, opts.batch_records, day(2026, 4, 30), "month-end"),
    ]
    .into_iter()
    .enumerate()
    {
        let store = Store::open_sqlite(&data, murakumo_app::systems()).await?;
        simulate_day(&store, &code, mix, batch, date, &mut touch, &mut population).await?;
        heads_after[i + 1] = heads(&store, &code).await?;
        store.close().await;
        drop(store);
        checkpoint(&data).await?;
        dbs[i + 1] = db_bytes(&data);
        let r = backup_murakumo(&opts.murakumo, &data, &repo)?;
        eprintln!("  murakumo {label}: {r:?}");
        let rp = restic
            .as_mut()
            .map(|p| p.backup(&data, label))
            .transpose()?;
        let bp = borg.as_mut().map(|p| p.backup(&data, label)).transpose()?;
        eprintln!("  restic {label}: {rp:?}; borg {label}: {bp:?}");
        if i == 0 {
            murakumo.ordinary = r;
            restic_tool.ordinary = rp.unwrap_or_default();
            borg_tool.ordinary = bp.unwrap_or_default();
        } else {
            murakumo.month_end = r;
            restic_tool.month_end = rp.unwrap_or_default();
            borg_tool.month_end = bp.unwrap_or_default();
        }
    }

    // 5. Full restore into an empty directory.
    let scratch = dir.path().join("restored");
    let t = Instant::now();
    let out = murakumo_cmd(&opts.murakumo, &scratch)
        .args(["restore", "--from", &file_url(&repo)])
        .output()
        .context("running murakumo restore")?;
    let restore = t.elapsed();
    ensure_ok("murakumo restore", &out)?;
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{}", printed.trim_end());
    let restored_entries = printed
        .lines()
        .find(|l| l.contains("ledger") && l.contains("access log"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let last = heads_after[2];
    ensure!(
        restored_entries.contains(&format!("ledger {} entries", last.0))
            && restored_entries.contains(&format!("access log {} entries", last.1)),
        "the restore did not bring back every entry ({} ledger, {} access expected): {printed}",
        last.0,
        last.1
    );

    let entries = [
        heads_after[0],
        (
            heads_after[1].0 - heads_after[0].0,
            heads_after[1].1 - heads_after[0].1,
        ),
        (
            heads_after[2].0 - heads_after[1].0,
            heads_after[2].1 - heads_after[1].1,
        ),
    ];
    Ok(Report {
        residents: opts.residents,
        ordinary: opts.day,
        month_end: month,
        batch_records: opts.batch_records,
        entries,
        db_bytes: dbs,
        load,
        murakumo,
        restic: restic.map(|p| (p.version, restic_tool)),
        borg: borg.map(|p| (p.version, borg_tool)),
        restore,
        restored_entries,
    })
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

async fn heads(store: &Store, code: &TenantCode) -> anyhow::Result<(u64, u64)> {
    let t = store.tenant(code);
    Ok((
        t.head(Chain::Ledger).await?.seq,
        t.head(Chain::Access).await?.seq,
    ))
}

/// Hands out distinct existing residents (numbers `1..=n`) in a scattered
/// order, so no resident is moved after being removed.
struct Touch {
    n: u64,
    k: u64,
    /// Numbers of new residents (births, 転入) go after the city's.
    next_new: u64,
}

impl Touch {
    fn new(n: usize) -> Touch {
        Touch {
            n: n as u64,
            k: 0,
            next_new: n as u64 + 1,
        }
    }

    fn existing(&mut self) -> String {
        // 7919 is prime and no factor of a round population: a permutation.
        let mut i = (self.k * 7_919) % self.n;
        if self.n % 7_919 == 0 {
            i = self.k % self.n;
        }
        self.k += 1;
        code_of(i + 1)
    }

    fn fresh(&mut self) -> (String, String) {
        let n = self.next_new;
        self.next_new += 1;
        (code_of(n), format!("{:010}", 5_000_000_000u64 + n))
    }
}

/// 住民票コード of generated resident number `n` (as [`Population`]).
fn code_of(n: u64) -> String {
    ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000_000 + n))
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

fn entry(event: &impl EventCodec, date: NaiveDate, actor: &str) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.to_string(),
        version,
        effective_date: date,
        actor: actor.to_string(),
        payload,
    }
}

/// Appends one day's 異動 and certificate issuances, in the order a
/// counter would (interleaved), in batches of [`DAY_BATCH`].
async fn simulate_day(
    store: &Store,
    code: &TenantCode,
    mix: DayMix,
    batch_records: usize,
    date: NaiveDate,
    touch: &mut Touch,
    population: &mut Population,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(u64::from(date.ordinal()) * 1_000_003 + batch_records as u64);
    let tenant = store.tenant(code);
    let mut events = Vec::new();
    for i in 0..mix.relocated {
        events.push(ResidentEvent::Relocated {
            resident_code: touch.existing(),
            address: format!(
                "{CITY}{}{}丁目{}番{}号",
                ["八万町", "川内町", "沖浜町", "北田宮"][i % 4],
                1 + rng.below(5),
                1 + rng.below(40),
                1 + rng.below(30)
            ),
            katagaki: if i % 3 == 0 {
                format!("ハイツ眉山 {}号室", 101 + rng.below(8))
            } else {
                String::new()
            },
            notified_date: date,
        });
    }
    for i in 0..mix.entered {
        let generated = population.entries(1).remove(0);
        let Ok(Some(ResidentEvent::Entered {
            relationship,
            mut person,
            address,
            katagaki,
            reason,
            ..
        })) = ResidentEvent::decode(&generated.kind, generated.version, &generated.payload)
        else {
            bail!("the population generated something other than a 転入");
        };
        let (resident_code, household_id) = touch.fresh();
        let reason = if i % 2 == 0 {
            person.birth_date = date - chrono::Days::new(7);
            EntryReason::Birth
        } else {
            reason
        };
        events.push(ResidentEvent::Entered {
            resident_code,
            household_id,
            relationship,
            person,
            address,
            katagaki,
            reason,
            notified_date: date,
        });
    }
    for i in 0..mix.removed {
        events.push(ResidentEvent::Removed {
            resident_code: touch.existing(),
            reason: if i % 3 == 0 {
                RemovalReason::Died
            } else {
                RemovalReason::MovedOut {
                    destination: "香川県高松市番町一丁目8番15号".into(),
                }
            },
            notified_date: date,
        });
    }
    // Interleave the kinds as a day at the counter would.
    let mut order: Vec<usize> = (0..events.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let entries: Vec<NewEntry> = order
        .iter()
        .map(|&i| entry(&events[i], date, "staff:madoguchi01"))
        .collect();
    for chunk in entries.chunks(DAY_BATCH) {
        tenant.append(chunk.to_vec()).await?;
    }

    // 交付 of 住民票の写し etc.: a ledger entry and an access-log record each.
    let subjects: Vec<String> = (0..mix.certificates)
        .map(|_| code_of(1 + rng.below(touch.n as usize) as u64))
        .collect();
    let issued: Vec<NewEntry> = subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| {
            let mut digest = [0u8; 32];
            for b in &mut digest {
                *b = rng.next_u64() as u8;
            }
            let e = CertificateIssued {
                issue_number: format!(
                    "R{}-{:07}",
                    date.year() - 2018,
                    date.ordinal() as usize * 100_000 + i
                ),
                kind: "resident_copy".into(),
                subjects: vec![subject.clone()],
                as_of: date,
                requester: ["本人", "同一世帯", "第三者", "公用"][i % 4].into(),
                purpose: ["勤務先提出", "年金手続", "相続手続", "公用"][i % 4].into(),
                digest: hex::encode(digest),
                key_id: "k-bench".into(),
            };
            entry(&e, date, "staff:madoguchi02")
        })
        .collect();
    for chunk in issued.chunks(DAY_BATCH) {
        tenant.append(chunk.to_vec()).await?;
    }
    let records: Vec<AccessRecord> = subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| AccessRecord {
            action: AccessAction::Issue,
            subject: format!("resident:{subject}"),
            purpose: [
                "本人請求",
                "同一世帯員請求",
                "第三者請求（相続手続）",
                "公用請求",
            ][i % 4]
                .into(),
            detail: "住民票の写し:name,address,birth_date,sex,relationship,household".into(),
            request_id: format!("{:016x}", rng.next_u64()),
        })
        .collect();
    for chunk in records.chunks(DAY_BATCH) {
        tenant.log_access("staff:madoguchi02", chunk).await?;
    }

    // The month-end batch: 本籍 corrected after a 地番整理.
    let batch: Vec<NewEntry> = (0..batch_records)
        .map(|i| {
            let e = ResidentEvent::Corrected {
                resident_code: touch.existing(),
                field: "honseki".into(),
                value: format!("{CITY}国府町府中{}番地", 1 + i % 400),
                reason: "地番整理による本籍の更正（一括）".into(),
            };
            entry(&e, date, "system:batch")
        })
        .collect();
    for chunk in batch.chunks(1_000) {
        tenant.append(chunk.to_vec()).await?;
    }
    Ok(())
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: everything into `murakumo.db`, the
/// `-wal` emptied (the store is closed, so nothing holds it).
async fn checkpoint(data: &Path) -> anyhow::Result<()> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.join("murakumo.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

fn db_bytes(data: &Path) -> u64 {
    ["murakumo.db", "murakumo.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// `du -sb`: bytes of every file under `path`.
pub fn du(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn murakumo_cmd(bin: &Path, data: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("MURAKUMO_BACKUP_PASSPHRASE", PASSPHRASE)
        .env_remove("MURAKUMO_DATABASE_URL")
        .arg("--data")
        .arg(data);
    c
}

fn ensure_ok(what: &str, out: &std::process::Output) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn backup_murakumo(bin: &Path, data: &Path, repo: &Path) -> anyhow::Result<Run> {
    let before = du(repo);
    let t = Instant::now();
    let out = murakumo_cmd(bin, data)
        .args(["backup", "--to", &file_url(repo)])
        .output()
        .context("running murakumo backup")?;
    let elapsed = t.elapsed();
    ensure_ok("murakumo backup", &out)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sent = text
        .lines()
        .find_map(|l| l.strip_prefix("sent: "))
        .and_then(|l| l.split([' ', ';']).find_map(|w| w.strip_prefix("bytes=")))
        .and_then(|b| b.parse().ok())
        .with_context(|| format!("no `sent: … bytes=N` in murakumo backup's output: {text}"))?;
    Ok(Run {
        sent,
        stored: du(repo).saturating_sub(before),
        elapsed,
    })
}

/// restic or borg, with its repository in the run's directory.
struct Peer {
    kind: PeerKind,
    repo: PathBuf,
    work: PathBuf,
    version: String,
}

#[derive(Clone, Copy)]
enum PeerKind {
    Restic,
    Borg,
}

impl Peer {
    fn found(program: &str) -> Option<String> {
        Command::new(program)
            .arg(if program == "restic" {
                "version"
            } else {
                "--version"
            })
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    fn restic(dir: &Path) -> anyhow::Result<Option<Peer>> {
        let Some(version) = Self::found("restic") else {
            eprintln!("restic not found (apt-get install -y restic): skipping it");
            return Ok(None);
        };
        let p = Peer {
            kind: PeerKind::Restic,
            repo: dir.join("repo-restic"),
            work: dir.join("restic-home"),
            version,
        };
        let out = p.command().arg("init").output()?;
        ensure_ok("restic init", &out)?;
        Ok(Some(p))
    }

    fn borg(dir: &Path) -> anyhow::Result<Option<Peer>> {
        let Some(version) = Self::found("borg") else {
            eprintln!("borg not found (apt-get install -y borgbackup): skipping it");
            return Ok(None);
        };
        let p = Peer {
            kind: PeerKind::Borg,
            repo: dir.join("repo-borg"),
            work: dir.join("borg-home"),
            version,
        };
        let out = p
            .command()
            .args(["init", "--encryption", "repokey"])
            .arg(&p.repo)
            .output()?;
        ensure_ok("borg init", &out)?;
        Ok(Some(p))
    }

    /// The program with its repository, passphrase and caches set (caches
    /// in the run's directory, not the user's home).
    fn command(&self) -> Command {
        std::fs::create_dir_all(&self.work).ok();
        match self.kind {
            PeerKind::Restic => {
                let mut c = Command::new("restic");
                c.env("RESTIC_PASSWORD", PASSPHRASE)
                    .env("RESTIC_CACHE_DIR", self.work.join("cache"))
                    .arg("--quiet")
                    .arg("-r")
                    .arg(&self.repo);
                c
            }
            PeerKind::Borg => {
                let mut c = Command::new("borg");
                c.env("BORG_PASSPHRASE", PASSPHRASE)
                    .env("BORG_BASE_DIR", &self.work)
                    .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes");
                c
            }
        }
    }

    /// Backs up the data directory (defaults: restic's and borg's own
    /// chunking and compression) and measures what the repository grew by.
    fn backup(&mut self, data: &Path, label: &str) -> anyhow::Result<Run> {
        let before = du(&self.repo);
        let t = Instant::now();
        let out = match self.kind {
            PeerKind::Restic => self
                .command()
                .arg("backup")
                .arg(data)
                .arg("--tag")
                .arg(label)
                .output()?,
            PeerKind::Borg => self
                .command()
                .arg("create")
                .arg(format!("{}::{label}", self.repo.display()))
                .arg(data)
                .output()?,
        };
        let elapsed = t.elapsed();
        ensure_ok(
            match self.kind {
                PeerKind::Restic => "restic backup",
                PeerKind::Borg => "borg create",
            },
            &out,
        )?;
        let grew = du(&self.repo).saturating_sub(before);
        Ok(Run {
            sent: grew,
            stored: grew,
            elapsed,
        })
    }
}

/// Aim of issue 6: an ordinary day's incremental, bytes sent.
const AIM_ORDINARY_BYTES: u64 = 150_000;
/// Aim of issue 6: fewer bytes than the better of restic and borg, ×.
const AIM_RATIO: f64 = 100.0;
/// Aim of issue 6: full restore of a 270,000-resident city, seconds.
const AIM_RESTORE_S: f64 = 120.0;
const AIM_RESTORE_RESIDENTS: usize = 270_000;

/// Decimal units, as line speeds are quoted: `48000` → `48.0 KB`.
fn human(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Time to send `bytes` at [`LINK_BYTES_PER_S`].
fn on_link(bytes: u64) -> String {
    let s = bytes as f64 / LINK_BYTES_PER_S;
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3_600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {:02} min",
            (s / 3_600.0) as u64,
            ((s % 3_600.0) / 60.0) as u64
        )
    }
}

impl Report {
    /// The better (smaller) peer's run at phase `i`: (name, run).
    fn best_peer(&self, i: usize) -> Option<(&'static str, Run)> {
        let r = self.restic.as_ref().map(|(_, t)| ("restic", t.runs()[i]));
        let b = self.borg.as_ref().map(|(_, t)| ("borg", t.runs()[i]));
        match (r, b) {
            (Some(r), Some(b)) => Some(if b.1.sent < r.1.sent { b } else { r }),
            (r, b) => r.or(b),
        }
    }

    fn restore_270k(&self) -> f64 {
        self.restore.as_secs_f64() * AIM_RESTORE_RESIDENTS as f64 / self.residents as f64
    }
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let peer = |t: &Option<(String, Tool)>, i: usize| {
        t.as_ref()
            .map_or(("—".to_string(), "—".to_string()), |(_, t)| {
                let run = t.runs()[i];
                (
                    format!("{} ({})", human(run.sent), on_link(run.sent)),
                    secs(run.elapsed),
                )
            })
    };
    s.push_str(
        "| Backup | Entries (ledger + access log) | murakumo.db | murakumo: sent | \
         at 48 KB/s | time | repository grew | restic: stored (at 48 KB/s) | time | borg: stored (at 48 KB/s) | \
         time | better peer ÷ murakumo |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let names = [
        format!("Full: {} residents", grouped(r.residents as u64)),
        format!(
            "Ordinary day: {} 転居, {} 転入/出生, {} 転出/死亡, {} certificates",
            r.ordinary.relocated, r.ordinary.entered, r.ordinary.removed, r.ordinary.certificates
        ),
        format!(
            "Month-end day: {} 転居, {} 転入/出生, {} 転出/死亡, {} certificates, {} 本籍 corrections",
            r.month_end.relocated,
            r.month_end.entered,
            r.month_end.removed,
            r.month_end.certificates,
            grouped(r.batch_records as u64)
        ),
    ];
    for (i, name) in names.iter().enumerate() {
        let m = r.murakumo.runs()[i];
        let (rs, rt) = peer(&r.restic, i);
        let (bs, bt) = peer(&r.borg, i);
        let ratio = r.best_peer(i).map_or("—".into(), |(_, p)| {
            format!("{:.0}×", p.sent as f64 / (m.sent.max(1)) as f64)
        });
        s.push_str(&format!(
            "| {name} | {} + {} | {} | {} ({} B) | {} | {} | {} | {rs} | {rt} | {bs} | {bt} | {ratio} |\n",
            grouped(r.entries[i].0),
            grouped(r.entries[i].1),
            human(r.db_bytes[i]),
            human(m.sent),
            grouped(m.sent),
            on_link(m.sent),
            secs(m.elapsed),
            human(m.stored),
        ));
    }
    s.push_str(&format!(
        "\nFull restore (`murakumo restore --from file://…` into an empty directory): {} \
         for {} residents ({}); ≈ {:.1} s scaled linearly to {} residents.\n",
        secs(r.restore),
        grouped(r.residents as u64),
        r.restored_entries,
        r.restore_270k(),
        grouped(AIM_RESTORE_RESIDENTS as u64)
    ));
    s
}

pub fn aims(r: &Report) -> String {
    let mut s = String::from("Aims of issue 6:\n");
    let ord = r.murakumo.ordinary.sent;
    s.push_str(&format!(
        "- ordinary day's incremental under {}: {} sent ({} at 48 KB/s): {}\n",
        human(AIM_ORDINARY_BYTES),
        human(ord),
        on_link(ord),
        if ord < AIM_ORDINARY_BYTES {
            "met"
        } else {
            "missed"
        }
    ));
    for (i, what) in [(1, "ordinary day"), (2, "month-end day")] {
        if let Some((name, p)) = r.best_peer(i) {
            let m = r.murakumo.runs()[i].sent.max(1);
            let x = p.sent as f64 / m as f64;
            let verdict = match (i, x >= AIM_RATIO) {
                (1, true) => "met",
                (1, false) => "missed",
                _ => "for information (the aim is an ordinary day's)",
            };
            s.push_str(&format!(
                "- {what}: ≥ {AIM_RATIO:.0}× fewer bytes than the better peer ({name}, {}): \
                 {x:.0}×: {verdict}\n",
                human(p.sent),
            ));
        }
    }
    let scaled = r.restore_270k();
    let (t, how) = if r.residents >= AIM_RESTORE_RESIDENTS {
        (r.restore.as_secs_f64(), "measured")
    } else {
        (scaled, "scaled linearly from this run")
    };
    s.push_str(&format!(
        "- full restore of a {}-resident city under {AIM_RESTORE_S:.0} s: {t:.1} s ({how}): {}\n",
        grouped(AIM_RESTORE_RESIDENTS as u64),
        if t < AIM_RESTORE_S { "met" } else { "missed" }
    ));
    s
}

pub fn section(
    machine: &crate::report::Machine,
    load_after: &str,
    command: &str,
    r: &Report,
) -> String {
    let mut s = String::new();
    s.push_str("## Backup: daily incrementals against restic and borg (issue 6)\n\n");
    s.push_str(&format!(
        "{}.

",
        machine.run_line("data and repositories", load_after)
    ));
    s.push_str(&format!("```sh\n{command}\n```\n\n"));
    s.push_str(&format!(
        "- City: tenant 362018 徳島市, {} generated residents appended as 転入 through \
         `TenantStore::append` ({:.1} s), SQLite data directory (WAL, synchronous=FULL).\n",
        grouped(r.residents as u64),
        r.load.as_secs_f64()
    ));
    s.push_str(
        "- Days: 転居 = `Relocated`, 転入/出生 = `Entered` (half 出生), 転出/死亡 = `Removed`; \
         each certificate issued is what the server records: a `certificate.issued` ledger entry \
         and an access-log record (`AccessAction::Issue`). The month-end \
         batch is `Corrected` (本籍 after a 地番整理) on distinct residents.\n",
    );
    s.push_str(
        "- murakumo: the release `murakumo backup --to file://…` (incremental after the first); \
         *sent* is its own `sent: … bytes=` figure (sealed chunks plus the snapshot).\n",
    );
    let versions: Vec<String> = [&r.restic, &r.borg]
        .iter()
        .filter_map(|p| {
            p.as_ref()
                .map(|(v, _)| v.lines().next().unwrap_or("").to_string())
        })
        .collect();
    s.push_str(&format!(
        "- Peers ({}), default chunking and compression, encrypted (restic; borg `--encryption \
         repokey`), back up the data directory after `PRAGMA wal_checkpoint(TRUNCATE)` (so \
         `murakumo.db` is complete and `-wal` empty), after each of the same three states. \
         *stored* is what the repository grew by (`du -sb`), which is what they would send.\n",
        if versions.is_empty() {
            "not installed: skipped".to_string()
        } else {
            versions.join(", ")
        }
    ));
    s.push_str("- *at 48 KB/s* is bytes ÷ 48,000 (computed, not measured on a shaped link).\n\n");
    s.push_str(&table(r));
    s.push('\n');
    s.push_str(&aims(r));
    s
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

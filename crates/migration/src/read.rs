//! Reading and validating a data set. Files are streamed (memory holds the
//! events and the replayed records, not the files). Every problem is
//! collected with file, line, field, value and reason; nothing is returned
//! unless the whole data set is valid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::EventCodec;
use murakumo_resident::{Record, ResidentError};
use murakumo_seal::SealEvent;

mod decode;
use decode::{Decoder, Item};

use crate::convert::{Dated, base_row, history_row, parse_history};
use crate::layout::{Layout, base, history, seal};
use crate::manifest::{FileEntry, GAIJI_FILE, MANIFEST_FILE, Manifest};
use crate::seal::{
    DatedSeal, Histories, IMAGE_DIR, OFFICIAL_SEAL_FILE, SealBook, parse_seal, seal_row,
};
use crate::text::{Encoding, GaijiEntry, GaijiTable, parse_code, parse_code_points};

/// One rejected value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when the problem is with the file as a whole.
    pub line: u64,
    /// 項目名, or `-` for the whole record.
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl Problem {
    /// A problem with a whole record (`line`) or file (line 0), not one item.
    fn whole(file: impl Into<String>, line: u64, reason: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line,
            field: "-".into(),
            value: String::new(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} {:?}: {}",
            self.file, self.line, self.field, self.value, self.reason
        )
    }
}

/// Problems beyond this many are counted, not kept.
const KEEP_PROBLEMS: usize = 1_000;

/// A data set that was refused, with why.
#[derive(Clone, Debug, Default)]
pub struct Rejected {
    /// The first problems, in file order.
    pub problems: Vec<Problem>,
    /// How many problems there were in all.
    pub total: u64,
    /// Every unmapped 外字 code (e.g. `F041 (U+E001)`) and how often it occurs.
    pub unmapped: BTreeMap<String, u64>,
}

impl Rejected {
    fn push(&mut self, p: Problem) {
        self.total += 1;
        if self.problems.len() < KEEP_PROBLEMS {
            self.problems.push(p);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Inputs(String),
    #[error("{} problem(s) in the data; nothing was imported", .0.total)]
    Rejected(Rejected),
}

/// The files of one data set.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub base: PathBuf,
    pub history: PathBuf,
    /// 02-01 印鑑登録 (format 1.1); its 印影 are in `02-01_inkan/` beside it.
    pub seals: Option<PathBuf>,
    /// `koin.png`, the 公印 (format 1.1).
    pub official_seal: Option<PathBuf>,
    pub gaiji: Option<PathBuf>,
    pub manifest: Option<PathBuf>,
}

impl Inputs {
    /// Finds the files in the given directories and files: `01-01*`,
    /// `01-02*` and `02-01*` (`.dat` or `.csv`), `koin.png`, `gaiji.csv`,
    /// `manifest.json`.
    pub fn find(paths: &[PathBuf]) -> Result<Inputs, ReadError> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let rd = std::fs::read_dir(p).map_err(|source| ReadError::Io {
                    path: p.clone(),
                    source,
                })?;
                for e in rd.flatten() {
                    files.push(e.path());
                }
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                return Err(ReadError::Inputs(format!(
                    "{} is neither a file nor a directory",
                    p.display()
                )));
            }
        }
        files.sort();
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let pick = |prefix: &str| -> Result<Option<PathBuf>, ReadError> {
            let found: Vec<&PathBuf> = files
                .iter()
                .filter(|p| {
                    let n = name(p);
                    n.starts_with(prefix) && (n.ends_with(".dat") || n.ends_with(".csv"))
                })
                .collect();
            match found.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some((*one).clone())),
                many => Err(ReadError::Inputs(format!(
                    "more than one {prefix} file: {}",
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        };
        let missing = |what: &str| {
            ReadError::Inputs(format!(
                "no {what} file among the inputs (expected a name starting with {}, ending .dat or .csv)",
                &what[..5]
            ))
        };
        Ok(Inputs {
            base: pick("01-01")?.ok_or_else(|| missing("01-01 住民基本台帳"))?,
            history: pick("01-02")?.ok_or_else(|| missing("01-02 異動履歴"))?,
            seals: pick("02-01")?,
            official_seal: files
                .iter()
                .find(|p| name(p) == OFFICIAL_SEAL_FILE)
                .cloned(),
            gaiji: files.iter().find(|p| name(p) == GAIJI_FILE).cloned(),
            manifest: files.iter().find(|p| name(p) == MANIFEST_FILE).cloned(),
        })
    }

    /// Bytes of the data files (for progress).
    pub fn total_bytes(&self) -> u64 {
        [Some(&self.base), Some(&self.history), self.seals.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The municipality being imported into; the files must be for it.
    pub municipality: TenantCode,
    /// Overrides the manifest and detection.
    pub encoding: Option<Encoding>,
    /// Today: no 異動 may be later.
    pub today: NaiveDate,
}

/// How far reading has got.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub bytes: u64,
    pub records: u64,
}

/// A valid data set, ready to be recorded.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The format version it names (1.0, 1.1 or 1.2; the version this build
    /// writes when there is no manifest).
    pub version: String,
    pub gaiji: GaijiTable,
    /// In file (= ledger) order.
    pub events: Vec<Dated>,
    /// 02-01 印鑑登録, in file (= ledger) order, recorded after `events`.
    pub seals: Vec<DatedSeal>,
    /// The 公印 (PNG), if the data set has one.
    pub official_seal: Option<Vec<u8>>,
    pub residents: u64,
    /// BLAKE3 over the events, the seals, the 公印 and the 外字 table: the
    /// same data gives the same digest whatever the encoding or form it came
    /// in.
    pub digest: String,
}

impl Dataset {
    /// What to write back ([`crate::write_dir`]).
    pub fn contents(&self) -> crate::Contents<'_> {
        crate::Contents {
            gaiji: &self.gaiji,
            events: &self.events,
            seals: &self.seals,
            official_seal: self.official_seal.as_deref(),
        }
    }
}

/// The digest of a data set's content. A data set without seals and 公印
/// has the digest it had in format 1.0, so re-importing one still changes
/// nothing.
pub fn content_digest(
    gaiji: &GaijiTable,
    events: &[Dated],
    seals: &[DatedSeal],
    official_seal: Option<&[u8]>,
) -> String {
    let mut h = blake3::Hasher::new();
    for e in gaiji.entries() {
        h.update(&murakumo_ledger::encode_payload(e));
    }
    for d in events {
        let (kind, _, payload) = d.event.encode();
        h.update(kind.as_bytes());
        h.update(d.effective.format("%Y%m%d").to_string().as_bytes());
        h.update(&(payload.len() as u64).to_le_bytes());
        h.update(&payload);
    }
    if !seals.is_empty() {
        h.update(b"02-01");
        for d in seals {
            let (kind, _, payload) = d.event.encode();
            h.update(kind.as_bytes());
            h.update(d.effective.format("%Y%m%d").to_string().as_bytes());
            h.update(&(payload.len() as u64).to_le_bytes());
            h.update(&payload);
        }
    }
    if let Some(png) = official_seal {
        h.update(b"koin");
        h.update(&(png.len() as u64).to_le_bytes());
        h.update(png);
    }
    h.finalize().to_hex().to_string()
}

/// Reads and validates a whole data set.
pub fn read(
    inputs: &Inputs,
    opts: &ReadOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Dataset, ReadError> {
    let mut rej = Rejected::default();
    let manifest = match &inputs.manifest {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ReadError::Io {
                path: p.clone(),
                source,
            })?;
            let m: Manifest = serde_json::from_str(&text).map_err(|e| {
                ReadError::Inputs(format!("{} is not a valid manifest: {e}", p.display()))
            })?;
            if m.format != crate::manifest::FORMAT
                || !crate::manifest::READS.contains(&m.version.as_str())
            {
                return Err(ReadError::Inputs(format!(
                    "{} is format {} {}; this build reads {} {}",
                    p.display(),
                    m.format,
                    m.version,
                    crate::manifest::FORMAT,
                    crate::manifest::READS.join(", ")
                )));
            }
            if m.version == "1.0" {
                if let Some(extra) = inputs.seals.as_ref().or(inputs.official_seal.as_ref()) {
                    return Err(ReadError::Inputs(format!(
                        "{} is not part of format 1.0, which {} names: a 1.0 data set has no 印鑑登録 or 公印 (remove the file, or give the manifest of the data set it came with)",
                        extra.display(),
                        p.display()
                    )));
                }
            }
            if m.municipality != opts.municipality.as_str() {
                return Err(ReadError::Inputs(format!(
                    "the data set is for municipality {}, not {}: check --tenant",
                    m.municipality, opts.municipality
                )));
            }
            Some(m)
        }
        None => None,
    };
    let gaiji = match &inputs.gaiji {
        Some(p) => read_gaiji(p, &mut rej, manifest.as_ref())?,
        None => GaijiTable::default(),
    };
    let mut ctx = Ctx {
        m5: opts.municipality.as_five_digits().to_string(),
        gaiji: &gaiji,
        rej,
        progress: Progress::default(),
        report: progress,
    };
    let encoding_of = |path: &Path| -> Result<Encoding, ReadError> {
        if let Some(e) = opts.encoding {
            return Ok(e);
        }
        if let Some(m) = &manifest {
            return Ok(m.encoding);
        }
        let mut sample = vec![0u8; 1 << 16];
        let mut f = std::fs::File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let n = f.read(&mut sample).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Encoding::detect(&sample[..n]))
    };

    // 01-02 first: the events, replayed into records as they come.
    // Sized from the file (one record per 異動, one resident at most per
    // 異動) up to a large city: growing them moves every record, and the
    // memory each move frees goes back to the kernel to be faulted in anew.
    let capacity = std::fs::metadata(&inputs.history).map_or(0, |m| {
        (m.len() / history::LAYOUT.record_bytes() as u64).min(4_000_000) as usize
    });
    let mut records: HashMap<String, Record> = HashMap::with_capacity(capacity);
    let mut events: Vec<Dated> = Vec::with_capacity(capacity);
    let mut households: murakumo_resident::HouseholdBook<(u64, Vec<String>)> = Default::default();
    let enc = encoding_of(&inputs.history)?;
    let today = opts.today;
    let hist_hash = each_record(
        &inputs.history,
        &history::LAYOUT,
        enc,
        &mut ctx,
        &mut |ctx, file, line, values| {
            let expected_serial = events.len() as u64 + 1;
            let fault = |ctx: &mut Ctx, field: usize, reason: String| {
                ctx.problem(file, line, &history::LAYOUT, Some(field), values, reason);
            };
            let dated = match parse_history(values) {
                Ok(d) => d,
                Err((field, reason)) => return fault(ctx, field, reason),
            };
            let again = history_row(&ctx.m5, expected_serial, &dated);
            if let Some(i) = (0..values.len()).find(|&i| again[i] != values[i]) {
                let reason = if i == history::F::Serial as usize {
                    format!(
                        "異動連番 must run 1, 2, 3 … in file order; expected {}",
                        again[i]
                    )
                } else if again[i].is_empty() || again[i] == "00000000" {
                    format!(
                        "must be blank for 異動事由 {}: the 異動 does not use this item",
                        values[history::F::Event as usize]
                    )
                } else {
                    format!(
                        "does not match the rest of the record: expected {:?}",
                        again[i]
                    )
                };
                return fault(ctx, i, reason);
            }
            let code = dated.event.resident_code().to_string();
            // Taken out and put back: `apply` consumes the record, and a
            // copy of each would cost more than the rest of the replay. In
            // file order, the running record is the record as of the 異動日
            // (a 異動 dated before a later one is refused).
            let current = records.remove(&code);
            if let Err(e) = murakumo_resident::validate(
                &dated.event,
                current.as_ref(),
                current.as_ref(),
                dated.effective,
                today,
                14,
            ) {
                if let Some(r) = current {
                    records.insert(code, r);
                }
                let field = match &e {
                    ResidentError::Invalid { field, .. } => history_field(field),
                    _ => history::F::ResidentCode as usize,
                };
                return fault(ctx, field, e.to_string());
            }
            // The household rules, on each group of 異動 of one date and
            // household (reported at the group's first line).
            if let Err(((line, group_values), e)) = households.push(
                || (line, values.to_vec()),
                &dated.event,
                dated.effective,
                current.as_ref(),
                |c| records.get(c),
            ) {
                let field = match &e {
                    ResidentError::Invalid { field, .. } => history_field(field),
                    _ => history::F::ResidentCode as usize,
                };
                ctx.problem(
                    file,
                    line,
                    &history::LAYOUT,
                    Some(field),
                    &group_values,
                    e.to_string(),
                );
            }
            let before_household = current.as_ref().map(|r| r.household_id.clone());
            // `apply` fails only without a record (a 異動 for a resident
            // never entered), so nothing taken out is lost.
            match murakumo_resident::apply(current, &dated.event, dated.effective) {
                Ok(r) => {
                    households.applied(before_household.as_deref(), &r);
                    records.insert(code, r);
                    events.push(dated);
                }
                Err(e) => fault(ctx, history::F::ResidentCode as usize, e.to_string()),
            }
        },
    )?;
    if let Err(((line, group_values), e)) = households.finish() {
        let field = match &e {
            ResidentError::Invalid { field, .. } => history_field(field),
            _ => history::F::ResidentCode as usize,
        };
        ctx.problem(
            &display_name(&inputs.history),
            line,
            &history::LAYOUT,
            Some(field),
            &group_values,
            e.to_string(),
        );
    }

    // 01-01: each record must be what the events replay to.
    let mut seen: HashSet<String> = HashSet::new();
    let enc = encoding_of(&inputs.base)?;
    let base_hash = each_record(
        &inputs.base,
        &base::LAYOUT,
        enc,
        &mut ctx,
        &mut |ctx, file, line, values| {
            let code = &values[base::F::ResidentCode as usize];
            let Some(r) = records.get(code) else {
                return ctx.problem(
                    file,
                    line,
                    &base::LAYOUT,
                    Some(base::F::ResidentCode as usize),
                    values,
                    "this resident has no 異動 in 01-02 異動履歴 (or its 異動 were refused)".into(),
                );
            };
            if !seen.insert(code.clone()) {
                return ctx.problem(
                    file,
                    line,
                    &base::LAYOUT,
                    Some(base::F::ResidentCode as usize),
                    values,
                    "this 住民票コード has a record earlier in the file".into(),
                );
            }
            let expected = base_row(&ctx.m5, r);
            if let Some(i) = (0..values.len()).find(|&i| expected[i] != values[i]) {
                ctx.problem(
                    file,
                    line,
                    &base::LAYOUT,
                    Some(i),
                    values,
                    format!(
                        "does not match the record replayed from 01-02 異動履歴: expected {:?}",
                        expected[i]
                    ),
                );
            }
        },
    )?;
    let mut missing: Vec<&String> = records.keys().filter(|c| !seen.contains(*c)).collect();
    missing.sort();
    let base_name = display_name(&inputs.base);
    for code in missing {
        ctx.rej.push(Problem {
            file: base_name.clone(),
            line: 0,
            field: "住民票コード".into(),
            value: code.clone(),
            reason: "has 異動 in 01-02 異動履歴 but no record in 01-01 住民基本台帳".into(),
        });
    }

    // 02-01: the seal events, each checked against the registrations before
    // it and (a 登録) against the registrant as of its 登録日.
    let mut seals: Vec<DatedSeal> = Vec::new();
    // 印影 read: data set path → (BLAKE3, bytes).
    let mut images: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut seal_hash = None;
    let image_root = inputs
        .seals
        .as_ref()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if let Some(path) = &inputs.seals {
        let histories = Histories::new(&events);
        let mut book = SealBook::default();
        let mut last_serial = 0u64;
        // Every 印影 file a record names, even one refused for another reason.
        let mut named: HashSet<String> = HashSet::new();
        let enc = encoding_of(path)?;
        let hash = each_record(
            path,
            &seal::LAYOUT,
            enc,
            &mut ctx,
            &mut |ctx, file, line, values| {
                use seal::F;
                let fault = |ctx: &mut Ctx, field: F, reason: String| {
                    ctx.problem(
                        file,
                        line,
                        &seal::LAYOUT,
                        Some(field as usize),
                        values,
                        reason,
                    );
                };
                named.insert(values[F::Image as usize].clone());
                let serial: u64 = values[F::Serial as usize].parse().unwrap_or(0);
                let expected = last_serial + 1;
                last_serial = serial;
                if serial != expected {
                    return fault(
                        ctx,
                        F::Serial,
                        format!(
                            "処理連番 must run 1, 2, 3 … in file order; expected {expected:010}"
                        ),
                    );
                }
                let mut load = |name: &str| -> Result<Vec<u8>, String> {
                    let p = image_root.join(name);
                    match std::fs::read(&p) {
                        Ok(b) => Ok(b),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                            "the 印影 file {name} is missing (expected at {})",
                            p.display()
                        )),
                        Err(e) => Err(format!("the 印影 file {} cannot be read: {e}", p.display())),
                    }
                };
                let dated = match parse_seal(values, &mut load) {
                    Ok(d) => d,
                    Err((field, reason)) => {
                        return ctx.problem(file, line, &seal::LAYOUT, Some(field), values, reason);
                    }
                };
                let again = seal_row(&ctx.m5, serial, &dated);
                if let Some(i) = (0..values.len()).find(|&i| again[i] != values[i]) {
                    let reason = if again[i].is_empty() || again[i] == "00000000" {
                        format!(
                            "must be blank for 処理区分 {}: the 処理 does not use this item",
                            values[F::Event as usize]
                        )
                    } else {
                        format!(
                            "does not match the rest of the record: expected {:?}",
                            again[i]
                        )
                    };
                    return ctx.problem(file, line, &seal::LAYOUT, Some(i), values, reason);
                }
                if let Err((field, reason)) = book.check(&histories, &dated, today) {
                    return ctx.problem(file, line, &seal::LAYOUT, Some(field), values, reason);
                }
                book.apply(&dated);
                if let SealEvent::Registered { impression_png, .. } = &dated.event {
                    images.insert(
                        values[F::Image as usize].clone(),
                        (
                            values[F::ImageHash as usize].clone(),
                            impression_png.len() as u64,
                        ),
                    );
                }
                seals.push(dated);
            },
        )?;
        seal_hash = Some(hash);
        // A file among the 印影 that no record names would be dropped.
        let dir = image_root.join(IMAGE_DIR);
        if dir.is_dir() {
            let rd = std::fs::read_dir(&dir).map_err(|source| ReadError::Io {
                path: dir.clone(),
                source,
            })?;
            let mut stray: Vec<String> = rd
                .flatten()
                .map(|e| format!("{IMAGE_DIR}/{}", e.file_name().to_string_lossy()))
                .filter(|n| !named.contains(n))
                .collect();
            stray.sort();
            for name in stray {
                ctx.rej.push(Problem::whole(
                    name,
                    0,
                    "no 02-01 印鑑登録 record names this file: remove it, or add the registration it belongs to",
                ));
            }
        }
    } else if let Some(dir) = inputs
        .base
        .parent()
        .map(|p| p.join(IMAGE_DIR))
        .filter(|d| d.is_dir())
    {
        ctx.rej.push(Problem::whole(
            format!("{IMAGE_DIR}/"),
            0,
            format!(
                "{} holds 印影 images but there is no 02-01 印鑑登録 file: the seal records are missing",
                dir.display()
            ),
        ));
    }

    // The 公印.
    let official_seal = match &inputs.official_seal {
        Some(p) => {
            let png = std::fs::read(p).map_err(|source| ReadError::Io {
                path: p.clone(),
                source,
            })?;
            if let Err(e) = murakumo_seal::check_impression(&png) {
                ctx.rej.push(Problem {
                    file: OFFICIAL_SEAL_FILE.into(),
                    line: 0,
                    field: "公印".into(),
                    value: String::new(),
                    reason: e.to_string(),
                });
            }
            Some(png)
        }
        None => None,
    };

    if let Some(m) = &manifest {
        let differs = |what: &str| {
            format!("{what} differs from manifest.json: the file was altered or cut short")
        };
        // By name: a data set lists every 印影 image (tens of thousands).
        let listed: std::collections::HashMap<&str, &FileEntry> =
            m.files.iter().map(|f| (f.name.as_str(), f)).collect();
        let check =
            |rej: &mut Rejected, name: String, ok: &dyn Fn(&FileEntry) -> bool, what: &str| {
                let reason = match listed.get(name.as_str()) {
                    Some(f) if ok(f) => return,
                    Some(_) => differs(what),
                    None => "manifest.json does not list this file".into(),
                };
                rej.push(Problem::whole(name, 0, reason));
            };
        let mut data = vec![(&inputs.history, hist_hash), (&inputs.base, base_hash)];
        if let (Some(p), Some(h)) = (&inputs.seals, seal_hash) {
            data.push((p, h));
        }
        for (path, (hash, n)) in data {
            check(
                &mut ctx.rej,
                display_name(path),
                &|f| f.blake3 == hash && f.records == n,
                "checksum or record count",
            );
        }
        for (name, (hash, bytes)) in &images {
            check(
                &mut ctx.rej,
                name.clone(),
                &|f| &f.blake3 == hash && f.bytes == *bytes,
                "checksum or size",
            );
        }
        if let Some(png) = &official_seal {
            let hash = blake3::hash(png).to_hex().to_string();
            check(
                &mut ctx.rej,
                OFFICIAL_SEAL_FILE.into(),
                &|f| f.blake3 == hash && f.bytes == png.len() as u64,
                "checksum or size",
            );
        }
        // A data set that lost a file is not a smaller data set.
        for f in &m.files {
            let here = match f.layout.as_str() {
                crate::seal::IMAGE_LAYOUT => {
                    inputs.seals.is_some() && image_root.join(&f.name).is_file()
                }
                crate::seal::OFFICIAL_SEAL_LAYOUT => official_seal.is_some(),
                "gaiji" => inputs.gaiji.is_some(),
                _ => [
                    Some(&inputs.base),
                    Some(&inputs.history),
                    inputs.seals.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|p| display_name(p) == f.name),
            };
            if !here {
                ctx.rej.push(Problem::whole(
                    f.name.clone(),
                    0,
                    "manifest.json lists this file but it is not among the inputs: the data set is incomplete",
                ));
            }
        }
    }
    let rej = ctx.rej;
    if rej.total > 0 {
        return Err(ReadError::Rejected(rej));
    }
    let digest = content_digest(&gaiji, &events, &seals, official_seal.as_deref());
    Ok(Dataset {
        version: manifest.map_or_else(|| crate::manifest::VERSION.to_string(), |m| m.version),
        gaiji,
        residents: records.len() as u64,
        events,
        seals,
        official_seal,
        digest,
    })
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The 01-02 field of a validation message's field key.
fn history_field(key: &str) -> usize {
    use history::F;
    (match key {
        "family_name" => F::FamilyName,
        "family_kana" => F::FamilyKana,
        "given_kana" => F::GivenKana,
        "birth_date" => F::BirthDate,
        "previous_address" => F::OtherAddress,
        "destination" => F::OtherAddress,
        "notified_date" => F::NotifiedDate,
        "effective_date" => F::EffectiveDate,
        "honseki" => F::Honseki,
        "nationality" => F::Nationality,
        "address" => F::Address,
        "household_id" => F::Household,
        "household_move" => F::Address,
        "relationship" | "new_head" | "former_head_relationship" => F::Relationship,
        "reason" => F::Note,
        "field" => F::Item,
        "value" => F::Value,
        "until" => F::Date,
        "planned_date" => F::Date,
        _ => F::ResidentCode,
    }) as usize
}

struct Ctx<'a> {
    m5: String,
    gaiji: &'a GaijiTable,
    rej: Rejected,
    progress: Progress,
    report: &'a mut dyn FnMut(Progress),
}

impl Ctx<'_> {
    fn problem(
        &mut self,
        file: &str,
        line: u64,
        layout: &Layout,
        field: Option<usize>,
        values: &[String],
        reason: String,
    ) {
        self.rej.push(Problem {
            file: file.to_string(),
            line,
            field: field
                .and_then(|i| layout.fields.get(i))
                .map_or("-".to_string(), |f| f.name.to_string()),
            value: field
                .and_then(|i| values.get(i))
                .cloned()
                .unwrap_or_default(),
            reason,
        });
    }
}

type RowFn<'f> = dyn FnMut(&mut Ctx<'_>, &str, u64, &[String]) + 'f;

/// Streams the records of one file, checks every field, and calls `row`
/// with the decoded values of each record whose fields are all valid.
/// Returns the file's BLAKE3 and its record count.
fn each_record(
    path: &Path,
    layout: &'static Layout,
    encoding: Encoding,
    ctx: &mut Ctx<'_>,
    row: &mut RowFn<'_>,
) -> Result<(String, u64), ReadError> {
    let name = display_name(path);
    let m5 = ctx.m5.clone();
    let decoder = Decoder {
        path,
        name: &name,
        layout,
        encoding,
        gaiji: ctx.gaiji,
        m5: &m5,
    };
    let base_bytes = ctx.progress.bytes;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(decode::CHUNKS_IN_FLIGHT);
        let decoding = s.spawn(|| decoder.run(tx));
        for chunk in rx {
            for item in chunk.items {
                match item {
                    Item::Row(line, values) => row(ctx, &name, line, &values),
                    Item::Problem(p) => ctx.rej.push(p),
                    Item::Unmapped(label) => *ctx.rej.unmapped.entry(label).or_default() += 1,
                }
            }
            ctx.progress.bytes = base_bytes + chunk.bytes;
            ctx.progress.records += chunk.records;
            (ctx.report)(ctx.progress);
        }
        decoding
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn read_gaiji(
    path: &Path,
    rej: &mut Rejected,
    manifest: Option<&Manifest>,
) -> Result<GaijiTable, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = display_name(path);
    if let Some(m) = manifest {
        if m.file(GAIJI_FILE)
            .is_some_and(|f| f.blake3 != blake3::hash(&bytes).to_hex().as_str())
        {
            rej.push(Problem::whole(
                name.clone(),
                0,
                "checksum differs from manifest.json: the 外字対応表 was changed",
            ));
        }
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut entries = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                rej.push(Problem::whole(
                    name.clone(),
                    e.position().map_or(0, |p| p.line()),
                    format!("not valid UTF-8 CSV: {e}"),
                ));
                break;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let col = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        let mut bad = |field: &str, value: String, reason: &str| {
            rej.push(Problem {
                file: name.clone(),
                line,
                field: field.into(),
                value,
                reason: reason.into(),
            })
        };
        let code = col(0);
        let code = if code.is_empty() {
            None
        } else {
            match parse_code(&code) {
                Some(c) => Some(c),
                None => {
                    bad(
                        "外字コード",
                        code,
                        "a CP932 user-defined code F040–F9FC, or U+ and a private-use code point",
                    );
                    continue;
                }
            }
        };
        let mj = col(1);
        let mj = if mj.is_empty() {
            None
        } else if mj.len() == 8
            && mj.starts_with("MJ")
            && mj[2..].bytes().all(|b| b.is_ascii_digit())
        {
            Some(mj)
        } else {
            bad("MJ文字図形名", mj, "MJ and six digits, e.g. MJ012345");
            continue;
        };
        let shown = col(2);
        let ucs = match col(3) {
            s if s.is_empty() => shown.clone(),
            s => match parse_code_points(&s) {
                Some(u) => {
                    if !shown.is_empty() && shown != u {
                        bad("対応文字", shown, "differs from the code points in UCS");
                        continue;
                    }
                    u
                }
                None => {
                    bad("UCS", s, "code points written U+845B U+E0100");
                    continue;
                }
            },
        };
        entries.push(GaijiEntry {
            code,
            mj,
            ucs,
            note: col(4),
        });
    }
    match GaijiTable::new(entries) {
        Ok(t) => Ok(t),
        Err(e) => {
            rej.push(Problem::whole(name, 0, e.to_string()));
            Ok(GaijiTable::default())
        }
    }
}

//! `murakumo gen`, `murakumo import`, `murakumo export`: the standard
//! migration format in and out (crate `murakumo-migration`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use murakumo_ledger::EventCodec;
use murakumo_migration::{
    Contents, Dated, DatedSeal, Encoding, Form, GaijiTable, Inputs, MigrationEvent, ReadError,
    WriteOptions, synth,
};
use murakumo_resident::ResidentEvent;
use murakumo_seal::{OfficialSealSet, SealEvent};
use murakumo_store::Chain;
use murakumo_tenancy::{AccessAction, AccessRecord};

use murakumo_app::import::{Outcome, Step};

use crate::{Global, cli_actor, open, tenant_code};

#[derive(Clone, Copy, ValueEnum)]
pub enum EncodingArg {
    Cp932,
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Encoding {
        match e {
            EncodingArg::Cp932 => Encoding::Cp932,
            EncodingArg::Utf8 => Encoding::Utf8,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormArg {
    /// 固定長 (.dat)
    Fixed,
    /// CSV with a header row (.csv)
    Csv,
}

impl From<FormArg> for Form {
    fn from(f: FormArg) -> Form {
        match f {
            FormArg::Fixed => Form::Fixed,
            FormArg::Csv => Form::Csv,
        }
    }
}

#[derive(Args)]
pub struct GenArgs {
    /// 全国地方公共団体コード of the municipality (6 digits, e.g. 362018 徳島市).
    #[arg(long)]
    municipality: String,
    /// Residents at the start of the year of history.
    #[arg(long)]
    population: usize,
    /// Directory to write the data set into (created; must be empty).
    #[arg(long)]
    out: PathBuf,
    /// Seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The last day of the generated history (YYYY-MM-DD).
    #[arg(long, default_value = "2026-03-31")]
    as_of: NaiveDate,
    /// Days of 異動 history before --as-of.
    #[arg(long, default_value_t = 365)]
    history_days: u32,
    #[arg(long, value_enum, default_value = "cp932")]
    encoding: EncodingArg,
    #[arg(long, value_enum, default_value = "fixed")]
    form: FormArg,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The municipality to import into (it must exist: murakumo tenant create).
    #[arg(long)]
    tenant: String,
    /// A data set directory, or its files (01-01…, 01-02…, gaiji.csv, manifest.json).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The files' encoding, if neither the manifest nor detection should decide.
    #[arg(long, value_enum)]
    encoding: Option<EncodingArg>,
    /// Validate only; record nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The municipality to export.
    #[arg(long)]
    tenant: String,
    /// Directory to write into (created; must be empty).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "cp932")]
    encoding: EncodingArg,
    #[arg(long, value_enum, default_value = "fixed")]
    form: FormArg,
}

fn empty_out(out: &std::path::Path) -> Result<()> {
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: give a new or empty directory, so that no file of another data set is left beside this one",
            out.display()
        );
    }
    Ok(())
}

pub fn generate(args: GenArgs) -> Result<()> {
    let code = tenant_code(&args.municipality)?;
    if args.population == 0 {
        bail!("--population must be at least 1");
    }
    empty_out(&args.out)?;
    let t = Instant::now();
    let g = synth::generate(&synth::Options {
        municipality: code,
        population: args.population,
        seed: args.seed,
        as_of: args.as_of,
        history_days: args.history_days,
    });
    let opts = WriteOptions {
        encoding: args.encoding.into(),
        form: args.form.into(),
    };
    let manifest = murakumo_migration::write_dir(&args.out, &code, g.contents(), opts)?;
    println!(
        "{} {} ({}): {} 異動 of {} residents, {} 印鑑登録 events, in {} ({} {}), {:.1} s",
        code,
        g.place.full_name(),
        if g.place.real_towns {
            format!("{} 町域 from postal data", g.place.towns.len())
        } else {
            "町名 synthesised: no postal data for this code".to_string()
        },
        g.events.len(),
        manifest
            .files
            .iter()
            .find(|f| f.layout == "01-01")
            .map_or(0, |f| f.records),
        g.seals.len(),
        args.out.display(),
        opts.encoding.name(),
        opts.form.extension(),
        t.elapsed().as_secs_f64()
    );
    print_files(&manifest);
    Ok(())
}

/// The data files and a count of the images (one line each would be
/// thousands of lines).
fn print_files(manifest: &murakumo_migration::Manifest) {
    let mut images = (0u64, 0u64);
    for f in &manifest.files {
        if f.layout == murakumo_migration::seal::IMAGE_LAYOUT {
            images.0 += 1;
            images.1 += f.bytes;
            continue;
        }
        println!(
            "  {:<24} {:>9} records {:>12} bytes",
            f.name, f.records, f.bytes
        );
    }
    if images.0 > 0 {
        println!(
            "  {:<24} {:>9} images  {:>12} bytes",
            format!("{}/", murakumo_migration::seal::IMAGE_DIR),
            images.0,
            images.1
        );
    }
}

pub async fn import(g: &Global, args: ImportArgs) -> Result<()> {
    let code = tenant_code(&args.tenant)?;
    let store = open(g).await?;
    store.tenant_info(&code).await.with_context(|| {
        format!("municipality {code} is not on this platform: create it first with murakumo tenant create --code {code} --name …")
    })?;
    let inputs = Inputs::find(&args.paths)?;
    let total = inputs.total_bytes();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t = Instant::now();
    let read = murakumo_app::import::read(&inputs, code, args.encoding.map(Into::into), &mut |p| {
        bar.set_position(p.bytes);
        let secs = t.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{} records, {:.0} records/s",
            p.records,
            p.records as f64 / secs
        ));
    });
    bar.finish_and_clear();
    let ds = match read {
        Ok(ds) => ds,
        Err(ReadError::Rejected(r)) => {
            for p in &r.problems {
                eprintln!("{p}");
            }
            if r.total > r.problems.len() as u64 {
                eprintln!("… and {} more", r.total - r.problems.len() as u64);
            }
            if !r.unmapped.is_empty() {
                eprintln!(
                    "外字 not in the 外字対応表 (add them to gaiji.csv with the character each one is, then import again):"
                );
                for (c, n) in &r.unmapped {
                    eprintln!("  {c}: {n} occurrence(s)");
                }
            }
            bail!(
                "{} problem(s) in the data; nothing was imported into {code}",
                r.total
            );
        }
        Err(e) => return Err(e.into()),
    };
    let read_secs = t.elapsed().as_secs_f64();
    println!(
        "valid: {} residents, {} 異動, {} 印鑑登録 events{}, {} 外字 in the table (format {}, read in {:.1} s)",
        ds.residents,
        ds.events.len(),
        ds.seals.len(),
        if ds.official_seal.is_some() {
            ", 公印"
        } else {
            ""
        },
        ds.gaiji.entries().len(),
        ds.version,
        read_secs
    );
    if args.dry_run {
        println!("--dry-run: nothing recorded");
        return Ok(());
    }
    // The use case records it; this command shows where it is.
    let app = murakumo_app::App::new(store.clone());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} ledger entries recorded and projected, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t2 = Instant::now();
    let outcome = murakumo_app::import::record(&app, &code, ds, |step| match step {
        Step::Resuming => println!(
            "resuming the unfinished import of this data set into {code} (the register stays hidden until it completes)"
        ),
        Step::Recorded { done, total } => {
            bar.set_length(total);
            bar.set_position(done);
        }
    })
    .await;
    bar.finish_and_clear();
    match outcome? {
        Outcome::AlreadyHeld { seq } => println!(
            "{code} already holds this data set (imported as ledger entry {seq}); nothing changed"
        ),
        Outcome::Imported {
            head_seq,
            residents,
            events,
            seals,
        } => {
            println!(
                "imported into {code}: {residents} residents, {events} 異動, {seals} 印鑑登録 events (ledger now at entry {head_seq}); {:.1} s in all, {:.0} records/s",
                t.elapsed().as_secs_f64(),
                events as f64 / t.elapsed().as_secs_f64().max(0.001)
            );
            tracing::debug!(record_secs = t2.elapsed().as_secs_f64(), "import recorded");
        }
    }
    Ok(())
}

/// What an export writes, as the tenant's ledger holds it.
#[derive(Default)]
pub struct LedgerContents {
    /// Resident events, in ledger order.
    pub events: Vec<Dated>,
    /// Seal events, in ledger order.
    pub seals: Vec<DatedSeal>,
    /// The latest 公印.
    pub official_seal: Option<Vec<u8>>,
    /// The latest 外字 table.
    pub gaiji: GaijiTable,
}

impl LedgerContents {
    pub fn contents(&self) -> Contents<'_> {
        Contents {
            gaiji: &self.gaiji,
            events: &self.events,
            seals: &self.seals,
            official_seal: self.official_seal.as_deref(),
        }
    }
}

/// The tenant's resident and seal events in ledger order, its 公印 and its
/// latest 外字 table.
pub async fn ledger_events(ts: &murakumo_store::TenantStore<'_>) -> Result<LedgerContents> {
    let mut out = LedgerContents::default();
    let mut after = 0;
    loop {
        let page = ts.read_after(Chain::Ledger, after, 20_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            if let Some(ev) = ResidentEvent::decode(&e.kind, e.version, &e.payload)? {
                out.events.push(Dated {
                    effective: e.effective_date,
                    event: ev,
                });
            } else if let Some(ev) = SealEvent::decode(&e.kind, e.version, &e.payload)? {
                out.seals.push(DatedSeal {
                    effective: e.effective_date,
                    event: ev,
                });
            } else if let Some(OfficialSealSet { png, .. }) =
                OfficialSealSet::decode(&e.kind, e.version, &e.payload)?
            {
                out.official_seal = Some(png);
            } else if let Some(MigrationEvent::GaijiTableSet { entries }) =
                MigrationEvent::decode(&e.kind, e.version, &e.payload)?
            {
                out.gaiji = GaijiTable::new(entries)
                    .with_context(|| format!("the 外字 table in ledger entry {}", e.seq))?;
            }
        }
    }
    Ok(out)
}

pub async fn export(g: &Global, args: ExportArgs) -> Result<()> {
    let code = tenant_code(&args.tenant)?;
    empty_out(&args.out)?;
    let store = open(g).await?;
    store.tenant_info(&code).await?;
    let ts = store.tenant(&code);
    let t = Instant::now();
    let ledger = ledger_events(&ts).await?;
    let opts = WriteOptions {
        encoding: args.encoding.into(),
        form: args.form.into(),
    };
    let manifest = murakumo_migration::write_dir(&args.out, &code, ledger.contents(), opts)?;
    drop(ledger);
    // An export discloses every resident: it goes in the access log.
    ts.log_access(
        &cli_actor(),
        &[AccessRecord {
            action: AccessAction::Export,
            subject: "*".into(),
            purpose: "移行データ抽出 (murakumo export)".into(),
            detail: manifest
                .files
                .iter()
                .filter(|f| f.layout != murakumo_migration::seal::IMAGE_LAYOUT)
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
                .join(","),
            request_id: String::new(),
        }],
    )
    .await?;
    println!(
        "exported {code} to {} ({} {}) in {:.1} s",
        args.out.display(),
        opts.encoding.name(),
        opts.form.extension(),
        t.elapsed().as_secs_f64()
    );
    print_files(&manifest);
    Ok(())
}

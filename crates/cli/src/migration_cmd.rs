//! `murakumo gen`, `murakumo import`, `murakumo export`: the standard
//! migration format in and out (crate `murakumo-migration`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_migration::{
    Dated, Encoding, Form, GaijiTable, Inputs, MigrationEvent, ReadError, ReadOptions,
    WriteOptions, synth,
};
use murakumo_resident::ResidentEvent;
use murakumo_store::Chain;
use murakumo_tenancy::{AccessAction, AccessRecord};

use crate::{Global, cli_actor, open, tenant_code};

/// The actor of entries an import records.
pub const IMPORT_ACTOR: &str = "system:migration";

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
    let manifest = murakumo_migration::write_dir(&args.out, &code, &g.gaiji, &g.events, opts)?;
    println!(
        "{} {} ({}): {} 異動 of {} residents in {} ({} {}), {:.1} s",
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
        args.out.display(),
        opts.encoding.name(),
        opts.form.extension(),
        t.elapsed().as_secs_f64()
    );
    for f in &manifest.files {
        println!(
            "  {:<24} {:>9} records {:>12} bytes",
            f.name, f.records, f.bytes
        );
    }
    Ok(())
}

fn entry(event: &impl EventCodec, effective: NaiveDate) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: effective,
        actor: IMPORT_ACTOR.into(),
        payload,
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
    let today = chrono::Local::now().date_naive();
    let t = Instant::now();
    let read = murakumo_migration::read(
        &inputs,
        &ReadOptions {
            municipality: code,
            encoding: args.encoding.map(Into::into),
            today,
        },
        &mut |p| {
            bar.set_position(p.bytes);
            let secs = t.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} records, {:.0} records/s",
                p.records,
                p.records as f64 / secs
            ));
        },
    );
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
        "valid: {} residents, {} 異動, {} 外字 in the table (read in {:.1} s)",
        ds.residents,
        ds.events.len(),
        ds.gaiji.entries().len(),
        read_secs
    );
    if args.dry_run {
        println!("--dry-run: nothing recorded");
        return Ok(());
    }
    let ts = store.tenant(&code);
    for e in ts.entries_of_kind("migration.imported").await? {
        if let Some(MigrationEvent::Imported { digest, .. }) =
            MigrationEvent::decode(&e.kind, e.version, &e.payload)?
        {
            if digest == ds.digest {
                println!(
                    "{code} already holds this data set (imported as ledger entry {}); nothing changed",
                    e.seq
                );
                return Ok(());
            }
        }
    }
    if ts.has_residents().await? {
        bail!(
            "{code} already has residents: an import goes into a municipality whose register is still empty (nothing was imported)"
        );
    }
    let mut entries: Vec<NewEntry> = Vec::with_capacity(ds.events.len() + 2);
    for d in &ds.events {
        entries.push(entry(&d.event, d.effective));
    }
    let residents = ds.residents;
    let events = ds.events.len() as u64;
    entries.push(entry(
        &MigrationEvent::GaijiTableSet {
            entries: ds.gaiji.entries().to_vec(),
        },
        today,
    ));
    entries.push(entry(
        &MigrationEvent::Imported {
            digest: ds.digest.clone(),
            format_version: murakumo_migration::manifest::VERSION.into(),
            residents,
            events,
        },
        today,
    ));
    drop(ds);
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!(
        "recording {} ledger entries and building the register in one transaction …",
        entries.len()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let t2 = Instant::now();
    let head = ts.import(entries).await?;
    spinner.finish_and_clear();
    println!(
        "imported into {code}: {residents} residents, {events} 異動 (ledger now at entry {}); {:.1} s in all, {:.0} records/s",
        head.seq,
        t.elapsed().as_secs_f64(),
        events as f64 / t.elapsed().as_secs_f64().max(0.001)
    );
    tracing::debug!(record_secs = t2.elapsed().as_secs_f64(), "import recorded");
    Ok(())
}

/// The tenant's resident events in ledger order and its latest 外字 table.
pub async fn ledger_events(
    ts: &murakumo_store::TenantStore<'_>,
) -> Result<(Vec<Dated>, GaijiTable)> {
    let mut events = Vec::new();
    let mut gaiji = GaijiTable::default();
    let mut after = 0;
    loop {
        let page = ts.read_after(Chain::Ledger, after, 20_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            if let Some(ev) = ResidentEvent::decode(&e.kind, e.version, &e.payload)? {
                events.push(Dated {
                    effective: e.effective_date,
                    event: ev,
                });
            } else if let Some(MigrationEvent::GaijiTableSet { entries }) =
                MigrationEvent::decode(&e.kind, e.version, &e.payload)?
            {
                gaiji = GaijiTable::new(entries)
                    .with_context(|| format!("the 外字 table in ledger entry {}", e.seq))?;
            }
        }
    }
    Ok((events, gaiji))
}

pub async fn export(g: &Global, args: ExportArgs) -> Result<()> {
    let code = tenant_code(&args.tenant)?;
    empty_out(&args.out)?;
    let store = open(g).await?;
    store.tenant_info(&code).await?;
    let ts = store.tenant(&code);
    let t = Instant::now();
    let (events, gaiji) = ledger_events(&ts).await?;
    let opts = WriteOptions {
        encoding: args.encoding.into(),
        form: args.form.into(),
    };
    let manifest = murakumo_migration::write_dir(&args.out, &code, &gaiji, &events, opts)?;
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
    for f in &manifest.files {
        println!(
            "  {:<24} {:>9} records {:>12} bytes",
            f.name, f.records, f.bytes
        );
    }
    Ok(())
}

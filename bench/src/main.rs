//! `murakumo-bench`: Murakumo's benchmarks, one subcommand each. Every
//! benchmark measures its peers in the same run, prints a table of rates
//! and ratios, and writes its section of `bench/RESULTS.md`.
//!
//! Timings live here and nowhere else: tests never assert on time.

mod backup;
mod counter;
mod foundation;
mod isolation;
mod migration;
mod peer;
mod population;
mod repair;
mod replication;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::peer::Engine;

#[derive(Parser)]
#[command(name = "murakumo-bench", version, about = "Murakumo's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Ledger append, verify, read stream, segments and projection rebuild
    /// on SQLite and PostgreSQL, against plain INSERT / COPY (issue 3).
    Foundation {
        /// Ledger entries to append (and peer rows to insert).
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        /// Residents of the tenant whose projections are rebuilt.
        #[arg(long, default_value_t = 270_000)]
        residents: usize,
        /// Entries per `append` call (one transaction each).
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        #[arg(long, value_enum, default_value_t = Backend::Both)]
        backend: Backend,
        /// Results file whose `foundation` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// Daily incremental backups of a city (an ordinary and a month-end
    /// day), full backup and restore, against restic and borg (issue 6).
    Backup {
        /// Residents of the generated city.
        #[arg(long, default_value_t = 190_000)]
        residents: usize,
        /// Residents per `append` call while loading the city.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Records touched by the month-end batch.
        #[arg(long, default_value_t = 20_000)]
        batch_records: usize,
        /// The `murakumo` binary (build it with
        /// `cargo build --release -p murakumo-cli`).
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Skip restic and borg.
        #[arg(long)]
        no_peers: bool,
        /// Results file whose `backup` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// Import and export of a city in the standard migration format
    /// (CP932 fixed-length files), against the raw read of the same files
    /// (issue 5).
    Migration {
        /// Residents of the generated city (徳島市 has 267,833).
        #[arg(long, default_value_t = 267_833)]
        residents: usize,
        /// The `murakumo` binary (build it with
        /// `cargo build --release -p murakumo-cli`).
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Results file whose `migration` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// Online replication across a rate-capped link in network namespaces:
    /// lag under certificate issuance + a 転入 burst, link cut → first
    /// fallback certificate, catch-up after an outage (issue 7; needs root).
    Replication {
        /// The `murakumo` binary.
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Link rate in kbit/s (20 Mbit/s: 20000; 48 KB/s: 384).
        #[arg(long, default_value_t = 20_000)]
        rate_kbit: u32,
        #[arg(long, default_value_t = 1500)]
        mtu: u32,
        /// One-way delay of the link in ms (the seed report's worst LGWAN
        /// link: 300).
        #[arg(long, default_value_t = 0)]
        delay_ms: u32,
        /// Packet loss of the link in percent (worst link: 1).
        #[arg(long, default_value_t = 0.0)]
        loss_percent: f32,
        /// Seconds of certificate issuance.
        #[arg(long, default_value_t = 60)]
        load_secs: u64,
        /// 転入 in the burst.
        #[arg(long, default_value_t = 5_000)]
        burst: usize,
        /// Certificates recorded at the centre during the outage (an hour
        /// at 1/s by default).
        #[arg(long, default_value_t = 3_600)]
        outage_certificates: usize,
        /// Results file whose `replication` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
        /// Keep each node's log in this directory as `<node>.log`:
        /// warnings (failed rounds, switches) and every exchange a follower
        /// applies (entries, bytes, time).
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// Refilling a wiped site of a dispersed (秘密分散) repository with
    /// `murakumo verify --repair`, against the bytes it must write and a
    /// plain copy of them (issue 19).
    Repair {
        /// Residents of the generated city.
        #[arg(long, default_value_t = 270_000)]
        residents: usize,
        /// Residents per `append` call while loading the city.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// `--chunk-size` of the backup.
        #[arg(long, default_value = "8MiB")]
        chunk_size: String,
        /// The `murakumo` binary.
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Results file whose `repair` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// Certificate issuance under load (50 counter clients over 10
    /// tenants, through the real `murakumo serve`) and resident search in a
    /// 270,000-resident city, against the bare renderer and plain SELECTs
    /// (issue 4).
    Counter {
        /// Residents of 徳島市, the large tenant.
        #[arg(long, default_value_t = 270_000)]
        residents: usize,
        /// Residents of the nine smaller tenants together.
        #[arg(long, default_value_t = 100_000)]
        others: usize,
        /// Concurrent counter clients, spread over the ten tenants.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Seconds of measured issuance (after the warm-up).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Seconds of warm-up issuance, not measured.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// Certificates/s of the paced run, all clients together (0: skip it).
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        #[arg(long, value_enum, default_value_t = Backend::Both)]
        backend: Backend,
        /// The `murakumo` binary (build it with
        /// `cargo build --release -p murakumo-cli`).
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Results file whose `counter` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// One municipality's big import against another's counter: the other's latency and
    /// failures with and without the import, and the import's time alone and under load
    /// (issue 17, item 5).
    Isolation {
        /// Residents of the imported city (A).
        #[arg(long, default_value_t = 270_000)]
        residents: usize,
        /// Residents of the municipality whose counter keeps working (B).
        #[arg(long, default_value_t = 20_000)]
        b_residents: usize,
        /// B's clerks (half issue certificates, half read residents).
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// B's requests per second, all clerks together.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds of B's load without an import.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, value_enum, default_value_t = Backend::Both)]
        backend: Backend,
        /// The `murakumo` binary (build it with
        /// `cargo build --release -p murakumo-cli`).
        #[arg(long, default_value = "target/release/murakumo")]
        murakumo: PathBuf,
        /// Results file whose `isolation` section this run replaces.
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Both,
}

impl Backend {
    fn engines(self) -> Vec<Engine> {
        match self {
            Backend::Sqlite => vec![Engine::Sqlite],
            Backend::Postgres => vec![Engine::Postgres],
            Backend::Both => vec![Engine::Sqlite, Engine::Postgres],
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Foundation {
            entries,
            residents,
            batch,
            backend,
            out,
        } => {
            anyhow::ensure!(
                entries > 0 && residents > 0 && batch > 0,
                "sizes must be positive"
            );
            let opts = foundation::Options {
                entries,
                residents,
                batch,
                backends: backend.engines(),
            };
            let machine = report::Machine::probe();
            let reports = foundation::run(&opts).await?;
            let args: Vec<String> = std::env::args().skip(1).collect();
            let command = format!(
                "cargo run --release -p murakumo-bench -- {}",
                args.join(" ")
            );
            println!("\n{}", report::table(&opts, &reports));
            println!("{}", report::aims(&opts, &reports));
            report::write_section(
                &out,
                "foundation",
                &report::section(&machine, &report::load_average(), &command, &opts, &reports),
            )?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Backup {
            residents,
            batch,
            batch_records,
            murakumo,
            no_peers,
            out,
        } => {
            anyhow::ensure!(residents > 0 && batch > 0, "sizes must be positive");
            let opts = backup::Options {
                residents,
                batch,
                day: backup::DayMix::ORDINARY,
                batch_records,
                murakumo,
                peers: !no_peers,
            };
            let machine = report::Machine::probe();
            let r = backup::run(&opts).await?;
            let command = release_command();
            println!("\n{}", backup::table(&r));
            println!("{}", backup::aims(&r));
            report::write_section(
                &out,
                "backup",
                &backup::section(&machine, &report::load_average(), &command, &r),
            )?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Repair {
            residents,
            batch,
            chunk_size,
            murakumo,
            out,
        } => {
            anyhow::ensure!(residents > 0 && batch > 0, "sizes must be positive");
            let machine = report::Machine::probe();
            let r = repair::run(&repair::Options {
                residents,
                batch,
                chunk_size,
                murakumo,
            })
            .await?;
            let command = release_command();
            println!("\n{}", repair::table(&r));
            println!("{}", repair::aims(&r));
            report::write_section(
                &out,
                "repair",
                &repair::section(&machine, &report::load_average(), &command, &r),
            )?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Migration {
            residents,
            murakumo,
            out,
        } => {
            anyhow::ensure!(residents > 0, "sizes must be positive");
            let machine = report::Machine::probe();
            let r = migration::run(&migration::Options {
                residents,
                murakumo,
            })?;
            let command = release_command();
            println!("\n{}", migration::table(&r));
            println!("{}", migration::aims(&r));
            report::write_section(
                &out,
                "migration",
                &migration::section(&machine, &report::load_average(), &command, &r),
            )?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Replication {
            murakumo,
            rate_kbit,
            mtu,
            delay_ms,
            loss_percent,
            load_secs,
            burst,
            outage_certificates,
            out,
            log_dir,
        } => {
            let opts = replication::Options {
                murakumo,
                rate_kbit,
                mtu,
                delay_ms,
                loss_percent,
                load_secs,
                burst,
                outage_certificates,
                log_dir,
            };
            let machine = report::Machine::probe();
            // Own thread: the run drives processes and opens stores with
            // runtimes of its own.
            let (r, opts) = std::thread::spawn(move || (replication::run(&opts), opts))
                .join()
                .map_err(|_| anyhow::anyhow!("the replication benchmark panicked"))?;
            let r = r?;
            let command = release_command();
            let body = replication::section(&machine, &command, &opts, &r);
            println!("{body}");
            report::write_section(&out, "replication", &body)?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Counter {
            residents,
            others,
            clients,
            seconds,
            warmup,
            rate,
            backend,
            murakumo,
            out,
        } => {
            anyhow::ensure!(
                residents > 0 && clients > 0 && seconds > 0,
                "sizes must be positive"
            );
            let opts = counter::Options {
                residents,
                others,
                clients,
                duration: Duration::from_secs(seconds),
                warmup: Duration::from_secs(warmup),
                rate,
                backends: backend.engines(),
                murakumo,
            };
            let machine = report::Machine::probe();
            let r = counter::run(&opts).await?;
            let command = release_command();
            println!("\n{}", counter::table(&opts, &r));
            println!("{}", counter::aims(&r));
            report::write_section(
                &out,
                "counter",
                &counter::section(&machine, &report::load_average(), &command, &opts, &r),
            )?;
            eprintln!("results written to {}", out.display());
        }
        Bench::Isolation {
            residents,
            b_residents,
            clients,
            rate,
            seconds,
            backend,
            murakumo,
            out,
        } => {
            anyhow::ensure!(
                residents > 0 && b_residents > 0 && clients > 0 && rate > 0.0,
                "sizes must be positive"
            );
            let opts = isolation::Options {
                residents,
                b_residents,
                clients,
                rate,
                seconds,
                backends: backend.engines(),
                murakumo,
            };
            let machine = report::Machine::probe();
            let r = isolation::run(&opts).await?;
            let command = release_command();
            println!("\n{}", isolation::table(&r));
            report::write_section(
                &out,
                "isolation",
                &isolation::section(&machine, &report::load_average(), &command, &opts, &r),
            )?;
            eprintln!("results written to {}", out.display());
        }
    }
    Ok(())
}

/// How this run was started, for the results file: the release build and
/// the benchmark's own arguments.
fn release_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo build --release -p murakumo-cli -p murakumo-bench\n\
         target/release/murakumo-bench {}",
        args.join(" ")
    )
}

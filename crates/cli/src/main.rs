//! `murakumo`: the one binary of the platform. A thin layer over the
//! library crates: parse arguments, open the store, call in, print.

mod backup_cmd;
mod demo;
mod migration_cmd;
mod replication_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use murakumo_core::TenantCode;
use murakumo_store::{Chain, Store};
use murakumo_tenancy::settings;

#[derive(Parser)]
#[command(
    name = "murakumo",
    version,
    about = "Murakumo (叢雲): an open-source 自治体クラウド — one platform for many municipalities' standard business systems",
    long_about = "Murakumo runs the standard business systems (住民記録, taxes, 国保 …) of many municipalities on one \
platform, with a hash-chained ledger per municipality, backups, replication and standard-format migration.\n\n\
Data lives in SQLite under --data (the default, nothing else to set up) or in PostgreSQL with --database-url.\n\n\
Start here:  murakumo serve --demo   then open http://127.0.0.1:8080/"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub(crate) struct Global {
    /// Data directory for the embedded SQLite database (created if missing).
    #[arg(long, global = true, env = "MURAKUMO_DATA", default_value = "./data")]
    data: PathBuf,
    /// PostgreSQL URL (postgres://user:pass@host/db); overrides --data.
    /// The role must be able to create roles (for the non-owner app role).
    #[arg(long, global = true, env = "MURAKUMO_DATABASE_URL")]
    database_url: Option<String>,
    /// The node's platform key (32 bytes; created if missing): it seals the secrets of
    /// certificate signing keys in the platform's chain. Default: platform.key in --data.
    /// Keep a copy apart from the backups; a restore, or a centre replica that may take over
    /// signing, needs the same file.
    #[arg(long, global = true, env = "MURAKUMO_PLATFORM_KEY_FILE")]
    platform_key_file: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(
        long,
        global = true,
        env = "MURAKUMO_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: JSON API, staff web UI, /healthz and /metrics.
    Serve(ServeArgs),
    /// Municipalities on the platform: create, list, settings.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Staff accounts of a municipality.
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Platform operator accounts.
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// Ledger maintenance: verify hash chains, rebuild read models.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Check that a certificate PDF is genuine and unaltered, with the
    /// issuing municipality's public keys from this platform's database.
    /// Prints only the issuer, number and date; exit status 1 if not genuine.
    VerifyCertificate {
        /// The certificate PDF.
        file: PathBuf,
    },
    /// Back up ledgers, access logs and settings into a repository (incremental).
    Backup(backup_cmd::BackupArgs),
    /// Restore from a repository: all, one municipality, or a point in time; --drill to rehearse.
    Restore(backup_cmd::RestoreArgs),
    /// Check every object and every chain in a backup repository; --repair rebuilds a
    /// dispersed: repository's missing or damaged shares, --sample checks a random part.
    Verify(backup_cmd::VerifyArgs),
    /// Generate a synthetic municipality in the standard migration format.
    Gen(migration_cmd::GenArgs),
    /// Import a data set in the standard migration format (all or nothing).
    Import(migration_cmd::ImportArgs),
    /// Export a municipality's register in the standard migration format.
    Export(migration_cmd::ExportArgs),
    /// Follow a primary: a replica (another centre) or, with --fallback, a
    /// municipal-site fallback node; serves HTTP meanwhile.
    Follow(replication_cmd::FollowArgs),
    /// Make this node (a replica) the primary, with a new fencing epoch.
    Promote,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Plain HTTP unless --tls-cert/--tls-key are given.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Create two demo municipalities (北竜町 ~1,600 and 深川市 ~20,000
    /// residents) with staff logins on first start, and print the logins.
    #[arg(long)]
    demo: bool,
    /// Seconds that requests in flight may take to finish on shutdown.
    #[arg(long, default_value_t = 30)]
    grace_secs: u64,
    /// How browsers reach this platform, e.g. https://cloud.example.lg.jp
    /// (the SAML SP entity id is <URL>/saml/metadata). Default: the
    /// scheme and the address listened on.
    #[arg(long, env = "MURAKUMO_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    replication: replication_cmd::PrimaryArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
}

/// Who may read `/metrics`.
#[derive(Args, Clone)]
pub(crate) struct MetricsArgs {
    /// Require `Authorization: Bearer TOKEN` on /metrics (Prometheus: `authorization:
    /// credentials`). Without it, /metrics is open to anyone who reaches the server: set it
    /// when staff terminals or other networks reach the listening address.
    #[arg(long, env = "MURAKUMO_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Add a municipality. The prefecture follows from the code.
    Create {
        /// 全国地方公共団体コード, 6 digits with check digit (e.g. 012289).
        #[arg(long)]
        code: String,
        /// Name, e.g. 深川市.
        #[arg(long)]
        name: String,
    },
    /// List municipalities.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a municipality's settings (標準 → 県版 → 個別), or change one.
    Settings {
        #[arg(long)]
        code: String,
        /// Set the municipality's own value: KEY=VALUE (KEY= clears it).
        #[arg(long)]
        set: Option<String>,
        /// Set the prefecture's (県版) value instead of the municipality's.
        #[arg(long, requires = "set")]
        prefecture: bool,
        /// Why (kept in the history).
        #[arg(long, default_value = "")]
        reason: String,
        /// Show the history of changes instead.
        #[arg(long, conflicts_with = "set")]
        history: bool,
    },
}

#[derive(Subcommand)]
enum StaffCmd {
    /// Create a staff account; prints a generated password. Runs on the
    /// machine itself as the operator (out of band), so it gives the roles
    /// at once: this is how a municipality gets its first two
    /// administrators. Through the API, roles that open personal data need
    /// a second administrator's approval.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// Comma-separated roles: resident.clerk, resident.supervisor, tax.clerk,
        /// tax.supervisor, nhi.clerk, auditor, tenant.admin
        #[arg(long)]
        roles: String,
    },
    /// List staff accounts.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Create a platform operator; prints a generated password.
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum LedgerCmd {
    /// Verify the ledger and access-log chains (all municipalities or one).
    Verify {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Rebuild read models from the ledger.
    Rebuild {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Write entries of one chain as JSON lines for review — e.g. the
    /// entries an old primary holds that the new primary never received
    /// (`murakumo follow` names them when it refuses to follow). One line
    /// per entry: seq, kind, version, dates, actor, hashes and the payload
    /// (base64). Changes nothing.
    Export {
        /// 全国地方公共団体コード.
        #[arg(long)]
        tenant: String,
        /// `ledger` or `access` (the access log).
        #[arg(long, default_value = "ledger")]
        chain: String,
        /// First sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last sequence number (default: the head).
        #[arg(long)]
        to: Option<u64>,
        /// The file to write (JSON lines).
        #[arg(long)]
        out: PathBuf,
    },
}

/// mimalloc instead of glibc malloc: see the workspace Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MURAKUMO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.compact().init(),
    }
}

/// Opens the store for a command: read models whose projection version changed are rebuilt
/// first.
pub(crate) async fn open(g: &Global) -> Result<Store> {
    let store = open_store(g).await?;
    if store.rebuilds_pending() > 0 {
        eprintln!("rebuilding read models changed by this version of Murakumo …");
        store.rebuild_pending().await?;
    }
    Ok(store)
}

/// Opens the store for a command that serves HTTP: read models whose projection version
/// changed are rebuilt in the background, tenant by tenant, while the server answers (a
/// request that needs one still waiting gets 503 with Retry-After).
pub(crate) async fn open_serving(g: &Global) -> Result<Store> {
    let store = open_store(g).await?;
    if store.rebuilds_pending() > 0 {
        let background = store.clone();
        tokio::spawn(async move {
            if let Err(e) = background.rebuild_pending().await {
                tracing::error!(error = %e, "rebuilding read models failed: restart the server to try again");
            }
        });
    }
    Ok(store)
}

async fn open_store(g: &Global) -> Result<Store> {
    murakumo_app::open_store(
        &g.data,
        g.database_url.as_deref(),
        g.platform_key_file.as_deref(),
    )
    .await
    .with_context(|| match &g.database_url {
        Some(_) => "opening the PostgreSQL database given by --database-url".to_string(),
        None => format!("opening the data directory {}", g.data.display()),
    })
}

pub(crate) fn tenant_code(s: &str) -> Result<TenantCode> {
    TenantCode::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Who acts when the command line changes something.
fn cli_actor() -> String {
    format!(
        "system:cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

async fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Serve(args) => serve(&g, args).await,
        Command::Tenant(cmd) => tenant(&g, cmd).await,
        Command::Staff(cmd) => staff(&g, cmd).await,
        Command::Operator(OperatorCmd::Create { login, name }) => {
            let app = murakumo_app::App::new(open(&g).await?);
            let pw = murakumo_auth::generate_password_for(&login);
            let actor = murakumo_app::Actor::System(cli_actor());
            murakumo_app::platform::create_operator(&app, &actor, &login, &name, None, &pw).await?;
            println!("operator {login} created; password: {pw}");
            Ok(())
        }
        Command::Ledger(cmd) => ledger(&g, cmd).await,
        Command::VerifyCertificate { file } => verify_certificate(&g, &file).await,
        Command::Backup(args) => backup_cmd::backup(&g, args).await,
        Command::Restore(args) => backup_cmd::restore(&g, args).await,
        Command::Verify(args) => backup_cmd::verify(args).await,
        Command::Gen(args) => migration_cmd::generate(args),
        Command::Import(args) => migration_cmd::import(&g, args).await,
        Command::Export(args) => migration_cmd::export(&g, args).await,
        Command::Follow(args) => replication_cmd::follow(&g, args).await,
        Command::Promote => replication_cmd::promote(&g).await,
    }
}

async fn serve(g: &Global, args: ServeArgs) -> Result<()> {
    let store = open_serving(g).await?;
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    if args.demo {
        // The demo certificates' QR codes open this server's /verify page.
        let reachable = if args.listen.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), args.listen.port())
        } else {
            args.listen
        };
        let verify_url = match &args.public_url {
            Some(u) => format!("{}/verify", u.trim_end_matches('/')),
            None => format!("{scheme}://{reachable}/verify"),
        };
        let logins = demo::ensure(&store, &g.data, &verify_url)
            .await
            .context("creating the demo municipalities")?;
        println!(
            "Murakumo demo: logins (also in {}):",
            g.data.join("demo-logins.txt").display()
        );
        for l in logins {
            println!("  {l}");
        }
    }
    let tls = args.tls_cert.zip(args.tls_key);
    let config = murakumo_server::ServeConfig {
        listen: args.listen,
        tls,
        grace: Duration::from_secs(args.grace_secs),
        public_url: args.public_url,
    };
    replication_cmd::fence_at_start(&store).await?;
    let state = murakumo_server::AppState {
        replication: args.replication.runtime(),
        metrics_token: args.metrics.metrics_token.map(Into::into),
        ..murakumo_server::AppState::new(store, config.tls.is_some())
    };
    murakumo_server::serve_state(state, config, shutdown_signal(), move |addr| {
        println!("Murakumo is serving on {scheme}://{addr}/  (API: {scheme}://{addr}/api/v1/openapi.json)");
        tracing::info!(%addr, "listening");
    })
    .await?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn tenant(g: &Global, cmd: TenantCmd) -> Result<()> {
    let store = open(g).await?;
    match cmd {
        TenantCmd::Create { code, name } => {
            let code = tenant_code(&code)?;
            let app = murakumo_app::App::new(store.clone());
            let actor = murakumo_app::Actor::System(cli_actor());
            let created = murakumo_app::platform::create_tenant(&app, &actor, &code, &name).await?;
            println!(
                "created {code} {} ({})",
                created.name,
                code.prefecture().name()
            );
        }
        TenantCmd::List { json } => {
            let list = store.list_tenants().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<8} {:<10} {:<20} created", "code", "prefecture", "name");
                for t in list {
                    println!(
                        "{:<8} {:<10} {:<20} {}",
                        t.code,
                        t.code.prefecture().name(),
                        t.name,
                        t.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
        }
        TenantCmd::Settings {
            code,
            set,
            prefecture,
            reason,
            history,
        } => {
            let code = tenant_code(&code)?;
            store.tenant_info(&code).await?;
            let pref = format!("{:02}", code.prefecture().code());
            if history {
                for c in store.tenant(&code).setting_history(None).await? {
                    println!(
                        "#{:<6} {} {} = {} ({}) {}",
                        c.seq,
                        c.recorded_at.format("%Y-%m-%d %H:%M"),
                        c.key,
                        c.value.as_deref().unwrap_or("(cleared)"),
                        c.actor,
                        c.reason
                    );
                }
                return Ok(());
            }
            if let Some(assign) = set {
                let (key, value) = assign
                    .split_once('=')
                    .context("--set takes KEY=VALUE (KEY= clears the value)")?;
                let value = Some(value).filter(|v| !v.trim().is_empty());
                let app = murakumo_app::App::new(store.clone());
                let actor = murakumo_app::Actor::System(cli_actor());
                if prefecture {
                    murakumo_app::settings::set_prefecture(&app, &actor, &pref, key.trim(), value)
                        .await?;
                } else {
                    let change = murakumo_app::settings::MunicipalChange {
                        key: key.trim(),
                        value,
                        reason: &reason,
                        effective_from: None,
                    };
                    murakumo_app::settings::set_municipal(&app, &actor, &code, change).await?;
                }
            }
            let p = store.prefecture_settings(&pref).await?;
            let today = murakumo_core::today_in_japan();
            let m = store.tenant(&code).municipal_settings_on(today).await?;
            let get = |l: &[(String, String)], k: &str| {
                l.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
            };
            for d in settings::REGISTRY {
                let r = settings::resolve(
                    d,
                    get(&p, d.key).as_deref(),
                    get(&m, d.key).as_deref(),
                    today,
                );
                println!(
                    "{:<40} {:<16} {}  # {}",
                    r.key,
                    r.value.as_deref().unwrap_or("(未設定)"),
                    r.tier.label_ja(),
                    r.label_ja
                );
            }
        }
    }
    Ok(())
}

async fn staff(g: &Global, cmd: StaffCmd) -> Result<()> {
    let store = open(g).await?;
    match cmd {
        StaffCmd::Create {
            tenant,
            login,
            name,
            roles,
        } => {
            let code = tenant_code(&tenant)?;
            let new = murakumo_app::staff::NewStaff {
                staff_id: None,
                login,
                display_name: name,
                roles: vec![roles],
                password: murakumo_app::staff::Password::Generate,
            };
            let app = murakumo_app::App::new(store.clone());
            let created = murakumo_app::staff::create(
                &app,
                &murakumo_app::Actor::System(cli_actor()),
                &code,
                new,
            )
            .await?;
            let login = created.staff.login;
            let pw = created.password.unwrap_or_default();
            println!("staff {login} created in {code}; password: {pw}");
        }
        StaffCmd::List { tenant } => {
            let code = tenant_code(&tenant)?;
            store.tenant_info(&code).await?;
            for s in store.tenant(&code).staff_list().await? {
                let roles: Vec<&str> = s.roles.iter().map(|r| r.code()).collect();
                println!(
                    "{:<16} {:<20} {:<30}{}",
                    s.login,
                    s.display_name,
                    roles.join(","),
                    if s.disabled { " (disabled)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

async fn ledger(g: &Global, cmd: LedgerCmd) -> Result<()> {
    let store = open(g).await?;
    let (tenant, rebuild) = match cmd {
        LedgerCmd::Verify { tenant } => (tenant, false),
        LedgerCmd::Rebuild { tenant } => (tenant, true),
        LedgerCmd::Export {
            tenant,
            chain,
            from,
            to,
            out,
        } => return ledger_export(&store, &tenant, &chain, from, to, &out).await,
    };
    // Without --tenant: every municipality, and the platform's own chain.
    let platform_too = tenant.is_none();
    let codes = match tenant {
        Some(t) => vec![tenant_code(&t)?],
        None => store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.code)
            .collect(),
    };
    let bar = indicatif::ProgressBar::new(codes.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} municipalities {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut failed = 0;
    for code in codes {
        bar.set_message(code.to_string());
        let ts = store.tenant(&code);
        if rebuild {
            let n = ts.rebuild_projections().await?;
            bar.suspend(|| println!("{code}: rebuilt from {n} ledger entries"));
        } else {
            for chain in [Chain::Ledger, Chain::Access] {
                match ts.verify(chain).await {
                    Ok(h) => bar.suspend(|| {
                        println!(
                            "{code} {}: ok, {} entries, head {}",
                            chain.name(),
                            h.seq,
                            &h.hash.to_hex()[..16]
                        )
                    }),
                    Err(e) => {
                        failed += 1;
                        bar.suspend(|| println!("{code} {}: BROKEN: {e}", chain.name()));
                    }
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if platform_too {
        let chain = store.platform_chain();
        if rebuild {
            let n = chain.rebuild().await?;
            println!("platform: rebuilt from {n} ledger entries");
        } else {
            match chain.verify().await {
                Ok(h) => println!(
                    "platform ledger: ok, {} entries, head {}",
                    h.seq,
                    &h.hash.to_hex()[..16]
                ),
                Err(e) => {
                    failed += 1;
                    println!("platform ledger: BROKEN: {e}");
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} chain(s) do not verify");
    }
    Ok(())
}

/// `murakumo ledger export`: entries `from..=to` of one chain as JSON lines.
async fn ledger_export(
    store: &Store,
    tenant: &str,
    chain: &str,
    from: u64,
    to: Option<u64>,
    out: &std::path::Path,
) -> Result<()> {
    use base64::Engine;
    use std::io::Write;
    let code = tenant_code(tenant)?;
    let Some(chain) = Chain::from_name(chain) else {
        bail!("--chain {chain:?}: use ledger or access");
    };
    let ts = store.tenant(&code);
    if !ts.exists().await? {
        bail!("tenant {code} is not in this database");
    }
    let head = ts.head(chain).await?.seq;
    let to = to.unwrap_or(head).min(head);
    if from == 0 || from > to {
        bail!(
            "--from {from} --to {to}: the {} of {code} holds entries 1 to {head}; give 1 <= from <= to",
            chain.name()
        );
    }
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut after = from - 1;
    let mut written = 0u64;
    while after < to {
        let page = ts
            .read_after(chain, after, 1_000.min((to - after) as u32))
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            let line = serde_json::json!({
                "tenant": code.to_string(),
                "chain": chain.name(),
                "seq": e.seq,
                "kind": e.kind,
                "version": e.version,
                "effective_date": e.effective_date.format("%Y-%m-%d").to_string(),
                "recorded_at": e.recorded_at.to_datetime().to_rfc3339(),
                "actor": e.actor,
                "prev_hash": e.prev_hash.to_hex(),
                "hash": e.hash.to_hex(),
                "payload_base64": base64::engine::general_purpose::STANDARD.encode(&e.payload),
            });
            writeln!(w, "{line}").with_context(|| format!("writing {}", out.display()))?;
            written += 1;
        }
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{code} {}: wrote entries {from} to {after} ({written}) to {}",
        chain.name(),
        out.display()
    );
    Ok(())
}

async fn verify_certificate(g: &Global, file: &std::path::Path) -> Result<()> {
    use murakumo_documents::{CertificatePdf, Limits, VerifyReport};
    let pdf = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    // Which municipality issued it? Read the PDF (within the limits), then load its keys.
    let report = match CertificatePdf::read(&pdf, Limits::DEFAULT) {
        Err(e) => VerifyReport(Err(e)),
        Ok(read) => {
            let store = open(g).await?;
            let mut keys = std::collections::HashMap::new();
            let tenant = read.tenant_code().to_string();
            if let Ok(code) = TenantCode::parse(&tenant)
                && store.tenant_info(&code).await.is_ok()
            {
                for k in store.tenant(&code).public_keys().await? {
                    let key = <[u8; 32]>::try_from(k.public_key.as_slice())
                        .ok()
                        .and_then(|b| murakumo_documents::VerifyingKey::from_bytes(&b).ok());
                    if let Some(key) = key {
                        keys.insert(k.key_id, key);
                    }
                }
            }
            let renderer = murakumo_documents::Renderer::system().ok();
            VerifyReport(read.verify(
                &|t, key_id| {
                    if t == tenant {
                        keys.get(key_id).copied()
                    } else {
                        None
                    }
                },
                renderer.as_ref(),
            ))
        }
    };
    println!("{report}");
    if !report.is_genuine() {
        bail!("{} is not a genuine, unaltered certificate", file.display());
    }
    // Signed with a municipal site's key: genuine only once its issuance is in the ledger.
    if let Ok(v) = &report.0
        && let Ok(code) = TenantCode::parse(&v.tenant_code)
    {
        let digest: String = v.digest.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(site) = open(g)
            .await?
            .tenant(&code)
            .unreconciled_site(&v.key_id, &v.issue_number, &digest)
            .await?
        {
            bail!(
                "{} is signed with the key of the municipal site {site}, but its issuance ({}) is not in the \
                 ledger yet: it cannot be confirmed as genuine until the site's records reach the centre \
                 (UNRECONCILED; 拠点で発行され、まだ本庁で照合されていない証明書です)",
                file.display(),
                v.issue_number
            );
        }
    }
    Ok(())
}

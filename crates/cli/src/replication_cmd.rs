//! `murakumo follow`, `murakumo promote`, and the replication options of
//! `murakumo serve` (synchronous mode, fencing at start).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use murakumo_core::TenantCode;
use murakumo_replication::{
    FollowConfig, FollowStatus, Follower, FollowerExit, ReplicationRuntime, SyncConfig,
};
use murakumo_store::{NodeRole, Store};

use crate::{Global, open, shutdown_signal, tenant_code};

const TOKEN_ENV: &str = "MURAKUMO_REPLICATION_TOKEN";

/// Replication options of a (possible) primary.
#[derive(Args, Clone, Default)]
pub struct PrimaryArgs {
    /// Synchronous mode: acknowledge a change only once the follower of this
    /// name (`murakumo follow --name`) holds it.
    #[arg(long)]
    pub sync_follower: Option<String>,
    /// How long a change waits for the synchronous follower before the
    /// client is told it is not replicated yet.
    #[arg(long, default_value_t = 10)]
    pub sync_timeout_secs: u64,
    /// A municipal site's own token, `CODE=TOKEN` (repeat, or separate with
    /// commas): a fallback node that follows with it is served that
    /// municipality only, never a secret signing key (it signs with its own
    /// key, registered here), and cannot fence this node. Give each site its
    /// own token instead of the centre's replication token.
    #[arg(long = "site-token", env = "MURAKUMO_SITE_TOKENS", value_delimiter = ',',
          value_parser = parse_site_token, hide_env_values = true)]
    pub site_tokens: Vec<(TenantCode, String)>,
}

/// `CODE=TOKEN`: a 全国地方公共団体コード and a token of 16 characters or more.
fn parse_site_token(s: &str) -> Result<(TenantCode, String), String> {
    let (code, token) = s.split_once('=').ok_or(
        "write a site token as CODE=TOKEN, e.g. 014362=… (the site's municipality, then its token)",
    )?;
    let code = TenantCode::parse(code.trim()).map_err(|e| format!("{code}: {e}"))?;
    let token = token.trim();
    if token.len() < 16 {
        return Err(format!(
            "the token of site {code} is {} characters long; use 16 or more (e.g. `openssl rand -hex 24`)",
            token.len()
        ));
    }
    Ok((code, token.to_string()))
}

impl PrimaryArgs {
    pub fn runtime(&self) -> ReplicationRuntime {
        ReplicationRuntime {
            site_tokens: self.site_tokens.clone(),
            sync: self.sync_follower.clone().map(|follower| SyncConfig {
                follower,
                timeout: Duration::from_secs(self.sync_timeout_secs),
            }),
            ..Default::default()
        }
    }
}

/// A primary that starts asks the peers it knows (its followers) for their
/// epoch first: if one of them was promoted meanwhile, this node fences
/// itself before it serves a single write.
pub async fn fence_at_start(store: &Store) -> Result<()> {
    let state = store.node_state().await?;
    if state.role != NodeRole::Primary {
        if state.role == NodeRole::Fenced {
            eprintln!(
                "this node is fenced (a newer primary exists, epoch {}): it serves reads only. {}",
                state.epoch,
                state.note.unwrap_or_default()
            );
        }
        return Ok(());
    }
    let peers = store.peers().await?;
    let token = std::env::var(TOKEN_ENV).unwrap_or_default();
    if peers.is_empty() || token.is_empty() {
        return Ok(());
    }
    if let Some((epoch, url)) =
        murakumo_replication::follower::highest_peer_epoch(&peers, &token).await
    {
        let (s, changed) = store.observe_epoch(epoch, &url).await?;
        if changed && s.role == NodeRole::Fenced {
            eprintln!(
                "a newer primary is serving at {url} (epoch {epoch}, this node had {}): this node is fenced and \
                 refuses every change. To make it a replica of the new primary: murakumo follow {url}",
                state.epoch
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct FollowArgs {
    /// The primary's URL (http:// or https://), then any other node that may
    /// become the primary after a failover (the other centre), comma- or
    /// space-separated: e.g. https://dc1.example:8443,https://dc2.example:8443.
    /// Followed in that order; when the primary is lost (no answer for
    /// --detect-secs, or fenced), the follower switches by itself to the
    /// candidate — one of these or a peer the primary told it of — that is
    /// the primary with the highest epoch, never to a lower epoch than its
    /// own.
    #[arg(value_name = "URL", required = true, num_args = 1.., value_delimiter = ',')]
    pub urls: Vec<String>,
    /// Follow only these municipalities (a municipal site); default: all of
    /// them (another data centre).
    #[arg(long = "tenant")]
    pub tenants: Vec<String>,
    /// Municipal-site fallback node (利用拠点バックアップ): when the primary is
    /// unreachable, serve search, resident detail and certificates read-only,
    /// numbering certificates in this site's series, and replay them when the
    /// link returns.
    #[arg(long)]
    pub fallback: bool,
    /// This follower's name (what `serve --sync-follower` names).
    #[arg(long, default_value = "replica")]
    pub name: String,
    /// 発行番号 series suffix of this site: certificates are numbered e.g.
    /// R8B1-0000001 (the centre's own are R8-0000001).
    #[arg(long, default_value = "B1")]
    pub site_series: String,
    /// Address to serve HTTP on (the staff UI and API of this node).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// URL the primary and peers reach this node at (default: from --listen).
    #[arg(long)]
    pub advertise: Option<String>,
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds without contact after which the primary counts as unreachable.
    #[arg(long, default_value_t = 4)]
    pub detect_secs: u64,
    /// Long-poll wait in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub wait_ms: u64,
    /// Bytes of segments per answer (smaller on slow links).
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_bytes: u64,
    /// Replication options that apply once this node is promoted.
    #[command(flatten)]
    pub primary: PrimaryArgs,
    #[command(flatten)]
    pub metrics: crate::MetricsArgs,
}

fn valid_series(s: &str) -> bool {
    (1..=4).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub async fn follow(g: &Global, args: FollowArgs) -> Result<()> {
    let token = std::env::var(TOKEN_ENV).unwrap_or_default();
    if token.is_empty() {
        bail!(
            "{TOKEN_ENV} is not set: set it to the replication token the primary's operator gave you (the same value as on the primary)"
        );
    }
    let urls: Vec<String> = args
        .urls
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let Some(first) = urls.first().cloned() else {
        bail!("give the primary's URL, e.g. murakumo follow https://dc1.example:8443");
    };
    for u in &urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            bail!(
                "{u} is not an http:// or https:// URL of a primary (give URLs like https://dc1.example:8443, separated by commas or spaces)"
            );
        }
    }
    if !valid_series(&args.site_series) {
        bail!(
            "--site-series {:?}: use 1 to 4 capital letters and digits starting with a letter (e.g. B1), so this site's 発行番号 never collide with the centre's",
            args.site_series
        );
    }
    let tenants = args
        .tenants
        .iter()
        .map(|t| tenant_code(t))
        .collect::<Result<Vec<_>>>()?;
    let store = crate::open_serving(g).await?;
    let tls = args.tls_cert.clone().zip(args.tls_key.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let advertise = args.advertise.clone().or_else(|| {
        (!args.listen.ip().is_unspecified()).then(|| format!("{scheme}://{}", args.listen))
    });
    let status = Arc::new(FollowStatus::new(
        first.clone(),
        args.fallback,
        args.site_series.clone(),
    ));
    let mut runtime = args.primary.runtime();
    runtime.follow = Some(status.clone());
    let state = murakumo_server::AppState {
        replication: runtime,
        metrics_token: args.metrics.metrics_token.clone().map(Into::into),
        ..murakumo_server::AppState::new(store.clone(), tls.is_some())
    };
    let config = murakumo_server::ServeConfig {
        listen: args.listen,
        tls,
        grace: Duration::from_secs(10),
        // SAML on a fallback node answers as the node itself.
        public_url: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = Follower::new(
        store.clone(),
        FollowConfig {
            primaries: urls.clone(),
            token,
            name: args.name.clone(),
            advertise_url: advertise,
            tenants,
            fallback: args.fallback,
            wait: Duration::from_millis(args.wait_ms),
            detect_after: Duration::from_secs(args.detect_secs),
            max_bytes: args.max_bytes,
        },
        status,
    )?;
    let what = if args.fallback {
        "municipal-site fallback node"
    } else {
        "replica"
    };
    let url = urls.join(", ");
    let following = match urls.get(1..) {
        Some(rest) if !rest.is_empty() => {
            format!("{first} (failover candidates: {})", rest.join(", "))
        }
        _ => first.clone(),
    };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let follow_task = tokio::spawn(async move {
        let r = match follower.run(stop_rx).await {
            Ok(FollowerExit::Promoted { epoch }) => {
                println!(
                    "promoted: this node is now the primary (epoch {epoch}); it no longer follows any of {url}"
                );
                Ok(())
            }
            Ok(FollowerExit::Shutdown) => Ok(()),
            Err(e) => Err(e),
        };
        if r.is_err() {
            // Stop serving too: a follower that cannot follow must not
            // look healthy.
            let _ = failed_tx.send(());
        }
        r
    });
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            // A dropped sender (following ended well, e.g. promoted) is no
            // reason to stop serving.
            Ok(()) = failed_rx => {}
        }
        let _ = stop_tx.send(true);
    };
    let served = murakumo_server::serve_state(state, config, shutdown, move |addr| {
        println!("Murakumo {what} of {following} serving on {scheme}://{addr}/");
        tracing::info!(%addr, "listening");
    });
    served.await?;
    match follow_task.await {
        Ok(r) => r.context("following the primary")?,
        Err(e) => bail!("the follower task failed: {e}"),
    }
    Ok(())
}

/// `murakumo promote`: this database's node becomes the primary with a new
/// epoch. A running `murakumo follow` on it notices within seconds, stops
/// following and tells the old primary (which fences itself).
pub async fn promote(g: &Global) -> Result<()> {
    let store = open(g).await?;
    let before = store.node_state().await?;
    if before.role == NodeRole::Primary {
        println!(
            "this node is the primary already (epoch {}); nothing changed",
            before.epoch
        );
        return Ok(());
    }
    let after = store.promote().await?;
    println!(
        "promoted: {} → primary, epoch {} → {}{}",
        before.role.name(),
        before.epoch,
        after.epoch,
        before
            .primary_url
            .map(|u| format!(" (the old primary {u} will be fenced when it is reachable)"))
            .unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{FollowArgs, parse_site_token, valid_series};
    use clap::Parser;

    #[derive(Parser)]
    struct Follow {
        #[command(flatten)]
        args: FollowArgs,
    }

    #[test]
    fn follow_takes_several_urls_by_comma_or_space() {
        for argv in [
            &["follow", "https://dc1:8443,https://dc2:8443"][..],
            &["follow", "https://dc1:8443", "https://dc2:8443"],
            &["follow", "https://dc1:8443,https://dc2:8443", "--fallback"],
        ] {
            let f = Follow::try_parse_from(argv).expect("parses");
            assert_eq!(f.args.urls, ["https://dc1:8443", "https://dc2:8443"]);
        }
        assert!(
            Follow::try_parse_from(["follow"]).is_err(),
            "a URL is required"
        );
    }

    #[test]
    fn site_series_cannot_collide_with_the_centre() {
        assert!(valid_series("B1"));
        assert!(valid_series("S12"));
        for bad in ["", "1B", "b1", "B-1", "B1234", "B.1"] {
            assert!(!valid_series(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_site_token_names_its_municipality() {
        let (code, token) = parse_site_token("014362=0123456789abcdef").expect("valid");
        assert_eq!(code.as_str(), "014362");
        assert_eq!(token, "0123456789abcdef");
        assert!(
            parse_site_token("0123456789abcdef")
                .expect_err("refused")
                .contains("CODE=TOKEN")
        );
        assert!(
            parse_site_token("014362=short")
                .expect_err("refused")
                .contains("16 or more")
        );
        assert!(parse_site_token("01436=0123456789abcdef").is_err());
    }
}

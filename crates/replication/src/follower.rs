//! `murakumo follow`: pulls segments from the primary and applies them.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use murakumo_core::TenantCode;
use murakumo_documents::SigningKeyPair;
use murakumo_ledger::{LedgerOwner, RecordedAt, Segment};
use murakumo_store::{Applied, Chain, MAX_EPOCH, NodeRole, Store, TenantInfo};

use crate::ReplicationError;
use crate::runtime::FollowStatus;
use crate::wire::{
    CHAIN_ACCESS, CHAIN_LEDGER, CHAIN_PLATFORM, FenceRequest, FrameReader, HashesRequest,
    HashesResponse, OutboxEntryWire, OutboxRequest, OutboxResponse, PlatformSnapshot, Position,
    PullMeta, PullRequest, SiteKeyRequest, StatusView,
};

/// How to follow.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// The primary's base URL first (e.g. `https://dc1.example:8443`),
    /// then other nodes that may become the primary (another centre): the
    /// follower starts with the first and, when it is lost, switches to
    /// whichever of these — or of the peers the primary told it of — is
    /// the primary with the highest epoch.
    pub primaries: Vec<String>,
    pub token: String,
    /// This follower's name (for `--sync-follower` on the primary).
    pub name: String,
    /// Where this node serves HTTP, told to the primary.
    pub advertise_url: Option<String>,
    /// Tenants to follow; empty: all of them.
    pub tenants: Vec<TenantCode>,
    pub fallback: bool,
    /// Long-poll wait on the primary.
    pub wait: Duration,
    /// No contact for this long: the primary counts as unreachable.
    pub detect_after: Duration,
    /// Bytes of segments per response.
    pub max_bytes: u64,
}

/// Why following ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerExit {
    /// `murakumo promote` made this node the primary.
    Promoted {
        epoch: u64,
    },
    Shutdown,
}

/// Entries a node holds that another does not: what following that node
/// would lose (the fork check of an old primary or of a switch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostRange {
    /// 全国地方公共団体コード.
    pub tenant: String,
    /// `ledger` or `access`.
    pub chain: &'static str,
    /// First and last sequence number held here but not there.
    pub first: u64,
    pub last: u64,
    /// Recorded times of the first and the last of them.
    pub recorded: Option<(String, String)>,
}

impl std::fmt::Display for LostRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = if self.chain == "access" {
            "access log"
        } else {
            "ledger"
        };
        let n = self.last + 1 - self.first;
        write!(
            f,
            "tenant {} {log} entries {} to {} ({n} {}",
            self.tenant,
            self.first,
            self.last,
            if n == 1 { "entry" } else { "entries" }
        )?;
        match &self.recorded {
            Some((a, b)) if a == b => write!(f, ", recorded {a}")?,
            Some((a, b)) => write!(f, ", recorded {a} to {b}")?,
            None => {}
        }
        write!(f, ")")
    }
}

pub struct Follower {
    store: Store,
    cfg: FollowConfig,
    status: Arc<FollowStatus>,
    client: reqwest::Client,
    platform_version: Option<String>,
    /// The primary followed now.
    primary: String,
    /// The epoch it answered with last.
    primary_epoch: Option<u64>,
    /// Peers already recorded in `node_peers`.
    known_peers: BTreeSet<String>,
    /// When the candidates were last asked (at most once a second).
    last_search: Option<Instant>,
}

/// How many sequence numbers one fork-check request asks about.
const PROBES: u64 = 32;

fn is_http_url(u: &str) -> bool {
    u.len() <= 2_000 && (u.starts_with("http://") || u.starts_with("https://"))
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Follower {
    pub fn new(
        store: Store,
        cfg: FollowConfig,
        status: Arc<FollowStatus>,
    ) -> Result<Follower, ReplicationError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ReplicationError::Config(format!("HTTP client: {e}")))?;
        let Some(primary) = cfg.primaries.first().cloned() else {
            return Err(ReplicationError::Config(
                "no primary URL given: name the primary to follow (and other nodes that may become primary)".into(),
            ));
        };
        if let Some(bad) = cfg.primaries.iter().find(|u| !is_http_url(u)) {
            return Err(ReplicationError::Config(format!(
                "{bad} is not an http:// or https:// URL of a primary"
            )));
        }
        status.set_primary_url(&primary);
        Ok(Follower {
            store,
            cfg,
            status,
            client,
            platform_version: None,
            primary,
            primary_epoch: None,
            known_peers: BTreeSet::new(),
            last_search: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.primary.trim_end_matches('/'))
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ReplicationError {
        ReplicationError::Unreachable {
            url: self.primary.clone(),
            reason: e.to_string(),
        }
    }

    /// Sends a request to the primary with the token: its answer if
    /// successful, else why not (unreachable, or refused with its message).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ReplicationError> {
        let resp = request
            .bearer_auth(&self.cfg.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        Ok(resp)
    }

    async fn refused(&self, resp: reqwest::Response) -> ReplicationError {
        let status = resp.status().as_u16();
        let message = resp.text().await.unwrap_or_default();
        ReplicationError::Refused {
            url: self.primary.clone(),
            status,
            message,
        }
    }

    /// Follows until promoted or `shutdown` fires. Errors reaching the
    /// primary are retried (with the fallback switching on meanwhile);
    /// only storage failures end the loop.
    pub async fn run(
        mut self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<FollowerExit, ReplicationError> {
        let role = if self.cfg.fallback {
            NodeRole::Fallback
        } else {
            NodeRole::Replica
        };
        let state = self.store.node_state().await?;
        let promoted = state.role == NodeRole::Primary
            && state
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("promoted"));
        if promoted {
            // Restarted with the command it was promoted under: it stays the
            // primary unless a newer one exists.
            if self
                .find_primary(state.epoch.saturating_add(1))
                .await
                .is_none()
            {
                return Ok(FollowerExit::Promoted { epoch: state.epoch });
            }
        }
        if matches!(state.role, NodeRole::Primary | NodeRole::Fenced)
            && self.holds_entries().await?
        {
            // 旧プライマリの再参加: follow only a primary whose chains hold
            // all of this node's (checked before anything changes here).
            let min_epoch = state.epoch.saturating_add(u64::from(promoted));
            if !self.rejoin(min_epoch, &mut shutdown).await? {
                return Ok(FollowerExit::Shutdown);
            }
        }
        self.store.set_following(role, &self.primary).await?;
        self.store.record_peer(&self.primary).await?;
        self.known_peers.insert(self.primary.clone());
        metrics::gauge!("murakumo_replication_primary", "url" => self.primary.clone()).set(1.0);
        // Reachability watchdog.
        let status = self.status.clone();
        let detect = self.cfg.detect_after;
        let fallback = self.cfg.fallback;
        let watchdog = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let changed = status.evaluate(detect);
                let online = status.online();
                metrics::gauge!("murakumo_replication_connected").set(if online {
                    1.0
                } else {
                    0.0
                });
                if fallback {
                    metrics::gauge!("murakumo_fallback_active").set(if online { 0.0 } else { 1.0 });
                }
                match changed {
                    Some(true) => tracing::info!("the primary is reachable again"),
                    Some(false) => tracing::warn!(after = ?detect, "the primary is unreachable"),
                    None => {}
                }
            }
        });
        let mut backoff = Duration::from_millis(200);
        let result = loop {
            if *shutdown.borrow() {
                break Ok(FollowerExit::Shutdown);
            }
            let state = self.store.node_state().await?;
            if state.role == NodeRole::Primary {
                self.announce_epoch(state.epoch).await;
                break Ok(FollowerExit::Promoted { epoch: state.epoch });
            }
            // Told of a newer epoch (a promoted node's fence note) than the
            // primary followed: look for that primary now.
            if self.primary_epoch.is_some_and(|e| e < state.epoch) {
                if let Err(e) = self.switch_primary("a newer epoch was announced").await {
                    break Err(e);
                }
            }
            let round = tokio::select! {
                r = self.round(state.epoch) => r,
                _ = shutdown.changed() => continue,
            };
            match round {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(
                    e @ (ReplicationError::Store(_)
                    | ReplicationError::Forked { .. }
                    | ReplicationError::WouldLose { .. }),
                ) => {
                    break Err(e);
                }
                Err(e) => {
                    tracing::warn!(primary = %self.primary, error = %e, "replication round failed; retrying");
                    // Lost primary: it says it is not (or no longer) the
                    // primary, or it has not answered for the detection time.
                    let not_primary = matches!(e, ReplicationError::Refused { status: 409, .. });
                    let silent = self
                        .status
                        .since_contact()
                        .is_none_or(|d| d >= self.cfg.detect_after);
                    if not_primary || silent {
                        let why = if not_primary {
                            "the primary refused: it is not the primary any more"
                        } else {
                            "the primary has not answered for the detection time"
                        };
                        match self.switch_primary(why).await {
                            Ok(true) => {
                                backoff = Duration::from_millis(200);
                                continue;
                            }
                            Ok(false) => {}
                            Err(e) => break Err(e),
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        };
        watchdog.abort();
        result
    }

    /// One exchange: platform if changed, one pull, outbox replay.
    async fn round(&mut self, epoch: u64) -> Result<(), ReplicationError> {
        if self.platform_version.is_none() {
            self.fetch_platform().await?;
        }
        let meta = self.pull(epoch).await?;
        if self.platform_version.as_deref() != Some(meta.platform_version.as_str()) {
            self.fetch_platform().await?;
        }
        self.replay_outbox(epoch).await?;
        Ok(())
    }

    /// Refuses an epoch no node can take (one a promotion could not raise):
    /// a broken or hostile primary, reported and never recorded.
    fn check_epoch(&self, epoch: u64) -> Result<(), ReplicationError> {
        if epoch < MAX_EPOCH {
            return Ok(());
        }
        refused_data("epoch_out_of_range");
        Err(ReplicationError::BadData {
            url: self.primary.clone(),
            reason: format!(
                "it claims epoch {epoch}; a node holds epochs below {MAX_EPOCH} only (a promotion must be able to \
                 take a higher one): refused, nothing recorded"
            ),
        })
    }

    fn followed(&self, code: &TenantCode) -> bool {
        self.cfg.tenants.is_empty() || self.cfg.tenants.contains(code)
    }

    async fn fetch_platform(&mut self) -> Result<(), ReplicationError> {
        let resp = self
            .send(self.client.get(self.url("/api/v1/replication/platform")))
            .await?;
        let snap: PlatformSnapshot = resp.json().await.map_err(|e| self.unreachable(e))?;
        self.status.set_online_now();
        self.check_epoch(snap.epoch)?;
        let mut local_epoch = self.store.node_state().await?.epoch;
        if snap.epoch > local_epoch {
            self.store.observe_epoch(snap.epoch, &self.primary).await?;
            local_epoch = snap.epoch;
        }
        let _ = local_epoch;
        for t in &snap.tenants {
            let code = TenantCode::parse(&t.code).map_err(|e| ReplicationError::BadData {
                url: self.primary.clone(),
                reason: format!("tenant code {}: {e}", t.code),
            })?;
            if !self.followed(&code) {
                continue;
            }
            self.store
                .ensure_tenant_shell(&TenantInfo {
                    code,
                    name: t.name.clone(),
                    prefecture_code: t.prefecture_code.clone(),
                    created_at: RecordedAt(t.created_at).to_datetime(),
                })
                .await?;
        }
        if self.cfg.fallback {
            self.register_site_keys().await?;
        }
        self.platform_version = Some(snap.version);
        Ok(())
    }

    /// A municipal site signs with its own key (拠点の署名鍵), made here the first time it
    /// follows a municipality and sealed into this node's own platform chain (a site follows
    /// no platform chain, so it is this node's alone); its public half is registered with the
    /// primary until the primary's ledger, followed here, publishes it, so that what the site
    /// issues verifies at the centre and everywhere else.
    async fn register_site_keys(&self) -> Result<(), ReplicationError> {
        let site = self.cfg.name.as_str();
        for t in self.store.list_tenants().await? {
            if !self.followed(&t.code) {
                continue;
            }
            let ts = self.store.tenant(&t.code);
            if ts.active_signing_key().await?.is_none() {
                let key = SigningKeyPair::generate(&mut rand_core::OsRng);
                self.store
                    .seal_signing_key(
                        &format!("site:{site}"),
                        &t.code,
                        key.key_id(),
                        key.verifying_key().as_bytes(),
                        Some(site),
                        &key.secret_bytes(),
                    )
                    .await?;
                tracing::info!(tenant = %t.code, key_id = key.key_id(), "made this site's signing key");
            }
            let published: HashSet<String> = ts
                .public_keys()
                .await?
                .into_iter()
                .map(|k| k.key_id)
                .collect();
            for k in ts.signing_keys_with_secrets().await? {
                let own = !k.secret_key.is_empty() && k.site.as_deref() == Some(site);
                if !own || published.contains(&k.key_id) {
                    continue;
                }
                let req = SiteKeyRequest {
                    tenant: t.code.to_string(),
                    key_id: k.key_id.clone(),
                    public_key: B64.encode(&k.public_key),
                    site: site.to_string(),
                };
                let url = self.url("/api/v1/replication/site-keys");
                self.send(self.client.post(url).json(&req)).await?;
                tracing::info!(tenant = %t.code, key_id = %k.key_id, "registered this site's signing key with the primary");
            }
        }
        Ok(())
    }

    async fn positions(&self) -> Result<Vec<Position>, ReplicationError> {
        let mut out = Vec::new();
        for t in self.store.list_tenants().await? {
            if !self.followed(&t.code) {
                continue;
            }
            let ts = self.store.tenant(&t.code);
            out.push(Position {
                tenant: t.code.to_string(),
                ledger: ts.head(Chain::Ledger).await?.seq,
                access: ts.head(Chain::Access).await?.seq,
            });
        }
        Ok(out)
    }

    async fn pull(&mut self, epoch: u64) -> Result<PullMeta, ReplicationError> {
        let positions = self.positions().await?;
        let req = PullRequest {
            follower: self.cfg.name.clone(),
            url: self.cfg.advertise_url.clone(),
            epoch,
            positions: positions.clone(),
            all_tenants: self.cfg.tenants.is_empty(),
            wait_ms: self.cfg.wait.as_millis() as u64,
            max_bytes: Some(self.cfg.max_bytes),
            platform: if self.cfg.tenants.is_empty() {
                Some(self.store.platform_chain().head().await?.seq)
            } else {
                None
            },
        };
        // Any gap of `idle` in the answer means the link is gone.
        let idle = self.cfg.wait + Duration::from_secs(5);
        let send = self
            .client
            .post(self.url("/api/v1/replication/pull"))
            .bearer_auth(&self.cfg.token)
            .json(&req)
            .send();
        let mut resp = tokio::time::timeout(idle, send)
            .await
            .map_err(|_| self.unreachable("no answer"))?
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        self.status.contact();
        let mut reader = FrameReader::default();
        let mut meta: Option<PullMeta> = None;
        let mut done = false;
        let mut applied_entries = 0u64;
        let mut received_bytes = 0u64;
        // Recorded time of the oldest entry applied in this exchange.
        let mut oldest_applied: Option<i64> = None;
        let started = Instant::now();
        while !done {
            let chunk = tokio::time::timeout(idle, resp.chunk())
                .await
                .map_err(|_| self.unreachable("the answer stalled"))?
                .map_err(|e| self.unreachable(e))?;
            let Some(chunk) = chunk else { break };
            self.status.contact();
            received_bytes += chunk.len() as u64;
            let frames = reader.push(&chunk).map_err(|e| {
                refused_data("frame_too_long");
                ReplicationError::BadData {
                    url: self.primary.clone(),
                    reason: e.to_string(),
                }
            })?;
            for f in frames {
                if meta.is_none() {
                    let m: PullMeta =
                        serde_json::from_slice(&f).map_err(|e| ReplicationError::BadData {
                            url: self.primary.clone(),
                            reason: format!("pull metadata: {e}"),
                        })?;
                    self.check_epoch(m.epoch)?;
                    if m.epoch < epoch {
                        return Err(ReplicationError::Refused {
                            url: self.primary.clone(),
                            status: 409,
                            message: format!(
                                "it answers with epoch {} but this node knows epoch {epoch}: it is an old primary",
                                m.epoch
                            ),
                        });
                    }
                    if m.epoch > epoch {
                        self.store.observe_epoch(m.epoch, &self.primary).await?;
                    }
                    self.check_not_forked(&m).await?;
                    self.primary_epoch = Some(m.epoch);
                    self.learn_peers(&m.peers).await?;
                    meta = Some(m);
                    continue;
                }
                if f.is_empty() {
                    done = true;
                    break;
                }
                let (n, oldest) = self.apply_frame(&f).await?;
                applied_entries += n;
                if let Some(t) = oldest {
                    oldest_applied = Some(oldest_applied.map_or(t, |o: i64| o.min(t)));
                }
            }
        }
        let meta = meta.ok_or_else(|| self.unreachable("the answer ended before its header"))?;
        if !done {
            return Err(self.unreachable("the answer was cut off (whole segments were kept)"));
        }
        self.status.set_online_now();
        // The primary's clock at its answer, moved on by the time spent here.
        let primary_now = meta.now + started.elapsed().as_micros() as i64;
        self.report_lag(&meta, primary_now, oldest_applied).await?;
        metrics::counter!("murakumo_replication_received_bytes_total").increment(received_bytes);
        tracing::debug!(
            entries = applied_entries,
            bytes = received_bytes,
            took_ms = started.elapsed().as_millis() as u64,
            "exchange applied"
        );
        if applied_entries > 0 {
            metrics::counter!("murakumo_replication_applied_entries_total")
                .increment(applied_entries);
        }
        Ok(meta)
    }

    /// Refuses to go on when this node's chains are not a prefix of the
    /// primary's: it holds entries beyond the primary's head, or its last
    /// entry differs from the primary's at the same position.
    async fn check_not_forked(&self, meta: &PullMeta) -> Result<(), ReplicationError> {
        let Err(e) = self.check_heads(meta).await else {
            return Ok(());
        };
        if !matches!(e, ReplicationError::Forked { .. }) {
            return Err(e);
        }
        // Name exactly what would be lost, if the primary can say.
        match self.lost_against(&self.primary).await {
            Ok(lost) if !lost.is_empty() => Err(ReplicationError::WouldLose {
                primary: self.primary.clone(),
                epoch: meta.epoch,
                lost,
            }),
            _ => Err(e),
        }
    }

    async fn check_heads(&self, meta: &PullMeta) -> Result<(), ReplicationError> {
        for h in &meta.heads {
            let Ok(code) = TenantCode::parse(&h.tenant) else {
                continue;
            };
            if !self.store.tenant(&code).exists().await? {
                continue;
            }
            let ts = self.store.tenant(&code);
            for (chain, primary_head, hash) in [
                (Chain::Ledger, h.ledger, &h.ledger_hash_at_position),
                (Chain::Access, h.access, &h.access_hash_at_position),
            ] {
                let local = ts.head(chain).await?;
                let forked = |detail: String| ReplicationError::Forked {
                    tenant: code.to_string(),
                    detail,
                };
                if local.seq > primary_head {
                    return Err(forked(format!(
                        "its {} holds entries up to {}, the primary's only up to {primary_head}",
                        chain.name(),
                        local.seq
                    )));
                }
                if let Some(hash) = hash {
                    if local.seq > 0 && *hash != hex_of(&local.hash.0) {
                        return Err(forked(format!(
                            "entry {} of its {} differs from the primary's",
                            local.seq,
                            chain.name()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a segment of the platform's chain (operators, 県版 settings), which only a
    /// follower of every tenant (another centre) asks for.
    async fn apply_platform_frame(
        &mut self,
        bytes: &[u8],
    ) -> Result<(u64, Option<i64>), ReplicationError> {
        let bad = |reason: String| ReplicationError::BadData {
            url: self.primary.clone(),
            reason,
        };
        if !self.cfg.tenants.is_empty() {
            return Err(bad(
                "the platform's chain was sent to a follower of some municipalities only".into(),
            ));
        }
        let seg = Segment::decode(bytes).map_err(|e| bad(format!("segment: {e}")))?;
        if seg.header.owner != LedgerOwner::Platform {
            return Err(bad(format!(
                "a segment of {} in the platform's frame",
                seg.header.owner
            )));
        }
        let n = seg.entries.len() as u64;
        match self.store.platform_chain().apply_segment(&seg).await {
            Ok(Applied::Appended(_)) => Ok((n, seg.entries.first().map(|e| e.recorded_at.0))),
            Ok(Applied::AlreadyHeld(_)) => Ok((0, None)),
            Err(murakumo_store::StoreError::Conflict(detail)) => Err(ReplicationError::Forked {
                tenant: "platform".into(),
                detail,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies one segment frame: (entries appended, recorded time of the
    /// first of them).
    async fn apply_frame(&mut self, f: &[u8]) -> Result<(u64, Option<i64>), ReplicationError> {
        let bad = |reason: String| ReplicationError::BadData {
            url: self.primary.clone(),
            reason,
        };
        let (tag, bytes) = f.split_first().ok_or_else(|| bad("empty frame".into()))?;
        let chain = match *tag {
            CHAIN_LEDGER => Chain::Ledger,
            CHAIN_ACCESS => Chain::Access,
            CHAIN_PLATFORM => return self.apply_platform_frame(bytes).await,
            t => return Err(bad(format!("unknown chain tag {t}"))),
        };
        let seg = Segment::decode(bytes).map_err(|e| bad(format!("segment: {e}")))?;
        let Some(tenant) = seg.header.owner.tenant().copied() else {
            return Err(bad(
                "a segment of the platform's chain in a tenant's frame".into()
            ));
        };
        if !self.followed(&tenant) {
            return Ok((0, None));
        }
        if !self.store.tenant(&tenant).exists().await? {
            self.fetch_platform().await?;
        }
        let n = seg.entries.len() as u64;
        match self.store.tenant(&tenant).apply_segment(chain, &seg).await {
            Ok(Applied::Appended(_)) => Ok((n, seg.entries.first().map(|e| e.recorded_at.0))),
            Ok(Applied::AlreadyHeld(_)) => Ok((0, None)),
            Err(murakumo_store::StoreError::Conflict(detail)) => Err(ReplicationError::Forked {
                tenant: tenant.to_string(),
                detail,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Lag: entries the primary had that this node still lacks, and in
    /// seconds the age (on the primary's clock) of the oldest entry that was
    /// outstanding in this exchange — still missing, or applied only now.
    /// Both are 0 once caught up with an idle primary.
    async fn report_lag(
        &self,
        meta: &PullMeta,
        primary_now: i64,
        oldest_applied: Option<i64>,
    ) -> Result<(), ReplicationError> {
        let mut entries = 0u64;
        let mut oldest: Option<i64> = None;
        for h in &meta.heads {
            let Ok(code) = TenantCode::parse(&h.tenant) else {
                continue;
            };
            if !self.followed(&code) || !self.store.tenant(&code).exists().await? {
                continue;
            }
            let ts = self.store.tenant(&code);
            let l = ts.head(Chain::Ledger).await?.seq;
            let a = ts.head(Chain::Access).await?.seq;
            let behind = h.ledger.saturating_sub(l) + h.access.saturating_sub(a);
            entries += behind;
            if behind > 0 {
                if let Some(t) = h.pending_since {
                    oldest = Some(oldest.map_or(t, |o: i64| o.min(t)));
                }
            }
        }
        let oldest = match (oldest, oldest_applied) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let seconds = oldest.map_or(0.0, |t| ((primary_now - t).max(0) as f64) / 1e6);
        metrics::gauge!("murakumo_replication_lag_entries").set(entries as f64);
        metrics::gauge!("murakumo_replication_lag_seconds").set(seconds);
        metrics::gauge!("murakumo_replication_primary_epoch").set(meta.epoch as f64);
        Ok(())
    }

    /// Sends outbox items (fallback certificates, access records of reads
    /// here) to the primary; it appends each once, by its key.
    async fn replay_outbox(&self, epoch: u64) -> Result<(), ReplicationError> {
        for t in self.store.list_tenants().await? {
            let ts = self.store.tenant(&t.code);
            loop {
                let items = ts.outbox_pending(200).await?;
                if items.is_empty() {
                    break;
                }
                let req = OutboxRequest {
                    follower: self.cfg.name.clone(),
                    epoch,
                    items: items
                        .iter()
                        .map(|i| OutboxEntryWire {
                            tenant: i.tenant.to_string(),
                            chain: i.chain.name().to_string(),
                            dedupe_key: i.dedupe_key.clone(),
                            kind: i.entry.kind.clone(),
                            version: i.entry.version,
                            effective_date: i.entry.effective_date.format("%Y-%m-%d").to_string(),
                            actor: i.entry.actor.clone(),
                            payload: B64.encode(&i.entry.payload),
                        })
                        .collect(),
                };
                let resp = self
                    .client
                    .post(self.url("/api/v1/replication/outbox"))
                    .bearer_auth(&self.cfg.token)
                    .timeout(Duration::from_secs(60))
                    .json(&req)
                    .send()
                    .await
                    .map_err(|e| self.unreachable(e))?;
                if !resp.status().is_success() {
                    return Err(self.refused(resp).await);
                }
                let out: OutboxResponse = resp.json().await.map_err(|e| self.unreachable(e))?;
                for (item, r) in items.iter().zip(out.results.iter()) {
                    if r.dedupe_key == item.dedupe_key {
                        ts.outbox_mark_sent(item.id, r.seq).await?;
                    }
                }
                tracing::info!(tenant = %t.code, items = items.len(), "outbox replayed to the primary");
            }
        }
        Ok(())
    }

    /// Where a new primary may be: the URLs this follower was given, the
    /// peers it knows (told by its primaries, stored in `node_peers`) and
    /// the primary followed now — not this node itself.
    async fn candidates(&self) -> Result<Vec<String>, ReplicationError> {
        let mut out: Vec<String> = Vec::new();
        let stored = self.store.peers().await?;
        for u in std::iter::once(&self.primary)
            .chain(self.cfg.primaries.iter())
            .chain(stored.iter())
        {
            let own = self
                .cfg
                .advertise_url
                .as_deref()
                .is_some_and(|a| same_url(a, u));
            if is_http_url(u) && !own && !out.iter().any(|o| same_url(o, u)) {
                out.push(u.clone());
            }
        }
        Ok(out)
    }

    /// Asks every candidate for its status at once; returns the primary
    /// with the highest epoch of at least `min_epoch` (the one followed now
    /// wins a tie, then the order given). A node reporting a lower epoch is
    /// never chosen.
    async fn find_primary(&self, min_epoch: u64) -> Option<(String, u64)> {
        let candidates = self.candidates().await.ok()?;
        let mut set = tokio::task::JoinSet::new();
        for (i, url) in candidates.into_iter().enumerate() {
            let client = self.client.clone();
            let token = self.cfg.token.clone();
            set.spawn(async move {
                let s = probe_status(&client, &url, &token).await;
                (i, url, s)
            });
        }
        let mut answers = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok((i, url, Some(s))) = r {
                tracing::debug!(%url, role = %s.role, epoch = s.epoch, "candidate answered");
                if s.role == NodeRole::Primary.name() && s.epoch >= min_epoch && s.epoch < MAX_EPOCH
                {
                    answers.push((i, url, s.epoch));
                }
            }
        }
        answers.sort_by_key(|(i, _, epoch)| (std::cmp::Reverse(*epoch), *i));
        answers
            .into_iter()
            .next()
            .map(|(_, url, epoch)| (url, epoch))
    }

    /// Looks for a new primary and, if one is found and this node's chains
    /// are a prefix of its chains, follows it from now on. Returns whether
    /// it switched.
    async fn switch_primary(&mut self, why: &str) -> Result<bool, ReplicationError> {
        if self
            .last_search
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return Ok(false);
        }
        self.last_search = Some(Instant::now());
        let state = self.store.node_state().await?;
        let Some((url, epoch)) = self.find_primary(state.epoch).await else {
            tracing::info!(primary = %self.primary, reason = why, epoch = state.epoch,
                "no other primary at this epoch or newer among the candidates yet");
            return Ok(false);
        };
        if same_url(&url, &self.primary) {
            return Ok(false);
        }
        self.ensure_prefix_of(&url, epoch).await?;
        self.store.switch_primary(&url, epoch).await?;
        self.store.record_peer(&url).await?;
        self.known_peers.insert(url.clone());
        tracing::warn!(from = %self.primary, to = %url, epoch, reason = why,
            "switched to a new primary (フェイルオーバー): following it from now on");
        metrics::gauge!("murakumo_replication_primary", "url" => self.primary.clone()).set(0.0);
        metrics::gauge!("murakumo_replication_primary", "url" => url.clone()).set(1.0);
        metrics::counter!("murakumo_replication_primary_switches_total").increment(1);
        self.primary = url;
        self.status.set_primary_url(&self.primary);
        self.primary_epoch = Some(epoch);
        self.platform_version = None;
        Ok(true)
    }

    /// Remembers the peers a primary told of (candidates for a failover).
    async fn learn_peers(&mut self, peers: &[String]) -> Result<(), ReplicationError> {
        for p in peers.iter().take(100) {
            let own = self
                .cfg
                .advertise_url
                .as_deref()
                .is_some_and(|a| same_url(a, p));
            if !is_http_url(p) || own || self.known_peers.contains(p) {
                continue;
            }
            self.store.record_peer(p).await?;
            tracing::info!(peer = %p, primary = %self.primary, "learnt a failover candidate from the primary");
            self.known_peers.insert(p.clone());
        }
        Ok(())
    }

    /// Whether this node holds any entry of a followed tenant.
    async fn holds_entries(&self) -> Result<bool, ReplicationError> {
        for t in self.store.list_tenants().await? {
            if !self.followed(&t.code) {
                continue;
            }
            let ts = self.store.tenant(&t.code);
            if ts.head(Chain::Ledger).await?.seq > 0 || ts.head(Chain::Access).await?.seq > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// An old primary (or any primary holding data) that is told to follow:
    /// waits until a candidate answers as primary at `min_epoch` or newer,
    /// checks that every chain here is a prefix of its chains, and only then
    /// takes its epoch (which fences this node). Returns false on shutdown.
    async fn rejoin(
        &mut self,
        min_epoch: u64,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<bool, ReplicationError> {
        loop {
            if *shutdown.borrow() {
                return Ok(false);
            }
            if let Some((url, epoch)) = self.find_primary(min_epoch).await {
                self.ensure_prefix_of(&url, epoch).await?;
                let (s, _) = self.store.observe_epoch(epoch, &url).await?;
                tracing::warn!(primary = %url, epoch, role = s.role.name(),
                    "this node's chains are a prefix of the primary's: it rejoins as a follower");
                self.primary = url;
                self.status.set_primary_url(&self.primary);
                return Ok(true);
            }
            let candidates = self.candidates().await?;
            tracing::warn!(
                ?candidates,
                min_epoch,
                "this node holds entries and was a primary: waiting for a primary to check them against before following"
            );
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Refuses to follow `url` (the primary at `epoch`) if that would lose
    /// entries this node holds: every chain here must be a prefix of its.
    async fn ensure_prefix_of(&self, url: &str, epoch: u64) -> Result<(), ReplicationError> {
        let lost = self.lost_against(url).await?;
        if lost.is_empty() {
            return Ok(());
        }
        Err(ReplicationError::WouldLose {
            primary: url.to_string(),
            epoch,
            lost,
        })
    }

    /// Asks `url` for the hashes of entries `seqs` of one chain.
    async fn remote_hashes(
        &self,
        url: &str,
        tenant: &TenantCode,
        chain: Chain,
        seqs: &[u64],
    ) -> Result<HashesResponse, ReplicationError> {
        let unreachable = |e: String| ReplicationError::Unreachable {
            url: url.to_string(),
            reason: e,
        };
        let resp = self
            .client
            .post(format!(
                "{}/api/v1/replication/hashes",
                url.trim_end_matches('/')
            ))
            .bearer_auth(&self.cfg.token)
            .timeout(Duration::from_secs(30))
            .json(&HashesRequest {
                tenant: tenant.to_string(),
                chain: chain.name().to_string(),
                seqs: seqs.to_vec(),
            })
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(ReplicationError::Refused {
                url: url.to_string(),
                status,
                message: resp.text().await.unwrap_or_default(),
            });
        }
        let out: HashesResponse = resp.json().await.map_err(|e| unreachable(e.to_string()))?;
        if out.hashes.len() != seqs.len() {
            return Err(ReplicationError::BadData {
                url: url.to_string(),
                reason: format!("asked for {} hashes, got {}", seqs.len(), out.hashes.len()),
            });
        }
        Ok(out)
    }

    /// The fork check against `url`: every run of entries this node holds
    /// (in followed tenants) that `url` does not hold in the same place.
    /// Empty: every chain here is a prefix of its chains.
    pub async fn lost_against(&self, url: &str) -> Result<Vec<LostRange>, ReplicationError> {
        let mut lost = Vec::new();
        for t in self.store.list_tenants().await? {
            if !self.followed(&t.code) {
                continue;
            }
            let ts = self.store.tenant(&t.code);
            for chain in [Chain::Ledger, Chain::Access] {
                let local = ts.head(chain).await?;
                if local.seq == 0 {
                    continue;
                }
                let first = self
                    .remote_hashes(url, &t.code, chain, &[local.seq])
                    .await?;
                if first.hashes.first().cloned().flatten() == Some(hex_of(&local.hash.0)) {
                    continue;
                }
                // The hash chain makes "same entry at k" hold for every k up
                // to the fork and for none after it: search for the last.
                let mut same = 0u64;
                let mut differs = local.seq.min(first.head.saturating_add(1));
                while differs - same > 1 {
                    let step = ((differs - same) / (PROBES + 1)).max(1);
                    let probes: Vec<u64> = (1..=PROBES)
                        .map(|i| same + i * step)
                        .filter(|p| *p < differs)
                        .collect();
                    let remote = self.remote_hashes(url, &t.code, chain, &probes).await?;
                    for (p, theirs) in probes.iter().zip(remote.hashes) {
                        let ours = ts
                            .read_after(chain, p - 1, 1)
                            .await?
                            .first()
                            .map(|e| hex_of(&e.hash.0));
                        if theirs.is_some() && theirs == ours {
                            same = *p;
                        } else {
                            differs = *p;
                            break;
                        }
                    }
                }
                let when = |seq: u64| {
                    let ts = self.store.tenant(&t.code);
                    async move {
                        Ok::<_, ReplicationError>(
                            ts.read_after(chain, seq - 1, 1).await?.first().map(|e| {
                                e.recorded_at
                                    .to_datetime()
                                    .format("%Y-%m-%d %H:%M:%S UTC")
                                    .to_string()
                            }),
                        )
                    }
                };
                let recorded = when(same + 1).await?.zip(when(local.seq).await?);
                lost.push(LostRange {
                    tenant: t.code.to_string(),
                    chain: chain.name(),
                    first: same + 1,
                    last: local.seq,
                    recorded,
                });
            }
        }
        Ok(lost)
    }

    /// After a promotion: tells the old primary (and known peers) the new
    /// epoch, in the background, until each has heard it.
    async fn announce_epoch(&self, epoch: u64) {
        let mut peers: BTreeSet<String> = self
            .store
            .peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        peers.insert(self.primary.clone());
        let by = self
            .cfg
            .advertise_url
            .clone()
            .unwrap_or_else(|| self.cfg.name.clone());
        spawn_fence_announcer(
            self.client.clone(),
            self.cfg.token.clone(),
            peers,
            epoch,
            by,
        );
    }
}

/// Counts data refused from a primary (`murakumo_replication_refused_total`,
/// by reason); the round fails with the reason, which is logged.
fn refused_data(reason: &'static str) {
    metrics::counter!("murakumo_replication_refused_total", "reason" => reason).increment(1);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Tells each peer about `epoch` (`POST /api/v1/replication/fence`),
/// retrying every 2 s for an hour until each has heard it.
pub fn spawn_fence_announcer(
    client: reqwest::Client,
    token: String,
    peers: BTreeSet<String>,
    epoch: u64,
    by: String,
) {
    tokio::spawn(async move {
        let mut left = peers;
        let started = Instant::now();
        while !left.is_empty() && started.elapsed() < Duration::from_secs(3600) {
            let mut told = Vec::new();
            for p in &left {
                let r = client
                    .post(format!(
                        "{}/api/v1/replication/fence",
                        p.trim_end_matches('/')
                    ))
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(5))
                    .json(&FenceRequest {
                        epoch,
                        by: by.clone(),
                    })
                    .send()
                    .await;
                if let Ok(resp) = r {
                    if resp.status().is_success() {
                        tracing::info!(peer = %p, epoch, "peer told of the new epoch");
                        told.push(p.clone());
                    }
                }
            }
            for p in told {
                left.remove(&p);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

/// A node's replication status, if it answers in time.
async fn probe_status(client: &reqwest::Client, url: &str, token: &str) -> Option<StatusView> {
    let resp = client
        .get(format!(
            "{}/api/v1/replication/status",
            url.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<StatusView>().await.ok()
}

/// Asks peers for their state (at the start of a primary); returns the
/// highest epoch a primary among them reports, with its URL.
pub async fn highest_peer_epoch(peers: &[String], token: &str) -> Option<(u64, String)> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(4))
        .build()
        .ok()?;
    let mut best: Option<(u64, String)> = None;
    for p in peers {
        let Ok(resp) = client
            .get(format!(
                "{}/api/v1/replication/status",
                p.trim_end_matches('/')
            ))
            .bearer_auth(token)
            .send()
            .await
        else {
            continue;
        };
        let Ok(s) = resp.json::<StatusView>().await else {
            continue;
        };
        // An epoch no node can hold is a broken or hostile peer: ignored.
        if s.role == "primary" && s.epoch < MAX_EPOCH && best.as_ref().is_none_or(|b| s.epoch > b.0)
        {
            best = Some((s.epoch, p.clone()));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_range_names_tenant_chain_seqs_and_times() {
        let one = LostRange {
            tenant: "012289".into(),
            chain: "ledger",
            first: 13,
            last: 13,
            recorded: Some(("t1".into(), "t1".into())),
        };
        assert_eq!(
            one.to_string(),
            "tenant 012289 ledger entries 13 to 13 (1 entry, recorded t1)"
        );
        let many = LostRange {
            chain: "access",
            first: 1,
            last: 5,
            recorded: Some(("t1".into(), "t2".into())),
            ..one
        };
        assert_eq!(
            many.to_string(),
            "tenant 012289 access log entries 1 to 5 (5 entries, recorded t1 to t2)"
        );
    }

    #[test]
    fn candidate_urls_compare_without_a_trailing_slash() {
        assert!(same_url("https://dc2:8443/", "https://dc2:8443"));
        assert!(!same_url("https://dc2:8443", "https://dc3:8443"));
        assert!(is_http_url("http://x") && !is_http_url("ftp://x") && !is_http_url(""));
    }
}

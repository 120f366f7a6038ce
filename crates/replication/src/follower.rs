//! `murakumo follow`: pulls segments from the primary and applies them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use murakumo_core::TenantCode;
use murakumo_ledger::{RecordedAt, Segment};
use murakumo_store::{Applied, Chain, NodeRole, Operator, SigningKeyExport, Store, TenantInfo};

use crate::ReplicationError;
use crate::runtime::FollowStatus;
use crate::wire::{
    CHAIN_ACCESS, CHAIN_LEDGER, FenceRequest, OutboxEntryWire, OutboxRequest, OutboxResponse,
    PlatformSnapshot, Position, PullMeta, PullRequest, StatusView, take_frames,
};

/// How to follow.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// The primary's base URL, e.g. `https://dc1.example:8443`.
    pub primary: String,
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

pub struct Follower {
    store: Store,
    cfg: FollowConfig,
    status: Arc<FollowStatus>,
    client: reqwest::Client,
    platform_version: Option<String>,
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
        Ok(Follower {
            store,
            cfg,
            status,
            client,
            platform_version: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.primary.trim_end_matches('/'))
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ReplicationError {
        ReplicationError::Unreachable {
            url: self.cfg.primary.clone(),
            reason: e.to_string(),
        }
    }

    async fn refused(&self, resp: reqwest::Response) -> ReplicationError {
        let status = resp.status().as_u16();
        let message = resp.text().await.unwrap_or_default();
        ReplicationError::Refused {
            url: self.cfg.primary.clone(),
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
        if state.role == NodeRole::Primary
            && state
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("promoted"))
        {
            return Ok(FollowerExit::Promoted { epoch: state.epoch });
        }
        self.store.set_following(role, &self.cfg.primary).await?;
        self.store.record_peer(&self.cfg.primary).await?;
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
            let round = tokio::select! {
                r = self.round(state.epoch) => r,
                _ = shutdown.changed() => continue,
            };
            match round {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e @ (ReplicationError::Store(_) | ReplicationError::Forked { .. })) => {
                    break Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replication round failed; retrying");
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

    fn followed(&self, code: &TenantCode) -> bool {
        self.cfg.tenants.is_empty() || self.cfg.tenants.contains(code)
    }

    async fn fetch_platform(&mut self) -> Result<(), ReplicationError> {
        let resp = self
            .client
            .get(self.url("/api/v1/replication/platform"))
            .bearer_auth(&self.cfg.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        let snap: PlatformSnapshot = resp.json().await.map_err(|e| self.unreachable(e))?;
        self.status.set_online_now();
        let mut local_epoch = self.store.node_state().await?.epoch;
        if snap.epoch > local_epoch {
            self.store
                .observe_epoch(snap.epoch, &self.cfg.primary)
                .await?;
            local_epoch = snap.epoch;
        }
        let _ = local_epoch;
        for t in &snap.tenants {
            let code = TenantCode::parse(&t.code).map_err(|e| ReplicationError::BadData {
                url: self.cfg.primary.clone(),
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
        for op in &snap.operators {
            self.store
                .import_operator(&Operator {
                    operator_id: op.operator_id.clone(),
                    login: op.login.clone(),
                    display_name: op.display_name.clone(),
                    password_hash: op.password_hash.clone(),
                })
                .await?;
        }
        for (pref, key, value) in &snap.prefecture_settings {
            let held = self.store.prefecture_settings(pref).await?;
            if !held.iter().any(|(k, v)| k == key && v == value) {
                self.store
                    .set_prefecture_setting(pref, key, Some(value), "system:replication")
                    .await?;
            }
        }
        for k in &snap.signing_keys {
            let Ok(code) = TenantCode::parse(&k.tenant) else {
                continue;
            };
            if !self.followed(&code) {
                continue;
            }
            let bad = |what: &str| ReplicationError::BadData {
                url: self.cfg.primary.clone(),
                reason: format!("signing key {}: {what} is not base64", k.key_id),
            };
            self.store
                .tenant(&code)
                .import_signing_key(&SigningKeyExport {
                    key_id: k.key_id.clone(),
                    public_key: B64.decode(&k.public_key).map_err(|_| bad("public key"))?,
                    secret_key: B64.decode(&k.secret_key).map_err(|_| bad("secret key"))?,
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                })
                .await?;
        }
        self.platform_version = Some(snap.version);
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
        let mut buf: Vec<u8> = Vec::new();
        let mut meta: Option<PullMeta> = None;
        let mut done = false;
        let mut applied_entries = 0u64;
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
            buf.extend_from_slice(&chunk);
            let (frames, used) = take_frames(&buf);
            let frames: Vec<Vec<u8>> = frames.into_iter().map(<[u8]>::to_vec).collect();
            buf.drain(..used);
            for f in frames {
                if meta.is_none() {
                    let m: PullMeta =
                        serde_json::from_slice(&f).map_err(|e| ReplicationError::BadData {
                            url: self.cfg.primary.clone(),
                            reason: format!("pull metadata: {e}"),
                        })?;
                    if m.epoch < epoch {
                        return Err(ReplicationError::Refused {
                            url: self.cfg.primary.clone(),
                            status: 409,
                            message: format!(
                                "it answers with epoch {} but this node knows epoch {epoch}: it is an old primary",
                                m.epoch
                            ),
                        });
                    }
                    if m.epoch > epoch {
                        self.store.observe_epoch(m.epoch, &self.cfg.primary).await?;
                    }
                    self.check_not_forked(&m).await?;
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

    /// Applies one segment frame: (entries appended, recorded time of the
    /// first of them).
    async fn apply_frame(&mut self, f: &[u8]) -> Result<(u64, Option<i64>), ReplicationError> {
        let bad = |reason: String| ReplicationError::BadData {
            url: self.cfg.primary.clone(),
            reason,
        };
        let (tag, bytes) = f.split_first().ok_or_else(|| bad("empty frame".into()))?;
        let chain = match *tag {
            CHAIN_LEDGER => Chain::Ledger,
            CHAIN_ACCESS => Chain::Access,
            t => return Err(bad(format!("unknown chain tag {t}"))),
        };
        let seg = Segment::decode(bytes).map_err(|e| bad(format!("segment: {e}")))?;
        let tenant = seg.header.tenant;
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
        let mut pending_total = 0u64;
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
            pending_total += ts.outbox_counts().await?.0;
        }
        metrics::gauge!("murakumo_outbox_pending").set(pending_total as f64);
        Ok(())
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
        peers.insert(self.cfg.primary.clone());
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
        if s.role == "primary" && best.as_ref().is_none_or(|b| s.epoch > b.0) {
            best = Some((s.epoch, p.clone()));
        }
    }
    best
}

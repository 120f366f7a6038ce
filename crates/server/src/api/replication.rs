//! The primary's side of online replication (`murakumo follow`), and the
//! node-level middleware: synchronous mode, the staff banner of a replica or
//! municipal-site fallback node, and the replication metrics.
//!
//! Every route here is protected by the replication token
//! (`MURAKUMO_REPLICATION_TOKEN`, as for `murakumo://` backups) or by a
//! municipal site's own token (`serve --site-token CODE=TOKEN`), which is
//! served its municipality only. Protocol: `docs/design/replication.md`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use murakumo_core::TenantCode;
use murakumo_ledger::Segment;
use murakumo_replication::wire::{
    CHAIN_ACCESS, CHAIN_LEDGER, CHAIN_PLATFORM, FenceRequest, HashesRequest, HashesResponse,
    HeadInfo, MAX_FRAME_BYTES, OutboxRequest, OutboxResponse, OutboxResult, PlatformSnapshot,
    PullMeta, PullRequest, SEGMENTS_CONTENT_TYPE, SiteKeyRequest, StatusView, TenantWire,
    put_frame,
};
use murakumo_store::{Chain, NodeRole, OutboxRefusal, Replayed, Replayer, Store};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// The replication routes, each in the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pull))
        .routes(routes!(platform))
        .routes(routes!(outbox))
        .routes(routes!(status))
        .routes(routes!(fence))
        .routes(routes!(hashes))
        .routes(routes!(site_key))
}

/// Who is asking, by the token sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// Another centre, or a node of this one (the replication token):
    /// every tenant, secret signing keys included.
    Centre,
    /// A municipal site (its own site token): its municipality only, never
    /// a secret key, and no say in fencing.
    Site(TenantCode),
}

impl Peer {
    fn of(headers: &HeaderMap, state: &AppState) -> ApiResult<Peer> {
        if let Some(given) = super::backup_target::bearer(headers) {
            // blake3::Hash compares in constant time.
            let given = blake3::hash(given.as_bytes());
            for (code, token) in &state.replication.site_tokens {
                if blake3::hash(token.as_bytes()) == given {
                    return Ok(Peer::Site(*code));
                }
            }
        }
        super::backup_target::check_replication_token(headers, state.replication.token.as_deref())?;
        Ok(Peer::Centre)
    }

    /// Refuses a tenant outside a site's municipality.
    fn check_tenant(self, tenant: &TenantCode) -> ApiResult<()> {
        match self {
            Peer::Site(own) if own != *tenant => Err(ApiError::forbidden(format!(
                "this site token is for municipality {own} only, not {tenant}"
            ))),
            _ => Ok(()),
        }
    }

    /// The epoch a peer's word counts for: a site cannot fence this node.
    fn epoch_claim(self, epoch: u64) -> u64 {
        match self {
            Peer::Centre => epoch,
            Peer::Site(_) => 0,
        }
    }
}

fn not_primary(role: NodeRole, epoch: u64) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: "not_primary",
        message: format!(
            "this node is a {} at epoch {epoch}, not the primary: follow the current primary instead",
            role.name()
        ),
        field: None,
        retry_after_secs: None,
    }
}

/// A synchronous follower silent for longer than the longest long poll
/// (25 s) plus a margin is away: access-only requests are not held for it.
const FOLLOWER_AWAY_AFTER: Duration = Duration::from_secs(30);

/// Entries per segment read at a time.
const PAGE: u32 = 2_000;

/// Long-polls for ledger and access-log entries after the follower's
/// positions; answers with framed segments (`application/x-murakumo-segments`,
/// see the replication design note). Pulling after N acknowledges entries up
/// to N (synchronous mode counts on it).
#[utoipa::path(post, path = "/api/v1/replication/pull", tag = "replication",
    request_body = PullRequest, security(("bearer" = [])),
    responses((status = 200, description = "frames: PullMeta JSON, then chain byte + MKSEG001 segment each, then an empty frame", content_type = "application/x-murakumo-segments"),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn pull(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<PullRequest>,
) -> ApiResult<Response> {
    let peer = Peer::of(&headers, &state)?;
    if let (Peer::Site(_), Some(sync)) = (peer, &state.replication.sync)
        && sync.follower == req.follower
    {
        return Err(ApiError::forbidden(format!(
            "{} is the synchronous follower of this primary; a site token cannot acknowledge for it",
            req.follower
        )));
    }
    let store = &state.store;
    let node = checked_primary(store, peer.epoch_claim(req.epoch), &req.follower).await?;
    // Peers become failover candidates that followers send the token to:
    // only another centre may add one (a site is never a candidate).
    if let Some(url) = req.url.as_deref().filter(|u| !u.is_empty())
        && peer == Peer::Centre
    {
        store.record_peer(url).await?;
    }
    state.replication.acks.record(&req.follower, &req.positions);
    let mut positions: HashMap<TenantCode, (u64, u64)> = HashMap::new();
    for p in &req.positions {
        let code = TenantCode::parse(&p.tenant)
            .map_err(|e| ApiError::invalid("positions", format!("{}: {e}", p.tenant)))?;
        peer.check_tenant(&code)?;
        positions.insert(code, (p.ledger, p.access));
    }
    let tenants: Vec<TenantCode> = if let Peer::Site(own) = peer {
        vec![own]
    } else if req.all_tenants {
        store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.code)
            .collect()
    } else {
        positions.keys().copied().collect()
    };
    let budget = req
        .max_bytes
        .unwrap_or(256 * 1024)
        .clamp(4 * 1024, 16 << 20) as usize;
    let wait = Duration::from_millis(req.wait_ms.min(25_000));
    let deadline = tokio::time::Instant::now() + wait;
    let mut rx = store.append_watch().subscribe();
    // Another centre follows the platform's chain; a site never gets it.
    let platform_from = req.platform.filter(|_| peer == Peer::Centre);
    loop {
        let (mut frames, heads, mut sent_any) =
            collect(store, &tenants, &positions, budget).await?;
        let mut platform_head = None;
        if let Some(from) = platform_from {
            let used = frames.iter().map(Vec::len).sum::<usize>();
            let chain = store.platform_chain();
            let head = chain.head().await?.seq;
            let platform_frames =
                platform_frames(&chain, from, head, budget.saturating_sub(used)).await?;
            sent_any |= !platform_frames.is_empty();
            frames.extend(platform_frames);
            platform_head = Some(head);
        }
        if sent_any || tokio::time::Instant::now() >= deadline {
            let peers = store
                .peers()
                .await?
                .into_iter()
                .filter(|p| Some(p.as_str()) != req.url.as_deref())
                .collect();
            let meta = PullMeta {
                epoch: node.epoch,
                now: murakumo_ledger::RecordedAt::now().0,
                heads,
                platform_version: platform_snapshot(store, peer).await?.version,
                platform_head,
                peers,
            };
            let mut body = Vec::new();
            put_frame(
                &mut body,
                &serde_json::to_vec(&meta).map_err(|e| ApiError::internal(e.to_string()))?,
            );
            for f in &frames {
                put_frame(&mut body, f);
            }
            put_frame(&mut body, &[]);
            let mut resp = ([(header::CONTENT_TYPE, SEGMENTS_CONTENT_TYPE)], body).into_response();
            if let Ok(v) = HeaderValue::from_str(&node.epoch.to_string()) {
                resp.headers_mut().insert("x-murakumo-epoch", v);
            }
            return Ok(resp);
        }
        // Woken by a commit on this node; polled every 500 ms for commits by
        // other nodes on the same PostgreSQL.
        let _ = tokio::time::timeout(
            Duration::from_millis(500).min(deadline - tokio::time::Instant::now()),
            rx.changed(),
        )
        .await;
    }
}

/// Refuses unless this node is primary; a follower that knows a newer
/// epoch fences this node first.
async fn checked_primary(
    store: &Store,
    their_epoch: u64,
    who: &str,
) -> ApiResult<murakumo_store::NodeState> {
    let (node, changed) = store.observe_epoch(their_epoch, who).await?;
    if changed && node.role == NodeRole::Fenced {
        tracing::error!(epoch = their_epoch, by = %who, "a newer primary exists: this node is fenced and refuses writes");
    }
    if node.role != NodeRole::Primary {
        return Err(not_primary(node.role, node.epoch));
    }
    Ok(node)
}

type Collected = (Vec<Vec<u8>>, Vec<HeadInfo>, bool);

async fn collect(
    store: &Store,
    tenants: &[TenantCode],
    positions: &HashMap<TenantCode, (u64, u64)>,
    budget: usize,
) -> ApiResult<Collected> {
    let mut frames = Vec::new();
    let mut heads = Vec::new();
    let mut used = 0usize;
    for code in tenants {
        let ts = store.tenant(code);
        if !ts.exists().await? {
            continue;
        }
        let (mut l, mut a) = positions.get(code).copied().unwrap_or((0, 0));
        let lh = ts.head(Chain::Ledger).await?.seq;
        let ah = ts.head(Chain::Access).await?.seq;
        let hash_at = |chain: Chain, pos: u64, head: u64| {
            let ts = store.tenant(code);
            async move {
                if pos == 0 || pos > head {
                    return Ok::<_, ApiError>(None);
                }
                Ok(ts
                    .read_after(chain, pos - 1, 1)
                    .await?
                    .first()
                    .map(|e| hex::encode(e.hash.0)))
            }
        };
        let ledger_hash_at_position = hash_at(Chain::Ledger, l, lh).await?;
        let access_hash_at_position = hash_at(Chain::Access, a, ah).await?;
        for (chain, tag, pos, head) in [
            (Chain::Ledger, CHAIN_LEDGER, &mut l, lh),
            (Chain::Access, CHAIN_ACCESS, &mut a, ah),
        ] {
            let mut page = PAGE;
            while *pos < head && used < budget {
                let entries = ts.read_after(chain, *pos, page).await?;
                let Some(last) = entries.last() else { break };
                let last_seq = last.seq;
                let n = entries.len() as u32;
                let seg = Segment::new(entries)
                    .map_err(|e| ApiError::internal(format!("cannot cut a segment: {e}")))?;
                let mut f = vec![tag];
                f.extend_from_slice(&seg.encode());
                // Followers refuse longer frames: cut fewer entries.
                if f.len() > MAX_FRAME_BYTES {
                    if n == 1 {
                        return Err(ApiError::internal(format!(
                            "entry {last_seq} of tenant {code} ({}) is longer than a replication frame may be",
                            chain.name()
                        )));
                    }
                    page = n / 2;
                    continue;
                }
                used += f.len();
                frames.push(f);
                *pos = last_seq;
            }
        }
        let mut pending_since = None;
        for (chain, pos, head) in [(Chain::Ledger, l, lh), (Chain::Access, a, ah)] {
            if pos < head {
                if let Some(e) = ts.read_after(chain, pos, 1).await?.first() {
                    let t = e.recorded_at.0;
                    pending_since = Some(pending_since.map_or(t, |p: i64| p.min(t)));
                }
            }
        }
        heads.push(HeadInfo {
            tenant: code.to_string(),
            ledger: lh,
            access: ah,
            pending_since,
            ledger_hash_at_position,
            access_hash_at_position,
        });
    }
    let any = !frames.is_empty();
    Ok((frames, heads, any))
}

/// Frames of the platform's chain after `from`, up to `head`, within `budget` bytes (at least
/// one segment when any is due, as for tenants).
async fn platform_frames(
    chain: &murakumo_store::PlatformChain<'_>,
    mut from: u64,
    head: u64,
    budget: usize,
) -> ApiResult<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    let mut used = 0usize;
    let mut page = u64::from(PAGE);
    while from < head && (frames.is_empty() || used < budget) {
        let entries = chain.read_after(from, page).await?;
        let Some(last) = entries.last() else { break };
        let (last_seq, n) = (last.seq, entries.len() as u64);
        let seg = Segment::new(entries)
            .map_err(|e| ApiError::internal(format!("cannot cut a segment: {e}")))?;
        let mut f = vec![CHAIN_PLATFORM];
        f.extend_from_slice(&seg.encode());
        if f.len() > MAX_FRAME_BYTES {
            if n == 1 {
                return Err(ApiError::internal(format!(
                    "entry {last_seq} of the platform's chain is longer than a replication frame may be"
                )));
            }
            page = n / 2;
            continue;
        }
        used += f.len();
        frames.push(f);
        from = last_seq;
    }
    Ok(frames)
}

/// The platform data a peer may have that is in no chain: the tenant list (for a site, its
/// municipality only).
async fn platform_snapshot(store: &Store, peer: Peer) -> ApiResult<PlatformSnapshot> {
    let node = store.node_state().await?;
    let mut tenants = store.list_tenants().await?;
    if let Peer::Site(own) = peer {
        tenants.retain(|t| t.code == own);
    }
    let mut snap = PlatformSnapshot {
        epoch: node.epoch,
        version: String::new(),
        tenants: tenants
            .iter()
            .map(|t| TenantWire {
                code: t.code.to_string(),
                name: t.name.clone(),
                prefecture_code: t.prefecture_code.clone(),
                created_at: t.created_at.timestamp_micros(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&snap).map_err(|e| ApiError::internal(e.to_string()))?;
    snap.version = blake3::hash(&bytes).to_hex()[..16].to_string();
    Ok(snap)
}

/// What a follower needs besides the chains: the tenant list. (Certificate signing keys are
/// in the chains: public halves in each municipality's ledger, secrets sealed in the
/// platform's chain, which only another centre follows; a site signs with its own key.)
#[utoipa::path(get, path = "/api/v1/replication/platform", tag = "replication",
    security(("bearer" = [])),
    responses((status = 200, body = PlatformSnapshot), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn platform(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<PlatformSnapshot>> {
    let peer = Peer::of(&headers, &state)?;
    Ok(Json(platform_snapshot(&state.store, peer).await?))
}

/// Replays a follower's outbox (certificates issued on a municipal-site
/// fallback node while the centre was unreachable, and access records of
/// reads there). Every item is decoded and checked before the first is
/// appended (`OutboxEntryWire::decode`: known kinds whose payload decodes,
/// the site's own 発行番号 series and signing key, and — for a site token —
/// the site as actor); a refused batch appends nothing. Each item is
/// appended once: a second replay of the same key (`certificate:<発行番号>`)
/// returns where it already is.
#[utoipa::path(post, path = "/api/v1/replication/outbox", tag = "replication",
    request_body = OutboxRequest, security(("bearer" = [])),
    responses((status = 200, body = OutboxResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<OutboxRequest>,
) -> ApiResult<Json<OutboxResponse>> {
    let peer = Peer::of(&headers, &state)?;
    checked_primary(&state.store, peer.epoch_claim(req.epoch), &req.follower).await?;
    let by = match peer {
        Peer::Centre => Replayer::Centre {
            name: req.follower.clone(),
        },
        Peer::Site(_) => Replayer::Site {
            name: req.follower.clone(),
        },
    };
    // Check the whole batch before appending any of it.
    let mut checked = Vec::new();
    for (i, item) in req.items.iter().enumerate() {
        let refused = |e: OutboxRefusal| {
            metrics::counter!("murakumo_replication_outbox_refused_total").increment(1);
            tracing::warn!(follower = %req.follower, item = i, field = e.field, reason = %e.message,
                "refused an outbox item; nothing of the batch was appended");
            ApiError::invalid(&format!("items[{i}].{}", e.field), e.message)
        };
        let (tenant, item) = item.decode(&by).map_err(&refused)?;
        peer.check_tenant(&tenant)?;
        if let Some(key) = item.certificate_key() {
            let holder = state.store.tenant(&tenant).signing_key_site(key).await?;
            item.check_key_holder(holder.as_ref().map(Option::as_deref))
                .map_err(&refused)?;
        }
        checked.push((tenant, item));
    }
    let mut results = Vec::new();
    for (tenant, item) in checked {
        let key = item.dedupe_key().to_string();
        let r = state.store.tenant(&tenant).append_once(item).await?;
        let (status, seq) = match r {
            Replayed::Appended(s) => ("appended", s),
            Replayed::AlreadyHeld(s) => ("already_held", s),
        };
        results.push(OutboxResult {
            dedupe_key: key,
            status: status.into(),
            seq,
        });
    }
    Ok(Json(OutboxResponse { results }))
}

/// 照合: a certificate signed with a municipal site's own key is genuine
/// only once the centre's ledger holds its issuance (the same 発行番号, key
/// and certified content). A site token can register a key, so the key
/// alone must not make what it signs genuine; until the site's outbox
/// reaches the centre, verification says the certificate is unreconciled.
/// `None`: not signed with a site's key, or reconciled.
pub(crate) async fn unreconciled_site_issuance(
    state: &AppState,
    v: &murakumo_documents::VerifiedCertificate,
) -> ApiResult<Option<super::certificates::VerificationView>> {
    let Ok(tenant) = TenantCode::parse(&v.tenant_code) else {
        return Ok(None);
    };
    let Some(site) = state
        .store
        .tenant(&tenant)
        .unreconciled_site(
            &v.key_id,
            &v.issue_number,
            &super::certificates::hex_digest(&v.digest),
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(super::certificates::VerificationView::of(
        v,
        false,
        format!(
            "拠点で発行され、まだ本庁で照合されていない証明書です（発行番号 {}、拠点 {site} の署名鍵 {}）。\
             署名は拠点の鍵のものですが、本庁の台帳にこの発行の記録がないため、真正とは確認できません。\
             拠点の回線が復旧して発行記録が本庁に届けば確認できます。発行した市区町村にお問い合わせください。",
            v.issue_number, v.key_id
        ),
    )))
}

/// This node's role and epoch.
#[utoipa::path(get, path = "/api/v1/replication/status", tag = "replication",
    security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 403, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<StatusView>> {
    Peer::of(&headers, &state)?;
    let s = state.store.node_state().await?;
    Ok(Json(StatusView {
        role: s.role.name().into(),
        epoch: s.epoch,
        primary_url: s.primary_url,
        note: s.note,
    }))
}

/// Most sequence numbers one hashes request may ask for.
const MAX_HASHES: usize = 256;

/// The hashes of some entries of one chain, with its head: a follower (or
/// an old primary rejoining) finds where its chains stop being a prefix of
/// this node's before it follows it. Reads only; acknowledges nothing.
#[utoipa::path(post, path = "/api/v1/replication/hashes", tag = "replication",
    request_body = HashesRequest, security(("bearer" = [])),
    responses((status = 200, body = HashesResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn hashes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<HashesRequest>,
) -> ApiResult<Json<HashesResponse>> {
    let peer = Peer::of(&headers, &state)?;
    let tenant = TenantCode::parse(&req.tenant)
        .map_err(|e| ApiError::invalid("tenant", format!("{}: {e}", req.tenant)))?;
    peer.check_tenant(&tenant)?;
    let chain = Chain::from_name(&req.chain)
        .ok_or_else(|| ApiError::invalid("chain", "use ledger or access"))?;
    if req.seqs.is_empty() || req.seqs.len() > MAX_HASHES {
        return Err(ApiError::invalid(
            "seqs",
            format!("give 1 to {MAX_HASHES} sequence numbers"),
        ));
    }
    let ts = state.store.tenant(&tenant);
    if !ts.exists().await? {
        return Ok(Json(HashesResponse {
            tenant_known: false,
            head: 0,
            hashes: vec![None; req.seqs.len()],
        }));
    }
    let head = ts.head(chain).await?.seq;
    let mut out = Vec::with_capacity(req.seqs.len());
    for &seq in &req.seqs {
        out.push(if seq == 0 || seq > head {
            None
        } else {
            ts.read_after(chain, seq - 1, 1)
                .await?
                .first()
                .map(|e| hex::encode(e.hash.0))
        });
    }
    Ok(Json(HashesResponse {
        tenant_known: true,
        head,
        hashes: out,
    }))
}

/// Tells this node that a primary with a newer epoch exists: if this node
/// is a primary with an older epoch, it fences itself (refuses writes).
#[utoipa::path(post, path = "/api/v1/replication/fence", tag = "replication",
    request_body = FenceRequest, security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 403, body = ErrorBody)))]
pub async fn fence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<FenceRequest>,
) -> ApiResult<Json<StatusView>> {
    if let Peer::Site(_) = Peer::of(&headers, &state)? {
        return Err(ApiError::forbidden(
            "a site token cannot fence a node: only another centre (the replication token) can",
        ));
    }
    let (s, changed) = state.store.observe_epoch(req.epoch, &req.by).await?;
    if changed {
        tracing::warn!(epoch = req.epoch, by = %req.by, role = s.role.name(), "told of a newer epoch");
    }
    Ok(Json(StatusView {
        role: s.role.name().into(),
        epoch: s.epoch,
        primary_url: s.primary_url,
        note: s.note,
    }))
}

/// Registers a municipal site's own certificate signing key (the public
/// half; the secret stays at the site): certificates the site issues while
/// the centre is unreachable then verify here, and at every node the
/// platform data reaches. Registering a known key again changes nothing.
#[utoipa::path(post, path = "/api/v1/replication/site-keys", tag = "replication",
    request_body = SiteKeyRequest, security(("bearer" = [])),
    responses((status = 200, description = "registered (or known already)"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn site_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<SiteKeyRequest>,
) -> ApiResult<StatusCode> {
    let peer = Peer::of(&headers, &state)?;
    let tenant = TenantCode::parse(&req.tenant)
        .map_err(|e| ApiError::invalid("tenant", format!("{}: {e}", req.tenant)))?;
    peer.check_tenant(&tenant)?;
    let node = state.store.node_state().await?;
    if node.role != NodeRole::Primary {
        return Err(not_primary(node.role, node.epoch));
    }
    let public: [u8; 32] = B64
        .decode(&req.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::invalid("public_key", "an Ed25519 public key: 32 bytes, base64")
        })?;
    let key = murakumo_documents::VerifyingKey::from_bytes(&public)
        .map_err(|_| ApiError::invalid("public_key", "not a valid Ed25519 public key"))?;
    if murakumo_documents::key_id(&key) != req.key_id {
        return Err(ApiError::invalid(
            "key_id",
            "does not match the public key (the first 8 bytes of its BLAKE3, hex)",
        ));
    }
    let site = req.site.trim();
    if site.is_empty() || site.len() > 64 {
        return Err(ApiError::invalid(
            "site",
            "the site's name: 1 to 64 characters",
        ));
    }
    state.store.tenant_info(&tenant).await?;
    if state
        .store
        .tenant(&tenant)
        .register_site_key(&req.key_id, &public, site)
        .await?
    {
        tracing::info!(tenant = %tenant, site, key_id = %req.key_id, "registered a municipal site's signing key");
    }
    Ok(StatusCode::OK)
}

/// Synchronous mode: a request that appended to a tenant's ledger is
/// answered only once the named follower holds every entry of both chains
/// this node has committed so far (a superset of the request's own: the
/// change and its access records). If it does not within the timeout, the
/// client is told the change is recorded here but not yet replicated.
///
/// A request that appended access-log records only (a search, a resident's
/// page: 住民基本台帳の閲覧記録) waits the same way while the follower is
/// following, so that a failover loses no acknowledged access record and an
/// old primary can rejoin as a replica; but it is answered anyway when the
/// follower is away or slow (counted in
/// `murakumo_replication_sync_timeouts_total{kind="access"}`): the counter
/// keeps working without its second centre. Requests that append nothing
/// are not held.
pub async fn sync_barrier(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(sync) = state.replication.sync.as_ref() else {
        return next.run(req).await;
    };
    // The followers' own requests are never held (a long poll that saw a
    // commit would otherwise wait for its own acknowledgement).
    if req.uri().path().starts_with("/api/v1/replication/") {
        return next.run(req).await;
    }
    let before = state.store.append_watch().heads();
    let resp = next.run(req).await;
    let after = state.store.append_watch().heads();
    if after == before {
        return resp;
    }
    let ledger_changed = after
        .iter()
        .any(|(k, head)| k.1 == Chain::Ledger && before.get(k) != Some(head));
    let acks = &state.replication.acks;
    if !ledger_changed && !acks.is_present(&sync.follower, FOLLOWER_AWAY_AFTER) {
        return resp;
    }
    if acks
        .wait_until_covered(&sync.follower, &after, sync.timeout)
        .await
    {
        return resp;
    }
    let kind = if ledger_changed { "ledger" } else { "access" };
    metrics::counter!("murakumo_replication_sync_timeouts_total", "kind" => kind).increment(1);
    if !ledger_changed {
        return resp;
    }
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "not_replicated",
        message: format!(
            "the change was recorded at this centre, but the synchronous replica {} did not confirm it within {} s; \
             it is not yet safe against losing this centre. Check the replica and its link; the change needs no repeating",
            sync.follower,
            sync.timeout.as_secs()
        ),
        field: None,
        retry_after_secs: Some(5),
    }
    .into_response()
}

/// The staff banner (Japanese) of a node that is not the primary.
pub async fn banner(state: &AppState) -> Option<String> {
    let node = state.store.node_state().await.ok()?;
    let follow = state.replication.follow.as_ref();
    match (node.role, follow) {
        (NodeRole::Primary, _) => None,
        (NodeRole::Fenced, _) => Some(
            "このサーバーは旧プライマリです。新しいプライマリが稼働しているため、更新はできません（読み取り専用）。".into(),
        ),
        (_, Some(f)) if f.fallback && !f.online() => Some(format!(
            "データセンターに接続できません（{}から）。利用拠点バックアップで運用中です：検索・照会・証明書交付のみ可能（読み取り専用）。\
             証明書の発行番号は拠点用の番号（{}）で、回線復旧後にデータセンターへ自動で送られます。",
            f.offline_since()
                .map(|t| (t + chrono::Duration::hours(9)).format("%H:%M:%S 日本時間").to_string())
                .unwrap_or_default(),
            f.series_suffix
        )),
        (_, Some(f)) if f.fallback => Some(
            "データセンターに接続中です。通常の業務はデータセンターで行ってください（この端末は利用拠点バックアップです）。".into(),
        ),
        _ => Some(
            "このサーバーはレプリカ（副本）です。更新はプライマリのデータセンターで行ってください（読み取り専用）。".into(),
        ),
    }
}

/// Puts the banner at the top of every staff page of a non-primary node.
pub async fn banner_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return resp;
    }
    let Some(text) = banner(&state).await else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let html = String::from_utf8_lossy(&bytes).replacen(
        "<main",
        &format!(
            "<div class=\"node-banner\" role=\"alert\">{}</div><main",
            crate::ui::esc(&text)
        ),
        1,
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(html))
}

/// Replication gauges for /metrics: on a primary, each follower's
/// unacknowledged entries and the age of the oldest (the loss window of
/// asynchronous mode); on a follower the lag is set by the follower task.
pub async fn update_metrics(state: &AppState) {
    let Ok(node) = state.store.node_state().await else {
        return;
    };
    metrics::gauge!("murakumo_node_epoch").set(node.epoch as f64);
    metrics::gauge!("murakumo_node_is_primary").set(if node.role == NodeRole::Primary {
        1.0
    } else {
        0.0
    });
    let Ok(tenants) = state.store.list_tenants().await else {
        return;
    };
    // Read at each scrape: the outbox fills while the primary is away,
    // when nothing else would update a gauge.
    let mut pending = 0;
    for t in &tenants {
        pending += state
            .store
            .tenant(&t.code)
            .outbox_counts()
            .await
            .map_or(0, |(p, _)| p);
    }
    metrics::gauge!("murakumo_outbox_pending").set(pending as f64);
    if node.role != NodeRole::Primary {
        return;
    }
    let mut heads = HashMap::new();
    for t in &tenants {
        let ts = state.store.tenant(&t.code);
        for chain in [Chain::Ledger, Chain::Access] {
            if let Ok(h) = ts.head(chain).await {
                heads.insert((t.code, chain), h.seq);
            }
        }
    }
    let now = murakumo_ledger::RecordedAt::now().0;
    for lag in state.replication.acks.lags(&heads) {
        let entries: u64 = lag.behind.iter().map(|b| b.3 - b.2).sum();
        let mut oldest: Option<i64> = None;
        for (tenant, chain, ack, _) in &lag.behind {
            if let Ok(e) = state.store.tenant(tenant).read_after(*chain, *ack, 1).await {
                if let Some(e) = e.first() {
                    oldest = Some(oldest.map_or(e.recorded_at.0, |o| o.min(e.recorded_at.0)));
                }
            }
        }
        let seconds = oldest.map_or(0.0, |t| ((now - t).max(0) as f64) / 1e6);
        let sync = state
            .replication
            .sync
            .as_ref()
            .is_some_and(|s| s.follower == lag.follower);
        let labels = [
            ("follower", lag.follower.clone()),
            ("mode", if sync { "sync" } else { "async" }.to_string()),
        ];
        metrics::gauge!(
            "murakumo_replication_follower_unacknowledged_entries",
            &labels
        )
        .set(entries as f64);
        metrics::gauge!("murakumo_replication_loss_window_seconds", &labels).set(seconds);
        if let Some(d) = lag.last_pull {
            metrics::gauge!("murakumo_replication_follower_last_pull_seconds", &labels)
                .set(d.as_secs_f64());
        }
    }
}

//! The replication protocol on the wire (see `docs/design/replication.md`).
//!
//! A follower long-polls `POST /api/v1/replication/pull` with where each of
//! its chains ends; the primary answers as soon as it has entries after
//! those positions (or after `wait_ms` with none) with a body of frames:
//!
//! ```text
//! frame  = u32 big-endian length, then that many bytes
//! body   = frame(JSON PullMeta) frame(chain byte ++ MKSEG001 segment)* frame(empty)
//! ```
//!
//! The empty last frame says the body is whole: a body cut by a broken link
//! is recognised and nothing after the last whole segment is used (every
//! whole segment is still applied, so a slow link always makes progress).
//!
//! A follower does not trust the lengths it is sent: a frame longer than
//! [`MAX_FRAME_BYTES`] is refused as soon as its length arrives, before any
//! of it is buffered ([`FrameReader`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use murakumo_core::TenantCode;
use murakumo_ledger::NewEntry;
use murakumo_store::{Chain, CheckedOutboxItem, MAX_OUTBOX_PAYLOAD, OutboxRefusal, Replayer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Content type of a pull response.
pub const SEGMENTS_CONTENT_TYPE: &str = "application/x-murakumo-segments";

/// Chain tags inside segment frames.
pub const CHAIN_LEDGER: u8 = 0;
pub const CHAIN_ACCESS: u8 = 1;
/// The platform's chain (operators, 県版 settings): sent to another centre only.
pub const CHAIN_PLATFORM: u8 = 2;

/// Where a follower's copy of one tenant's chains ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    /// 全国地方公共団体コード.
    pub tenant: String,
    /// Last ledger entry held (0: none).
    pub ledger: u64,
    /// Last access-log entry held (0: none).
    pub access: u64,
}

/// A long poll for entries.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PullRequest {
    /// The follower's name (what `--sync-follower` names on the primary).
    pub follower: String,
    /// Where the follower can be reached, if it serves HTTP (told about a
    /// new epoch after a promotion).
    #[serde(default)]
    pub url: Option<String>,
    /// The highest epoch the follower knows: a primary with a lower one
    /// fences itself and answers 409.
    pub epoch: u64,
    /// Where each followed tenant's chains end here. Tenants of the primary
    /// not listed are sent from the start if `all_tenants`.
    pub positions: Vec<Position>,
    /// Follow every tenant of the primary (another data centre), not only
    /// those in `positions` (a municipal site).
    #[serde(default)]
    pub all_tenants: bool,
    /// How long to wait for new entries, in ms (at most 25 000).
    #[serde(default)]
    pub wait_ms: u64,
    /// Stop adding segments after about this many bytes (default 256 KiB).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Where the follower's copy of the platform's chain ends, if it follows it (another
    /// data centre does; a municipal site never gets it, whatever it asks).
    #[serde(default)]
    pub platform: Option<u64>,
}

/// The head of one tenant's chains on the primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeadInfo {
    pub tenant: String,
    pub ledger: u64,
    pub access: u64,
    /// Recorded time (µs since the epoch) of the first entry the follower
    /// still lacks after this response, if it lacks any: the lag in time.
    #[serde(default)]
    pub pending_since: Option<i64>,
    /// BLAKE3 (hex) of the primary's ledger entry at the follower's ledger
    /// position, if the primary has one there: a follower whose own entry
    /// differs has forked (e.g. an old primary's unreplicated write).
    #[serde(default)]
    pub ledger_hash_at_position: Option<String>,
    /// The same for the access log.
    #[serde(default)]
    pub access_hash_at_position: Option<String>,
}

/// The first frame of a pull response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PullMeta {
    /// The primary's epoch.
    pub epoch: u64,
    /// The primary's clock (µs since the epoch) when it answered.
    pub now: i64,
    /// Heads of every tenant the follower follows.
    pub heads: Vec<HeadInfo>,
    /// Changes when tenants or signing keys change: the follower fetches
    /// `/replication/platform` again.
    pub platform_version: String,
    /// The head of the primary's platform chain, for a follower that follows it.
    #[serde(default)]
    pub platform_head: Option<u64>,
    /// Other nodes this primary knows (the advertised URLs of its other
    /// followers, the primary it followed before): where a follower looks
    /// for the new primary when this one is lost (フェイルオーバー先の候補).
    #[serde(default)]
    pub peers: Vec<String>,
}

/// Asks a node for the hashes of some entries of one chain (the fork
/// check: where does a follower's chain stop being a prefix of it?).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HashesRequest {
    /// 全国地方公共団体コード.
    pub tenant: String,
    /// `ledger` or `access`.
    pub chain: String,
    /// Sequence numbers (1 or more, at most 256).
    pub seqs: Vec<u64>,
}

/// The hashes asked for, in the order asked.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HashesResponse {
    /// Whether the node holds this tenant at all.
    pub tenant_known: bool,
    /// The node's head (last sequence number) of that chain.
    pub head: u64,
    /// BLAKE3 (hex) of each entry; null where the node has no such entry.
    pub hashes: Vec<Option<String>>,
}

/// A tenant of the platform.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantWire {
    pub code: String,
    pub name: String,
    pub prefecture_code: String,
    /// µs since the epoch.
    pub created_at: i64,
}

/// A municipal site's own certificate signing key, registered with the
/// primary by the site (`POST /api/v1/replication/site-keys`): the public
/// half only; the secret never leaves the site.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SiteKeyRequest {
    /// 全国地方公共団体コード.
    pub tenant: String,
    pub key_id: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// The site's name (`murakumo follow --name`).
    pub site: String,
}

/// What a follower needs that is in no chain yet: the tenant list. (Operators, 県版 settings
/// and the sealed secrets of signing keys travel in the platform's chain, the public keys in
/// each municipality's ledger.)
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PlatformSnapshot {
    pub epoch: u64,
    pub version: String,
    pub tenants: Vec<TenantWire>,
}

/// One outbox item sent to the primary.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxEntryWire {
    pub tenant: String,
    /// `ledger` or `access`.
    pub chain: String,
    /// Idempotency key: `certificate:<発行番号>` for certificates.
    pub dedupe_key: String,
    pub kind: String,
    pub version: u16,
    /// YYYY-MM-DD
    pub effective_date: String,
    pub actor: String,
    /// base64 of the payload bytes.
    pub payload: String,
}

impl OutboxEntryWire {
    /// Decodes and checks the item as sent by `by`: its tenant, chain, date
    /// and payload, then what [`CheckedOutboxItem::check`] demands (a known
    /// kind whose payload decodes, a site's own 発行番号 series, the site as
    /// actor). Nothing is appended for an item refused here.
    pub fn decode(&self, by: &Replayer) -> Result<(TenantCode, CheckedOutboxItem), OutboxRefusal> {
        let refuse = |field: &'static str, message: String| OutboxRefusal { field, message };
        let tenant =
            TenantCode::parse(&self.tenant).map_err(|e| refuse("tenant", e.to_string()))?;
        let chain = Chain::from_name(&self.chain)
            .ok_or_else(|| refuse("chain", "use ledger or access".into()))?;
        let effective_date = chrono::NaiveDate::parse_from_str(&self.effective_date, "%Y-%m-%d")
            .map_err(|_| refuse("effective_date", "use YYYY-MM-DD".into()))?;
        // base64 takes 4 characters for 3 bytes: refuse before decoding more.
        if self.payload.len() > MAX_OUTBOX_PAYLOAD / 3 * 4 + 4 {
            return Err(refuse(
                "payload",
                format!("longer than the {MAX_OUTBOX_PAYLOAD} bytes an outbox item holds"),
            ));
        }
        let payload = B64
            .decode(&self.payload)
            .map_err(|_| refuse("payload", "not base64".into()))?;
        let entry = NewEntry {
            kind: self.kind.clone(),
            version: self.version,
            effective_date,
            actor: self.actor.clone(),
            payload,
        };
        let item = CheckedOutboxItem::check(by, chain, &self.dedupe_key, entry)?;
        Ok((tenant, item))
    }
}

/// A batch of outbox items from a follower.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxRequest {
    pub follower: String,
    pub epoch: u64,
    pub items: Vec<OutboxEntryWire>,
}

/// What the primary did with one item.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxResult {
    pub dedupe_key: String,
    /// `appended` or `already_held`.
    pub status: String,
    /// Where the entry is in the tenant's chain.
    pub seq: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxResponse {
    pub results: Vec<OutboxResult>,
}

/// A node's replication status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// `primary`, `replica`, `fallback` or `fenced`.
    pub role: String,
    pub epoch: u64,
    pub primary_url: Option<String>,
    pub note: Option<String>,
}

/// Tells an old primary about a newer epoch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FenceRequest {
    pub epoch: u64,
    /// Who says so (the new primary's URL or name).
    pub by: String,
}

/// Longest frame a follower accepts. The primary cuts segments at the
/// follower's `max_bytes` (at most 16 MiB) and never sends a frame longer
/// than this (it cuts a segment of large entries smaller); a length above it
/// is a broken or hostile primary, refused before anything of it is read.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// A frame that is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "a frame claims {claimed} bytes, more than the {limit} a frame may hold: refused before reading it"
    )]
    TooLong { claimed: u64, limit: usize },
}

/// Appends one frame. A frame longer than [`MAX_FRAME_BYTES`] is a bug of
/// the sender (the primary cuts segments below it).
pub fn put_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    debug_assert!(
        bytes.len() <= MAX_FRAME_BYTES,
        "frame of {} bytes",
        bytes.len()
    );
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Splits whole frames off the front of `buf`; returns them and how many
/// bytes they used. An incomplete frame at the end stays in `buf`. A frame
/// header claiming more than `limit` bytes is an error.
pub fn take_frames_limited(buf: &[u8], limit: usize) -> Result<(Vec<&[u8]>, usize), FrameError> {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while let Some(header) = buf.get(pos..).and_then(|rest| rest.first_chunk::<4>()) {
        let claimed = u32::from_be_bytes(*header);
        let n = usize::try_from(claimed).unwrap_or(usize::MAX);
        if n > limit {
            return Err(FrameError::TooLong {
                claimed: u64::from(claimed),
                limit,
            });
        }
        let start = pos + 4;
        let Some(frame) = start.checked_add(n).and_then(|end| buf.get(start..end)) else {
            break;
        };
        frames.push(frame);
        pos = start + n;
    }
    Ok((frames, pos))
}

/// [`take_frames_limited`] with [`MAX_FRAME_BYTES`].
pub fn take_frames(buf: &[u8]) -> Result<(Vec<&[u8]>, usize), FrameError> {
    take_frames_limited(buf, MAX_FRAME_BYTES)
}

/// Reads the frames of a body that arrives in chunks. Holds at most one
/// incomplete frame (never longer than its limit) and refuses a frame
/// header claiming more as soon as the header is in.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    limit: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::with_limit(MAX_FRAME_BYTES)
    }
}

impl FrameReader {
    pub fn with_limit(limit: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            limit,
        }
    }

    /// Takes the next chunk; returns the frames it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        self.buf.extend_from_slice(chunk);
        let (frames, used) = take_frames_limited(&self.buf, self.limit)?;
        let frames = frames.into_iter().map(<[u8]>::to_vec).collect();
        self.buf.drain(..used);
        Ok(frames)
    }

    /// Bytes held of a frame not yet whole.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_whole_and_keep_a_partial_tail() {
        let mut body = Vec::new();
        put_frame(&mut body, b"meta");
        put_frame(&mut body, b"\x00segment");
        put_frame(&mut body, b"");
        let (frames, used) = take_frames(&body).expect("frames");
        assert_eq!(frames, vec![&b"meta"[..], b"\x00segment", b""]);
        assert_eq!(used, body.len());
        // Cut in the middle of the second frame: only the first is whole.
        let cut = &body[..4 + 4 + 4 + 3];
        let (frames, used) = take_frames(cut).expect("frames");
        assert_eq!(frames, vec![&b"meta"[..]]);
        assert_eq!(used, 8);
    }

    /// A primary that claims a 4 GiB frame is refused as soon as the four
    /// bytes of its length are in: nothing of it is buffered.
    #[test]
    fn a_frame_claiming_4_gib_is_refused_before_it_is_read() {
        let mut body = Vec::new();
        put_frame(&mut body, b"meta");
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        body.extend_from_slice(b"the first bytes of 4 GiB");
        let err = take_frames(&body).expect_err("refused");
        assert_eq!(
            err,
            FrameError::TooLong {
                claimed: u64::from(u32::MAX),
                limit: MAX_FRAME_BYTES
            }
        );
        let mut reader = FrameReader::default();
        assert_eq!(
            reader.push(&body[..8]).expect("meta"),
            vec![b"meta".to_vec()]
        );
        assert!(reader.push(&body[8..10]).expect("half a header").is_empty());
        assert!(reader.push(&body[10..12]).is_err(), "refused at its header");
        // Within the limit, a frame is read across chunks.
        let mut reader = FrameReader::with_limit(8);
        assert!(reader.push(&[0, 0, 0, 8, 1, 2]).expect("part").is_empty());
        assert_eq!(reader.pending(), 6);
        assert_eq!(
            reader.push(&[3, 4, 5, 6, 7, 8]).expect("whole"),
            vec![vec![1, 2, 3, 4, 5, 6, 7, 8]]
        );
        assert_eq!(reader.pending(), 0);
        assert!(reader.push(&[0, 0, 0, 9]).is_err());
    }
}

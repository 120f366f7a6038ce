//! The one storage abstraction every repository sits on: named, immutable
//! objects that can be stat'ed, read, written and listed.
//!
//! - `file://` and `webdav://` go through OpenDAL (pinned version); file
//!   writes go to a temporary file and are renamed into place, so an object
//!   is either whole or absent.
//! - `murakumo://` speaks the backup-target API of another Murakumo centre
//!   (`/api/v1/backup-target/…`): objects go up in parts of [`PART`] bytes
//!   at explicit offsets and are committed with their length and BLAKE3 hash,
//!   so a cut link resumes from the last part the other side holds.
//! - `dispersed:` writes one share of each object to each of three targets
//!   and reads from any two (see `dispersed.rs`).
//!
//! Every operation is retried with backoff on transient failures (network,
//! 5xx, timeouts) and never on refusals (wrong token, not configured);
//! uploads pass through the shared rate cap and report progress.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::location::Location;
use crate::transfer::{Limiter, PIECE, Progress, RetryPolicy};
use crate::{BackupError, Result};

/// Bytes per request to a `murakumo://` target (well under its request
/// size limit; the unit of resumption on a bad link).
pub const PART: usize = 256 * 1024;

/// Environment variable holding the token for `murakumo://` targets.
pub const TOKEN_ENV: &str = "MURAKUMO_REPLICATION_TOKEN";

enum Kind {
    Dal(opendal::Operator),
    Http(HttpSite),
    Dispersed(Box<[Target; 3]>),
}

struct HttpSite {
    base: String,
    client: reqwest::Client,
    token: String,
}

/// A place objects are stored, with retries, rate cap and progress.
pub struct Target {
    location: Location,
    kind: Kind,
    limiter: Limiter,
    retry: RetryPolicy,
    progress: Arc<dyn Progress>,
    /// `dispersed:` only: what reads found wrong with single shares, and
    /// how many shares they looked at.
    shares: std::sync::Mutex<ShareLog>,
    /// `dispersed:` only: sites that failed (after retries) in this run, and
    /// why; they are not asked again, so one dead site costs one timeout,
    /// not one per object.
    down: std::sync::Mutex<[Option<String>; 3]>,
}

/// Shares looked at and found wrong by reads of a `dispersed:` target.
#[derive(Default)]
pub(crate) struct ShareLog {
    pub checked: u64,
    pub faults: Vec<crate::dispersed::ShareFault>,
}

/// Why one attempt failed.
enum Fail {
    /// Worth retrying (network, server busy or restarting).
    Transient(String),
    /// Retrying will not help (refused, misconfigured).
    Permanent(String),
}

impl Target {
    pub fn open(
        location: &Location,
        limiter: Limiter,
        retry: RetryPolicy,
        progress: Arc<dyn Progress>,
    ) -> Result<Target> {
        let bad = |reason: String| BackupError::BadUrl {
            url: location.to_string(),
            reason,
        };
        let kind = match location {
            Location::File(path) => {
                std::fs::create_dir_all(path).map_err(|e| BackupError::Io {
                    action: format!("creating the repository directory {}", path.display()),
                    source: e,
                })?;
                let root = path.canonicalize().map_err(|e| BackupError::Io {
                    action: format!("opening the repository directory {}", path.display()),
                    source: e,
                })?;
                let tmp = root.join(".tmp");
                let b = opendal::services::Fs::default()
                    .root(&root.to_string_lossy())
                    .atomic_write_dir(&tmp.to_string_lossy());
                Kind::Dal(
                    opendal::Operator::new(b)
                        .map_err(|e| bad(e.to_string()))?
                        .finish(),
                )
            }
            Location::Webdav { endpoint, root } => {
                let mut b = opendal::services::Webdav::default()
                    .endpoint(endpoint)
                    .root(root);
                if let Ok(user) = std::env::var("MURAKUMO_WEBDAV_USER") {
                    b = b.username(&user);
                }
                if let Ok(pw) = std::env::var("MURAKUMO_WEBDAV_PASSWORD") {
                    b = b.password(&pw);
                }
                Kind::Dal(
                    opendal::Operator::new(b)
                        .map_err(|e| bad(e.to_string()))?
                        .finish(),
                )
            }
            Location::Murakumo { base } => {
                let token = std::env::var(TOKEN_ENV).unwrap_or_default();
                if token.is_empty() {
                    return Err(BackupError::Refuse(format!(
                        "{location} needs the replication token: set {TOKEN_ENV} to the same value \
                         the other centre's server was started with"
                    )));
                }
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(20))
                    .build()
                    .map_err(|e| bad(format!("cannot build an HTTP client: {e}")))?;
                Kind::Http(HttpSite {
                    base: base.clone(),
                    client,
                    token,
                })
            }
            Location::Dispersed(sites) => {
                let [a, b, c] = sites.as_ref();
                let open = |l: &Location| Target::open(l, limiter.clone(), retry, progress.clone());
                Kind::Dispersed(Box::new([open(a)?, open(b)?, open(c)?]))
            }
        };
        let retry = match location {
            // A local disk either works or needs the operator.
            Location::File(_) => RetryPolicy {
                attempts: 2,
                ..retry
            },
            _ => retry,
        };
        Ok(Target {
            location: location.clone(),
            kind,
            limiter,
            retry,
            progress,
            shares: std::sync::Mutex::default(),
            down: std::sync::Mutex::default(),
        })
    }

    /// Records shares looked at and any found wrong (`dispersed:` reads).
    pub(crate) fn log_shares(&self, checked: u64, faults: Vec<crate::dispersed::ShareFault>) {
        let mut log = match self.shares.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        log.checked += checked;
        log.faults.extend(faults);
    }

    /// Shares looked at and faults found since the last call, emptied.
    pub fn take_share_log(&self) -> (u64, Vec<crate::dispersed::ShareFault>) {
        let mut log = match self.shares.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        let log = std::mem::take(&mut *log);
        (log.checked, log.faults)
    }

    /// Why site `i` (0-based) of a `dispersed:` target is not asked again.
    pub(crate) fn site_down(&self, i: usize) -> Option<String> {
        let down = match self.down.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        down.get(i).cloned().flatten()
    }

    pub(crate) fn mark_site_down(&self, i: usize, reason: String) {
        let mut down = match self.down.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        if let Some(slot) = down.get_mut(i)
            && slot.is_none()
        {
            self.progress
                .note(&format!("site {} is not answering: {reason}", i + 1));
            *slot = Some(reason);
        }
    }

    /// Writes an object, then reads it back and compares (BLAKE3): what a
    /// repair does with every share it rebuilds, so that a torn or altered
    /// write is never counted as repaired. One more attempt if the bytes
    /// read back differ.
    pub(crate) async fn write_verified(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let want = blake3::hash(bytes);
        let mut found = String::new();
        for _ in 0..2 {
            self.write(name, bytes).await?;
            match self.read(name).await? {
                Some(back) if blake3::hash(&back) == want => return Ok(()),
                Some(back) => {
                    found = format!(
                        "{} bytes that differ from the {} written",
                        back.len(),
                        bytes.len()
                    )
                }
                None => found = "nothing (the object is not there)".into(),
            }
        }
        Err(BackupError::Refused {
            target: self.location.to_string(),
            op: "write",
            name: name.to_string(),
            reason: format!("reading it back after writing gave {found}; check the storage"),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub(crate) fn sites(&self) -> Option<&[Target; 3]> {
        match &self.kind {
            Kind::Dispersed(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn progress(&self) -> &Arc<dyn Progress> {
        &self.progress
    }

    async fn retrying<T, F, Fut>(&self, op: &'static str, name: &str, mut f: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, Fail>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            tokio::time::sleep(self.retry.delay(attempt)).await;
            match f(attempt).await {
                Ok(v) => return Ok(v),
                Err(Fail::Permanent(reason)) => {
                    return Err(BackupError::Refused {
                        target: self.location.to_string(),
                        op,
                        name: name.to_string(),
                        reason,
                    });
                }
                Err(Fail::Transient(reason)) => {
                    if attempt >= self.retry.attempts {
                        return Err(BackupError::Transfer {
                            target: self.location.to_string(),
                            op,
                            name: name.to_string(),
                            attempts: attempt,
                            reason,
                        });
                    }
                    tracing::warn!(target = %self.location, op, name, attempt, %reason, "retrying");
                    self.progress.note(&format!(
                        "{op} {name} failed ({reason}); retrying (attempt {} of {})",
                        attempt + 1,
                        self.retry.attempts
                    ));
                }
            }
        }
    }

    /// The size of a stored (committed) object, or `None` if absent.
    pub async fn stat(&self, name: &str) -> Result<Option<u64>> {
        match &self.kind {
            Kind::Dal(op) => {
                self.retrying("stat", name, |_| async {
                    match op.stat(name).await {
                        Ok(m) => Ok(Some(m.content_length())),
                        Err(e) => dal_fail(e).map(|()| None),
                    }
                })
                .await
            }
            Kind::Http(site) => Ok(self.retrying("stat", name, |_| site.stat(name)).await?.size),
            Kind::Dispersed(sites) => {
                // Present when every site holds its share.
                let mut size = 0;
                for s in sites.iter() {
                    match Box::pin(s.stat(name)).await? {
                        Some(n) => size += n,
                        None => return Ok(None),
                    }
                }
                Ok(Some(size))
            }
        }
    }

    /// Whether the object is stored whole: for plain targets, present with
    /// exactly `sealed_len` bytes (a partial leftover of an interrupted
    /// upload does not count); for `dispersed:`, a share on every site.
    pub async fn holds(&self, name: &str, sealed_len: u64) -> Result<bool> {
        match &self.kind {
            Kind::Dispersed(sites) => {
                let want = crate::dispersed::share_len(name, sealed_len);
                for s in sites.iter() {
                    if want.is_none() || Box::pin(s.stat(name)).await? != want {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(self.stat(name).await? == Some(sealed_len)),
        }
    }

    /// Reads a whole object; `None` if absent.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.kind {
            Kind::Dal(op) => {
                self.retrying("read", name, |_| async {
                    match op.read(name).await {
                        Ok(b) => Ok(Some(b.to_vec())),
                        Err(e) => dal_fail(e).map(|()| None),
                    }
                })
                .await
            }
            Kind::Http(site) => {
                let Some(size) = self.retrying("stat", name, |_| site.stat(name)).await?.size
                else {
                    return Ok(None);
                };
                let size = usize::try_from(size).map_err(|_| BackupError::Corrupted {
                    repo: self.location.to_string(),
                    name: name.to_string(),
                    reason: "impossible size".into(),
                })?;
                let mut out = Vec::with_capacity(size);
                while out.len() < size {
                    let offset = out.len();
                    let want = PART.min(size - offset);
                    let part = self
                        .retrying("read", name, |_| site.read_range(name, offset, want))
                        .await?;
                    match part {
                        Some(p) if !p.is_empty() => out.extend_from_slice(&p),
                        _ => return Ok(None),
                    }
                }
                Ok(Some(out))
            }
            Kind::Dispersed(_) => crate::dispersed::read(self, name).await,
        }
    }

    /// Stores an object (replacing any partial leftover).
    pub async fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        match &self.kind {
            Kind::Dal(op) => {
                // OpenDAL sends an object in one request: the cap holds on
                // average, object by object.
                self.limiter.take(bytes.len() as u64).await;
                self.retrying("write", name, |_| async {
                    match op.write(name, bytes.to_vec()).await {
                        Ok(_) => Ok(()),
                        Err(e) => match dal_fail(e) {
                            Ok(()) => Err(Fail::Transient("not found".into())),
                            Err(f) => Err(f),
                        },
                    }
                })
                .await?;
                self.progress.sent(bytes.len() as u64);
                Ok(())
            }
            Kind::Http(site) => {
                let hash = blake3::hash(bytes).to_hex().to_string();
                self.retrying("write", name, |_| {
                    site.upload(name, bytes, &hash, &self.limiter, &self.progress)
                })
                .await
            }
            Kind::Dispersed(_) => crate::dispersed::write(self, name, bytes).await,
        }
    }

    /// Names of stored objects under `prefix` (e.g. `data/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = match &self.kind {
            Kind::Dal(op) => {
                self.retrying("list", prefix, |_| async {
                    match op.list_with(prefix).recursive(true).await {
                        Ok(entries) => Ok(entries
                            .into_iter()
                            .filter(|e| e.metadata().mode().is_file())
                            .map(|e| e.path().trim_start_matches('/').to_string())
                            .collect()),
                        Err(e) => dal_fail(e).map(|()| Vec::new()),
                    }
                })
                .await?
            }
            Kind::Http(site) => self.retrying("list", prefix, |_| site.list(prefix)).await?,
            Kind::Dispersed(sites) => {
                let mut all = std::collections::BTreeSet::new();
                for (i, s) in sites.iter().enumerate() {
                    if self.site_down(i).is_some() {
                        continue;
                    }
                    match Box::pin(s.list(prefix)).await {
                        Ok(n) => all.extend(n),
                        Err(e) => self.mark_site_down(i, e.to_string()),
                    }
                }
                all.into_iter().collect()
            }
        };
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// `Ok(())` for "not found"; otherwise how to treat the error.
fn dal_fail(e: opendal::Error) -> Result<(), Fail> {
    use opendal::ErrorKind as K;
    match e.kind() {
        K::NotFound => Ok(()),
        K::PermissionDenied
        | K::ConfigInvalid
        | K::Unsupported
        | K::IsADirectory
        | K::NotADirectory => Err(Fail::Permanent(e.to_string())),
        _ => Err(Fail::Transient(e.to_string())),
    }
}

#[derive(Deserialize)]
struct StatView {
    size: Option<u64>,
    partial: Option<u64>,
}

#[derive(Deserialize)]
struct ListView {
    names: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorView {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl HttpSite {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/backup-target/{path}", self.base)
    }

    fn timeout(bytes: usize) -> Duration {
        // A minute of slack plus the time at 2 KiB/s: generous for 48 KB/s links.
        Duration::from_secs(60 + (bytes / 2048) as u64)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Fail> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Fail::Transient(format!("cannot reach {}: {e}", self.base)))?;
        let status = resp.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorView>(&text)
            .map(|v| format!("{} ({})", v.error.message, v.error.code))
            .unwrap_or_else(|_| text.chars().take(300).collect());
        let msg = format!("HTTP {status}: {detail}");
        Err(match status.as_u16() {
            401 | 403 => Fail::Permanent(format!(
                "{msg}; check that {TOKEN_ENV} is the same on both centres"
            )),
            400 | 405 | 413 => Fail::Permanent(msg),
            503 if text.contains("backup_target_not_configured") => Fail::Permanent(msg),
            _ => Fail::Transient(msg),
        })
    }

    async fn stat(&self, name: &str) -> Result<StatView, Fail> {
        let resp = self
            .send(
                self.client
                    .get(self.url("stat"))
                    .query(&[("name", name)])
                    .timeout(Self::timeout(0)),
            )
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(Fail::Permanent(format!(
                "{} does not serve the backup-target API (404); is it a Murakumo server of a \
                 version with backups?",
                self.base
            )));
        }
        resp.json()
            .await
            .map_err(|e| Fail::Transient(format!("bad answer to stat: {e}")))
    }

    async fn read_range(
        &self,
        name: &str,
        offset: usize,
        len: usize,
    ) -> Result<Option<Vec<u8>>, Fail> {
        let resp = self
            .send(
                self.client
                    .get(self.url("object"))
                    .query(&[
                        ("name", name.to_string()),
                        ("offset", offset.to_string()),
                        ("limit", len.to_string()),
                    ])
                    .timeout(Self::timeout(len)),
            )
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| Fail::Transient(format!("transfer cut: {e}")))?;
        Ok(Some(body.to_vec()))
    }

    async fn upload(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &str,
        limiter: &Limiter,
        progress: &Arc<dyn Progress>,
    ) -> Result<(), Fail> {
        let st = self.stat(name).await?;
        if st.size == Some(bytes.len() as u64) {
            return Ok(());
        }
        // Resume where the other side's partial copy ends.
        let mut offset = match st.partial {
            Some(p) if (p as usize) <= bytes.len() => p as usize,
            _ => 0,
        };
        if offset > 0 {
            progress.sent(offset as u64);
        }
        loop {
            if offset < bytes.len() || bytes.is_empty() {
                let end = (offset + PART).min(bytes.len());
                let part = bytes[offset..end].to_vec();
                let len = part.len();
                self.send(
                    self.client
                        .put(self.url("object"))
                        .query(&[("name", name.to_string()), ("offset", offset.to_string())])
                        .header(reqwest::header::CONTENT_LENGTH, len)
                        .body(throttled(part, limiter.clone(), progress.clone()))
                        .timeout(Self::timeout(len)),
                )
                .await?;
                offset = end;
                if offset < bytes.len() {
                    continue;
                }
            }
            let resp = self
                .send(
                    self.client
                        .post(self.url("commit"))
                        .query(&[
                            ("name", name.to_string()),
                            ("size", bytes.len().to_string()),
                            ("blake3", hash.to_string()),
                        ])
                        .timeout(Self::timeout(0)),
                )
                .await;
            return match resp {
                Ok(_) => Ok(()),
                // The partial copy did not match (e.g. a leftover of other
                // bytes): the other side dropped it; start again from 0.
                Err(Fail::Transient(m)) if m.contains("HTTP 409") => Err(Fail::Transient(m)),
                Err(e) => Err(e),
            };
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Fail> {
        let resp = self
            .send(
                self.client
                    .get(self.url("list"))
                    .query(&[("prefix", prefix)])
                    .timeout(Self::timeout(0)),
            )
            .await?;
        let v: ListView = resp
            .json()
            .await
            .map_err(|e| Fail::Transient(format!("bad answer to list: {e}")))?;
        Ok(v.names)
    }
}

/// A request body that goes out in [`PIECE`]-sized pieces, each waiting for
/// the rate cap and counted as progress.
fn throttled(data: Vec<u8>, limiter: Limiter, progress: Arc<dyn Progress>) -> reqwest::Body {
    let stream = futures::stream::unfold((data, 0usize), move |(data, pos)| {
        let limiter = limiter.clone();
        let progress = progress.clone();
        async move {
            if pos >= data.len() {
                return None;
            }
            let end = (pos + PIECE).min(data.len());
            limiter.take((end - pos) as u64).await;
            let piece = data[pos..end].to_vec();
            progress.sent(piece.len() as u64);
            Some((Ok::<_, std::io::Error>(piece), (data, end)))
        }
    });
    reqwest::Body::wrap_stream(stream)
}

//! The receiving side of `murakumo://` backup repositories: another centre
//! stores its (already encrypted, opaque) backup objects here.
//!
//! - Authentication: `Authorization: Bearer <token>`, compared in constant
//!   time with `MURAKUMO_REPLICATION_TOKEN`. Objects live as files under
//!   `MURAKUMO_BACKUP_TARGET_DIR` (one file per object, named as the
//!   repository names it). Without both set, every route answers 503
//!   `backup_target_not_configured`, saying what to set.
//! - Objects arrive in parts at explicit offsets into `.partial/`, and only
//!   a commit naming the full length and BLAKE3 hash moves one into place
//!   (fsync, then rename): a cut link resumes from `stat`'s `partial`, and a
//!   reader never sees half an object.
//! - This side cannot read what it stores: objects are sealed with a key
//!   only the sending centre's operator holds.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

const TOKEN_ENV: &str = "MURAKUMO_REPLICATION_TOKEN";
const DIR_ENV: &str = "MURAKUMO_BACKUP_TARGET_DIR";
const PARTIAL: &str = ".partial";
/// No single object is larger (chunks are 8 MiB by default).
const MAX_OBJECT: u64 = 1 << 30;

/// The backup-target routes, each in the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stat))
        .routes(routes!(read_object, write_part))
        .routes(routes!(commit))
        .routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
pub struct NameQuery {
    /// Object name, e.g. `data/ab/ab12…` or `snapshots/…`.
    name: String,
}

#[derive(Deserialize, IntoParams)]
pub struct ReadQuery {
    name: String,
    /// First byte to return (default 0).
    offset: Option<u64>,
    /// At most this many bytes (default: to the end).
    limit: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct WriteQuery {
    name: String,
    /// Where this part goes: 0 starts the object afresh, otherwise it must
    /// equal the bytes already received (`partial`).
    offset: u64,
}

#[derive(Deserialize, IntoParams)]
pub struct CommitQuery {
    name: String,
    /// Total length of the object.
    size: u64,
    /// BLAKE3 of the whole object, hex.
    blake3: String,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Names starting with this, e.g. `snapshots/`.
    prefix: String,
}

#[derive(Serialize, ToSchema)]
pub struct ObjectStat {
    /// Length of the committed object; absent if there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    /// Bytes received of an upload not yet committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ObjectList {
    names: Vec<String>,
}

/// The token of `Authorization: Bearer …`, if sent.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Checks the replication token (`Authorization: Bearer …`, compared in
/// constant time with `MURAKUMO_REPLICATION_TOKEN`); shared by the
/// replication endpoints.
pub(crate) fn check_replication_token(
    headers: &HeaderMap,
    configured: Option<&str>,
) -> ApiResult<()> {
    let expected = configured
        .map(str::to_string)
        .unwrap_or_else(|| std::env::var(TOKEN_ENV).unwrap_or_default());
    if expected.is_empty() {
        return Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "replication_not_configured",
            message: format!(
                "this node serves no replication or backup peers: {TOKEN_ENV} is not set on its server; its \
                 operator sets it (the token shared with the other centre or site) and restarts it"
            ),
            field: None,
            retry_after_secs: None,
        });
    }
    let given = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(format!(
            "send the replication token as `Authorization: Bearer …` ({TOKEN_ENV})"
        ))
    })?;
    // blake3::Hash compares in constant time.
    if blake3::hash(given.as_bytes()) != blake3::hash(expected.as_bytes()) {
        return Err(ApiError::forbidden(format!(
            "the replication token is not the one this centre was given; check {TOKEN_ENV} on \
             both sides"
        )));
    }
    Ok(())
}

/// Checks the token and returns the storage directory.
fn authorize(headers: &HeaderMap) -> ApiResult<PathBuf> {
    let not_configured = |what: &str| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "backup_target_not_configured",
        message: format!(
            "this centre does not accept backups: {what} is not set on its server; its operator \
             sets {TOKEN_ENV} (the token shared with the sending centre) and {DIR_ENV} (where the \
             objects go) and restarts it"
        ),
        field: None,
        retry_after_secs: None,
    };
    if std::env::var(TOKEN_ENV).unwrap_or_default().is_empty() {
        return Err(not_configured(TOKEN_ENV));
    }
    let dir = std::env::var(DIR_ENV).unwrap_or_default();
    if dir.is_empty() {
        return Err(not_configured(DIR_ENV));
    }
    check_replication_token(headers, None)?;
    Ok(PathBuf::from(dir))
}

/// Object names: `/`-separated parts of `[A-Za-z0-9._-]`, none empty or
/// starting with `.`; at most 255 bytes, because an upload in progress is one
/// file named after the whole name (`/` as `~`) and file names stop there.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        })
}

fn paths(dir: &Path, name: &str) -> ApiResult<(PathBuf, PathBuf)> {
    if !valid_name(name) {
        return Err(ApiError::invalid(
            "name",
            "object names are /-separated parts of letters, digits, '.', '_' and '-', not starting with '.', at most 255 bytes",
        ));
    }
    Ok((
        dir.join(name),
        dir.join(PARTIAL).join(name.replace('/', "~")),
    ))
}

fn io_error(action: &str, e: std::io::Error) -> ApiError {
    use std::io::ErrorKind::{AlreadyExists, InvalidFilename, IsADirectory, NotADirectory};
    // A name whose parts clash with what is stored (an object where a directory must go,
    // or the other way round): the sender's mistake, not the storage's.
    if matches!(
        e.kind(),
        NotADirectory | IsADirectory | InvalidFilename | AlreadyExists
    ) {
        return ApiError::invalid(
            "name",
            format!(
                "an object cannot be stored or read under this name ({e}): one part of it is already an object or a directory"
            ),
        );
    }
    tracing::error!(error = %e, action, "backup target storage failure");
    ApiError::internal(format!(
        "the backup target could not {action}; the operator has the details in the server log"
    ))
}

async fn len_of(p: &Path) -> Option<u64> {
    tokio::fs::metadata(p).await.ok().map(|m| m.len())
}

/// The committed length of an object and how much of an upload arrived.
#[utoipa::path(get, path = "/api/v1/backup-target/stat", tag = "backup-target",
    params(NameQuery), security(("bearer" = [])),
    responses((status = 200, body = ObjectStat), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn stat(headers: HeaderMap, Query(q): Query<NameQuery>) -> ApiResult<Json<ObjectStat>> {
    let dir = authorize(&headers)?;
    let (path, partial) = paths(&dir, &q.name)?;
    Ok(Json(ObjectStat {
        size: len_of(&path).await,
        partial: len_of(&partial).await,
    }))
}

/// Reads an object (or a byte range of it).
#[utoipa::path(get, path = "/api/v1/backup-target/object", tag = "backup-target",
    params(ReadQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read_object(headers: HeaderMap, Query(q): Query<ReadQuery>) -> ApiResult<Response> {
    let dir = authorize(&headers)?;
    let (path, _) = paths(&dir, &q.name)?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!("no object {}", q.name)));
        }
        Err(e) => return Err(io_error("read an object", e)),
    };
    let start = usize::try_from(q.offset.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = match q.limit {
        Some(l) => start.saturating_add(usize::try_from(l).unwrap_or(usize::MAX)),
        None => bytes.len(),
    }
    .min(bytes.len());
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes[start..end].to_vec(),
    )
        .into_response())
}

/// Receives one part of an object at an offset (not visible until commit).
#[utoipa::path(put, path = "/api/v1/backup-target/object", tag = "backup-target",
    params(WriteQuery), security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ObjectStat), (status = 409, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn write_part(
    headers: HeaderMap,
    Query(q): Query<WriteQuery>,
    body: Bytes,
) -> ApiResult<Json<ObjectStat>> {
    let dir = authorize(&headers)?;
    let (_, partial) = paths(&dir, &q.name)?;
    if q.offset.saturating_add(body.len() as u64) > MAX_OBJECT {
        return Err(ApiError::invalid("offset", "objects are at most 1 GiB"));
    }
    if let Some(parent) = partial.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error("create its directory", e))?;
    }
    let have = len_of(&partial).await.unwrap_or(0);
    let mut file = if q.offset == 0 {
        tokio::fs::File::create(&partial).await
    } else if q.offset == have {
        tokio::fs::OpenOptions::new()
            .append(true)
            .open(&partial)
            .await
    } else {
        return Err(ApiError::conflict(format!(
            "this part starts at byte {}, but {have} bytes of {} have arrived; resume from there",
            q.offset, q.name
        )));
    }
    .map_err(|e| io_error("open a partial object", e))?;
    file.write_all(&body)
        .await
        .map_err(|e| io_error("write a part", e))?;
    file.flush()
        .await
        .map_err(|e| io_error("write a part", e))?;
    Ok(Json(ObjectStat {
        size: None,
        partial: Some(q.offset + body.len() as u64),
    }))
}

/// Makes an uploaded object visible, if its length and hash are right;
/// otherwise drops the partial copy (409) so the sender starts it again.
#[utoipa::path(post, path = "/api/v1/backup-target/commit", tag = "backup-target",
    params(CommitQuery), security(("bearer" = [])),
    responses((status = 200, body = ObjectStat), (status = 409, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn commit(
    headers: HeaderMap,
    Query(q): Query<CommitQuery>,
) -> ApiResult<Json<ObjectStat>> {
    let dir = authorize(&headers)?;
    let (path, partial) = paths(&dir, &q.name)?;
    if len_of(&path).await == Some(q.size) && len_of(&partial).await.is_none() {
        // Committed already (the answer to an earlier commit was lost).
        return Ok(Json(ObjectStat {
            size: Some(q.size),
            partial: None,
        }));
    }
    let bytes = tokio::fs::read(&partial).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::conflict(format!("nothing of {} has arrived; send it first", q.name))
        } else {
            io_error("read a partial object", e)
        }
    })?;
    if bytes.len() as u64 != q.size || blake3::hash(&bytes).to_hex().as_str() != q.blake3 {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ApiError::conflict(format!(
            "{} arrived as {} bytes that do not match the length and hash given; the partial copy \
             was dropped: send it again from the start",
            q.name,
            bytes.len()
        )));
    }
    let file = tokio::fs::File::open(&partial)
        .await
        .map_err(|e| io_error("open a partial object", e))?;
    file.sync_all()
        .await
        .map_err(|e| io_error("sync an object", e))?;
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error("create its directory", e))?;
    }
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(|e| io_error("commit an object", e))?;
    Ok(Json(ObjectStat {
        size: Some(q.size),
        partial: None,
    }))
}

/// Names of the committed objects under a prefix, sorted.
#[utoipa::path(get, path = "/api/v1/backup-target/list", tag = "backup-target",
    params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = ObjectList), (status = 403, body = ErrorBody)))]
pub async fn list(headers: HeaderMap, Query(q): Query<ListQuery>) -> ApiResult<Json<ObjectList>> {
    let dir = authorize(&headers)?;
    let prefix = q.prefix.trim_end_matches('/');
    if !prefix.is_empty() && !valid_name(prefix) {
        return Err(ApiError::invalid(
            "prefix",
            "not a valid object name prefix",
        ));
    }
    let root = dir.clone();
    let start = if prefix.is_empty() {
        dir
    } else {
        dir.join(prefix)
    };
    let names = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let hidden = e.file_name().to_string_lossy().starts_with('.');
                if hidden {
                    continue;
                }
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() => {
                        if let Ok(rel) = p.strip_prefix(&root) {
                            out.push(rel.to_string_lossy().replace('\\', "/"));
                        }
                    }
                    _ => {}
                }
            }
        }
        out.sort();
        out
    })
    .await
    .map_err(|e| ApiError::internal(format!("listing failed: {e}")))?;
    Ok(Json(ObjectList { names }))
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn object_names_cannot_escape_the_directory() {
        assert!(valid_name("data/ab/ab12"));
        assert!(valid_name("snapshots/20260101T000000.000000Z-ab12"));
        assert!(valid_name("config"));
        for bad in [
            "",
            "../x",
            "a/../b",
            "/abs",
            "a//b",
            ".partial/x",
            "a/.b",
            "a b",
            "a\\b",
        ] {
            assert!(!valid_name(bad), "{bad:?} accepted");
        }
    }
}

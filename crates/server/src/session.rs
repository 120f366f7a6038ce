//! Who is calling: login, logout, and the extractors that bind a request to
//! exactly one tenant (staff) or to the platform (operators).
//!
//! The tenant comes from the session and nowhere else: no staff endpoint
//! takes a tenant code from the URL or body, so a staff member cannot even
//! name another municipality.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use murakumo_auth as auth;
use murakumo_core::TenantCode;
use murakumo_store::System;
use murakumo_tenancy::{Permission, Staff};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::observe::TenantLabel;
use crate::state::AppState;
use murakumo_auth::ThrottleRule;
use murakumo_store::{ThrottleBucket, Throttled};

pub const COOKIE: &str = "murakumo_session";
const OPERATOR_SCOPE: &str = "op";
/// Session activity is written back at most this often (µs).
const TOUCH_EVERY_US: i64 = 60 * 1_000_000;
/// Operators' idle timeout (platform-wide).
const OPERATOR_IDLE_US: i64 = 30 * 60 * 1_000_000;
/// Operators' absolute session lifetime, however active (platform-wide).
const OPERATOR_MAX_LIFETIME_US: i64 = 8 * 3600 * 1_000_000;
const HOUR_US: i64 = 3600 * 1_000_000;
const MINUTE_US: i64 = 60 * 1_000_000;

/// Why a session may no longer be used, or `None` while it may. A session ends after
/// `idle_us` without a request, and `max_us` after its login however active it was kept
/// (a token left in a shared terminal or copied from one does not live for ever).
fn session_ended(
    now: i64,
    created_at: i64,
    last_seen: i64,
    idle_us: i64,
    max_us: i64,
) -> Option<ApiError> {
    if now.saturating_sub(created_at) > max_us {
        Some(ApiError::unauthorized(format!(
            "ログインから{}時間が経過したため、もう一度ログインしてください",
            max_us / HOUR_US
        )))
    } else if now.saturating_sub(last_seen) > idle_us {
        Some(ApiError::unauthorized(
            "一定時間操作がなかったため、もう一度ログインしてください",
        ))
    } else {
        None
    }
}

/// A staff member of one tenant, authenticated.
#[derive(Clone, Debug)]
pub struct StaffSession {
    pub tenant: TenantCode,
    pub staff: Staff,
}

impl StaffSession {
    pub fn actor(&self) -> String {
        format!("staff:{}", self.staff.staff_id)
    }

    /// The staff member as the use cases know them, acting in the request with `headers`
    /// (its 利用目的 and id go into the access log).
    pub fn acting(&self, headers: &HeaderMap) -> murakumo_app::StaffActor {
        murakumo_app::StaffActor {
            tenant: self.tenant,
            staff: self.staff.clone(),
            purpose: crate::api::residents::purpose(headers),
            request_id: crate::observe::current_request_id(),
        }
    }

    /// 403 unless one of the staff member's roles allows `p` (the use-case layer's check).
    pub fn require(&self, p: Permission) -> ApiResult<()> {
        Ok(self.acting(&HeaderMap::new()).require(p)?)
    }
}

/// A platform operator, authenticated. Operators run the platform; they
/// never read residents' personal data.
#[derive(Clone, Debug)]
pub struct OperatorSession {
    pub operator_id: String,
    pub login: String,
}

impl OperatorSession {
    pub fn actor(&self) -> String {
        format!("operator:{}", self.operator_id)
    }
}

/// The raw credential of a request: `(scope, token)` from the cookie or an
/// `Authorization: Bearer` header.
fn credential(headers: &HeaderMap) -> Option<(String, String)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';').find_map(|kv| {
                kv.trim()
                    .strip_prefix(COOKIE)
                    .and_then(|rest| rest.strip_prefix('='))
            })
        });
    let value = bearer.or(cookie)?;
    let (scope, token) = value.split_once('.')?;
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (scope.to_string(), token.to_string()))
}

/// A staff credential of a request: the tenant and the token's hash.
pub fn staff_credential(headers: &HeaderMap) -> Option<(TenantCode, Vec<u8>)> {
    let (scope, token) = credential(headers)?;
    let tenant = TenantCode::parse(&scope).ok()?;
    Some((tenant, auth::token_hash(&token).to_vec()))
}

fn not_logged_in() -> ApiError {
    ApiError::unauthorized(
        "ログインしていないか、セッションが終了しています。もう一度ログインしてください(API: POST /api/v1/session)",
    )
}

/// The read models a staff request reads, by its path: every request needs the staff
/// (its session is checked against them); the business screens and routes need their systems'.
fn systems_needed(path: &str) -> &'static [System] {
    const TENANCY: System = System::TENANCY;
    const CERTIFICATE: System = System::CERTIFICATE;
    use murakumo_resident_store::RESIDENT;
    use murakumo_seal_store::SEAL;
    const BY_PREFIX: &[(&str, &[System])] = &[
        ("/api/v1/residents", &[TENANCY, RESIDENT, SEAL, CERTIFICATE]),
        ("/api/v1/protections", &[TENANCY, RESIDENT]),
        ("/api/v1/inspection-copy", &[TENANCY, RESIDENT]),
        ("/api/v1/search-history", &[TENANCY, RESIDENT]),
        (
            "/api/v1/certificates",
            &[TENANCY, RESIDENT, SEAL, CERTIFICATE],
        ),
        ("/api/v1/seals", &[TENANCY, RESIDENT, SEAL, CERTIFICATE]),
        ("/api/v1/official-seal", &[TENANCY, SEAL]),
        ("/residents", &[TENANCY, RESIDENT, SEAL, CERTIFICATE]),
        ("/protections", &[TENANCY, RESIDENT]),
        ("/inspection-copy", &[TENANCY, RESIDENT]),
        ("/seals", &[TENANCY, RESIDENT, SEAL, CERTIFICATE]),
        ("/official-seal", &[TENANCY, SEAL]),
    ];
    if path == "/" {
        return &[TENANCY, RESIDENT];
    }
    BY_PREFIX
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(&[TENANCY], |(_, systems)| systems)
}

/// 503 while a system's read models are rebuilt after an upgrade (`Store::rebuild_pending`).
pub(crate) fn rebuilding(system: System) -> ApiError {
    let what = system.label();
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "rebuilding",
        message: format!(
            "この団体の{what}のデータを更新後の形式に作り直しています。しばらくしてからもう一度お試しください{}",
            if system == System::TENANCY {
                ""
            } else {
                "(ほかの業務はそのまま使えます)"
            }
        ),
        field: None,
        retry_after_secs: Some(10),
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (scope, token) = credential(&parts.headers).ok_or_else(not_logged_in)?;
        if scope == OPERATOR_SCOPE {
            return Err(ApiError::forbidden(
                "この機能は団体の職員用です。基盤運用者のアカウントでは使えません",
            ));
        }
        let tenant = TenantCode::parse(&scope).map_err(|_| not_logged_in())?;
        if let Some(system) = systems_needed(parts.uri.path())
            .iter()
            .find(|s| state.store.rebuilding(&tenant, **s))
        {
            return Err(rebuilding(*system));
        }
        let ts = state.store.tenant(&tenant);
        let hash = auth::token_hash(&token);
        let session = ts.session(&hash).await?.ok_or_else(not_logged_in)?;
        if session.importing {
            // Half a register must never be seen or changed (TenantStore::import).
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "importing",
                message: "この団体の住民記録は移行(データの取込み)中です。取込みが終わるまで使えません。しばらくしてからもう一度お試しください".into(),
                field: None,
                retry_after_secs: Some(60),
            });
        }
        let now = Utc::now().timestamp_micros();
        let idle_us = state
            .setting_i64(&tenant, "session.idle_timeout_minutes")
            .await?
            * MINUTE_US;
        let max_us = state
            .setting_i64(&tenant, "session.max_lifetime_hours")
            .await?
            * HOUR_US;
        if let Some(ended) =
            session_ended(now, session.created_at, session.last_seen, idle_us, max_us)
        {
            ts.delete_session(&hash).await?;
            return Err(ended);
        }
        let staff = ts
            .staff_by_id(&session.staff_id)
            .await?
            .filter(|s| !s.disabled)
            .ok_or_else(not_logged_in)?;
        if now - session.last_seen > TOUCH_EVERY_US {
            ts.touch_session(&hash, now).await?;
        }
        // The request is the tenant's from here: labelled, and counted once against its quota.
        let first = parts
            .extensions
            .get::<TenantLabel>()
            .is_none_or(|label| label.set(&state.tenant_label(&tenant)));
        if first {
            crate::quota::admit_staff_request(state, &tenant).await?;
        }
        Ok(StaffSession { tenant, staff })
    }
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (scope, token) = credential(&parts.headers).ok_or_else(not_logged_in)?;
        if scope != OPERATOR_SCOPE {
            return Err(ApiError::forbidden("この機能は基盤運用者専用です"));
        }
        let hash = auth::token_hash(&token);
        let session = state
            .store
            .operator_session(&hash)
            .await?
            .ok_or_else(not_logged_in)?;
        let now = Utc::now().timestamp_micros();
        if let Some(ended) = session_ended(
            now,
            session.created_at,
            session.last_seen,
            OPERATOR_IDLE_US,
            OPERATOR_MAX_LIFETIME_US,
        ) {
            state.store.delete_operator_session(&hash).await?;
            return Err(ended);
        }
        if now - session.last_seen > TOUCH_EVERY_US {
            state.store.touch_operator_session(&hash, now).await?;
        }
        let operator_id = session.operator_id;
        let op = state
            .store
            .operator_by_id(&operator_id)
            .await?
            .ok_or_else(not_logged_in)?;
        if let Some(label) = parts.extensions.get::<TenantLabel>() {
            label.set(crate::observe::PLATFORM);
        }
        Ok(OperatorSession {
            operator_id,
            login: op.login,
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// 全国地方公共団体コード of the municipality; omit to log in as a
    /// platform operator.
    pub tenant: Option<String>,
    pub login: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>` (the cookie is set too).
    pub token: String,
    pub who: WhoAmI,
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// `staff` or `operator`.
    pub kind: String,
    pub tenant: Option<String>,
    pub tenant_name: Option<String>,
    pub login: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

fn login_failed() -> ApiError {
    ApiError::unauthorized("ログインIDまたはパスワードが違います")
}

// Login throttling (rule: `murakumo_auth::ThrottleRule`, documented in
// docs/design/staff-identity.md). Every attempt is counted in three buckets before its
// password is checked: the account at this address (the tenant's
// `login.max_failures` free failures), the account from every address
// (four times as many, so that a stranger elsewhere cannot lock a staff
// member out with a handful of guesses), and the address (all accounts).
// After the free failures each attempt waits, from 30 s doubling up to
// `login.lockout_minutes`. Operators follow the same rule with fixed limits.

/// The first delay after the free failures; it doubles with each failure.
const FIRST_DELAY_US: i64 = 30 * 1_000_000;
/// An account from all addresses together gets this many times the free
/// failures of one address.
const ACCOUNT_WIDE_FACTOR: u32 = 4;
/// Free failures per address (all accounts), and its longest delay.
pub const ADDRESS_FREE_FAILURES: u32 = 30;
const ADDRESS_MAX_DELAY_US: i64 = 15 * 60 * 1_000_000;
/// Operators: free failures per address, and the longest delay.
const OPERATOR_FREE_FAILURES: u32 = 5;
const OPERATOR_MAX_DELAY_US: i64 = 15 * 60 * 1_000_000;

fn rule(free_failures: u32, max_delay_us: i64) -> ThrottleRule {
    ThrottleRule {
        free_failures,
        first_delay_us: FIRST_DELAY_US.min(max_delay_us),
        max_delay_us,
    }
}

/// The buckets of one attempt: `account` names the account (e.g.
/// `account:012289:clerk`), limited to `free` failures per address.
fn buckets(
    account: &str,
    ip: std::net::IpAddr,
    free: u32,
    max_delay_us: i64,
) -> Vec<ThrottleBucket> {
    vec![
        ThrottleBucket {
            key: format!("{account}@{ip}"),
            rule: rule(free, max_delay_us),
        },
        ThrottleBucket {
            key: account.to_string(),
            rule: rule(free.saturating_mul(ACCOUNT_WIDE_FACTOR), max_delay_us),
        },
        ThrottleBucket {
            key: format!("address:{ip}"),
            rule: rule(ADDRESS_FREE_FAILURES, ADDRESS_MAX_DELAY_US),
        },
    ]
}

/// Reserves the attempt, or says how long to wait.
async fn reserve(state: &AppState, buckets: &[ThrottleBucket], now: i64) -> ApiResult<()> {
    let Err(Throttled { bucket, until }) = state.store.login_reserve(buckets, now).await? else {
        return Ok(());
    };
    let wait = ((until - now) / 1_000_000).max(1) as u64;
    let by_address = bucket.starts_with("address:");
    metrics::counter!("murakumo_login_throttled_total", "bucket" => if by_address { "address" } else { "account" })
        .increment(1);
    tracing::warn!(bucket = %bucket, wait_s = wait, "login throttled");
    Err(if by_address {
        ApiError::too_many(
            format!(
                "このアドレスからのログイン失敗が多すぎます。{wait}秒後にもう一度お試しください"
            ),
            wait,
        )
    } else {
        ApiError::too_many(
            format!(
                "ログインに続けて失敗したため、このアカウントは{wait}秒後までロックされています。待ってからもう一度お試しいただくか、団体管理者に連絡してください"
            ),
            wait,
        )
    })
}

/// After a success: the account's failures are forgotten, the address
/// gets back only this attempt.
async fn succeeded(state: &AppState, buckets: &[ThrottleBucket]) -> ApiResult<()> {
    let (reset, release): (Vec<_>, Vec<_>) = buckets
        .iter()
        .map(|b| b.key.clone())
        .partition(|k| !k.starts_with("address:"));
    state.store.login_succeeded(&reset, &release).await?;
    Ok(())
}

/// The standard value of an integer setting (for a tenant that does not exist).
fn standard_setting(key: &str) -> i64 {
    murakumo_tenancy::settings::find(key)
        .ok()
        .and_then(|d| d.standard)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn failed() {
    metrics::counter!("murakumo_login_failures_total").increment(1);
}

/// The login id as typed, normalized; bounded so that a bucket key stays
/// short whatever is sent.
fn normalized_login(login: &str) -> String {
    login.trim().to_lowercase().chars().take(64).collect()
}

async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

fn session_cookie(state: &AppState, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.tls { "; Secure" } else { "" };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("murakumo_session=; Path=/"))
}

/// Logs in (staff of a municipality, or a platform operator).
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let (token, who) = login_inner(&state, peer.ip(), req).await?;
    let mut resp = axum::Json(LoginResponse {
        token: token.clone(),
        who,
    })
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &token, None));
    Ok(resp)
}

/// Shared by the JSON API and the UI's login form. Returns the credential
/// (`scope.token`) and who logged in.
pub async fn login_inner(
    state: &AppState,
    ip: std::net::IpAddr,
    req: LoginRequest,
) -> ApiResult<(String, WhoAmI)> {
    let now = Utc::now().timestamp_micros();
    let tenant_field = req
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(tenant_str) = tenant_field else {
        return operator_login(state, ip, now, req).await;
    };
    let tenant =
        TenantCode::parse(tenant_str).map_err(|e| ApiError::invalid("tenant", e.message_ja()))?;
    // A 団体コード that is not on the platform is answered exactly like a wrong password
    // (same message, same throttling, a password hash checked all the same), so the login
    // form does not tell strangers which municipalities use the platform.
    let info = match state.store.tenant_info(&tenant).await {
        Ok(info) => Some(info),
        Err(murakumo_store::StoreError::TenantNotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let ts = state.store.tenant(&tenant);
    let (max_failures, lockout_us) = match info {
        Some(_) => (
            state.setting_i64(&tenant, "login.max_failures").await?,
            state.setting_i64(&tenant, "login.lockout_minutes").await? * MINUTE_US,
        ),
        None => (
            standard_setting("login.max_failures"),
            standard_setting("login.lockout_minutes") * MINUTE_US,
        ),
    };
    let login = normalized_login(&req.login);
    let buckets = buckets(
        &format!("account:{tenant}:{login}"),
        ip,
        u32::try_from(max_failures).unwrap_or(5),
        lockout_us,
    );
    reserve(state, &buckets, now).await?;
    let found = match info {
        Some(_) => ts.staff_for_login(&login).await?,
        None => None,
    };
    let hash = found
        .as_ref()
        .map_or_else(|| auth::dummy_hash().to_string(), |(_, h)| h.clone());
    let ok = verify_blocking(req.password, hash).await;
    let (staff, info) = match (found, info) {
        (Some((staff, _)), Some(info)) if ok && !staff.disabled => (staff, info),
        _ => {
            failed();
            tracing::warn!(tenant = %tenant, login = %login, "login failed");
            return Err(login_failed());
        }
    };
    succeeded(state, &buckets).await?;
    let (token, hash) = auth::new_session_token();
    ts.create_session(&hash, &staff.staff_id, now).await?;
    tracing::info!(tenant = %tenant, staff_id = %staff.staff_id, "login");
    Ok((
        format!("{tenant}.{token}"),
        WhoAmI {
            kind: "staff".into(),
            tenant: Some(tenant.to_string()),
            tenant_name: Some(info.name),
            login: staff.login,
            display_name: staff.display_name,
            roles: staff.roles.iter().map(|r| r.code().to_string()).collect(),
        },
    ))
}

async fn operator_login(
    state: &AppState,
    ip: std::net::IpAddr,
    now: i64,
    req: LoginRequest,
) -> ApiResult<(String, WhoAmI)> {
    let login = normalized_login(&req.login);
    let buckets = buckets(
        &format!("operator:{login}"),
        ip,
        OPERATOR_FREE_FAILURES,
        OPERATOR_MAX_DELAY_US,
    );
    reserve(state, &buckets, now).await?;
    let found = state.store.operator_for_login(&login).await?;
    let hash = found.as_ref().map_or_else(
        || auth::dummy_hash().to_string(),
        |o| o.password_hash.clone(),
    );
    let ok = verify_blocking(req.password, hash).await;
    let op = match found {
        Some(op) if ok => op,
        _ => {
            failed();
            tracing::warn!(login = %login, "operator login failed");
            return Err(login_failed());
        }
    };
    succeeded(state, &buckets).await?;
    let (token, hash) = auth::new_session_token();
    state
        .store
        .create_operator_session(&hash, &op.operator_id, now)
        .await?;
    tracing::info!(operator_id = %op.operator_id, "operator login");
    Ok((
        format!("{OPERATOR_SCOPE}.{token}"),
        WhoAmI {
            kind: "operator".into(),
            tenant: None,
            tenant_name: None,
            login: op.login,
            display_name: op.display_name,
            roles: vec!["platform.operator".into()],
        },
    ))
}

/// Who is logged in.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(
    State(state): State<AppState>,
    req: axum::extract::Request,
) -> ApiResult<axum::Json<WhoAmI>> {
    who_from_parts(&state, req.into_parts().0)
        .await
        .map(axum::Json)
}

pub async fn who_from_parts(state: &AppState, mut parts: Parts) -> ApiResult<WhoAmI> {
    match StaffSession::from_request_parts(&mut parts, state).await {
        Ok(s) => {
            let info = state.store.tenant_info(&s.tenant).await?;
            Ok(WhoAmI {
                kind: "staff".into(),
                tenant: Some(s.tenant.to_string()),
                tenant_name: Some(info.name),
                login: s.staff.login,
                display_name: s.staff.display_name,
                roles: s.staff.roles.iter().map(|r| r.code().to_string()).collect(),
            })
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            let op = OperatorSession::from_request_parts(&mut parts, state).await?;
            let display = state
                .store
                .operator_by_id(&op.operator_id)
                .await?
                .map(|o| o.display_name)
                .unwrap_or_default();
            Ok(WhoAmI {
                kind: "operator".into(),
                tenant: None,
                tenant_name: None,
                login: op.login,
                display_name: display,
                roles: vec!["platform.operator".into()],
            })
        }
        Err(e) => Err(e),
    }
}

/// Logs out: the session ends on the server, and the cookie is cleared.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    end_session(&state, &headers).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", Some(0)));
    Ok(resp)
}

pub async fn end_session(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if let Some((scope, token)) = credential(headers) {
        let hash = auth::token_hash(&token);
        if scope == OPERATOR_SCOPE {
            state.store.delete_operator_session(&hash).await?;
        } else if let Ok(t) = TenantCode::parse(&scope) {
            state.store.tenant(&t).delete_session(&hash).await?;
        }
    }
    Ok(())
}

pub fn cookie_header(state: &AppState, value: &str) -> HeaderValue {
    session_cookie(state, value, None)
}

pub fn clear_cookie_header(state: &AppState) -> HeaderValue {
    session_cookie(state, "", Some(0))
}

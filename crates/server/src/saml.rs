//! SAML 2.0 single sign-on endpoints (the protocol itself is in
//! `murakumo-saml`): `GET /saml/metadata` (the platform's SP metadata, served
//! whether or not any IdP is configured), `GET /saml/login?tenant=CODE`
//! (SP-initiated login, HTTP-Redirect), `POST /saml/acs` (the IdP's
//! Response, HTTP-POST), `POST|GET /saml/logout` (SP-initiated single
//! logout) and `GET /saml/slo` (the IdP's LogoutRequest or LogoutResponse).
//!
//! A SAML login ends in the same server-side staff session as a password
//! login. The tenant comes from the AuthnRequest the response answers (or,
//! for an IdP-initiated login, from the IdP that signed it) and is then
//! checked against the verified assertion and the attribute mapping.
//! Every refusal is logged with its reason (tracing and the metric
//! `murakumo_saml_rejected_total{reason}`) and shown to the staff member as
//! a Japanese page saying what failed and what to check. Only a refusal of
//! a verified assertion (signed by the municipality's IdP, not a replay)
//! also goes to the municipality's access log: an anonymous post must not
//! be able to grow a tenant's access chain.
//!
//! These endpoints do no work for strangers beyond reading what is stored:
//! `/saml/login` never connects anywhere (the IdP's metadata was imported
//! and stored; it only redirects the browser).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use murakumo_app::sso::{self, Established};
use murakumo_core::TenantCode;
use murakumo_saml::{Rejection, TenantSso, VerifiedAssertion};
use murakumo_tenancy::{AccessAction, AccessRecord};
use serde::Deserialize;

use crate::state::AppState;
use crate::ui::{esc, page};
use crate::{observe, session};

/// How long an AuthnRequest may wait for its response.
const REQUEST_TTL_US: i64 = 10 * 60 * 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml/metadata", get(metadata))
        .route("/saml/login", get(login))
        .route("/saml/acs", post(acs))
        .route("/saml/logout", get(logout).post(logout))
        .route("/saml/slo", get(slo))
}

/// The platform's SP metadata (one SP for all municipalities).
async fn metadata(State(state): State<AppState>) -> Response {
    match state.sp().metadata_xml() {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render SP metadata");
            (StatusCode::INTERNAL_SERVER_ERROR, "SP metadata unavailable").into_response()
        }
    }
}

/// The error page: what failed, what to check, and the way back.
fn problem(status: StatusCode, title: &str, what: &str, check: &str, detail: &str) -> Response {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(
            "<details><summary>運用者向けの詳細</summary><p><code>{}</code></p><p class=\"muted\">要求ID {}</p></details>",
            esc(detail),
            esc(&observe::current_request_id())
        )
    };
    let body = format!(
        "<div class=\"card medium\" role=\"alert\"><h1>{}</h1><p class=\"error\">{}</p>\
         <p>{}</p>{detail}<p><a href=\"/\">ログイン画面へ戻る</a>(ID・パスワードでのログインも使えます)</p></div>",
        esc(title),
        esc(what),
        esc(check)
    );
    (status, page(title, None, &body)).into_response()
}

fn config_problem(tenant: &TenantCode, e: &murakumo_saml::ConfigError) -> Response {
    tracing::error!(tenant = %tenant, error = %e, "SAML configuration of the tenant is not usable");
    metrics::counter!("murakumo_saml_logins_total", "result" => "misconfigured").increment(1);
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "シングルサインオンの設定に誤りがあります",
        "この団体のIdP(認証基盤)の設定が正しくないため、シングルサインオンを開始できません。",
        "運用者に、IdPのメタデータ(エンティティID、シングルサインオンのURL、署名証明書)を取り込み直すよう依頼してください。",
        &e.to_string(),
    )
}

async fn tenant_sso(state: &AppState, tenant: &TenantCode) -> Result<Option<TenantSso>, Response> {
    let json = match state.store.tenant(tenant).sso_config().await {
        Ok(j) => j,
        Err(e) => return Err(crate::error::ApiError::from(e).into_response()),
    };
    match json
        .map(|j| serde_json::from_str::<TenantSso>(&j))
        .transpose()
    {
        Ok(c) => Ok(c),
        Err(e) => Err(config_problem(
            tenant,
            &murakumo_saml::ConfigError::Mapping(e.to_string()),
        )),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    tenant: Option<String>,
}

/// Starts an SP-initiated login: remembers a fresh request id and sends the
/// browser to the municipality's IdP, from the stored metadata only (no
/// connection is made from here: an address an administrator typed must
/// not turn this endpoint into a port scanner).
async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let raw = q.tenant.unwrap_or_default();
    let Ok(tenant) = TenantCode::parse(raw.trim()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "団体コードを確認してください",
            &format!(
                "「{}」は団体コード(6桁)として正しくありません。",
                raw.trim()
            ),
            "ログイン画面で、所属する市区町村の6桁の団体コードを入力してください。",
            "",
        );
    };
    if state.store.tenant_info(&tenant).await.is_err() {
        return problem(
            StatusCode::NOT_FOUND,
            "団体が見つかりません",
            &format!("団体コード {tenant} の団体はこの基盤に登録されていません。"),
            "団体コードを確認してください。",
            "",
        );
    }
    let cfg = match tenant_sso(&state, &tenant).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "シングルサインオンは設定されていません",
                &Rejection::NotConfigured.message_ja(),
                "ID・パスワードでログインしてください。",
                "",
            );
        }
        Err(r) => return r,
    };
    let idp = match cfg.validate() {
        Ok(i) => i,
        Err(e) => return config_problem(&tenant, &e),
    };
    let redirect = match state.sp().authn_request(&idp, tenant.as_str()) {
        Ok(r) => r,
        Err(e) => {
            return config_problem(&tenant, &murakumo_saml::ConfigError::Xml(e));
        }
    };
    let now = Utc::now().timestamp_micros();
    if let Err(e) = state
        .store
        .saml_request_put(&redirect.request_id, &tenant, now, now - REQUEST_TTL_US)
        .await
    {
        return crate::error::ApiError::from(e).into_response();
    }
    tracing::info!(tenant = %tenant, idp = %idp.entity_id, request_id = %redirect.request_id, "SAML login started");
    Redirect::to(&redirect.url).into_response()
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
}

/// Logs a refusal (tracing, metrics: nothing in any tenant's chains) and
/// renders the page.
async fn refuse(
    _state: &AppState,
    tenant: Option<&TenantCode>,
    issuer: Option<&str>,
    r: Rejection,
) -> Response {
    tracing::warn!(
        tenant = tenant.map(|t| t.to_string()).unwrap_or_default(),
        issuer = issuer.unwrap_or_default(),
        reason = r.code(),
        detail = %r,
        "SAML login refused"
    );
    metrics::counter!("murakumo_saml_logins_total", "result" => r.code()).increment(1);
    metrics::counter!("murakumo_saml_rejected_total", "reason" => r.code()).increment(1);
    let status = match r {
        Rejection::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Rejection::Malformed(_) | Rejection::UnsafeXml(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    problem(
        status,
        "シングルサインオンでログインできませんでした",
        &r.message_ja(),
        "解決しない場合は、この画面の時刻と下の詳細を添えて団体の情報担当に連絡してください。",
        &format!("{}: {r}", r.code()),
    )
}

/// The assertion consumer service.
async fn acs(
    State(state): State<AppState>,
    ConnectInfo(_peer): ConnectInfo<SocketAddr>,
    form: Result<Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return refuse(
            &state,
            None,
            None,
            Rejection::Malformed(
                "SAMLResponse がありません。IdP のログイン画面からやり直してください".into(),
            ),
        )
        .await;
    };
    let now = Utc::now().timestamp_micros();
    let shape = match murakumo_saml::peek_response(&f.saml_response) {
        Ok(s) => s,
        Err(r) => {
            // Refused before any tenant's key was tried; if it answers a
            // request of ours, the request is used up and the refusal goes
            // to that municipality's access log.
            let (irt, issuer) = murakumo_saml::response::decode(&f.saml_response)
                .map(|x| murakumo_saml::structure::hints(&x))
                .unwrap_or_default();
            let tenant = match irt {
                Some(irt) => state
                    .store
                    .saml_request_take(&irt, now - REQUEST_TTL_US)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            return refuse(&state, tenant.as_ref(), issuer.as_deref(), r).await;
        }
    };
    let issuer = shape.issuer.clone();
    // Which municipality: the one that sent the request answered, or
    // (IdP-initiated) the one whose IdP this is.
    let (tenant, request_id) = match &shape.in_response_to {
        Some(irt) => match state
            .store
            .saml_request_take(irt, now - REQUEST_TTL_US)
            .await
        {
            Ok(Some(t)) => (t, Some(irt.clone())),
            Ok(None) => {
                return refuse(
                    &state,
                    None,
                    issuer.as_deref(),
                    Rejection::UnknownRequest(irt.clone()),
                )
                .await;
            }
            Err(e) => return crate::error::ApiError::from(e).into_response(),
        },
        None => {
            let tenants = match state
                .store
                .sso_tenants_for_idp(issuer.as_deref().unwrap_or_default())
                .await
            {
                Ok(t) => t,
                Err(e) => return crate::error::ApiError::from(e).into_response(),
            };
            // An IdP belongs to one municipality (unique entity id).
            let chosen = match tenants.as_slice() {
                [only] => Some(*only),
                _ => None,
            };
            let Some(t) = chosen else {
                return refuse(
                    &state,
                    None,
                    issuer.as_deref(),
                    Rejection::WrongIssuer {
                        issuer: issuer.clone().unwrap_or_default(),
                        expected: "an IdP configured for a municipality (IdP-initiated login)"
                            .into(),
                    },
                )
                .await;
            };
            (t, None)
        }
    };
    let cfg = match tenant_sso(&state, &tenant).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return refuse(
                &state,
                Some(&tenant),
                issuer.as_deref(),
                Rejection::NotConfigured,
            )
            .await;
        }
        Err(r) => return r,
    };
    let idp = match cfg.validate() {
        Ok(i) => i,
        Err(e) => return config_problem(&tenant, &e),
    };
    // A response from an IdP that another municipality uses, for a login
    // started here: say so (the signature would fail anyway).
    if let Some(iss) = &issuer
        && *iss != idp.entity_id
        && let Ok(owners) = state.store.sso_tenants_for_idp(iss).await
        && !owners.is_empty()
    {
        return refuse(
            &state,
            Some(&tenant),
            Some(iss),
            Rejection::OtherTenantIdp {
                issuer: iss.clone(),
                tenant: tenant.to_string(),
            },
        )
        .await;
    }
    let sp = state.sp();
    let verified = match murakumo_saml::verify_response(
        &f.saml_response,
        &sp,
        &idp,
        request_id.as_deref(),
        cfg.allow_idp_initiated,
    ) {
        Ok(v) => v,
        Err(r) => return refuse(&state, Some(&tenant), issuer.as_deref(), r).await,
    };
    let ts = state.store.tenant(&tenant);
    match ts
        .saml_assertion_first_use(
            &verified.assertion_id,
            verified.remember_until.timestamp_micros(),
            now,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                &state,
                Some(&tenant),
                Some(&verified.issuer),
                Rejection::Replay(verified.assertion_id.clone()),
            )
            .await;
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    }
    match establish(&state, &tenant, &cfg, &verified, now).await {
        Ok(Established {
            token,
            staff_id,
            login,
        }) => {
            tracing::info!(tenant = %tenant, staff_id = %staff_id, idp = %verified.issuer, "SAML login");
            metrics::counter!("murakumo_saml_logins_total", "result" => "ok").increment(1);
            let record = AccessRecord {
                action: AccessAction::Login,
                subject: format!("staff:{staff_id}"),
                purpose: "シングルサインオン".into(),
                detail: format!("ok idp={} login={login}", verified.issuer),
                request_id: observe::current_request_id(),
            };
            if let Err(e) = ts.log_access(&format!("staff:{staff_id}"), &[record]).await {
                return crate::error::ApiError::from(e).into_response();
            }
            // A page of our own that moves on to `/`: the session cookie is
            // SameSite=Strict, which a redirect straight out of the IdP's
            // cross-site POST would not send.
            let html = page(
                "ログインしました",
                None,
                "<div class=\"card\"><p>ログインしました。<a id=\"continue\" href=\"/\">業務画面へ進む</a></p></div>",
            )
            .0
            .replace("<head>", "<head><meta http-equiv=\"refresh\" content=\"0;url=/\">");
            let mut resp = Html(html).into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, session::cookie_header(&state, &token));
            resp
        }
        Err(r) => refuse_verified(&state, &tenant, &verified.issuer, r).await,
    }
}

/// A refusal of an assertion the municipality's IdP signed (fresh, not a
/// replay): the municipality's access log records it too.
async fn refuse_verified(
    state: &AppState,
    tenant: &TenantCode,
    issuer: &str,
    r: Rejection,
) -> Response {
    let record = AccessRecord {
        action: AccessAction::Login,
        subject: format!("saml:{issuer}"),
        purpose: "シングルサインオン".into(),
        detail: format!("refused {}: {r}", r.code()),
        request_id: observe::current_request_id(),
    };
    if let Err(e) = state
        .store
        .tenant(tenant)
        .log_access("system:saml", &[record])
        .await
    {
        tracing::error!(error = %e, "cannot write the access log");
    }
    refuse(state, Some(tenant), Some(issuer), r).await
}

/// Maps the verified assertion to a staff member and hands it to the use case
/// (`murakumo_app::sso::establish`), which finds or creates the account and opens the session.
async fn establish(
    state: &AppState,
    tenant: &TenantCode,
    cfg: &TenantSso,
    a: &VerifiedAssertion,
    now: i64,
) -> Result<Established, Rejection> {
    let user = cfg.mapping.map(a, tenant)?;
    let user = sso::IdpUser {
        login: user.login,
        display_name: user.display_name,
        roles: user.roles,
        default_roles: user.default_roles,
    };
    let assertion = sso::Assertion {
        issuer: &a.issuer,
        name_id: &a.name_id,
        session_index: a.session_index.as_deref(),
    };
    match sso::establish(&state.app(), tenant, user, cfg.jit, assertion, now).await {
        Ok(Ok(established)) => Ok(established),
        Ok(Err(sso::Refusal::Disabled(login))) => Err(Rejection::DisabledUser(login)),
        Ok(Err(sso::Refusal::NotLinked(login))) => Err(Rejection::NotLinked(login)),
        Ok(Err(sso::Refusal::Unknown(login))) => Err(Rejection::UnknownUser(login)),
        Err(e) => Err(Rejection::Internal(e.to_string())),
    }
}

/// SP-initiated single logout: ends the session here, then asks the IdP to
/// end its session (when it has a logout endpoint).
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut target = "/".to_string();
    if let Some((tenant, hash)) = session::staff_credential(&headers) {
        let ts = state.store.tenant(&tenant);
        if let Ok(Some(s)) = ts.saml_session(&hash).await {
            let _ = ts.delete_saml_session(&hash).await;
            if let Ok(Some(cfg)) = tenant_sso(&state, &tenant).await
                && let Ok(idp) = cfg.validate()
                && let Ok(Some(url)) = murakumo_saml::logout::logout_request(
                    &state.sp(),
                    &idp,
                    &s.name_id,
                    s.session_index.as_deref(),
                )
            {
                target = url;
            }
        }
    }
    let _ = session::end_session(&state, &headers).await;
    let mut resp = Redirect::to(&target).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie_header(&state));
    resp
}

#[derive(Deserialize)]
pub struct SloQuery {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The IdP's side of single logout.
async fn slo(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    Query(q): Query<SloQuery>,
) -> Response {
    if q.saml_response.is_some() {
        // The IdP confirms our LogoutRequest; our session is already gone.
        return (
            StatusCode::OK,
            page(
                "ログアウトしました",
                None,
                "<div class=\"card\"><p>ログアウトしました(IdPのセッションも終了しました)。</p><p><a href=\"/\">ログイン画面へ</a></p></div>",
            ),
        )
            .into_response();
    }
    let Some(req) = q.saml_request else {
        return refuse(
            &state,
            None,
            None,
            Rejection::Malformed("no SAMLRequest or SAMLResponse".into()),
        )
        .await;
    };
    let request = match murakumo_saml::logout::inflate_b64(&req)
        .and_then(|xml| murakumo_saml::logout::read_logout_request(&xml))
    {
        Ok(r) => r,
        Err(r) => return refuse(&state, None, None, r).await,
    };
    let tenants = match state.store.sso_tenants_for_idp(&request.issuer).await {
        Ok(t) => t,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let raw = raw.unwrap_or_default();
    for tenant in tenants {
        let Ok(Some(cfg)) = tenant_sso(&state, &tenant).await else {
            continue;
        };
        let Ok(idp) = cfg.validate() else { continue };
        if let Err(r) = murakumo_saml::logout::verify_redirect_signature(&idp, &raw) {
            return refuse(&state, Some(&tenant), Some(&request.issuer), r).await;
        }
        let ended = state
            .store
            .tenant(&tenant)
            .end_saml_sessions(&request.name_id, &request.session_indexes)
            .await
            .unwrap_or(0);
        tracing::info!(tenant = %tenant, idp = %request.issuer, ended, "SAML single logout from the IdP");
        if let Ok(Some(url)) = murakumo_saml::logout::logout_response(
            &state.sp(),
            &idp,
            &request.id,
            q.relay_state.as_deref(),
        ) {
            return Redirect::to(&url).into_response();
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    refuse(
        &state,
        None,
        Some(&request.issuer),
        Rejection::WrongIssuer {
            issuer: request.issuer.clone(),
            expected: "an IdP configured for a municipality".into(),
        },
    )
    .await
}

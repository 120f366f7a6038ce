//! The JSON API under `/api/v1/`, described by `/api/v1/openapi.json`.
//!
//! Every route is registered with `utoipa_axum::routes!`, which adds it to
//! the router and the OpenAPI document together.

pub(crate) mod access_log;
pub(crate) mod backup_target;
pub(crate) mod certificates;
pub(crate) mod changes;
mod ledger;
pub(crate) mod platform;
pub(crate) mod replication;
pub(crate) mod residents;
pub(crate) mod seals;
pub(crate) mod settings;
pub(crate) mod sso;
pub(crate) mod staff;
pub(crate) mod statistics;

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::session;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Murakumo API",
        description = "自治体クラウド Murakumo: the platform API. Staff endpoints act on the caller's own municipality only (bound at login); operator endpoints act on the platform. Errors always have the shape {\"error\": {\"code\", \"message\", \"field\"?, \"request_id\"}}.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "session", description = "Login and logout"),
        (name = "platform", description = "Platform operators: tenants and 県版 settings"),
        (name = "tenant", description = "The caller's municipality: settings, staff, ledger"),
        (name = "resident", description = "住民記録"),
        (name = "seal", description = "印鑑登録"),
        (name = "audit", description = "The access log"),
        (name = "sso", description = "SAML single sign-on: a municipality's IdP, attribute mapping and just-in-time accounts"),
        (name = "replication", description = "Between centres and sites: followers pull ledger segments (token-protected)"),
        (name = "public", description = "No login: certificate verification for banks and other offices"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(session::COOKIE))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("cookie", Vec::<String>::new()),
        ]);
    }
}

/// The API router and its OpenAPI document.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login, session::whoami, session::logout))
        .routes(routes!(platform::list_tenants, platform::create_tenant))
        .routes(routes!(platform::verify_tenant))
        .routes(routes!(platform::rebuild_tenant))
        .routes(routes!(platform::set_tenant_setting))
        .routes(routes!(platform::prefecture_settings))
        .routes(routes!(platform::set_prefecture_setting))
        .routes(routes!(settings::own_tenant))
        .routes(routes!(settings::list_settings))
        .routes(routes!(settings::set_setting))
        .routes(routes!(settings::setting_history))
        .routes(routes!(staff::list_staff, staff::create_staff))
        .routes(routes!(staff::set_roles))
        .routes(routes!(staff::disable_staff))
        .routes(routes!(staff::link_sso))
        .routes(routes!(changes::list_changes))
        .routes(routes!(changes::approve_change))
        .routes(routes!(changes::reject_change))
        .routes(routes!(
            residents::search_residents,
            residents::enter_resident
        ))
        .routes(routes!(residents::count_residents))
        .routes(routes!(residents::export_residents))
        .routes(routes!(residents::enter_household))
        .routes(routes!(residents::get_resident))
        .routes(routes!(residents::resident_history))
        .routes(routes!(residents::change_resident))
        .routes(routes!(residents::get_household))
        .routes(routes!(residents::protections_ending))
        .routes(routes!(residents::inspection_copy))
        .routes(routes!(residents::search_history))
        .routes(routes!(statistics::population))
        .routes(routes!(statistics::movements))
        .routes(routes!(statistics::seals))
        .routes(routes!(seals::search_seals, seals::register_seal))
        .routes(routes!(seals::cancel_seal))
        .routes(routes!(seals::seal_impression))
        .routes(routes!(seals::seal_issuances))
        .routes(routes!(seals::seal_removal_notice))
        .routes(routes!(seals::get_official_seal, seals::set_official_seal))
        .routes(routes!(certificates::issue_certificate))
        .routes(routes!(certificates::rotate_signing_key))
        .routes(routes!(certificates::public_keys))
        .routes(routes!(certificates::verify_certificate))
        .routes(routes!(certificates::verify_code))
        .routes(routes!(access_log::search_access_log))
        .routes(routes!(ledger::ledger_head))
        .routes(routes!(ledger::verify_ledger))
        .routes(routes!(
            sso::get_tenant_sso,
            sso::put_tenant_sso,
            sso::delete_tenant_sso
        ))
        .routes(routes!(sso::get_own_sso, sso::put_own_sso))
        .merge(backup_target::router())
        .merge(replication::router())
        .split_for_parts()
}

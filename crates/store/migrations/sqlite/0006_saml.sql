-- SAML single sign-on (issue 8).
-- sso_configs: a municipality's IdP and attribute mapping, projected from
-- tenancy.sso_configured events (the ledger keeps the history).
CREATE TABLE sso_configs (
    tenant_code   TEXT PRIMARY KEY,
    idp_entity_id TEXT NOT NULL,
    config_json   TEXT NOT NULL
);
CREATE INDEX sso_configs_by_idp ON sso_configs (idp_entity_id);
-- Outstanding AuthnRequests (platform-wide: the ACS learns the tenant from
-- the request a response answers). Used once, kept minutes.
CREATE TABLE saml_requests (
    request_id  TEXT PRIMARY KEY,
    tenant_code TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
-- Replay cache: assertion ids already used, until they expire.
CREATE TABLE saml_assertions (
    tenant_code  TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, assertion_id)
);
-- Sessions opened by SAML, with what single logout needs.
CREATE TABLE saml_sessions (
    tenant_code   TEXT NOT NULL,
    token_hash    BLOB NOT NULL,
    staff_id      TEXT NOT NULL,
    name_id       TEXT NOT NULL,
    session_index TEXT,
    PRIMARY KEY (tenant_code, token_hash)
);

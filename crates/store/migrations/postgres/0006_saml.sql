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
    token_hash    BYTEA NOT NULL,
    staff_id      TEXT NOT NULL,
    name_id       TEXT NOT NULL,
    session_index TEXT,
    PRIMARY KEY (tenant_code, token_hash)
);

-- An IdP is found by its entity id in platform scope (which tenant does a
-- response belong to?); each tenant sees and writes only its own row.
ALTER TABLE sso_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_configs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_platform ON sso_configs
    USING (tenant_code = murakumo_tenant() OR murakumo_platform())
    WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE saml_assertions ENABLE ROW LEVEL SECURITY;
ALTER TABLE saml_assertions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON saml_assertions USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE saml_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE saml_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON saml_sessions USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON sso_configs, saml_requests, saml_assertions, saml_sessions TO murakumo_app;

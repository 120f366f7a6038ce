-- Signing keys as ledger entries (docs/design/platform-chain.md, stage 4). signing_keys
-- becomes the read model of tenancy.signing_key_published (public halves, in each
-- municipality's ledger); its secret_key column stays empty from now on (rows written before
-- are appended to the chains, and their secrets sealed, when the store first opens).
-- signing_key_secrets is the read model of platform.signing_key_sealed: secrets sealed under
-- the node's platform key, opened only when a certificate is signed. A municipality's scope
-- sees its own keys' secrets; the platform chain's scope, which projects them, sees all.
-- Keep in step with ../sqlite/0015_signing_keys_in_chains.sql.
CREATE TABLE signing_key_secrets (
    tenant_code TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    public_key  BYTEA NOT NULL,
    site        TEXT,
    sealed      BYTEA NOT NULL,
    -- µs since 1970 UTC: the platform entry's time; the newest that opens signs.
    sealed_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, key_id)
);
ALTER TABLE signing_key_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_key_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_platform_chain ON signing_key_secrets
    USING (tenant_code = murakumo_tenant() OR murakumo_tenant() = '000000')
    WITH CHECK (tenant_code = murakumo_tenant() OR murakumo_tenant() = '000000');
GRANT SELECT, INSERT, DELETE ON signing_key_secrets TO murakumo_app;
-- A rebuild of the tenancy read models clears it.
GRANT DELETE ON signing_keys TO murakumo_app;

-- Signing keys as ledger entries (docs/design/platform-chain.md, stage 4). signing_keys
-- becomes the read model of tenancy.signing_key_published (public halves, in each
-- municipality's ledger); its secret_key column stays empty from now on (rows written before
-- are appended to the chains, and their secrets sealed, when the store first opens).
-- signing_key_secrets is the read model of platform.signing_key_sealed: secrets sealed under
-- the node's platform key, opened only when a certificate is signed.
-- Keep in step with ../postgres/0015_signing_keys_in_chains.sql.
CREATE TABLE signing_key_secrets (
    tenant_code TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    public_key  BLOB NOT NULL,
    site        TEXT,
    sealed      BLOB NOT NULL,
    -- µs since 1970 UTC: the platform entry's time; the newest that opens signs.
    sealed_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, key_id)
);

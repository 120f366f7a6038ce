-- Certificates (証明書): per-tenant signing keys, 発行番号 counters, and the
-- issued-certificate read model (projected from certificate.issued events).
CREATE TABLE signing_keys (
    tenant_code TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    public_key  BLOB NOT NULL,
    -- Ed25519 secret; never leaves the server. Retired keys keep only
    -- verifying certificates already issued.
    secret_key  BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT,
    PRIMARY KEY (tenant_code, key_id)
);
CREATE TABLE issue_counters (
    tenant_code TEXT NOT NULL,
    series      TEXT NOT NULL,
    next_number BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, series)
);
CREATE TABLE certificates (
    tenant_code  TEXT NOT NULL,
    issue_number TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    subjects     TEXT NOT NULL,
    digest       TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    issue_date   TEXT NOT NULL,
    actor        TEXT NOT NULL,
    PRIMARY KEY (tenant_code, issue_number)
);

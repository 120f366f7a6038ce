-- Murakumo schema v1 (PostgreSQL). Keep in step with ../sqlite/0001_foundation.sql:
-- same tables, same columns; only types and security differ.
-- Integers are BIGINT, times are microseconds since the Unix epoch, dates are
-- ISO 'YYYY-MM-DD' text, hashes are 32-byte blobs.

CREATE TABLE tenants (
    tenant_code     TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    prefecture_code TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- The head of each chain of a tenant ('ledger' or 'access'). Appending locks
-- this row first, which keeps sequence numbers gap-free across nodes.
CREATE TABLE chain_heads (
    tenant_code TEXT NOT NULL,
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    hash        BYTEA NOT NULL,
    PRIMARY KEY (tenant_code, chain)
);

CREATE TABLE ledger_entries (
    tenant_code    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    prev_hash      BYTEA NOT NULL,
    hash           BYTEA NOT NULL,
    kind           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    effective_date TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    payload        BYTEA NOT NULL,
    PRIMARY KEY (tenant_code, seq)
);

-- The access log: a second chain with the same columns, plus searchable
-- copies of the record's fields.
CREATE TABLE access_entries (
    tenant_code    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    prev_hash      BYTEA NOT NULL,
    hash           BYTEA NOT NULL,
    kind           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    effective_date TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    payload        BYTEA NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    PRIMARY KEY (tenant_code, seq)
);
CREATE INDEX access_by_subject ON access_entries (tenant_code, subject);
CREATE INDEX access_by_actor ON access_entries (tenant_code, actor);
CREATE INDEX access_by_time ON access_entries (tenant_code, recorded_at);


-- Projections (rebuilt from the ledger).
CREATE TABLE settings (
    tenant_code TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (tenant_code, key)
);
CREATE TABLE setting_history (
    tenant_code    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    key            TEXT NOT NULL,
    value          TEXT,
    reason         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, seq)
);
CREATE TABLE staff (
    tenant_code   TEXT NOT NULL,
    staff_id      TEXT NOT NULL,
    login         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    roles         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, staff_id),
    UNIQUE (tenant_code, login)
);
CREATE TABLE residents (
    tenant_code   TEXT NOT NULL,
    resident_code TEXT NOT NULL,
    household_id  TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    given_name    TEXT NOT NULL,
    family_kana   TEXT NOT NULL,
    given_kana    TEXT NOT NULL,
    birth_date    TEXT NOT NULL,
    sex_code      BIGINT NOT NULL,
    address       TEXT NOT NULL,
    relationship  TEXT NOT NULL,
    PRIMARY KEY (tenant_code, resident_code)
);
CREATE INDEX residents_by_kana ON residents (tenant_code, family_kana, given_kana);

-- Platform tables (not tenant data).
CREATE TABLE prefecture_settings (
    prefecture_code TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (prefecture_code, key)
);
CREATE TABLE prefecture_setting_history (
    prefecture_code TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT,
    actor           TEXT NOT NULL,
    recorded_at     BIGINT NOT NULL
);
CREATE TABLE operators (
    operator_id   TEXT PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Server-side sessions and login attempts. Tenant sessions are tenant data;
-- operator sessions use tenant_code '' and live in their own table.
CREATE TABLE sessions (
    tenant_code TEXT NOT NULL,
    token_hash  BYTEA NOT NULL,
    staff_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, token_hash)
);
CREATE TABLE operator_sessions (
    token_hash  BYTEA PRIMARY KEY,
    operator_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);
CREATE TABLE login_failures (
    tenant_code TEXT NOT NULL,
    login       TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX login_failures_by_login ON login_failures (tenant_code, login, at);

-- Security. The server runs as murakumo_app (via SET ROLE after connecting),
-- which owns nothing: it cannot change the schema, cannot update or delete
-- ledger or access entries, and sees only the rows of the tenant set for the
-- current transaction (set_config('murakumo.tenant', code, true)).
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'murakumo_app') THEN
        CREATE ROLE murakumo_app NOLOGIN;
    END IF;
END $$;
GRANT murakumo_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO murakumo_app;

GRANT SELECT, INSERT ON ledger_entries, access_entries TO murakumo_app;
GRANT SELECT, INSERT, UPDATE ON chain_heads, tenants TO murakumo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON settings, setting_history, staff, residents,
    sessions, login_failures, prefecture_settings, operator_sessions TO murakumo_app;
GRANT SELECT, INSERT ON prefecture_setting_history, operators TO murakumo_app;
GRANT UPDATE ON operators TO murakumo_app;

CREATE FUNCTION murakumo_tenant() RETURNS text LANGUAGE sql STABLE
    AS $f$ SELECT current_setting('murakumo.tenant', true) $f$;
CREATE FUNCTION murakumo_platform() RETURNS boolean LANGUAGE sql STABLE
    AS $f$ SELECT coalesce(current_setting('murakumo.platform', true), '') = 'on' $f$;

ALTER TABLE chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON chain_heads USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON ledger_entries USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE access_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON access_entries USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON settings USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE setting_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE setting_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON setting_history USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE staff ENABLE ROW LEVEL SECURITY;
ALTER TABLE staff FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON staff USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE residents ENABLE ROW LEVEL SECURITY;
ALTER TABLE residents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON residents USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON sessions USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON login_failures USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());

-- The tenant list is visible in platform scope (operators) and, row by row,
-- to its own tenant.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_platform ON tenants
    USING (tenant_code = murakumo_tenant() OR murakumo_platform())
    WITH CHECK (murakumo_platform());

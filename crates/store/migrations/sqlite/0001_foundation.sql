-- Murakumo schema v1 (SQLite). Keep in step with ../postgres/0001_foundation.sql:
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
    hash        BLOB NOT NULL,
    PRIMARY KEY (tenant_code, chain)
);

CREATE TABLE ledger_entries (
    tenant_code    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL,
    kind           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    effective_date TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    payload        BLOB NOT NULL,
    PRIMARY KEY (tenant_code, seq)
) WITHOUT ROWID;

-- The access log: a second chain with the same columns, plus searchable
-- copies of the record's fields.
CREATE TABLE access_entries (
    tenant_code    TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL,
    kind           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    effective_date TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    payload        BLOB NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    PRIMARY KEY (tenant_code, seq)
) WITHOUT ROWID;
CREATE INDEX access_by_subject ON access_entries (tenant_code, subject);
CREATE INDEX access_by_actor ON access_entries (tenant_code, actor);
CREATE INDEX access_by_time ON access_entries (tenant_code, recorded_at);

CREATE TRIGGER ledger_entries_append_only_u BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_append_only_d BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER access_entries_append_only_u BEFORE UPDATE ON access_entries
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_entries_append_only_d BEFORE DELETE ON access_entries
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

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
    token_hash  BLOB NOT NULL,
    staff_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, token_hash)
);
CREATE TABLE operator_sessions (
    token_hash  BLOB PRIMARY KEY,
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

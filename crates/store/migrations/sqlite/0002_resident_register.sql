-- The resident register read model (住民記録). A projection: the server
-- rebuilds it from the ledger whenever the projection version changes.
DROP TABLE residents;
CREATE TABLE residents (
    tenant_code     TEXT NOT NULL,
    resident_code   TEXT NOT NULL,
    household_id    TEXT NOT NULL,
    -- current | moving_out | removed
    status          TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    search_kana     TEXT NOT NULL,
    search_name     TEXT NOT NULL,
    birth_date      TEXT NOT NULL,
    address         TEXT NOT NULL,
    protected_until TEXT,
    -- The whole record (resident::Record) as JSON.
    record          TEXT NOT NULL,
    PRIMARY KEY (tenant_code, resident_code)
);
CREATE INDEX residents_by_kana ON residents (tenant_code, search_kana);
CREATE INDEX residents_by_name ON residents (tenant_code, search_name);
CREATE INDEX residents_by_birth ON residents (tenant_code, birth_date);
CREATE INDEX residents_by_address ON residents (tenant_code, address);
CREATE INDEX residents_by_household ON residents (tenant_code, household_id);

-- Which ledger entries concern which resident: 異動履歴 and as-of replay.
CREATE TABLE resident_entries (
    tenant_code   TEXT NOT NULL,
    resident_code TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, resident_code, seq)
);

-- Platform facts about this database (e.g. the projection version).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

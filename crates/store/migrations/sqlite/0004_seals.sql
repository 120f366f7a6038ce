-- 印鑑登録 (seal registrations) and each tenant's 公印 image, projected from
-- seal.* and official_seal.* ledger events. The images live in the ledger
-- payloads; these tables are read models and are rebuilt from it.
CREATE TABLE seals (
    tenant_code         TEXT NOT NULL,
    registration_number TEXT NOT NULL,
    resident_code       TEXT NOT NULL,
    card_number         TEXT NOT NULL,
    status              TEXT NOT NULL,     -- active | cancelled
    registered_on       TEXT NOT NULL,
    cancelled_on        TEXT,
    cancel_reason       TEXT,              -- abolished | card_lost | ex_officio
    record              TEXT NOT NULL,     -- SealRecord as JSON
    impression          BLOB NOT NULL,     -- PNG
    PRIMARY KEY (tenant_code, registration_number)
);
CREATE INDEX seals_resident ON seals (tenant_code, resident_code);
CREATE INDEX seals_card ON seals (tenant_code, card_number);
-- One registration in force per person and per card, even when two
-- counters register at the same moment (validation alone would race).
CREATE UNIQUE INDEX seals_one_active_per_resident ON seals (tenant_code, resident_code) WHERE status = 'active';
CREATE UNIQUE INDEX seals_one_active_per_card ON seals (tenant_code, card_number) WHERE status = 'active';
CREATE TABLE official_seals (
    tenant_code TEXT NOT NULL PRIMARY KEY,
    png         BLOB NOT NULL,
    seq         BIGINT NOT NULL
);

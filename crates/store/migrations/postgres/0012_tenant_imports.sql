-- An import (移行) under way, written in bounded chunks: while a tenant has a row here, its
-- staff are answered 503 and its ledger is seen only up to start_seq (heads, reads, backup
-- and replication), so nobody sees half a register. The chunk that appends the last entries
-- deletes the row in the same transaction. Not a projection: never rebuilt.
-- Keep in step with ../sqlite/0012_tenant_imports.sql.
CREATE TABLE tenant_imports (
    tenant_code TEXT PRIMARY KEY,
    digest      TEXT   NOT NULL,
    start_seq   BIGINT NOT NULL,
    start_hash  BYTEA  NOT NULL,
    entries     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL
);
ALTER TABLE tenant_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_imports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON tenant_imports USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());
GRANT SELECT, INSERT, DELETE ON tenant_imports TO murakumo_app;

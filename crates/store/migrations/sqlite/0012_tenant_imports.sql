-- An import (移行) under way, written in bounded chunks: while a tenant has a row here, its
-- staff are answered 503 and its ledger is seen only up to start_seq (heads, reads, backup
-- and replication), so nobody sees half a register. The chunk that appends the last entries
-- deletes the row in the same transaction. Not a projection: never rebuilt.
-- Keep in step with ../postgres/0012_tenant_imports.sql.
CREATE TABLE tenant_imports (
    tenant_code TEXT PRIMARY KEY,
    digest      TEXT   NOT NULL,
    start_seq   INTEGER NOT NULL,
    start_hash  BLOB   NOT NULL,
    entries     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL
);

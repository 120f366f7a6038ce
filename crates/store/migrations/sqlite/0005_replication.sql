-- Replication (issue 7): this node's role and epoch (fencing), the
-- node-local outbox of a fallback node or replica, and the receipts a
-- primary keeps of outbox items it has appended (idempotent replay).

-- One row: what this database is. 'primary' appends to tenant chains;
-- 'replica' and 'fallback' only receive segments; 'fenced' is an old
-- primary that learnt of a newer epoch and refuses every write.
CREATE TABLE node_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    role        TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    primary_url TEXT,
    note        TEXT,
    updated_at  BIGINT NOT NULL
);
INSERT INTO node_state (id, role, epoch, primary_url, note, updated_at) VALUES (1, 'primary', 1, NULL, NULL, 0);

-- Nodes this one has heard of (followers that pulled, the primary it
-- followed): told about a new epoch, and asked about theirs at start.
CREATE TABLE node_peers (
    url        TEXT PRIMARY KEY,
    last_seen  BIGINT NOT NULL
);

-- Entries made on a node that may not append to tenant chains (fallback
-- certificates, access records of reads there), waiting to be replayed to
-- the primary. dedupe_key makes the replay idempotent (発行番号 for
-- certificates).
CREATE TABLE outbox (
    tenant_code    TEXT NOT NULL,
    id             BIGINT NOT NULL,
    chain          TEXT NOT NULL,
    dedupe_key     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    effective_date TEXT NOT NULL,
    actor          TEXT NOT NULL,
    payload        BLOB NOT NULL,
    created_at     BIGINT NOT NULL,
    sent_seq       BIGINT,
    PRIMARY KEY (tenant_code, id),
    UNIQUE (tenant_code, dedupe_key)
);

-- On the primary: outbox items appended, by dedupe key.
CREATE TABLE outbox_receipts (
    tenant_code TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_code, dedupe_key)
);

-- Identity hardening (issue 15): login throttling that holds under
-- concurrency, four-eyes changes, explicit SSO links, one tenant per IdP.
-- Keep in step with ../postgres/0009_identity.sql.

-- Login throttling buckets (platform data: an address is not a tenant's):
-- 'account:<tenant>:<login>@<address>', 'account:<tenant>:<login>',
-- 'operator:<login>@<address>', 'operator:<login>', 'address:<address>'.
-- An attempt is reserved (counted as a failure) before the password is
-- checked, in the same transaction as the check; a success takes it back.
CREATE TABLE login_throttle (
    bucket       TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
-- Replaced by login_throttle.
DROP TABLE login_failures;

-- Changes waiting for a second administrator (projected from
-- tenancy.change_proposed / change_approved / change_rejected).
CREATE TABLE pending_changes (
    tenant_code  TEXT NOT NULL,
    change_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    change_json  TEXT NOT NULL,
    target_staff TEXT,
    proposed_by  TEXT NOT NULL,
    proposed_at  BIGINT NOT NULL,
    status       TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   BIGINT,
    reason       TEXT,
    PRIMARY KEY (tenant_code, change_id)
);

-- Whether an account may log in through the IdP: just-in-time accounts
-- (no password) from their creation, others only after an explicit link.
ALTER TABLE staff ADD COLUMN sso_linked BIGINT NOT NULL DEFAULT 0;
UPDATE staff SET sso_linked = 1 WHERE password_hash = '';

-- An IdP belongs to one municipality only.
DROP INDEX sso_configs_by_idp;
CREATE UNIQUE INDEX sso_configs_one_tenant_per_idp ON sso_configs (idp_entity_id);

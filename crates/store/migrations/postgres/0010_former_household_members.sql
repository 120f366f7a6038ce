-- Who has left a household for another (世帯変更): the read model keeps only each person's
-- latest household, so a household as of a past date (a 世帯全員 certificate of that date)
-- also looks here. A projection, rebuilt from the ledger.
-- Keep in step with ../sqlite/0010_former_household_members.sql.
CREATE TABLE former_household_members (
    tenant_code   TEXT NOT NULL,
    household_id  TEXT NOT NULL,
    resident_code TEXT NOT NULL,
    PRIMARY KEY (tenant_code, household_id, resident_code)
);
ALTER TABLE former_household_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE former_household_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON former_household_members USING (tenant_code = murakumo_tenant()) WITH CHECK (tenant_code = murakumo_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON former_household_members TO murakumo_app;

-- A household's members are read in 住民票コード order (every 世帯全員 certificate
-- and the household screen). With (tenant_code, household_id) alone, SQLite's
-- planner preferred walking the primary key through the whole tenant to avoid a
-- sort (270,000 rows per certificate); with resident_code in the index the
-- lookup is a range read that is already in order.
DROP INDEX residents_by_household;
CREATE INDEX residents_by_household ON residents (tenant_code, household_id, resident_code);

-- 宛名番号 (issue 18, 標準仕様書 §1.1.13): the number every business system knows a person by,
-- given once. A column of the resident read model (rebuilt by the projection, version 10),
-- unique within a municipality; NULL for people recorded or imported without one.
ALTER TABLE residents ADD COLUMN addressee_number TEXT;
CREATE UNIQUE INDEX residents_by_addressee_number ON residents (tenant_code, addressee_number);

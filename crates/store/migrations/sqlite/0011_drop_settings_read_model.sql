-- Municipal settings are resolved from setting_history as of a date (a value is in force from
-- its 適用開始日 until a later one), so the table of "current" values is no longer read: a
-- value dated in the future would have made it wrong. Dropped; rebuilt from nothing.
-- Keep in step with ../postgres/0011_drop_settings_read_model.sql.
DROP TABLE settings;

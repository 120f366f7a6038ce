-- The platform's own chain (docs/design/platform-chain.md): operators and 県版 settings are
-- ledger entries of the owner '000000', which no municipality can have (prefecture 00). The
-- tables operators, prefecture_settings and prefecture_setting_history become its read
-- models. The platform has no access chain: its chain holds no personal data of residents.
-- Rows written before this version are appended to the chain when the store first opens.
-- Keep in step with ../sqlite/0013_platform_chain.sql.
-- chain_heads forces row-level security on its owner too: name the chain's owner first.
SELECT set_config('murakumo.tenant', '000000', true);
INSERT INTO chain_heads (tenant_code, chain, seq, hash) VALUES ('000000', 'ledger', 0, decode(repeat('00', 32), 'hex'));
-- Read models are rebuilt from the chain: cleared first.
GRANT DELETE ON operators, prefecture_setting_history TO murakumo_app;

-- The platform's own chain (docs/design/platform-chain.md): operators and 県版 settings are
-- ledger entries of the owner '000000', which no municipality can have (prefecture 00). The
-- tables operators, prefecture_settings and prefecture_setting_history become its read
-- models. The platform has no access chain: its chain holds no personal data of residents.
-- Rows written before this version are appended to the chain when the store first opens.
-- Keep in step with ../postgres/0013_platform_chain.sql.
INSERT INTO chain_heads (tenant_code, chain, seq, hash) VALUES ('000000', 'ledger', 0, zeroblob(32));

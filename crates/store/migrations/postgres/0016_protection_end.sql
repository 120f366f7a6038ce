-- 支援措置の終了日 (標準仕様書 §3.4/M3): the residents whose term ends soon are listed for
-- staff to ask about an extension; few residents have a term, so the index holds only them.
CREATE INDEX residents_by_protection_end ON residents (tenant_code, protected_until)
    WHERE protected_until IS NOT NULL;

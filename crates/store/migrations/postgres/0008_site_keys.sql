-- A municipal site's own certificate signing key (拠点の署名鍵): the site keeps
-- its secret; the centre holds only the public key (an empty secret_key) and
-- names the site here, so that certificates issued there verify everywhere
-- while no site ever holds the municipality's own secret. NULL: a key of the
-- municipality itself.
ALTER TABLE signing_keys ADD COLUMN site TEXT;

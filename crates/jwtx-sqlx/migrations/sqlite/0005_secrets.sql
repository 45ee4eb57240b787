-- jwtx store schema, version 5 (SQLite): secrets the store keeps for every process that opens
-- it (KeyStore::secret_or_insert): the generated HMAC secret ('hmac') and the deployment id
-- ('deployment_id'). A stored secret is never replaced. Protect the file as for private keys.

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- jwtx store schema, version 6 (SQLite): pending signing keys, and when each key signs.
--
-- signing_keys.status gains 'pending': a key published (in the JWKS) and verifying ahead of
-- signing, which KeyStore::activate_due makes active once its activates_at has come; at most
-- one, enforced by a partial unique index as for the active key. signing_keys.activates_at: when
-- the key begins (pending) or began to sign; rows stored before this version get their
-- created_at, when they began. HMAC keys are stored too (alg HS256/384/512, the secret in hex in
-- private_pem); a deployment's first HMAC secret has the empty kid '' (its tokens carry none).
--
-- SQLite cannot change a CHECK in place, so the table is rebuilt and every row kept as it was
-- (nothing references signing_keys). Per status: pending has its private key and activates_at,
-- not demoted or retired; active has its private key, not demoted or retired; passive has its
-- private key and demoted_at (its successor's activates_at), not retired; retired has no private
-- key, and demoted_at and retired_at (a pending key retired at once was demoted then too).

ALTER TABLE signing_keys RENAME TO signing_keys_0005;
DROP INDEX signing_keys_one_active;

CREATE TABLE signing_keys (
    kid          TEXT    NOT NULL PRIMARY KEY,
    -- The RFC 7518 algorithm name, e.g. 'ES256', 'HS256'.
    alg          TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'passive', 'retired')),
    -- The private key as PKCS#8 PEM (an HMAC secret: hex); NULL once retired.
    private_pem  TEXT,
    created_at   INTEGER NOT NULL,
    -- When the key stopped signing (became passive), or was retired while pending.
    demoted_at   INTEGER,
    retired_at   INTEGER,
    -- When the key begins (pending) or began to sign.
    activates_at INTEGER,
    CHECK ((status = 'pending' AND private_pem IS NOT NULL AND activates_at IS NOT NULL
                AND demoted_at IS NULL AND retired_at IS NULL)
        OR (status = 'active' AND private_pem IS NOT NULL
                AND demoted_at IS NULL AND retired_at IS NULL)
        OR (status = 'passive' AND private_pem IS NOT NULL
                AND demoted_at IS NOT NULL AND retired_at IS NULL)
        OR (status = 'retired' AND private_pem IS NULL
                AND demoted_at IS NOT NULL AND retired_at IS NOT NULL))
);

INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, demoted_at, retired_at,
                          activates_at)
    SELECT kid, alg, status, private_pem, created_at, demoted_at, retired_at, created_at
    FROM signing_keys_0005;

DROP TABLE signing_keys_0005;

-- At most one active key and at most one pending key, whatever writes race.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (status) WHERE status = 'pending';

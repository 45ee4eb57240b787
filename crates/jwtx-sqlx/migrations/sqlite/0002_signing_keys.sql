-- jwtx store schema, version 2 (SQLite): asymmetric signing keys (SPEC §5.4).
--
-- One row per key, whatever its status: 'active' (the signer; at most one, enforced by the
-- partial unique index below), 'passive' (a former signer that still verifies until every
-- token it signed has expired), 'retired' (verifies nothing; the row is kept as a record, its
-- private key erased). Times are INTEGER seconds since the Unix epoch. Portable SQL: partial
-- unique indexes exist in SQLite (3.8+) and PostgreSQL alike.

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    -- The RFC 7518 algorithm name, e.g. 'ES256'.
    alg         TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'passive', 'retired')),
    -- The private key as PKCS#8 PEM; NULL once retired.
    private_pem TEXT,
    created_at  INTEGER NOT NULL,
    -- When the key stopped signing (became passive).
    demoted_at  INTEGER,
    retired_at  INTEGER,
    CHECK ((status = 'active' AND private_pem IS NOT NULL
                AND demoted_at IS NULL AND retired_at IS NULL)
        OR (status = 'passive' AND private_pem IS NOT NULL
                AND demoted_at IS NOT NULL AND retired_at IS NULL)
        OR (status = 'retired' AND private_pem IS NULL
                AND demoted_at IS NOT NULL AND retired_at IS NOT NULL))
);

-- At most one active key, whatever writes race.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

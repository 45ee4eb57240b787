-- jwtx store schema, version 2 (PostgreSQL): pending signing keys, and when each key signs (as
-- SQLite's migration 6).
--
-- signing_keys.status gains 'pending': a key published (in the JWKS) and verifying ahead of
-- signing, which KeyStore::activate_due makes active once its activates_at has come; at most
-- one, enforced by a partial unique index as for the active key. signing_keys.activates_at: when
-- the key begins (pending) or began to sign; rows stored before this version get their
-- created_at, when they began. HMAC keys are stored too (alg HS256/384/512, the secret in hex in
-- private_pem); a deployment's first HMAC secret has the empty kid '' (its tokens carry none).
--
-- Per status: pending has its private key and activates_at, not demoted or retired; active has
-- its private key, not demoted or retired; passive has its private key and demoted_at (its
-- successor's activates_at), not retired; retired has no private key, and demoted_at and
-- retired_at (a pending key retired at once was demoted then too). Version 1 left its two CHECKs
-- unnamed; PostgreSQL named them signing_keys_status_check (the one on status alone) and
-- signing_keys_check (the one on several columns). They are replaced by named ones.

ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
UPDATE signing_keys SET activates_at = created_at;

ALTER TABLE signing_keys
    DROP CONSTRAINT signing_keys_status_check,
    DROP CONSTRAINT signing_keys_check,
    ADD CONSTRAINT signing_keys_status
        CHECK (status IN ('pending', 'active', 'passive', 'retired')),
    ADD CONSTRAINT signing_keys_shape
        CHECK ((status = 'pending' AND private_pem IS NOT NULL AND activates_at IS NOT NULL
                    AND demoted_at IS NULL AND retired_at IS NULL)
            OR (status = 'active' AND private_pem IS NOT NULL
                    AND demoted_at IS NULL AND retired_at IS NULL)
            OR (status = 'passive' AND private_pem IS NOT NULL
                    AND demoted_at IS NOT NULL AND retired_at IS NULL)
            OR (status = 'retired' AND private_pem IS NULL
                    AND demoted_at IS NOT NULL AND retired_at IS NOT NULL));

-- At most one pending key, whatever writes race (signing_keys_one_active: one active key).
CREATE UNIQUE INDEX signing_keys_one_pending ON signing_keys (status) WHERE status = 'pending';

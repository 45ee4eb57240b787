-- jwtx store schema, version 3 (PostgreSQL): service credentials and the revocation log's
-- epoch, for the revocation feed (GET /revocations, docs/http-api.md). Version 2 is another
-- change's.
--
-- services: one row per service allowed to read the feed. digest is the SHA-256 of the
-- service's whole credential, as 64 lowercase hex digits; the credential itself is never
-- stored. A digest is unique too (it is how a presented credential finds its service).
--
-- revocation_log: one row, the log's epoch: random, made here once, so a backup restored keeps
-- it and another database has another. `jwtx store copy` does not copy it: a copy is another
-- database, and its followers start again from 0. The log's head is the identity's sequence,
-- which never goes back after a purge.

CREATE TABLE services (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    digest     TEXT COLLATE "C" NOT NULL UNIQUE CHECK (digest ~ '^[0-9a-f]{64}$'),
    created_at BIGINT NOT NULL
);

CREATE TABLE revocation_log (
    id    BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (id),
    epoch TEXT    NOT NULL
);

-- gen_random_uuid() is built in from PostgreSQL 13.
INSERT INTO revocation_log (epoch) VALUES (replace(gen_random_uuid()::text, '-', ''));

-- jwtx store schema, version 7 (SQLite): service credentials and the revocation log's epoch,
-- for the revocation feed (GET /revocations, docs/http-api.md). Version 6 is another change's.
--
-- services: one row per service allowed to read the feed. digest is the SHA-256 of the
-- service's whole credential, as 64 lowercase hex digits; the credential itself is never
-- stored. A digest is unique too (it is how a presented credential finds its service).
--
-- revocation_log: one row, the log's epoch: random, made here once, so a backup restored keeps
-- it and another database has another. `jwtx store copy` does not copy it: a copy is another
-- database, and its followers start again from 0. The log's head is the AUTOINCREMENT counter
-- (sqlite_sequence), which never goes back after a purge.

CREATE TABLE services (
    name       TEXT    NOT NULL PRIMARY KEY,
    digest     TEXT    NOT NULL UNIQUE CHECK (length(digest) = 64),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE revocation_log (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch TEXT    NOT NULL
) STRICT;

INSERT INTO revocation_log (id, epoch) VALUES (1, lower(hex(randomblob(16))));

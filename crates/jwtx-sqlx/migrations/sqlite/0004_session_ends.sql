-- jwtx store schema, version 4 (SQLite): session ends written with their log entry.
--
-- users.tokens_cut_at: the second of the user's latest cut-off (end of every session, password
-- change), NULL if none. Tokens issued in or before it are revoked by the cut-off's log entry,
-- so a login whose session would start by then is told to wait (create_session's TooEarly). A
-- user created again under a deleted name starts with NULL: the deletion's entry refuses its
-- tokens of the deletion's own second, failing closed for that second.
--
-- revocations.except_session: a user cut-off's spared session (a password change keeps the
-- session it was made from). The table is rebuilt without the CHECK on `kind`, so an entry of
-- a kind a newer version writes can be stored; a version that cannot read it refuses every
-- token (it never skips an entry). The rules for the kinds known here stay. Every id is kept,
-- and so is the AUTOINCREMENT counter: an id is never handed out twice, even after a purge.

ALTER TABLE users ADD COLUMN tokens_cut_at INTEGER;

ALTER TABLE revocations RENAME TO revocations_0003;
DROP INDEX revocations_until;

CREATE TABLE revocations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'token', 'session', 'user', or a kind of a later version.
    kind           TEXT    NOT NULL,
    -- The jti, session id or user name.
    subject        TEXT    NOT NULL,
    -- kind = 'user': tokens with iat <= cutoff are revoked.
    cutoff         INTEGER,
    until          INTEGER NOT NULL,
    -- kind = 'user': the session whose tokens are spared, if any.
    except_session TEXT,
    CHECK (kind <> 'user' OR cutoff IS NOT NULL),
    CHECK (kind NOT IN ('token', 'session') OR (cutoff IS NULL AND except_session IS NULL))
);

INSERT INTO revocations (id, kind, subject, cutoff, until)
    SELECT id, kind, subject, cutoff, until FROM revocations_0003 ORDER BY id;

-- The counter goes on from the old table's (which is at or above every id it held).
DELETE FROM sqlite_sequence WHERE name = 'revocations';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'revocations', seq FROM sqlite_sequence WHERE name = 'revocations_0003';

DROP TABLE revocations_0003;

-- purge_revocations.
CREATE INDEX revocations_until ON revocations (until);

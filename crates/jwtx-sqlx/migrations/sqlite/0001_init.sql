-- jwtx store schema, version 1 (SQLite).
--
-- Times are INTEGER seconds since the Unix epoch. Names follow sqlx's convention
-- (<VERSION>_<DESCRIPTION>.sql) and the file is embedded into the binary; never edit a
-- released migration (its checksum is recorded in _sqlx_migrations), add a new one.
-- The SQL is kept portable; the only SQLite-specific form is AUTOINCREMENT, which keeps
-- revocation log ids from ever being reused after a purge.

CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- A user's roles, in the order they were given.
CREATE TABLE user_roles (
    user_name TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    role      TEXT    NOT NULL,
    PRIMARY KEY (user_name, position)
);

-- Sessions: one refresh-token family each.
CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_name    TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    current_jti  TEXT    NOT NULL,
    previous_jti TEXT,
    previous_at  INTEGER,
    revoked_at   INTEGER,
    CHECK ((previous_jti IS NULL AND previous_at IS NULL)
        OR (previous_jti IS NOT NULL AND previous_at IS NOT NULL))
);

-- list_sessions, revoke_user_sessions, delete_user.
CREATE INDEX sessions_user_created ON sessions (user_name, created_at);
-- purge_sessions.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);

-- The revocation log, followed by id.
CREATE TABLE revocations (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL CHECK (kind IN ('token', 'session', 'user')),
    -- The jti, session id or user name.
    subject TEXT    NOT NULL,
    -- Only for kind = 'user': tokens with iat <= cutoff are revoked.
    cutoff  INTEGER,
    until   INTEGER NOT NULL,
    CHECK ((kind = 'user' AND cutoff IS NOT NULL) OR (kind <> 'user' AND cutoff IS NULL))
);

-- purge_revocations.
CREATE INDEX revocations_until ON revocations (until);

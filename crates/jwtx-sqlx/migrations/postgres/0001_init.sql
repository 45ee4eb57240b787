-- jwtx store schema, version 1 (PostgreSQL): the whole schema of SQLite's migrations 1 to 5.
--
-- Times are BIGINT seconds since the Unix epoch. Names follow sqlx's convention
-- (<VERSION>_<DESCRIPTION>.sql) and the file is embedded into the binary; never edit a
-- released migration (its checksum is recorded in _sqlx_migrations), add a new one.
--
-- Names, ids and kids are COLLATE "C": they are ordered and compared byte for byte (UTF-8 byte
-- order is code point order), as the store traits and the SQLite store order them, whatever
-- the database's default collation.

-- Users. generation: the credential generation, drawn from counters.user_generation at
-- creation and at every password change, so no later user of the same name ever has an
-- earlier user's. demo: made by `jwtx serve --demo`. tokens_cut_at: the second of the user's
-- latest cut-off (end of every session, password change), NULL if none; a login whose session
-- would start by then is told to wait (create_session's TooEarly).
CREATE TABLE users (
    name          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    generation    BIGINT  NOT NULL,
    demo          BOOLEAN NOT NULL DEFAULT FALSE,
    tokens_cut_at BIGINT
);

-- A user's roles, in the order they were given.
CREATE TABLE user_roles (
    user_name TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    role      TEXT   NOT NULL,
    PRIMARY KEY (user_name, position)
);

-- Sessions: one refresh-token family each.
CREATE TABLE sessions (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_name    TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    current_jti  TEXT   NOT NULL,
    previous_jti TEXT,
    previous_at  BIGINT,
    revoked_at   BIGINT,
    CHECK ((previous_jti IS NULL AND previous_at IS NULL)
        OR (previous_jti IS NOT NULL AND previous_at IS NOT NULL))
);

-- list_sessions, the session cap, end_user_sessions, delete_user.
CREATE INDEX sessions_user_created ON sessions (user_name, created_at);
-- purge_sessions.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);

-- The revocation log, followed by id. The identity's sequence never hands out an id twice,
-- purges or not; every append takes the store's LOG_APPEND_LOCK (a transaction-scoped advisory
-- lock) just before it inserts, so ids are committed in the order they are handed out and a
-- reader following `id > cursor` never skips an entry (docs/revocation-log.md).
CREATE TABLE revocations (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- 'token', 'session', 'user', or a kind of a later version (unconstrained, so an older
    -- server still reading the log during a rolling upgrade can be given one: it refuses to
    -- read it, never skips it).
    kind           TEXT   NOT NULL,
    -- The jti, session id or user name.
    subject        TEXT   NOT NULL,
    -- kind = 'user': tokens with iat <= cutoff are revoked.
    cutoff         BIGINT,
    until          BIGINT NOT NULL,
    -- kind = 'user': the session whose tokens are spared, if any.
    except_session TEXT,
    CHECK (kind <> 'user' OR cutoff IS NOT NULL),
    CHECK (kind NOT IN ('token', 'session') OR (cutoff IS NULL AND except_session IS NULL))
);

-- purge_revocations.
CREATE INDEX revocations_until ON revocations (until);

-- Asymmetric signing keys: 'active' (the signer; at most one, enforced by the partial unique
-- index below), 'passive' (a former signer that still verifies until every token it signed has
-- expired), 'retired' (verifies nothing; the row is kept as a record, its private key erased).
CREATE TABLE signing_keys (
    kid         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    -- The RFC 7518 algorithm name, e.g. 'ES256'.
    alg         TEXT   NOT NULL,
    status      TEXT   NOT NULL CHECK (status IN ('active', 'passive', 'retired')),
    -- The private key as PKCS#8 PEM, in the clear; NULL once retired.
    private_pem TEXT,
    created_at  BIGINT NOT NULL,
    -- When the key stopped signing (became passive).
    demoted_at  BIGINT,
    retired_at  BIGINT,
    CHECK ((status = 'active' AND private_pem IS NOT NULL
                AND demoted_at IS NULL AND retired_at IS NULL)
        OR (status = 'passive' AND private_pem IS NOT NULL
                AND demoted_at IS NOT NULL AND retired_at IS NULL)
        OR (status = 'retired' AND private_pem IS NULL
                AND demoted_at IS NOT NULL AND retired_at IS NOT NULL))
);

-- At most one active key, whatever writes race.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

-- Counters: user_generation hands out credential generations (above 0).
CREATE TABLE counters (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO counters (name, value) VALUES ('user_generation', 0);

-- Secrets the store keeps for every instance (KeyStore::secret_or_insert): the generated HMAC
-- secret ('hmac'), the deployment id ('deployment_id'). In the clear: a stored secret is never
-- replaced, and the database must be protected as for the private keys.
CREATE TABLE secrets (
    name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- jwtx store schema, version 3 (SQLite): credential generations and demo users.
--
-- users.generation changes at every password change, and a new user gets a new one, all drawn
-- from one counter (counters.user_generation), so no later user of the same name ever has an
-- earlier user's generation. A session is created only if its user still has the generation
-- the login verified the password against; every write of a hash compares and sets it.
-- users.demo marks the accounts `jwtx serve --demo` made: a server refuses a public address
-- while any exists.

CREATE TABLE counters (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
);

ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN demo INTEGER NOT NULL DEFAULT 0 CHECK (demo IN (0, 1));

-- Existing users: distinct generations, and the counter past them.
UPDATE users SET generation = rowid;
INSERT INTO counters (name, value)
    SELECT 'user_generation', COALESCE(MAX(generation), 0) FROM users;

-- Demo users created before this version are the seed documents' two, with their passwords
-- (checked by the server at start, which knows the hashes); nothing to mark here.

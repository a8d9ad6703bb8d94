-- Users, sessions, login throttling, settings and the key check.
-- Times are Unix seconds (INTEGER) so that the same queries run on SQLite and PostgreSQL.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    language      TEXT,
    created_at    INTEGER NOT NULL
);

-- The session token itself is never stored, only its SHA-256, so a copy of the database does not
-- let anyone in.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE login_throttle (
    key          TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE provider_settings (
    provider      TEXT    PRIMARY KEY CHECK (provider IN ('google', 'microsoft')),
    enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    client_id     TEXT,
    client_secret BLOB,
    tenant        TEXT,
    updated_at    INTEGER NOT NULL
);

-- A known value sealed with the secret key on first start: opening it proves at every later start
-- that the key is the one the secrets were sealed with.
CREATE TABLE key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

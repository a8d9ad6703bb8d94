-- Connected mailboxes, their identities, and pending OAuth authorizations.
-- Tokens and PKCE verifiers are sealed (XChaCha20-Poly1305) like every secret.

-- One row per authorization in progress. The state itself is not stored, only its SHA-256; the
-- row is bound to the session that started it and deleted when the callback uses it.
CREATE TABLE oauth_states (
    state_hash   TEXT    PRIMARY KEY,
    session_hash TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT    NOT NULL CHECK (provider IN ('google', 'microsoft')),
    verifier     BLOB    NOT NULL,
    import_days  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider            TEXT    NOT NULL CHECK (provider IN ('google', 'microsoft')),
    -- The provider's stable id of the mailbox's owner (Google `sub`, Graph user id).
    remote_id           TEXT    NOT NULL,
    address             TEXT    NOT NULL,
    display_name        TEXT,
    status              TEXT    NOT NULL CHECK (status IN ('active', 'syncing', 'reauthorization_required', 'disabled')),
    access_token        BLOB,
    refresh_token       BLOB,
    token_expires_at    INTEGER,
    scopes              TEXT    NOT NULL,
    import_days         INTEGER NOT NULL,
    last_sync_at        INTEGER,
    last_error          TEXT,
    -- Until when one process holds the right to refresh the tokens; see Store::lease_refresh.
    refresh_lease_until INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (user_id, provider, remote_id)
);
CREATE INDEX accounts_user_id ON accounts (user_id);

CREATE TABLE identities (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    name       TEXT,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, address)
);

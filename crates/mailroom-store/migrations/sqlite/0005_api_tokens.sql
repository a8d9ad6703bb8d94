-- Personal access tokens for the HTTP API. The holder presents the token as a bearer; the database
-- keeps only its SHA-256, so a copy of the database does not give access to the API.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

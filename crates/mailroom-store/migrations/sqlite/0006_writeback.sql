-- Write-back: an action a user takes on a message changes the store at once and is queued here
-- until the provider has it too. An account's jobs run in id order, by the process that holds
-- the account's sync lease, before that run pulls changes.
CREATE TABLE writeback_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The message at the provider, and a few words to name it to the user if the job fails.
    remote_id   TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    -- The folder or label the action names, by remote id.
    target      TEXT,
    -- What the message was before, put back if the provider refuses for good.
    was_read    BOOLEAN NOT NULL,
    was_starred BOOLEAN NOT NULL,
    -- Remote ids, one per line.
    was_folders TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    -- Set when the provider refused for good: the change was undone and the user is told why
    -- until they dismiss it.
    failed_at   INTEGER
);
CREATE INDEX writeback_jobs_account ON writeback_jobs (account_id, id);
CREATE INDEX writeback_jobs_user ON writeback_jobs (user_id, id);
CREATE INDEX writeback_jobs_message ON writeback_jobs (account_id, remote_id);

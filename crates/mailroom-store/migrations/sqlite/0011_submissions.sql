-- Outgoing mail. Every send is a submission, kept from the moment it is sent until the provider
-- has accepted it, it failed for good, or the user took it back. A submission is claimed by one
-- process at a time; one claimed by a process that died is claimed again when its claim runs
-- out, and that process first looks for the message at the provider, so nothing goes twice.
CREATE TABLE submissions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The caller's key: the same key from the same user is the same submission.
    idempotency_key  TEXT    NOT NULL,
    -- The Message-ID header of the message, without angle brackets.
    message_id       TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'accepted', 'failed', 'cancelled')),
    -- The message as it goes out (RFC 5322), built when it was submitted.
    raw              BLOB    NOT NULL,
    -- The provider's conversation a reply stays in (Gmail's threadId).
    thread_remote_id TEXT,
    -- For the outbox: what it is and to whom, one address per line.
    subject          TEXT    NOT NULL,
    recipients       TEXT    NOT NULL,
    -- Not before this time (Unix seconds): the undo window's end, or the time it is scheduled for.
    send_at          INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    claimed_by       TEXT,
    claimed_until    INTEGER,
    -- The provider's id of the sent message, when it said.
    remote_id        TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX submissions_due ON submissions (status, send_at);
CREATE INDEX submissions_user ON submissions (user_id, id);

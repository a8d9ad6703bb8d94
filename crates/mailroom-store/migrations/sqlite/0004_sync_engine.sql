-- The sync engine's bookkeeping: the per-account change feed, the record of sync runs, and the
-- schedule with its lease, so that several server processes on one database share the work.

-- Every message added, changed or removed, in the order the store saw it. `seq` is handed out from
-- `accounts.event_seq` inside the transaction that makes the change, so it increases with commit
-- order and a reader that remembers the last seq it saw misses nothing.
ALTER TABLE accounts ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE message_events (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    remote_id  TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('added', 'changed', 'removed')),
    at         INTEGER NOT NULL,
    PRIMARY KEY (account_id, seq)
);

CREATE TABLE sync_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    mode            TEXT    NOT NULL CHECK (mode IN ('incremental', 'full')),
    trigger         TEXT    NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    phase           TEXT    NOT NULL,
    imported        INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    estimated_total INTEGER,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    -- NULL while the run goes on.
    outcome         TEXT    CHECK (outcome IN ('succeeded', 'failed', 'interrupted')),
    error           TEXT
);
CREATE INDEX sync_runs_account ON sync_runs (account_id, id DESC);

-- One row per account: when its next automatic run is due, a run asked for by a user, and who
-- holds the right to sync it now.
CREATE TABLE sync_schedule (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    next_at     INTEGER NOT NULL,
    requested   TEXT    CHECK (requested IN ('incremental', 'full')),
    -- Counts requests, so that one made during a run is not cleared when that run ends.
    request_seq INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    -- Failed runs in a row, for the backoff before the next automatic one.
    failures    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_schedule_next_at ON sync_schedule (next_at);

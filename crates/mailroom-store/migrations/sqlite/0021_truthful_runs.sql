-- What a run turned out to be (first import, full resync, import again after an expired cursor,
-- changes) and what it changed, message by message as the change feed counts: new, changed,
-- removed. NULL for runs recorded before.
ALTER TABLE sync_runs ADD COLUMN kind TEXT CHECK (kind IN ('changes', 'first_import', 'full_resync', 'reimport'));
ALTER TABLE sync_runs ADD COLUMN added INTEGER;
ALTER TABLE sync_runs ADD COLUMN changed INTEGER;
ALTER TABLE sync_runs ADD COLUMN removed INTEGER;

-- What the pacer learned of a mailbox's limit when the provider allows less than the settings
-- say: `rate` units (Gmail) or requests (Graph) per `window_secs`. No row: the settings hold.
CREATE TABLE learned_rates (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    rate        INTEGER NOT NULL,
    window_secs INTEGER NOT NULL,
    learned_at  INTEGER NOT NULL
);

-- What a run in progress tells besides its counts: when it expects its phase to end (from the
-- rate so far, once there is enough to go by), whether it waits for the provider and until when
-- ('rate_limit': paced to the mailbox's limit or asked to wait by a 429/503 with Retry-After;
-- 'provider_error': backing off after a passing failure), and which user's request ("Sync now",
-- the schedule's request counter) it serves. NULL when there is none.
ALTER TABLE sync_runs ADD COLUMN estimate_at INTEGER;
ALTER TABLE sync_runs ADD COLUMN waiting_until INTEGER;
ALTER TABLE sync_runs ADD COLUMN waiting_for TEXT CHECK (waiting_for IN ('rate_limit', 'provider_error'));
ALTER TABLE sync_runs ADD COLUMN request_seq INTEGER;

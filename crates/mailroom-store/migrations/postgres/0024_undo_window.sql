-- Actions taken in the web UI can be undone for a few seconds: their jobs wait until
-- hold_until (Unix time) before they go to the provider, so an undone action never reaches it.
-- 0: at once. The jobs of one action share a batch (the first job's id), the handle of its Undo.
ALTER TABLE writeback_jobs ADD COLUMN hold_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE writeback_jobs ADD COLUMN batch BIGINT;
CREATE INDEX writeback_jobs_batch ON writeback_jobs (user_id, batch);

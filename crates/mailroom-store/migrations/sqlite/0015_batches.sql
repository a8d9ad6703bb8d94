-- A message sent separately to each of its recipients is one submission per recipient, sharing
-- the batch (the idempotency key the user's form or call gave), so that the outbox shows them
-- together and the failed ones can be tried again.
ALTER TABLE submissions ADD COLUMN batch TEXT;
CREATE INDEX submissions_batch ON submissions (user_id, batch);

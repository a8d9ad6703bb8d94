-- A signature written with the editor keeps its formatting and images (data URLs, made inline
-- parts when a message is built) beside its plain text; NULL for a plain one.
ALTER TABLE signatures ADD COLUMN html TEXT;

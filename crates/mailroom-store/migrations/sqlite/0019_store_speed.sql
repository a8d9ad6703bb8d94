-- A message's raw bytes move to a table of their own. Kept in the message's row, they made each
-- row a page or more of its own, so that lists, searches and conversations read a page for every
-- message they looked at; the rows of `messages` now fit a dozen to a page.
CREATE TABLE message_raw (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    raw        BLOB    NOT NULL
);
INSERT INTO message_raw (message_id, raw) SELECT id, raw FROM messages WHERE raw IS NOT NULL;
ALTER TABLE messages DROP COLUMN raw;

-- FTS5 keeps what a transaction indexes in memory up to 16 MiB instead of 1 MiB, so that a sync's
-- transaction (its entries written together, in ascending keys) becomes one segment of the index
-- instead of several that it would then merge.
INSERT INTO message_search (message_search, rank) VALUES ('hashsize', 16777216);

-- `has:attachment` walks the user's mail with files, newest first, instead of all the mail
-- looking for the few with files (a page of results read a month of mail).
CREATE INDEX messages_user_attachments ON messages (user_id, received_at DESC, id DESC) WHERE has_attachments;

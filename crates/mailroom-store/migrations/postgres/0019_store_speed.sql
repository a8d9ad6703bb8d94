-- A message's raw bytes move to a table of their own, as on SQLite (where they made each row of
-- `messages` a page of its own); the rows of `messages` stay small for lists and searches.
CREATE TABLE message_raw (
    message_id BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    raw        BYTEA  NOT NULL
);
INSERT INTO message_raw (message_id, raw) SELECT id, raw FROM messages WHERE raw IS NOT NULL;
ALTER TABLE messages DROP COLUMN raw;

-- `has:attachment` walks the user's mail with files, newest first, instead of all the mail
-- looking for the few with files.
CREATE INDEX messages_user_attachments ON messages (user_id, received_at DESC, id DESC) WHERE has_attachments;

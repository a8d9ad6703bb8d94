-- What a user keeps on a message that never goes to the provider: a to-do mark and a private
-- note. Sync leaves both alone (an upsert writes only the provider's columns).
ALTER TABLE messages ADD COLUMN todo BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX messages_user_todo ON messages (user_id, received_at DESC, id DESC) WHERE todo;

CREATE TABLE message_notes (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

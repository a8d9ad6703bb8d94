-- The user's own coloured labels ("tags", to tell them from Gmail's labels), which stay in
-- Mailroom: a message may carry any of its owner's tags.
CREATE TABLE tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    color      TEXT    NOT NULL CHECK (color IN ('red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'gray')),
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE message_tags (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, tag_id)
);
CREATE INDEX message_tags_tag ON message_tags (tag_id);

-- Senders whose mail shows its remote images without asking, per user ("always show images from
-- this sender"). Remote images stay blocked for everyone else: they tell the sender when and where
-- a message is read.
CREATE TABLE image_senders (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, address)
);

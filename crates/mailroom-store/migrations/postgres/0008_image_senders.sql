-- Senders whose mail shows its remote images without asking, per user ("always show images from
-- this sender"). Remote images stay blocked for everyone else: they tell the sender when and where
-- a message is read.
CREATE TABLE image_senders (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, address)
);

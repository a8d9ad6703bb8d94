-- What the user added to a mailbox's mail (a private note, a to-do mark, tags), kept when they
-- disconnect it and asked to keep them: when the same address is connected again, each goes back
-- on its message as soon as a sync brings it, found by its Message-ID or the provider's id.
CREATE TABLE kept_extras (
    id                  BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    user_id             BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address             TEXT NOT NULL,
    internet_message_id TEXT,
    remote_id           TEXT NOT NULL,
    note                TEXT,
    todo                BIGINT NOT NULL,
    -- The tags' ids, comma-separated; a tag deleted meanwhile is left out when restored.
    tags                TEXT NOT NULL,
    kept_at             BIGINT NOT NULL
);
CREATE INDEX kept_extras_of_address ON kept_extras (user_id, address);

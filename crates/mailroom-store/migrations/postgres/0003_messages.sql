-- The mail store: provider folders and labels, messages with their raw bytes and parsed view,
-- participants and attachments for the indexes, and the sync cursors.

-- Gmail labels and Outlook folders, per account, with their unified kind.
CREATE TABLE folders (
    id               BIGINT  PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    account_id       BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    remote_id        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('inbox', 'sent', 'drafts', 'trash', 'spam', 'archive', 'starred', 'important', 'custom')),
    parent_remote_id TEXT,
    UNIQUE (account_id, remote_id)
);

CREATE TABLE messages (
    id                  BIGINT  PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    remote_id           TEXT    NOT NULL,
    thread_remote_id    TEXT,
    internet_message_id TEXT,
    subject             TEXT    NOT NULL,
    from_address        TEXT,
    from_name           TEXT,
    snippet             TEXT    NOT NULL,
    sent_at             BIGINT,
    received_at         BIGINT  NOT NULL,
    is_read             BOOLEAN NOT NULL,
    is_starred          BOOLEAN NOT NULL,
    is_draft            BOOLEAN NOT NULL,
    has_attachments     BOOLEAN NOT NULL,
    has_text            BOOLEAN NOT NULL,
    has_html            BOOLEAN NOT NULL,
    size                BIGINT  NOT NULL,
    -- The message as the provider gave it; NULL until fetched (Outlook's MIME comes later).
    raw                 BYTEA,
    -- The parsed fields are a view of `raw`; a message that did not parse is kept and shown.
    parse_failed        BOOLEAN NOT NULL,
    updated_at          BIGINT  NOT NULL,
    UNIQUE (account_id, remote_id)
);
CREATE INDEX messages_account_received ON messages (account_id, received_at DESC, id DESC);
CREATE INDEX messages_thread ON messages (account_id, thread_remote_id);

CREATE TABLE message_folders (
    message_id BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    folder_id  BIGINT  NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, folder_id)
);
CREATE INDEX message_folders_folder ON message_folders (folder_id);

CREATE TABLE participants (
    message_id BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('from', 'sender', 'to', 'cc', 'bcc', 'reply_to')),
    address    TEXT    NOT NULL,
    domain     TEXT    NOT NULL,
    name       TEXT,
    PRIMARY KEY (message_id, role, address)
);
CREATE INDEX participants_address ON participants (address);
CREATE INDEX participants_domain ON participants (domain);

CREATE TABLE attachments (
    message_id   BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position     BIGINT  NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    content_id   TEXT,
    inline       BOOLEAN NOT NULL,
    PRIMARY KEY (message_id, position)
);

-- Where sync stands: one cursor per account and scope (Gmail: the mailbox's historyId under the
-- scope ''; Outlook: a deltaLink per folder under the folder's id). Advanced in the same
-- transaction as the changes it covers.
CREATE TABLE sync_state (
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    cursor     TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, scope)
);

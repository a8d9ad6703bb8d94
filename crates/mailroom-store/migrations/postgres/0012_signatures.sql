-- A signature per sending identity of a mailbox, written by its user and put under new messages
-- and replies. Kept apart from `identities`, which a reconnect writes afresh from the provider.
CREATE TABLE signatures (
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, address)
);

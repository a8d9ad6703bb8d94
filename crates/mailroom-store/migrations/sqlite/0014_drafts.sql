-- Drafts: what the user is writing, saved as they type and kept at the provider (a Gmail draft,
-- an Outlook draft message). Each save counts up `revision`; a writer claims a draft whose
-- provider copy is behind (`pushed_revision`) and writes it there, first checking that the
-- provider's copy is still the one it wrote (`remote_version`). When it is not, someone
-- changed the draft at the provider: the draft waits in `conflict` with the provider's
-- version kept, and the user chooses.
CREATE TABLE drafts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The identity it is written as, and the fields as typed (addresses may not be valid yet).
    from_address    TEXT    NOT NULL,
    to_text         TEXT    NOT NULL,
    cc_text         TEXT    NOT NULL,
    bcc_text        TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    -- new, reply, all or forward, and the message answered or forwarded.
    mode            TEXT    NOT NULL,
    original_id     INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    revision        INTEGER NOT NULL,
    pushed_revision INTEGER NOT NULL DEFAULT 0,
    -- Gmail's draft id, or the Graph message id.
    remote_id       TEXT,
    -- What the provider's copy was when written: Gmail's id of the draft's message, Graph's changeKey.
    remote_version  TEXT,
    conflict        INTEGER NOT NULL DEFAULT 0,
    theirs_version  TEXT,
    theirs_raw      BLOB,
    -- The user discarded it (or sent it): the provider's copy is deleted, then the row.
    discarded       INTEGER NOT NULL DEFAULT 0,
    -- A writer's claim; without an owner, the time before which it is not tried again.
    claimed_by      TEXT,
    claimed_until   INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX drafts_of_user ON drafts (user_id, updated_at);

-- The draft a submission was sent from: once the provider accepts it, the draft goes.
ALTER TABLE submissions ADD COLUMN draft_id INTEGER REFERENCES drafts (id) ON DELETE SET NULL;

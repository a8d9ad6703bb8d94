-- Files attached to a draft as soon as the user picks or drops them: they stay with the draft
-- through a form error, a resumed draft and a message taken back, go to the provider's copy of
-- the draft, and are sent from here. They go with their draft.
CREATE TABLE draft_files (
    id           BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    draft_id     BIGINT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    data         BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX draft_files_of_draft ON draft_files (draft_id, id);
-- Each change to a draft's files counts up files_version; the writer records the one the
-- provider's copy has, so that Outlook's attachments are written again only when they changed.
ALTER TABLE drafts ADD COLUMN files_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE drafts ADD COLUMN pushed_files_version BIGINT NOT NULL DEFAULT 0;

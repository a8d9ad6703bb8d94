-- The large files of a message to Outlook too big for one Graph request: its `raw` is then the
-- message without them, which goes up as a draft, and each file follows through an upload session
-- before the draft is sent.
CREATE TABLE submission_files (
    submission_id BIGINT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    name          TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    bytes         BYTEA    NOT NULL,
    PRIMARY KEY (submission_id, position)
);

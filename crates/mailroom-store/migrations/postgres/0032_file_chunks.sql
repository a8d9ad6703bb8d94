-- A file of a draft or of a message in the outbox is kept in pieces of about 1 MB, written and
-- read one at a time, so that a 20 MB file costs the server about 20 MB, not a copy per layer.
-- A piece is a whole number of base64 lines (57 bytes each), so the sender encodes each alone.
CREATE TABLE draft_file_chunks (
    file_id BIGINT NOT NULL REFERENCES draft_files (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    data    BYTEA  NOT NULL,
    PRIMARY KEY (file_id, seq)
);
INSERT INTO draft_file_chunks (file_id, seq, data) SELECT id, 0, data FROM draft_files;
ALTER TABLE draft_files DROP COLUMN data;
-- A file still coming in: its pieces are written as they arrive, and it is none of the draft's
-- files (not listed, not sent) until it is whole and within the draft's limit.
ALTER TABLE draft_files ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;

-- Files of a submission kept apart from its `raw` (the message built without them): every
-- file of a message whose files are large, for Gmail and Outlook alike.
ALTER TABLE submission_files ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE submission_files SET size = length(bytes);
CREATE TABLE submission_file_chunks (
    submission_id BIGINT NOT NULL,
    position      BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    data          BYTEA  NOT NULL,
    PRIMARY KEY (submission_id, position, seq),
    FOREIGN KEY (submission_id, position) REFERENCES submission_files (submission_id, position) ON DELETE CASCADE
);
INSERT INTO submission_file_chunks (submission_id, position, seq, data)
    SELECT submission_id, position, 0, bytes FROM submission_files;
ALTER TABLE submission_files DROP COLUMN bytes;

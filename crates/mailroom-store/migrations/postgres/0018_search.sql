-- The search index: each message's words as a tsvector under a GIN index, and its body text for
-- the snippets of results. The document is made by Mailroom, not by to_tsvector: words folded
-- for case and diacritics (so `prilohy` finds `přílohy`) the same way for the index and the
-- query, plain for free words and tagged by field (`s.` subject, `f.` from, `t.` to, `c.` cc,
-- `p.` other people, `n.` file names) for the operators. Sync writes it in the transaction that
-- writes the message.
CREATE TABLE message_search (
    message_id BIGINT   PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    document   TSVECTOR NOT NULL,
    body       TEXT     NOT NULL
);
CREATE INDEX message_search_document ON message_search USING GIN (document);

-- Messages stored before the index existed, indexed in the background: every id up to `up_to`
-- not yet done, `next` the first of them. The row goes when they all are.
CREATE TABLE search_backfill (
    next  BIGINT NOT NULL,
    up_to BIGINT NOT NULL
);
INSERT INTO search_backfill (next, up_to) SELECT MIN(id), MAX(id) FROM messages HAVING COUNT(*) > 0;

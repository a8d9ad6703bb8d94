-- A message's parsed view (subject, people, snippet, attachments, search entry) is read from its
-- raw bytes by mailroom-mime. When a version reads mail better, the messages stored before it are
-- read again in the background: `parser` is the reader's version the range `next` to `up_to` is
-- being read again for. A new store has no row until it starts; the first start of a version
-- with a newer reader sets it.
CREATE TABLE reparse (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    parser INTEGER NOT NULL,
    next   BIGINT NOT NULL,
    up_to  BIGINT NOT NULL
);

-- The search index: each message's subject, people, file names and body text in an FTS5 table
-- whose tokenizer folds case and diacritics (so `prilohy` finds `přílohy`). Its rowid is the
-- message's search key, (received_at << 31) | id (received_at kept within 0..2^32, ids below
-- 2^31), so that the index itself lists matches newest first and a search stops after a page
-- instead of sorting every match. Sync writes it in the transaction that writes the message.
CREATE VIRTUAL TABLE message_search USING fts5 (
    subject, sender, recipients, copied, people, files, body,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Writes merge segments in larger steps than FTS5's defaults (4 and 16), so an import spends a
-- quarter less time merging; the server's background tidying (Store::tidy_search_index) then
-- merges them down to two a level, since a search reads each of its terms once per segment (on
-- a freshly imported store a search cost ten times as much).
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 8);
INSERT INTO message_search (message_search, rank) VALUES ('crisismerge', 64);
INSERT INTO message_search (message_search, rank) VALUES ('usermerge', 2);

-- A message whose arrival time changes keeps its entry, under its new key.
CREATE TRIGGER message_search_rekey AFTER UPDATE OF received_at ON messages
WHEN old.received_at <> new.received_at
BEGIN
    UPDATE message_search SET rowid = (MAX(0, MIN(new.received_at, 4294967295)) << 31) | new.id
    WHERE rowid = (MAX(0, MIN(old.received_at, 4294967295)) << 31) | old.id;
END;

-- A message deleted (also by its account's deletion) leaves the index.
CREATE TRIGGER message_search_remove AFTER DELETE ON messages
BEGIN
    DELETE FROM message_search WHERE rowid = (MAX(0, MIN(old.received_at, 4294967295)) << 31) | old.id;
END;

-- Messages stored before the index existed, indexed in the background: every id up to `up_to`
-- not yet done, `next` the first of them. The row goes when they all are.
CREATE TABLE search_backfill (
    next  INTEGER NOT NULL,
    up_to INTEGER NOT NULL
);
INSERT INTO search_backfill (next, up_to) SELECT MIN(id), MAX(id) FROM messages HAVING COUNT(*) > 0;

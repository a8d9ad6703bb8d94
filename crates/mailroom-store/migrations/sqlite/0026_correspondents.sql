-- The people of each user's mail, for the address suggestions of the compose page, kept as mail
-- is stored and removed so that a suggestion reads a few index entries however large the mailbox.
-- One row per user and address (the user's own addresses left out): the name the newest message
-- with one gave and that message's time, in how many messages they appear (`seen_count`), how
-- many of those the user sent them (`sent_count`, and `written` 1 when that is any), the newest
-- one's time, and `weight`, the sum over those messages of 2^((received_at - 2020-01-01) / 90
-- days): a count in which a message's worth halves every 90 days, which can be added to and taken
-- from as messages come and go, and which orders the rows as the decayed count at any moment
-- would. `words` is what a suggestion matches: the folded words of the name and the address,
-- each after a space.
CREATE TABLE correspondents (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    name       TEXT,
    name_at    INTEGER NOT NULL,
    seen_count INTEGER NOT NULL,
    sent_count INTEGER NOT NULL,
    written    INTEGER NOT NULL,
    weight     REAL    NOT NULL,
    last_at    INTEGER NOT NULL,
    words      TEXT    NOT NULL,
    PRIMARY KEY (user_id, address)
) WITHOUT ROWID;
-- The ranking's order, people written to first: a prefix most people match is answered by
-- reading the best until enough match.
CREATE INDEX correspondents_rank ON correspondents (user_id, written, weight, address);

-- Each of a correspondent's words, so that a typed prefix is a range of this key
-- (`word >= 'nov' AND word < 'nov' || U+10FFFF`) on SQLite and PostgreSQL alike.
CREATE TABLE correspondent_words (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    word    TEXT    NOT NULL,
    address TEXT    NOT NULL,
    PRIMARY KEY (user_id, word, address)
) WITHOUT ROWID;

-- The sets of two to ten people the user sent one message to, counted and weighed like
-- `correspondents`, `members` being their addresses sorted, one per line; a set sent to twice is
-- suggested whole.
CREATE TABLE correspondent_groups (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    members    TEXT    NOT NULL,
    sent_count INTEGER NOT NULL,
    weight     REAL    NOT NULL,
    PRIMARY KEY (user_id, members)
) WITHOUT ROWID;

CREATE TABLE correspondent_group_members (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address TEXT    NOT NULL,
    members TEXT    NOT NULL,
    PRIMARY KEY (user_id, address, members)
) WITHOUT ROWID;

-- Users whose rows are to be counted again from their mail: every user now, since folding words
-- takes Unicode decomposition that SQL does not have, and later a user whose own addresses
-- changed or whose mailbox was removed. The store counts them before it answers a suggestion,
-- and the server's upkeep counts them at start.
CREATE TABLE correspondents_stale (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO correspondents_stale (user_id) SELECT id FROM users;

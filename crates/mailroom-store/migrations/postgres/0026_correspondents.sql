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
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT    NOT NULL,
    name       TEXT,
    name_at    BIGINT  NOT NULL,
    seen_count BIGINT  NOT NULL,
    sent_count BIGINT  NOT NULL,
    written    BIGINT  NOT NULL,
    weight     DOUBLE PRECISION NOT NULL,
    last_at    BIGINT  NOT NULL,
    words      TEXT    NOT NULL,
    PRIMARY KEY (user_id, address)
);
-- The ranking's order, people written to first: a prefix most people match is answered by
-- reading the best until enough match.
CREATE INDEX correspondents_rank ON correspondents (user_id, written, weight, address);

-- Each of a correspondent's words, so that a typed prefix is a range of this key
-- (`word >= 'nov' AND word < 'nov' || U+10FFFF`) on SQLite and PostgreSQL alike. In the "C"
-- collation, the byte order SQLite compares in: under a language's collation a range of the index
-- is not the words that begin with a prefix.
CREATE TABLE correspondent_words (
    user_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    word    TEXT    COLLATE "C" NOT NULL,
    address TEXT    NOT NULL,
    PRIMARY KEY (user_id, word, address)
);

-- The sets of two to ten people the user sent one message to, counted and weighed like
-- `correspondents`, `members` being their addresses sorted, one per line; a set sent to twice is
-- suggested whole.
CREATE TABLE correspondent_groups (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    members    TEXT    NOT NULL,
    sent_count BIGINT  NOT NULL,
    weight     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, members)
);

CREATE TABLE correspondent_group_members (
    user_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address TEXT    NOT NULL,
    members TEXT    NOT NULL,
    PRIMARY KEY (user_id, address, members)
);

-- Users whose rows are to be counted again from their mail: every user now, since folding words
-- takes Unicode decomposition that SQL does not have, and later a user whose own addresses
-- changed or whose mailbox was removed. The store counts them before it answers a suggestion,
-- and the server's upkeep counts them at start.
CREATE TABLE correspondents_stale (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO correspondents_stale (user_id) SELECT id FROM users;

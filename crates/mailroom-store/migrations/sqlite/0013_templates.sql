-- Message templates a user writes once and sends many times: a subject and a body with
-- {{placeholders}}, filled by the API caller's values or by hand on the compose page.
CREATE TABLE templates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- What makes the mail lists fast on a large store.

-- Whose a message is, kept on the message itself (an account never changes hands), so that a
-- user's lists walk one index newest first, however many accounts the user has and however many
-- other users share the database.
ALTER TABLE messages ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET user_id = (SELECT user_id FROM accounts WHERE accounts.id = messages.account_id);
ALTER TABLE messages ALTER COLUMN user_id DROP DEFAULT;
CREATE INDEX messages_user_received ON messages (user_id, received_at DESC, id DESC);

-- Each folder's messages and unread ones, as its list shows them (a message in the trash or spam
-- counts there only), kept by every write in the transaction that makes it, so that the folder
-- list and the unread badge cost nothing however large the mailbox.
ALTER TABLE folders ADD COLUMN total_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE folders ADD COLUMN unread_count BIGINT NOT NULL DEFAULT 0;
UPDATE folders SET
    total_count = (SELECT COUNT(*) FROM message_folders mf JOIN messages m ON m.id = mf.message_id
        WHERE mf.folder_id = folders.id AND (folders.kind IN ('trash', 'spam') OR NOT EXISTS (
            SELECT 1 FROM message_folders bf JOIN folders b ON b.id = bf.folder_id
            WHERE bf.message_id = m.id AND b.kind IN ('trash', 'spam')))),
    unread_count = (SELECT COUNT(*) FROM message_folders mf JOIN messages m ON m.id = mf.message_id
        WHERE mf.folder_id = folders.id AND NOT m.is_read AND (folders.kind IN ('trash', 'spam') OR NOT EXISTS (
            SELECT 1 FROM message_folders bf JOIN folders b ON b.id = bf.folder_id
            WHERE bf.message_id = m.id AND b.kind IN ('trash', 'spam'))));

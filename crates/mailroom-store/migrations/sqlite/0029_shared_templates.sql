-- A template an administrator shares is offered to every user (to start a message from), and
-- stays its owner's to change or delete.
ALTER TABLE templates ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;

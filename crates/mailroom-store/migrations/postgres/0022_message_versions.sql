-- The provider's version of a message's content (Outlook's changeKey), so that a sync can update a
-- draft edited at the provider in place (same id, notes, labels and to-do kept) and tell an
-- unchanged one from a changed one without downloading it again. NULL: not known (Gmail, whose
-- messages do not change, and messages stored before).
ALTER TABLE messages ADD COLUMN remote_version TEXT;

-- A draft's formatting: the editor's HTML (cleaned, pasted images kept as data URLs), beside its
-- plain text; none for a draft written without the editor or taken in from the mailbox.
ALTER TABLE drafts ADD COLUMN html TEXT;

-- When the provider's client secret expires, as the administrator read it where they made it:
-- Microsoft's client secrets last at most two years, and the day one lapses every mailbox of the
-- provider stops syncing. The Unix time of the start (UTC) of that day; NULL: not given.
ALTER TABLE provider_settings ADD COLUMN client_secret_expires_at INTEGER;

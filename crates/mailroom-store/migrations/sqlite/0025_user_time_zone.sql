-- The user's time zone, an IANA name (Europe/Prague) that the web layer checked against its
-- time-zone database; NULL until known: the browser reports it at the first sign-in, and the user
-- can change it in the settings. Pages show times in it, and in UTC while it is NULL.
ALTER TABLE users ADD COLUMN time_zone TEXT;

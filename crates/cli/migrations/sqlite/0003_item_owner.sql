-- Each item belongs to the user who stored it (by username; items stored before users existed
-- belong to nobody, and only admins see them).
ALTER TABLE items ADD COLUMN owner TEXT;
CREATE INDEX IF NOT EXISTS items_owner ON items (owner);

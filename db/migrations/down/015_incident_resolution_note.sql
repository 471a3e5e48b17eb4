ALTER TABLE incidents DROP COLUMN IF EXISTS resolution_note;

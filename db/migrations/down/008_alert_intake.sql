-- Rollback of 008.
ALTER TABLE resolution_outputs DROP COLUMN IF EXISTS policy_decision;
ALTER TABLE resolution_outputs DROP COLUMN IF EXISTS accepted_roles;
ALTER TABLE resolution_outputs DROP COLUMN IF EXISTS accepted_by;
DROP INDEX IF EXISTS incidents_status_idx;
DROP INDEX IF EXISTS incidents_open_fingerprint_key;
ALTER TABLE incidents DROP COLUMN IF EXISTS last_raw_alert;
ALTER TABLE incidents DROP COLUMN IF EXISTS resolved_at;
ALTER TABLE incidents DROP COLUMN IF EXISTS last_seen_at;
ALTER TABLE incidents DROP COLUMN IF EXISTS first_seen_at;
ALTER TABLE incidents DROP COLUMN IF EXISTS occurrence_count;
ALTER TABLE incidents DROP COLUMN IF EXISTS environment;
ALTER TABLE incidents DROP COLUMN IF EXISTS service;
ALTER TABLE incidents DROP COLUMN IF EXISTS severity;
ALTER TABLE incidents DROP COLUMN IF EXISTS title;
ALTER TABLE incidents DROP COLUMN IF EXISTS status;
ALTER TABLE incidents DROP COLUMN IF EXISTS fingerprint;

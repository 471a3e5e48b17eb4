-- Rollback of 004: the guide's rollback, verbatim.
-- WARNING: This will delete all data in these tables!
DROP TABLE IF EXISTS resolution_outputs CASCADE;
DROP TABLE IF EXISTS triage_results CASCADE;
DROP TABLE IF EXISTS incident_signatures CASCADE;
DROP TABLE IF EXISTS runbook_steps CASCADE;

-- Drop views
DROP VIEW IF EXISTS triage_to_resolution_chain;
DROP VIEW IF EXISTS runbook_steps_with_metadata;

-- Drop functions (if not used elsewhere)
DROP FUNCTION IF EXISTS update_updated_at() CASCADE;
DROP FUNCTION IF EXISTS update_runbook_steps_tsv() CASCADE;
DROP FUNCTION IF EXISTS update_incident_signatures_tsv() CASCADE;

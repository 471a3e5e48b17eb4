ALTER TABLE triage_results DROP COLUMN IF EXISTS assignment_group_source;
DROP INDEX IF EXISTS runbooks_team_idx;
ALTER TABLE runbooks DROP COLUMN IF EXISTS failure_type;
ALTER TABLE runbooks DROP COLUMN IF EXISTS team;

DROP VIEW IF EXISTS incident_metrics;
CREATE VIEW incident_metrics AS
SELECT
    i.id AS incident_id,
    i.alert_id,
    i.source,
    i.policy_band,
    i.alert_received_at,
    EXTRACT(EPOCH FROM (i.triage_completed_at - i.alert_received_at))::numeric(12, 3) AS triage_secs,
    EXTRACT(EPOCH FROM (i.resolution_proposed_at - i.alert_received_at))::numeric(12, 3) AS resolution_secs,
    EXTRACT(EPOCH FROM (i.resolution_accepted_at - i.alert_received_at))::numeric(12, 3) AS mttr_secs
FROM incidents AS i;
DROP INDEX IF EXISTS incidents_pattern_idx;
ALTER TABLE incidents DROP COLUMN IF EXISTS pattern;
ALTER TABLE incidents DROP COLUMN IF EXISTS resolved_by;
DROP TABLE IF EXISTS runbook_drafts;
DROP TABLE IF EXISTS runbook_choices;
DROP TABLE IF EXISTS step_records;
ALTER TABLE incident_signatures DROP COLUMN IF EXISTS confirmed_count;
COMMENT ON TABLE incident_signatures IS NULL;
DROP INDEX IF EXISTS feedback_step_id_idx;
ALTER TABLE feedback DROP CONSTRAINT IF EXISTS feedback_feedback_type_check;
DELETE FROM feedback WHERE feedback_type = 'step';
ALTER TABLE feedback ADD CONSTRAINT feedback_feedback_type_check CHECK (feedback_type IN ('triage', 'resolution'));
ALTER TABLE feedback DROP COLUMN IF EXISTS resolution_id;
ALTER TABLE feedback DROP COLUMN IF EXISTS triage_result_id;
ALTER TABLE feedback DROP COLUMN IF EXISTS step_id;
ALTER TABLE feedback DROP COLUMN IF EXISTS user_name;
ALTER TABLE feedback DROP COLUMN IF EXISTS kind;

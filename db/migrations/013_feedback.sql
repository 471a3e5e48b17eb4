-- 013: feedback that teaches — who said what about a triage, a plan or a step, and what nocai learned from it.
--
-- feedback: now also on single steps ('step'), with the responder, the verdict, the step and the triage or
--   resolution it is about. Nothing else writes the track records below: a triage by itself changes nothing
--   the next triage reads, so identical alerts get identical judgements.
-- incident_signatures: match_count now counts the matches a responder judged (confirmed or refuted),
--   confirmed_count those confirmed, resolution_success_count the confirmed fixes. The counts every past
--   triage added to match_count were no judgement of anyone's, so they start again from zero.
-- step_records: per step, what responders said happened when they ran it.
-- runbook_choices: for an alert pattern (its alertname, or its normalised title), how many incidents'
--   responders named a runbook right or wrong for it.
-- incidents.pattern: the pattern of the alert that opened the incident, so that feedback and triage agree on it.
-- runbook_drafts: the steps a responder took on an incident nothing matched, waiting for an admin to publish.
-- incidents.resolved_by: how an incident ended ('alert': its resolved notification; a user's name: closed by
--   hand), so that MTTR uses only real ends.
--
-- Idempotent, like every migration file.

ALTER TABLE feedback ADD COLUMN IF NOT EXISTS kind text;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS user_name text;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS step_id text;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS triage_result_id uuid REFERENCES triage_results (id) ON DELETE SET NULL;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS resolution_id uuid REFERENCES resolution_outputs (id) ON DELETE SET NULL;
ALTER TABLE feedback DROP CONSTRAINT IF EXISTS feedback_feedback_type_check;
ALTER TABLE feedback ADD CONSTRAINT feedback_feedback_type_check
    CHECK (feedback_type IN ('triage', 'resolution', 'step'));
CREATE INDEX IF NOT EXISTS feedback_step_id_idx ON feedback (step_id) WHERE step_id IS NOT NULL;

ALTER TABLE incident_signatures ADD COLUMN IF NOT EXISTS confirmed_count integer NOT NULL DEFAULT 0;
DO $reset$
BEGIN
    -- Once: the counts triage used to add were not judgements. A later run finds the marker and skips this.
    IF NOT EXISTS (SELECT 1 FROM pg_description
                   WHERE objoid = 'incident_signatures'::regclass AND description LIKE '%judged track record%') THEN
        UPDATE incident_signatures SET match_count = 0, resolution_success_count = 0 WHERE match_count <> 0
            OR resolution_success_count <> 0;
        COMMENT ON TABLE incident_signatures IS
            'Incident signatures distilled from past tickets; match_count / confirmed_count / '
            'resolution_success_count are a judged track record (responder feedback only).';
    END IF;
END
$reset$;

CREATE TABLE IF NOT EXISTS step_records (
    step_id     text PRIMARY KEY,
    fixed       integer NOT NULL DEFAULT 0,
    no_effect   integer NOT NULL DEFAULT 0,
    worse       integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT step_records_counts_check CHECK (fixed >= 0 AND no_effect >= 0 AND worse >= 0 AND skipped >= 0)
);

CREATE TABLE IF NOT EXISTS runbook_choices (
    pattern     text NOT NULL,
    runbook_id  text NOT NULL,
    right_votes integer NOT NULL DEFAULT 0,
    wrong_votes integer NOT NULL DEFAULT 0,
    last_by     text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern, runbook_id),
    CONSTRAINT runbook_choices_votes_check CHECK (right_votes >= 0 AND wrong_votes >= 0)
);

CREATE TABLE IF NOT EXISTS runbook_drafts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id  uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    title        text NOT NULL,
    steps        jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'draft',
    created_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_by text,
    published_at timestamptz,
    runbook_id   text,
    CONSTRAINT runbook_drafts_status_check CHECK (status IN ('draft', 'published', 'discarded')),
    CONSTRAINT runbook_drafts_steps_is_array CHECK (jsonb_typeof(steps) = 'array')
);

ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolved_by text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS pattern text;
CREATE INDEX IF NOT EXISTS incidents_pattern_idx ON incidents (pattern) WHERE pattern IS NOT NULL;

-- MTTR from real ends only: a resolved notification or a human closing the incident. The columns keep the names,
-- order and types 003 gave them, so that re-running db/schema.sql (which replays 003's definition first) works.
CREATE OR REPLACE VIEW incident_metrics AS
SELECT
    i.id AS incident_id,
    i.alert_id,
    i.source,
    i.policy_band,
    i.alert_received_at,
    EXTRACT(EPOCH FROM (i.triage_completed_at - i.alert_received_at))::numeric(12, 3) AS triage_secs,
    EXTRACT(EPOCH FROM (i.resolution_proposed_at - i.alert_received_at))::numeric(12, 3) AS resolution_secs,
    EXTRACT(EPOCH FROM (i.resolved_at - i.first_seen_at))::numeric(12, 3) AS mttr_secs
FROM incidents AS i;

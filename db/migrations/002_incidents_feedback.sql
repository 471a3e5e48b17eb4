-- 002: incidents (one per alert) and the human feedback on what the agents proposed.
--
-- Idempotent, like every migration file.

CREATE TABLE IF NOT EXISTS incidents (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id               text NOT NULL,
    source                 text NOT NULL DEFAULT 'generic',
    raw_alert              jsonb NOT NULL DEFAULT '{}'::jsonb,
    triage_output          jsonb,
    triage_evidence        jsonb,
    resolution_output      jsonb,
    resolution_evidence    jsonb,
    policy_band            text,
    policy_decision        jsonb,
    alert_received_at      timestamptz NOT NULL DEFAULT now(),
    triage_completed_at    timestamptz,
    resolution_proposed_at timestamptz,
    resolution_accepted_at timestamptz,
    rollback_initiated_at  timestamptz,
    rollback_completed_at  timestamptz,
    rollback_status        text,
    rollback_trigger       text,
    rollback_notes         text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT incidents_policy_band_check
        CHECK (policy_band IS NULL OR policy_band IN ('AUTO', 'PROPOSE', 'REVIEW')),
    CONSTRAINT incidents_rollback_status_check
        CHECK (rollback_status IS NULL
               OR rollback_status IN ('pending', 'in_progress', 'completed', 'failed'))
);

CREATE INDEX IF NOT EXISTS incidents_alert_id_idx ON incidents (alert_id);
CREATE INDEX IF NOT EXISTS incidents_source_idx ON incidents (source);
CREATE INDEX IF NOT EXISTS incidents_policy_band_idx ON incidents (policy_band) WHERE policy_band IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_alert_received_at_idx ON incidents (alert_received_at);
CREATE INDEX IF NOT EXISTS incidents_created_at_idx ON incidents (created_at);

-- Human edits of a triage or a resolution: what the system said, what the human changed it to.
CREATE TABLE IF NOT EXISTS feedback (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id   uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    feedback_type text NOT NULL,
    system_output jsonb,
    user_edited   jsonb,
    diff          jsonb,
    notes         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_feedback_type_check CHECK (feedback_type IN ('triage', 'resolution'))
);

CREATE INDEX IF NOT EXISTS feedback_incident_id_idx ON feedback (incident_id);
CREATE INDEX IF NOT EXISTS feedback_feedback_type_idx ON feedback (feedback_type);
CREATE INDEX IF NOT EXISTS feedback_created_at_idx ON feedback (created_at);

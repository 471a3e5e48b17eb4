-- 003: paused human-in-the-loop agent state, and the MTTR view over incidents.
--
-- Idempotent, like every migration file. agent_state keeps its own trigger function so that the
-- guide's rollback of 004 (which drops update_updated_at() CASCADE) cannot take this trigger with it.

CREATE TABLE IF NOT EXISTS agent_state (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id    uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    agent_type     text NOT NULL,
    current_step   text,
    state_data     jsonb NOT NULL DEFAULT '{}'::jsonb,
    pending_action jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_state_agent_type_check CHECK (agent_type IN ('triage', 'resolution'))
);

CREATE INDEX IF NOT EXISTS agent_state_incident_id_idx ON agent_state (incident_id);

CREATE OR REPLACE FUNCTION update_agent_state_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER agent_state_updated_at
    BEFORE UPDATE ON agent_state
    FOR EACH ROW EXECUTE FUNCTION update_agent_state_updated_at();

-- Seconds from alert received to triage completed, to resolution proposed and to resolution accepted.
CREATE OR REPLACE VIEW incident_metrics AS
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

-- 004: the storage & vector schema — runbook_steps, incident_signatures, triage_results,
-- resolution_outputs — with their functions, triggers, indexes and views.
--
-- Idempotent: IF NOT EXISTS / OR REPLACE everywhere, so it is safe to run any number of times, by the
-- migration runner, by `\i` in psql, or by executing the whole file from Python.
--
-- Differences from the original design (see db/STORAGE_VECTOR_DESIGN_SUMMARY.md):
--   * embedding columns are vector(384), the dimension of the default local model; the dimension follows
--     the configured model (`nocai db set-embedding-model` retypes them and rebuilds the indexes);
--   * vector indexes are HNSW (names unchanged: *_embedding_idx) — IVFFlat built on an empty table has
--     poor recall; see db/INDEX_STRATEGY.md.

-- The guide's troubleshooting answers, raised before anything changes.
DO $guard$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        RAISE EXCEPTION 'extension vector does not exist on this PostgreSQL server'
            USING HINT = 'Install pgvector (>= 0.8) on the server, or use an image that has it such as '
                         'pgvector/pgvector:pg17, then run: CREATE EXTENSION IF NOT EXISTS vector;';
    END IF;
    IF to_regclass('incidents') IS NULL THEN
        RAISE EXCEPTION 'table "incidents" does not exist (triage_results and resolution_outputs reference it)'
            USING HINT = 'Run the base schema first: python scripts/db/init_db.py';
    END IF;
END
$guard$;

CREATE EXTENSION IF NOT EXISTS vector;

-- ---------------------------------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION update_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Condition weighs most (it says when a step applies), then the action, then the expected outcome.
CREATE OR REPLACE FUNCTION update_runbook_steps_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.tsv :=
        setweight(to_tsvector('english', coalesce(NEW.condition, '')), 'A')
        || setweight(to_tsvector('english', coalesce(NEW.action, '')), 'B')
        || setweight(to_tsvector('english', coalesce(NEW.expected_outcome, '')), 'C');
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION update_incident_signatures_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.tsv :=
        setweight(to_tsvector('english', coalesce(NEW.failure_type, '') || ' ' || coalesce(NEW.error_class, '')), 'A')
        || setweight(to_tsvector('english', array_to_string(coalesce(NEW.symptoms, '{}'::text[]), ' ')), 'B')
        || setweight(to_tsvector('english',
               coalesce(NEW.assignment_group, '') || ' ' || coalesce(NEW.impact, '') || ' '
               || coalesce(NEW.urgency, '')), 'D');
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- runbook_steps: one atomic, independently retrievable runbook step
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS runbook_steps (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    step_id             text NOT NULL,
    runbook_id          text NOT NULL,
    condition           text NOT NULL,
    action              text NOT NULL,
    expected_outcome    text,
    rollback            text,
    risk_level          text,
    service             text,
    component           text,
    embedding           vector(384),
    tsv                 tsvector,
    runbook_title       text,
    runbook_document_id uuid REFERENCES documents (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_reviewed_at    timestamptz,
    CONSTRAINT runbook_steps_step_id_key UNIQUE (step_id),
    CONSTRAINT runbook_steps_condition_not_blank CHECK (btrim(condition) <> ''),
    CONSTRAINT runbook_steps_action_not_blank CHECK (btrim(action) <> ''),
    CONSTRAINT runbook_steps_risk_level_check CHECK (risk_level IS NULL OR risk_level IN ('low', 'medium', 'high'))
);

CREATE OR REPLACE TRIGGER runbook_steps_updated_at
    BEFORE UPDATE ON runbook_steps
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();

CREATE OR REPLACE TRIGGER runbook_steps_tsv_update
    BEFORE INSERT OR UPDATE ON runbook_steps
    FOR EACH ROW EXECUTE FUNCTION update_runbook_steps_tsv();

CREATE INDEX IF NOT EXISTS runbook_steps_embedding_idx
    ON runbook_steps USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS runbook_steps_tsv_idx ON runbook_steps USING gin (tsv);
CREATE INDEX IF NOT EXISTS runbook_steps_runbook_id_idx ON runbook_steps (runbook_id);
CREATE INDEX IF NOT EXISTS runbook_steps_service_idx ON runbook_steps (service) WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_component_idx ON runbook_steps (component) WHERE component IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_risk_level_idx ON runbook_steps (risk_level) WHERE risk_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_runbook_document_id_idx ON runbook_steps (runbook_document_id)
    WHERE runbook_document_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_created_at_idx ON runbook_steps (created_at);

-- ---------------------------------------------------------------------------------------------------
-- incident_signatures: a failure pattern distilled from past incidents, used by triage
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS incident_signatures (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_signature_id    text NOT NULL,
    failure_type             text NOT NULL,
    error_class              text NOT NULL,
    symptoms                 text[] NOT NULL,
    affected_service         text,
    service                  text,
    component                text,
    assignment_group         text,
    impact                   text,
    urgency                  text,
    resolution_refs          text[] NOT NULL DEFAULT '{}'::text[],
    embedding                vector(384),
    tsv                      tsvector,
    source_incident_ids      text[] NOT NULL DEFAULT '{}'::text[],
    source_document_id       uuid REFERENCES documents (id) ON DELETE SET NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    last_seen_at             timestamptz,
    match_count              integer NOT NULL DEFAULT 0,
    resolution_success_count integer NOT NULL DEFAULT 0,
    CONSTRAINT incident_signatures_incident_signature_id_key UNIQUE (incident_signature_id),
    CONSTRAINT incident_signatures_failure_type_not_blank CHECK (btrim(failure_type) <> ''),
    CONSTRAINT incident_signatures_error_class_not_blank CHECK (btrim(error_class) <> ''),
    CONSTRAINT incident_signatures_symptoms_not_empty CHECK (cardinality(symptoms) > 0),
    CONSTRAINT incident_signatures_counts_check
        CHECK (match_count >= 0 AND resolution_success_count >= 0)
);

CREATE OR REPLACE TRIGGER incident_signatures_updated_at
    BEFORE UPDATE ON incident_signatures
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();

CREATE OR REPLACE TRIGGER incident_signatures_tsv_update
    BEFORE INSERT OR UPDATE ON incident_signatures
    FOR EACH ROW EXECUTE FUNCTION update_incident_signatures_tsv();

CREATE INDEX IF NOT EXISTS incident_signatures_embedding_idx
    ON incident_signatures USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS incident_signatures_tsv_idx ON incident_signatures USING gin (tsv);
CREATE INDEX IF NOT EXISTS incident_signatures_symptoms_idx ON incident_signatures USING gin (symptoms);
CREATE INDEX IF NOT EXISTS incident_signatures_resolution_refs_idx
    ON incident_signatures USING gin (resolution_refs);
CREATE INDEX IF NOT EXISTS incident_signatures_failure_type_idx ON incident_signatures (failure_type);
CREATE INDEX IF NOT EXISTS incident_signatures_error_class_idx ON incident_signatures (error_class);
CREATE INDEX IF NOT EXISTS incident_signatures_service_idx ON incident_signatures (service)
    WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS incident_signatures_component_idx ON incident_signatures (component)
    WHERE component IS NOT NULL;
CREATE INDEX IF NOT EXISTS incident_signatures_affected_service_idx ON incident_signatures (affected_service)
    WHERE affected_service IS NOT NULL;
CREATE INDEX IF NOT EXISTS incident_signatures_assignment_group_idx ON incident_signatures (assignment_group)
    WHERE assignment_group IS NOT NULL;
CREATE INDEX IF NOT EXISTS incident_signatures_last_seen_at_idx ON incident_signatures (last_seen_at)
    WHERE last_seen_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------------
-- triage_results: one classification by the triage agent
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS triage_results (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id           uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    failure_type          text,
    error_class           text,
    severity              text,
    confidence            numeric(5, 4),
    policy_band           text,
    assignment_group      text,
    impact                text,
    urgency               text,
    matched_signature_ids text[] NOT NULL DEFAULT '{}'::text[],
    matched_runbook_refs  text[] NOT NULL DEFAULT '{}'::text[],
    evidence_chunks       jsonb NOT NULL DEFAULT '[]'::jsonb,
    retrieval_method      text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    CONSTRAINT triage_results_severity_check
        CHECK (severity IS NULL OR severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT triage_results_confidence_check CHECK (confidence IS NULL OR confidence BETWEEN 0 AND 1),
    CONSTRAINT triage_results_policy_band_check
        CHECK (policy_band IS NULL OR policy_band IN ('AUTO', 'PROPOSE', 'REVIEW'))
);

CREATE INDEX IF NOT EXISTS triage_results_incident_id_idx ON triage_results (incident_id);
CREATE INDEX IF NOT EXISTS triage_results_failure_type_idx ON triage_results (failure_type)
    WHERE failure_type IS NOT NULL;
CREATE INDEX IF NOT EXISTS triage_results_error_class_idx ON triage_results (error_class)
    WHERE error_class IS NOT NULL;
CREATE INDEX IF NOT EXISTS triage_results_severity_idx ON triage_results (severity) WHERE severity IS NOT NULL;
CREATE INDEX IF NOT EXISTS triage_results_policy_band_idx ON triage_results (policy_band)
    WHERE policy_band IS NOT NULL;
CREATE INDEX IF NOT EXISTS triage_results_confidence_idx ON triage_results (confidence)
    WHERE confidence IS NOT NULL;
CREATE INDEX IF NOT EXISTS triage_results_created_at_idx ON triage_results (created_at);
CREATE INDEX IF NOT EXISTS triage_results_matched_signature_ids_idx
    ON triage_results USING gin (matched_signature_ids);

-- ---------------------------------------------------------------------------------------------------
-- resolution_outputs: one recommendation set by the resolution agent
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS resolution_outputs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id        uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    triage_result_id   uuid REFERENCES triage_results (id) ON DELETE CASCADE,
    overall_confidence numeric(5, 4),
    risk_level         text,
    recommendations    jsonb NOT NULL,
    retrieved_step_ids text[] NOT NULL DEFAULT '{}'::text[],
    used_signature_ids text[] NOT NULL DEFAULT '{}'::text[],
    evidence_chunks    jsonb NOT NULL DEFAULT '[]'::jsonb,
    retrieval_method   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    proposed_at        timestamptz,
    accepted_at        timestamptz,
    executed_at        timestamptz,
    execution_status   text,
    execution_notes    text,
    CONSTRAINT resolution_outputs_overall_confidence_check
        CHECK (overall_confidence IS NULL OR overall_confidence BETWEEN 0 AND 1),
    CONSTRAINT resolution_outputs_risk_level_check
        CHECK (risk_level IS NULL OR risk_level IN ('low', 'medium', 'high')),
    CONSTRAINT resolution_outputs_recommendations_is_array CHECK (jsonb_typeof(recommendations) = 'array'),
    CONSTRAINT resolution_outputs_execution_status_check
        CHECK (execution_status IS NULL
               OR execution_status IN ('pending', 'accepted', 'executed', 'rejected', 'cancelled'))
);

CREATE INDEX IF NOT EXISTS resolution_outputs_incident_id_idx ON resolution_outputs (incident_id);
CREATE INDEX IF NOT EXISTS resolution_outputs_triage_result_id_idx ON resolution_outputs (triage_result_id)
    WHERE triage_result_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS resolution_outputs_overall_confidence_idx ON resolution_outputs (overall_confidence)
    WHERE overall_confidence IS NOT NULL;
CREATE INDEX IF NOT EXISTS resolution_outputs_risk_level_idx ON resolution_outputs (risk_level)
    WHERE risk_level IS NOT NULL;
CREATE INDEX IF NOT EXISTS resolution_outputs_execution_status_idx ON resolution_outputs (execution_status)
    WHERE execution_status IS NOT NULL;
CREATE INDEX IF NOT EXISTS resolution_outputs_created_at_idx ON resolution_outputs (created_at);
CREATE INDEX IF NOT EXISTS resolution_outputs_recommendations_idx
    ON resolution_outputs USING gin (recommendations jsonb_path_ops);
CREATE INDEX IF NOT EXISTS resolution_outputs_retrieved_step_ids_idx
    ON resolution_outputs USING gin (retrieved_step_ids);

-- ---------------------------------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW runbook_steps_with_metadata AS
SELECT
    s.id,
    s.step_id,
    s.runbook_id,
    s.condition,
    s.action,
    s.expected_outcome,
    s.rollback,
    s.risk_level,
    s.service,
    s.component,
    s.runbook_title,
    s.runbook_document_id,
    s.created_at,
    s.updated_at,
    s.last_reviewed_at,
    d.title AS document_title,
    d.doc_type AS document_type,
    d.tags AS document_tags,
    d.last_reviewed_at AS document_last_reviewed_at
FROM runbook_steps AS s
LEFT JOIN documents AS d ON d.id = s.runbook_document_id;

CREATE OR REPLACE VIEW triage_to_resolution_chain AS
SELECT
    i.id AS incident_id,
    i.alert_id,
    i.source AS alert_source,
    i.alert_received_at,
    t.id AS triage_result_id,
    t.failure_type,
    t.error_class,
    t.severity,
    t.confidence AS triage_confidence,
    t.policy_band,
    t.matched_signature_ids,
    t.matched_runbook_refs,
    t.retrieval_method AS triage_retrieval_method,
    t.completed_at AS triage_completed_at,
    r.id AS resolution_output_id,
    r.overall_confidence AS resolution_confidence,
    r.risk_level AS resolution_risk_level,
    r.retrieved_step_ids,
    r.used_signature_ids,
    r.execution_status,
    r.proposed_at,
    r.accepted_at,
    r.executed_at
FROM incidents AS i
LEFT JOIN triage_results AS t ON t.incident_id = i.id
LEFT JOIN resolution_outputs AS r ON r.triage_result_id = t.id;

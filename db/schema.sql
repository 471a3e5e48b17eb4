-- nocai base schema for fresh installs: `python scripts/db/init_db.py` (or `nocai db init`).
--
-- GENERATED from db/migrations by `nocai db build-schema`; do not edit by hand (a test checks it).
-- It is the migrations below, in order, so a fresh install and a full migration give the same
-- schema. Every statement is idempotent: the file can be run again (psql -f db/schema.sql).
-- init_db.py records the migrations listed here as applied, so run_migration.py then has nothing
-- to do.
--
-- nocai:includes 001_base_documents_chunks.sql sha256=43635824cca6e6ed5524f3da5027a0cfbf9991263924ee0a9b7e7a32198d17b7
-- nocai:includes 002_incidents_feedback.sql sha256=4dfe30488e84414c6562c35b593b1a9d7dc1c4f2a4daddef87acaf79100e954c
-- nocai:includes 003_agent_state_metrics.sql sha256=e3b926dcf080f3589b8b2c10d3214b0bd35f6938ee3d1bfd6785120c3165faff
-- nocai:includes 004_add_storage_vector_tables.sql sha256=410803e7a659144684d94259eddf8b788556cc6e604cc5600047b6b28495a1e5
-- nocai:includes 005_embedding_model_registry.sql sha256=90d75141f6dcf0d3a47dbc56be96dc53063dee70c9083bd6305ec5d51273a9cc
-- nocai:includes 006_knowledge_ingestion.sql sha256=04498feddb72af58f403e85a5c78091b07ae26ef2cd2fdf9afa5b3bb0ab7b4f4
-- nocai:includes 007_hybrid_search.sql sha256=3870dace68d9a5b8fd0558ee5eebafcb67fcc9026fefc6cb60775c1c575cc089
-- nocai:includes 008_alert_intake.sql sha256=81186c8ef09440c193999775eb7acd3e1a8278150568535934c8ff51d3056397
-- nocai:includes 009_identifier_words.sql sha256=003f8c01d33a5c0144661e1d74f51d08cc54fa3f26cd8a90e9e20832f451f511
-- nocai:includes 010_signature_fillfactor.sql sha256=1198a1178e5166710ef474c6540fa310b9272a2cb7a815a1062fe73b12b8f0de
-- nocai:includes 011_vector_distance_cost.sql sha256=a7c081cb039331c4b3222291aab22b285dba2d61c6a1841aa28b30e3c266b01a
-- nocai:includes 012_service.sql sha256=0a4e1e535858ea1d8b5e5b4eaf68420385a063df7aea548bfad9db3a500ca092
-- nocai:includes 013_feedback.sql sha256=35fb7e430f47f34a4d7585d9968afdfa6137f4c2588b5a0e02d15da4ca16be38
-- nocai:includes 014_runbook_team_failure_type.sql sha256=2b617c1ef29734b4c960d4a10c0040f6c9c7dc3f187c5bcf8f27e41bd158b3ba
-- nocai:includes 015_incident_resolution_note.sql sha256=f2fe0cf8d72dd857d15828f9a3ea903730aa8e5bc5802c2cb194d37543fdfb77

-- ================================================================================================
-- 001_base_documents_chunks.sql
-- ================================================================================================
-- 001: source documents and the older, generic retrieval store (chunks).
--
-- Idempotent: every statement can run again on a database that already has these objects
-- (a database created by init_db.py, by psql, or by an older tool without a migration ledger).

CREATE EXTENSION IF NOT EXISTS vector;

-- One source document: a runbook, an incident report, an SOP.
CREATE TABLE IF NOT EXISTS documents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    doc_type         text NOT NULL,
    service          text,
    component        text,
    title            text NOT NULL,
    content          text NOT NULL DEFAULT '',
    tags             jsonb NOT NULL DEFAULT '[]'::jsonb,
    last_reviewed_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_doc_type_not_blank CHECK (btrim(doc_type) <> '')
);

CREATE INDEX IF NOT EXISTS documents_doc_type_idx ON documents (doc_type);
CREATE INDEX IF NOT EXISTS documents_service_idx ON documents (service) WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_tags_idx ON documents USING gin (tags);

-- The older, generic retrieval store. New code reads runbook_steps and incident_signatures;
-- `nocai db migrate-chunks` moves what older installs kept here into those tables.
-- The embedding column has no fixed dimension: legacy rows may come from any model.
CREATE TABLE IF NOT EXISTS chunks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL DEFAULT 0,
    content     text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding   vector,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS chunks_document_id_idx ON chunks (document_id, chunk_index);
CREATE INDEX IF NOT EXISTS chunks_tsv_idx ON chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS chunks_metadata_idx ON chunks USING gin (metadata jsonb_path_ops);
CREATE INDEX IF NOT EXISTS chunks_runbook_id_idx ON chunks ((metadata ->> 'runbook_id'))
    WHERE metadata ? 'runbook_id';
CREATE INDEX IF NOT EXISTS chunks_step_id_idx ON chunks ((metadata ->> 'step_id'))
    WHERE metadata ? 'step_id';
CREATE INDEX IF NOT EXISTS chunks_incident_signature_id_idx ON chunks ((metadata ->> 'incident_signature_id'))
    WHERE metadata ? 'incident_signature_id';
CREATE INDEX IF NOT EXISTS chunks_failure_type_idx ON chunks ((metadata ->> 'failure_type'))
    WHERE metadata ? 'failure_type';
CREATE INDEX IF NOT EXISTS chunks_error_class_idx ON chunks ((metadata ->> 'error_class'))
    WHERE metadata ? 'error_class';

-- ================================================================================================
-- 002_incidents_feedback.sql
-- ================================================================================================
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

-- ================================================================================================
-- 003_agent_state_metrics.sql
-- ================================================================================================
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

-- ================================================================================================
-- 004_add_storage_vector_tables.sql
-- ================================================================================================
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

-- ================================================================================================
-- 005_embedding_model_registry.sql
-- ================================================================================================
-- 005: which embedding model produced the vectors in runbook_steps / incident_signatures.
--
-- One row. nocai compares it with its settings at start: vectors from another model (or of another
-- dimension) cannot be searched with this model's queries, so a mismatch is refused with the fix named.
-- The first row is read off the column type, so an older database whose tables already hold vectors of
-- another size (e.g. vector(1536)) is registered truthfully rather than as the default model.

CREATE TABLE IF NOT EXISTS embedding_model (
    singleton  boolean PRIMARY KEY DEFAULT true,
    model      text NOT NULL,
    dimension  integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embedding_model_singleton_check CHECK (singleton),
    CONSTRAINT embedding_model_dimension_check CHECK (dimension BETWEEN 1 AND 16000),
    CONSTRAINT embedding_model_model_not_blank CHECK (btrim(model) <> '')
);

INSERT INTO embedding_model (singleton, model, dimension)
SELECT true,
       CASE WHEN a.atttypmod = 384 THEN 'all-MiniLM-L6-v2-int8' ELSE 'unknown' END,
       a.atttypmod
FROM pg_attribute AS a
WHERE a.attrelid = 'runbook_steps'::regclass
  AND a.attname = 'embedding'
  AND a.atttypmod > 0
ON CONFLICT (singleton) DO NOTHING;

-- ================================================================================================
-- 006_knowledge_ingestion.sql
-- ================================================================================================
-- 006: what ingestion needs to be exact and cheap on re-runs.
--
--   * documents know where they came from (source_key, source_path) and their content hash, so an unchanged
--     file is recognised without parsing it again;
--   * runbook_steps keep their order, phase and section, whether their risk was inferred, and two hashes:
--     content_sha256 (what the step says: ids stay stable when steps move) and embedding_sha256 (model + the
--     exact text embedded: a text is never embedded twice);
--   * runbooks: one row per runbook, with its own embedding and full-text vector for "which runbook" searches;
--   * historical_incidents: the past tickets signatures are distilled from, kept so that signatures can grow
--     and be re-clustered, and so that re-importing a ticket never counts it twice;
--   * incident_signatures keep the centroid of their incidents' embeddings (clusters grow around it).
--
-- Idempotent, like every migration file.

-- Its own trigger function, so that the guide's rollback of 004 (DROP FUNCTION update_updated_at() CASCADE)
-- cannot take these triggers with it.
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

ALTER TABLE documents ADD COLUMN IF NOT EXISTS source_key text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS source_path text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS content_sha256 text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX IF NOT EXISTS documents_source_key_key ON documents (source_key) WHERE source_key IS NOT NULL;

ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS step_order integer;
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS phase text
    CONSTRAINT runbook_steps_phase_check
    CHECK (phase IS NULL OR phase IN ('diagnosis', 'mitigation', 'verification', 'other'));
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS section text;
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS risk_inferred boolean NOT NULL DEFAULT false;
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS risk_reason text;
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS content_sha256 text;
ALTER TABLE runbook_steps ADD COLUMN IF NOT EXISTS embedding_sha256 text;
CREATE INDEX IF NOT EXISTS runbook_steps_text_hash_idx ON runbook_steps (embedding_sha256)
    WHERE embedding_sha256 IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_unembedded_idx ON runbook_steps (runbook_id)
    WHERE embedding IS NULL;

CREATE TABLE IF NOT EXISTS runbooks (
    runbook_id       text PRIMARY KEY,
    title            text NOT NULL,
    description      text,
    service          text,
    component        text,
    tags             jsonb NOT NULL DEFAULT '[]'::jsonb,
    format           text NOT NULL,
    source_path      text NOT NULL,
    content_sha256   text NOT NULL,
    document_id      uuid REFERENCES documents (id) ON DELETE SET NULL,
    step_count       integer NOT NULL DEFAULT 0,
    search_text      text NOT NULL DEFAULT '',
    embedding        vector(384),
    embedding_sha256 text,
    tsv              tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(description, '')), 'B')
        || setweight(to_tsvector('english', coalesce(search_text, '')), 'C')
    ) STORED,
    last_reviewed_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runbooks_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT runbooks_format_check CHECK (format IN ('markdown', 'yaml', 'json', 'docx', 'legacy'))
);

CREATE OR REPLACE TRIGGER runbooks_updated_at
    BEFORE UPDATE ON runbooks
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE INDEX IF NOT EXISTS runbooks_embedding_idx
    ON runbooks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS runbooks_tsv_idx ON runbooks USING gin (tsv);
CREATE INDEX IF NOT EXISTS runbooks_service_idx ON runbooks (service) WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbooks_source_path_idx ON runbooks (source_path);

CREATE TABLE IF NOT EXISTS historical_incidents (
    number            text PRIMARY KEY,
    short_description text NOT NULL,
    description       text,
    category          text,
    subcategory       text,
    cmdb_ci           text,
    assignment_group  text,
    impact            text,
    urgency           text,
    priority          text,
    close_code        text,
    close_notes       text,
    opened_at         timestamptz,
    resolved_at       timestamptz,
    source_path       text,
    record_sha256       text NOT NULL,
    embedding         vector(384),
    embedding_sha256  text,
    signature_id      text REFERENCES incident_signatures (incident_signature_id)
                          ON DELETE SET NULL ON UPDATE CASCADE,
    imported_at       timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT historical_incidents_short_description_not_blank CHECK (btrim(short_description) <> '')
);

CREATE OR REPLACE TRIGGER historical_incidents_updated_at
    BEFORE UPDATE ON historical_incidents
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE INDEX IF NOT EXISTS historical_incidents_signature_id_idx ON historical_incidents (signature_id)
    WHERE signature_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS historical_incidents_unassigned_idx ON historical_incidents (opened_at)
    WHERE signature_id IS NULL;

ALTER TABLE incident_signatures ADD COLUMN IF NOT EXISTS centroid vector(384);
ALTER TABLE incident_signatures ADD COLUMN IF NOT EXISTS embedding_sha256 text;

-- ================================================================================================
-- 007_hybrid_search.sql
-- ================================================================================================
-- 007: what hybrid retrieval needs beyond 004/006.
--
--   * runbooks.title_embedding: a second vector per runbook, of its title alone. Alerts often name the failure
--     the way a runbook's title does; the runbook's distance is the nearer of its two vectors.
--   * an HNSW index on incident_signatures.centroid (the mean of the signature's past tickets), so alerts can
--     be matched against what tickets said, not only against the signature's label;
--   * search_term_stats / search_corpus_stats: document frequencies per lexeme and corpus, refreshed after each
--     ingest, for BM25 scoring of the full-text leg (ts_rank has no inverse document frequency).
--
-- Idempotent, like every migration file.

ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS title_embedding vector(384);
ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS title_embedding_sha256 text;
CREATE INDEX IF NOT EXISTS runbooks_title_embedding_idx
    ON runbooks USING hnsw (title_embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);

CREATE INDEX IF NOT EXISTS incident_signatures_centroid_idx
    ON incident_signatures USING hnsw (centroid vector_cosine_ops) WITH (m = 16, ef_construction = 64);

CREATE TABLE IF NOT EXISTS search_term_stats (
    corpus text NOT NULL,
    lexeme text NOT NULL,
    ndoc   integer NOT NULL,
    CONSTRAINT search_term_stats_pkey PRIMARY KEY (corpus, lexeme),
    CONSTRAINT search_term_stats_corpus_check CHECK (corpus IN ('runbooks', 'runbook_steps', 'incident_signatures'))
);

CREATE TABLE IF NOT EXISTS search_corpus_stats (
    corpus       text PRIMARY KEY,
    documents    integer NOT NULL,
    avg_length   double precision NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT search_corpus_stats_corpus_check
        CHECK (corpus IN ('runbooks', 'runbook_steps', 'incident_signatures'))
);

-- ================================================================================================
-- 008_alert_intake.sql
-- ================================================================================================
-- 008: alert intake with deduplication.
--
-- An incident is one *open* problem: a repeat of a firing alert (same fingerprint) updates it — occurrences,
-- last seen, latest payload — instead of opening and triaging another; a "resolved" notification closes it; a
-- later firing opens a new one. The partial unique index makes that exact under concurrency: thousands of
-- repeats arriving at once converge on one row through INSERT ... ON CONFLICT.
--
-- Idempotent, like every migration file.

ALTER TABLE incidents ADD COLUMN IF NOT EXISTS fingerprint text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'open'
    CONSTRAINT incidents_status_check CHECK (status IN ('open', 'resolved'));
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS title text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS severity text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS service text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS environment text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS occurrence_count integer NOT NULL DEFAULT 1
    CONSTRAINT incidents_occurrence_count_check CHECK (occurrence_count >= 1);
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS first_seen_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_raw_alert jsonb;

CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_fingerprint_key ON incidents (fingerprint)
    WHERE status = 'open' AND fingerprint IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_status_idx ON incidents (status, last_seen_at DESC);

-- Who accepted a resolution, and with which roles: the policy's approval requirements are checked against these
-- before a resolution may be executed.
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS accepted_by text;
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS accepted_roles text[];
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS policy_decision jsonb;

-- ================================================================================================
-- 009_identifier_words.sql
-- ================================================================================================
-- 009: identifiers are searchable by their words.
--
-- Runbooks are named after alerts ("etcdHighFsyncDurations", "KubeAPIDown") and mention them in their text, and
-- PostgreSQL's parser keeps such an identifier as one token: a query saying "etcd high fsync durations" never met
-- it. Queries are split this way before they are searched (ai_service/retrieval/query_text.py); identifier_words()
-- does the same on the stored side, appending the words of each CamelCase identifier to the text (the identifier
-- itself is kept, so an exact mention still matches). The runbooks' full-text vector is rebuilt with it, and the
-- runbooks' term statistics refreshed (ingestion refreshes them after every run).
--
-- Idempotent, like every migration file: the column is rebuilt only while it does not use identifier_words().

CREATE OR REPLACE FUNCTION identifier_words(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(value, '') || coalesce(' ' || string_agg(
        regexp_replace(regexp_replace(m[1], '([a-z0-9])([A-Z])', '\1 \2', 'g'), '([A-Z]+)([A-Z][a-z])', '\1 \2', 'g'),
        ' '), '')
    FROM regexp_matches(coalesce(value, ''), '([A-Za-z0-9]*(?:[a-z0-9][A-Z]|[A-Z]{2}[a-z])[A-Za-z0-9]*)', 'g') AS m
$$;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_attrdef AS d
        JOIN pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = 'runbooks'::regclass AND a.attname = 'tsv'
          AND pg_get_expr(d.adbin, d.adrelid) LIKE '%identifier_words%'
    ) THEN
        ALTER TABLE runbooks DROP COLUMN IF EXISTS tsv;
        ALTER TABLE runbooks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', identifier_words(title)), 'A')
            || setweight(to_tsvector('english', coalesce(description, '')), 'B')
            || setweight(to_tsvector('english', coalesce(search_text, '')), 'C')
        ) STORED;
        DELETE FROM search_term_stats WHERE corpus = 'runbooks';
        INSERT INTO search_term_stats (corpus, lexeme, ndoc)
            SELECT 'runbooks', word, ndoc FROM ts_stat('SELECT tsv FROM runbooks WHERE tsv IS NOT NULL');
        INSERT INTO search_corpus_stats (corpus, documents, avg_length, refreshed_at)
            SELECT 'runbooks', count(*), coalesce(avg(length(tsv)), 1.0), now() FROM runbooks
            ON CONFLICT (corpus) DO UPDATE SET documents = EXCLUDED.documents, avg_length = EXCLUDED.avg_length,
                refreshed_at = EXCLUDED.refreshed_at;
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS runbooks_tsv_idx ON runbooks USING gin (tsv);

-- ================================================================================================
-- 010_signature_fillfactor.sql
-- ================================================================================================
-- 010: room on each page of incident_signatures for in-place (HOT) updates.
--
-- Every triage counts the signatures it matched (match_count, the denominator of their track record) in the
-- transaction that stores its result. On full pages each such UPDATE wrote the new row version to another page
-- and inserted it into every index of the table, both HNSW indexes among them: 1.8 ms per triage at 100k
-- signatures, about 60 % of updates. With a tenth of each page left free the new version stays on its page and
-- touches no index (measured: 90 % of the updates in place, 0.3 ms per triage; the table's main fork grows by
-- about a tenth, the vectors live in its TOAST table and do not).
--
-- Applies to pages written from now on (loads, VACUUM FULL); full pages gain room as old versions are pruned.
ALTER TABLE incident_signatures SET (fillfactor = 90);

-- ================================================================================================
-- 011_vector_distance_cost.sql
-- ================================================================================================
-- 011: the vector legs use their HNSW index on mid-size tables too.
--
-- pgvector declares cosine_distance() (the <=> operator) at the default cost of one operator. At
-- hnsw.ef_search = 100 (nocai's default) the planner then preferred scanning the whole table and sorting it
-- whenever that looked cheaper than the index, up to several thousand rows: but each row's vector lives in the
-- TOAST table, so every distance first fetches 1.5 kB from there. Measured on 5,000 signatures: 11 ms per vector
-- column by table scan, ~1 ms through the index, triage 49.6 -> 24.2 ms p50. A cost that counts that fetch moves
-- the switch to a few hundred rows, where a scan is as cheap as it looks.
--
-- The function belongs to the extension: where the migrating role does not own it (an external server whose
-- extension a superuser created), the cost stays, with a warning that says how to set it.
DO $$
BEGIN
    ALTER FUNCTION cosine_distance(vector, vector) COST 1000;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot set the planner cost of cosine_distance(vector, vector): not its owner'
        USING HINT = 'as the owner of the vector extension: ALTER FUNCTION cosine_distance(vector, vector) COST 1000';
END
$$;

-- ================================================================================================
-- 012_service.sql
-- ================================================================================================
-- 012: the service — a durable work queue for triage, API tokens, and the audit trail of resolutions.
--
-- work_items: a webhook records each new incident together with its triage item in one transaction, so an
-- acknowledged alert is never lost. Workers take items with FOR UPDATE SKIP LOCKED and a lease; a worker that
-- dies leaves its item to be taken again once the lease expires; an item that keeps failing ends 'dead' with
-- its error after max_attempts. The triage rows and the item's 'done' commit together (guarded by the lease
-- token), so each item is triaged exactly once even when a lease expired under a slow worker.
--
-- api_tokens: bearer tokens, stored as SHA-256 digests (the token itself is shown once, at creation).
-- resolution_events: who accepted, executed, rejected or cancelled a resolution, with which roles, and when.
--
-- Idempotent, like every migration file.

CREATE TABLE IF NOT EXISTS work_items (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id      uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind             text NOT NULL DEFAULT 'triage',
    alert            jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'queued',
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 5,
    available_at     timestamptz NOT NULL DEFAULT now(),
    lease_token      uuid,
    leased_by        text,
    lease_expires_at timestamptz,
    last_error       text,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT work_items_kind_check CHECK (kind IN ('triage')),
    CONSTRAINT work_items_status_check CHECK (status IN ('queued', 'running', 'done', 'dead')),
    CONSTRAINT work_items_attempts_check CHECK (attempts >= 0 AND max_attempts >= 1)
);

CREATE INDEX IF NOT EXISTS work_items_ready_idx ON work_items (available_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS work_items_lease_idx ON work_items (lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS work_items_dead_idx ON work_items (finished_at) WHERE status = 'dead';
CREATE INDEX IF NOT EXISTS work_items_incident_id_idx ON work_items (incident_id);

CREATE TABLE IF NOT EXISTS api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    role         text NOT NULL,
    policy_roles text[] NOT NULL DEFAULT '{}'::text[],
    token_sha256 text NOT NULL,
    token_prefix text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_role_check CHECK (role IN ('ingest', 'viewer', 'responder', 'admin')),
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256)
);

CREATE TABLE IF NOT EXISTS resolution_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resolution_id uuid NOT NULL REFERENCES resolution_outputs (id) ON DELETE CASCADE,
    incident_id   uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    action        text NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    actor         text,
    roles         text[] NOT NULL DEFAULT '{}'::text[],
    notes         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resolution_events_action_check CHECK (action IN ('accept', 'execute', 'reject', 'cancel'))
);

CREATE INDEX IF NOT EXISTS resolution_events_resolution_id_idx ON resolution_events (resolution_id, created_at);
CREATE INDEX IF NOT EXISTS resolution_events_incident_id_idx ON resolution_events (incident_id, created_at);

-- The incident list filters and pages by these.
CREATE INDEX IF NOT EXISTS incidents_last_seen_idx ON incidents (last_seen_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS incidents_service_idx ON incidents (service) WHERE service IS NOT NULL;

-- ================================================================================================
-- 013_feedback.sql
-- ================================================================================================
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

-- ================================================================================================
-- 014_runbook_team_failure_type.sql
-- ================================================================================================
-- 014: who owns a runbook and what kind of failure it is about; where a triage's assignment group came from.
--
-- runbooks.team: the owning team a runbook declares (front matter `team:`, a YAML/JSON `team` field) or, when it
--   declares none, the folder it lives in under the ingested root. Triage proposes it as the assignment group.
-- runbooks.failure_type: the runbook's failure type from the failure taxonomy (ai_service/taxonomy.py,
--   docs/taxonomy.md), 'unknown' when its text has no evidence for any. NULL means the row was stored before this
--   migration: the next ingestion of its file, or relabel_knowledge_base, fills both columns.
-- triage_results.assignment_group_source: where the proposed assignment group came from ('runbook <id>',
--   'signature <id>', 'feedback <id>', 'runbooks <id>, <id>' for a no-match routed by its nearest runbooks), NULL
--   when none was proposed.
--
-- Idempotent, like every migration file.

ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS team text;
ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS failure_type text;
CREATE INDEX IF NOT EXISTS runbooks_team_idx ON runbooks (team) WHERE team IS NOT NULL;

ALTER TABLE triage_results ADD COLUMN IF NOT EXISTS assignment_group_source text;

-- ================================================================================================
-- 015_incident_resolution_note.sql
-- ================================================================================================
-- 015: why a human closed an incident.
--
-- incidents.resolution_note: the note a responder gave when closing the incident by hand (POST
--   /api/v1/incidents/{id}/close, `nocai incidents close --notes`, the console's Close form); NULL when the
--   alert's resolved notification closed it or no note was given.
--
-- Idempotent, like every migration file.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolution_note text;

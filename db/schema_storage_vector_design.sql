-- Storage & vector schema: complete reference, commented column by column.
--
-- What it is: the four tables runbook_steps, incident_signatures, triage_results and resolution_outputs,
-- with their functions, triggers, indexes and views, exactly as db/migrations/004_add_storage_vector_tables.sql
-- creates them (a test runs this file after migrations 001-003 on one fresh database and 004 on another,
-- and compares the catalogs). Rationale: db/STORAGE_VECTOR_DESIGN_SUMMARY.md; indexes: db/INDEX_STRATEGY.md.
--
-- What it is not: the way to install. Use `python scripts/db/run_migration.py` (existing databases) or
-- `python scripts/db/init_db.py` (fresh installs); they record what they applied in schema_migrations.
-- Running this file by hand creates the objects but records nothing. Later migrations extend these
-- tables (006 adds ingestion bookkeeping columns and indexes); this file describes what 004 creates.
--
-- Requires: PostgreSQL 14+ (CREATE OR REPLACE TRIGGER), pgvector >= 0.8 (HNSW, iterative index scans),
-- and the base tables `documents` and `incidents` (migrations 001-003). Idempotent: every statement can
-- run again.
--
-- Embedding dimension: 384 is the dimension of nocai's default local model (all-MiniLM-L6-v2, int8).
-- Another model means another dimension: `nocai db set-embedding-model --model M --dimension N` retypes
-- the vector columns, clears the stored vectors and rebuilds the vector indexes; the model and dimension
-- in use are recorded in the table embedding_model (migration 005).

-- Refuse early, with the fix named, rather than fail half-way (the guide's two troubleshooting cases).
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

-- =====================================================================================================
-- Functions (trigger functions; bodies identical to migration 004)
-- =====================================================================================================

-- Sets updated_at on every UPDATE of runbook_steps and incident_signatures. agent_state (migration 003)
-- has its own copy, update_agent_state_updated_at(), so the guide's rollback of 004, which drops this
-- function CASCADE, cannot remove agent_state's trigger.
CREATE OR REPLACE FUNCTION update_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Full-text vector of a runbook step, English configuration. Weights: A condition (when the step
-- applies: what an alert resembles), B action (what to do), C expected outcome.
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

-- Full-text vector of an incident signature, English configuration. Weights: A failure type + error
-- class, B symptoms, D assignment group + impact + urgency (routing words: they may match, weakly).
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

-- =====================================================================================================
-- runbook_steps: one atomic, independently retrievable runbook step
-- =====================================================================================================

CREATE TABLE IF NOT EXISTS runbook_steps (
    -- Surrogate key; other tables and the API refer to steps by step_id, which people can read.
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Human-readable and unique: '<runbook_id>-S<position>', e.g. 'db-postgres-connections-S2'
    -- (docs/runbook-format.md). Same runbook, same position: same step_id on every ingestion.
    step_id             text NOT NULL,
    -- Slug of the runbook: declared in the runbook, or derived from its path (never minted at random),
    -- so that re-ingesting a runbook finds its existing steps instead of orphaning them.
    runbook_id          text NOT NULL,
    -- When the step applies (the situation or symptom). Required, not blank; highest full-text weight.
    condition           text NOT NULL,
    -- What to do. Required, not blank.
    action              text NOT NULL,
    -- What should be observed if the action worked; lets an operator confirm before the next step.
    expected_outcome    text,
    -- How to undo the action, if it can be undone.
    rollback            text,
    -- Risk of performing the action: low | medium | high, or NULL when the runbook does not say.
    risk_level          text,
    -- Service and component the step is about (filters for retrieval; NULL when generic).
    service             text,
    component           text,
    -- Embedding of condition + action + expected outcome, by the model recorded in embedding_model.
    -- NULL until embedded (e.g. after `nocai db set-embedding-model` cleared it).
    embedding           vector(384),
    -- Full-text vector, maintained by trigger runbook_steps_tsv_update; never written by the application.
    tsv                 tsvector,
    -- Title of the runbook, kept on the step so a result can be shown without a join.
    runbook_title       text,
    -- The source document, when the runbook was ingested from one; SET NULL if the document is deleted
    -- (the step outlives its source file until the runbook is re-ingested or removed).
    runbook_document_id uuid REFERENCES documents (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Maintained by trigger runbook_steps_updated_at.
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- When a human last confirmed the step is still right (stale steps can be flagged or down-ranked).
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

-- Approximate nearest-neighbour search by cosine distance (<=>). HNSW: good recall whether built on an
-- empty table or a full one, no training step; search breadth per connection: hnsw.ef_search.
CREATE INDEX IF NOT EXISTS runbook_steps_embedding_idx
    ON runbook_steps USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
-- Full-text leg of hybrid retrieval (tsv @@ query).
CREATE INDEX IF NOT EXISTS runbook_steps_tsv_idx ON runbook_steps USING gin (tsv);
-- All steps of a runbook (re-ingestion, display in order).
CREATE INDEX IF NOT EXISTS runbook_steps_runbook_id_idx ON runbook_steps (runbook_id);
-- Filters; partial because the columns are nullable and NULL is never searched for.
CREATE INDEX IF NOT EXISTS runbook_steps_service_idx ON runbook_steps (service) WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_component_idx ON runbook_steps (component) WHERE component IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_risk_level_idx ON runbook_steps (risk_level) WHERE risk_level IS NOT NULL;
-- Steps of a document (and the ON DELETE SET NULL of documents, which would otherwise scan the table).
CREATE INDEX IF NOT EXISTS runbook_steps_runbook_document_id_idx ON runbook_steps (runbook_document_id)
    WHERE runbook_document_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runbook_steps_created_at_idx ON runbook_steps (created_at);

-- =====================================================================================================
-- incident_signatures: a failure pattern distilled from past incidents, used by triage
-- =====================================================================================================

CREATE TABLE IF NOT EXISTS incident_signatures (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Human-readable, unique, e.g. 'SIG-DB-001'.
    incident_signature_id    text NOT NULL,
    -- Classification triage predicts: failure type (e.g. 'database_connection_exhaustion') and error
    -- class (e.g. 'resource_exhaustion'). Required, not blank; highest full-text weight.
    failure_type             text NOT NULL,
    error_class              text NOT NULL,
    -- Observable symptoms, one per element; at least one (CHECK). GIN-indexed for containment (@>, &&).
    symptoms                 text[] NOT NULL,
    -- Service the failure is observed on (may differ from where it originates, `service`).
    affected_service         text,
    service                  text,
    component                text,
    -- ITSM routing: the team that resolves it, and the typical impact and urgency (e.g. '1 - High').
    assignment_group         text,
    impact                   text,
    urgency                  text,
    -- step_ids (or runbook ids) that resolved incidents of this signature. GIN-indexed.
    resolution_refs          text[] NOT NULL DEFAULT '{}'::text[],
    -- Embedding of failure type + error class + symptoms, by the model recorded in embedding_model.
    embedding                vector(384),
    -- Full-text vector, maintained by trigger incident_signatures_tsv_update.
    tsv                      tsvector,
    -- Incidents (ITSM numbers or nocai incident ids) the signature was distilled from: provenance.
    source_incident_ids      text[] NOT NULL DEFAULT '{}'::text[],
    -- The document it was ingested from, if any; SET NULL when that document is deleted.
    source_document_id       uuid REFERENCES documents (id) ON DELETE SET NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    -- Maintained by trigger incident_signatures_updated_at.
    updated_at               timestamptz NOT NULL DEFAULT now(),
    -- Last time triage matched the signature to an alert.
    last_seen_at             timestamptz,
    -- How often triage matched it, and how often a resolution built on it succeeded (never negative).
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
-- Array containment / overlap: symptoms @> ARRAY['...'], resolution_refs && ARRAY['db-postgres-connections-S2'].
CREATE INDEX IF NOT EXISTS incident_signatures_symptoms_idx ON incident_signatures USING gin (symptoms);
CREATE INDEX IF NOT EXISTS incident_signatures_resolution_refs_idx
    ON incident_signatures USING gin (resolution_refs);
-- Filters on the required classification columns (full indexes: never NULL).
CREATE INDEX IF NOT EXISTS incident_signatures_failure_type_idx ON incident_signatures (failure_type);
CREATE INDEX IF NOT EXISTS incident_signatures_error_class_idx ON incident_signatures (error_class);
-- Filters on nullable columns: partial.
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

-- =====================================================================================================
-- triage_results: one classification by the triage agent
-- =====================================================================================================

CREATE TABLE IF NOT EXISTS triage_results (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The incident (alert) triaged; its triage results go with it.
    incident_id           uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- The predicted classification (NULL when triage could not decide).
    failure_type          text,
    error_class           text,
    -- low | medium | high | critical.
    severity              text,
    -- Triage confidence in [0, 1], four decimals.
    confidence            numeric(5, 4),
    -- Policy band the confidence and risk put the incident in: AUTO | PROPOSE | REVIEW.
    policy_band           text,
    -- Routing as triage proposes it (ITSM fields).
    assignment_group      text,
    impact                text,
    urgency               text,
    -- incident_signature_ids that matched, best first. GIN-indexed ("which triages used SIG-DB-001?").
    matched_signature_ids text[] NOT NULL DEFAULT '{}'::text[],
    -- step_ids / runbook ids triage pointed the resolution at.
    matched_runbook_refs  text[] NOT NULL DEFAULT '{}'::text[],
    -- The evidence the agent was given: a JSON array, one object per retrieved item (id, ranks, scores).
    evidence_chunks       jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- How the evidence was retrieved (free text, e.g. 'hybrid_rrf').
    retrieval_method      text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    CONSTRAINT triage_results_severity_check
        CHECK (severity IS NULL OR severity IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT triage_results_confidence_check CHECK (confidence IS NULL OR confidence BETWEEN 0 AND 1),
    CONSTRAINT triage_results_policy_band_check
        CHECK (policy_band IS NULL OR policy_band IN ('AUTO', 'PROPOSE', 'REVIEW'))
);

-- Foreign key (and the ON DELETE CASCADE from incidents).
CREATE INDEX IF NOT EXISTS triage_results_incident_id_idx ON triage_results (incident_id);
-- Filters and reporting; partial on nullable columns.
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

-- =====================================================================================================
-- resolution_outputs: one recommendation set by the resolution agent
-- =====================================================================================================

CREATE TABLE IF NOT EXISTS resolution_outputs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id        uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- The triage it builds on (NULL for a resolution requested without triage); CASCADE with it.
    triage_result_id   uuid REFERENCES triage_results (id) ON DELETE CASCADE,
    -- Confidence of the whole recommendation set in [0, 1].
    overall_confidence numeric(5, 4),
    -- Highest risk among the recommended actions: low | medium | high.
    risk_level         text,
    -- Ordered JSON array of recommendations; each item has at least step_id, action, confidence and
    -- provenance (where the step came from). Must be an array (CHECK). GIN (jsonb_path_ops) for @>.
    recommendations    jsonb NOT NULL,
    -- step_ids retrieved as candidates, and signature ids used. GIN on retrieved_step_ids.
    retrieved_step_ids text[] NOT NULL DEFAULT '{}'::text[],
    used_signature_ids text[] NOT NULL DEFAULT '{}'::text[],
    evidence_chunks    jsonb NOT NULL DEFAULT '[]'::jsonb,
    retrieval_method   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Lifecycle timestamps: proposed to a human, accepted by one, executed.
    proposed_at        timestamptz,
    accepted_at        timestamptz,
    executed_at        timestamptz,
    -- pending | accepted | executed | rejected | cancelled, or NULL before it is proposed.
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
-- recommendations @> '[{"step_id": "db-postgres-connections-S2"}]': which resolutions recommended a step.
CREATE INDEX IF NOT EXISTS resolution_outputs_recommendations_idx
    ON resolution_outputs USING gin (recommendations jsonb_path_ops);
CREATE INDEX IF NOT EXISTS resolution_outputs_retrieved_step_ids_idx
    ON resolution_outputs USING gin (retrieved_step_ids);

-- =====================================================================================================
-- Views
-- =====================================================================================================

-- Steps with their source document (title, type, tags, review date); LEFT JOIN: steps without a
-- document are included with NULL document columns.
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

-- Incident -> its triage results -> their resolution outputs, one row per (triage, resolution) pair;
-- LEFT JOINs: an incident without triage, or a triage without resolution, still has a row.
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

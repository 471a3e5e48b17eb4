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

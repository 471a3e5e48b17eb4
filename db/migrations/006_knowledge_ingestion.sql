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

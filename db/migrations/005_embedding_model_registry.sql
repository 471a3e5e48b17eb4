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

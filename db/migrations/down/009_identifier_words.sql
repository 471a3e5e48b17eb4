-- Rollback of 009: the runbooks' full-text vector without identifier words (term statistics refresh on the next
-- ingest).
ALTER TABLE runbooks DROP COLUMN IF EXISTS tsv;
ALTER TABLE runbooks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '')), 'B')
    || setweight(to_tsvector('english', coalesce(search_text, '')), 'C')
) STORED;
CREATE INDEX IF NOT EXISTS runbooks_tsv_idx ON runbooks USING gin (tsv);
DROP FUNCTION IF EXISTS identifier_words(text);

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

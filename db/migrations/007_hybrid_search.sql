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

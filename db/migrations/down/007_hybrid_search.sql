-- Rollback of 007.
DROP TABLE IF EXISTS search_corpus_stats;
DROP TABLE IF EXISTS search_term_stats;
DROP INDEX IF EXISTS incident_signatures_centroid_idx;
DROP INDEX IF EXISTS runbooks_title_embedding_idx;
ALTER TABLE runbooks DROP COLUMN IF EXISTS title_embedding_sha256;
ALTER TABLE runbooks DROP COLUMN IF EXISTS title_embedding;

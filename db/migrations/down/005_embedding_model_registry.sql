-- Rollback of 005.
DROP TABLE IF EXISTS embedding_model;

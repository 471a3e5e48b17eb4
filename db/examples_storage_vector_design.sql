-- Example rows for the storage & vector schema, and queries that read them.
--
-- One runbook (PostgreSQL connection exhaustion) split into four steps, three incident signatures, and one
-- alert carried through triage to a proposed resolution. Then: the two legs of hybrid retrieval, their
-- fusion, array / jsonb lookups, and the two views.
--
-- Runs inside the caller's transaction and contains no BEGIN/COMMIT. To look and leave nothing behind:
--
--     nocai db psql -v ON_ERROR_STOP=1 -c 'BEGIN' -f db/examples_storage_vector_design.sql -c 'ROLLBACK'
--
-- (or plain `psql` with the same arguments after `eval "$(nocai db env)"`). Every insert uses a fixed id
-- with ON CONFLICT DO NOTHING, so running it twice, or after a committed run, changes nothing.
--
-- Embeddings: the columns are vector(384), the dimension of nocai's default model. Real vectors come from
-- the embedding model; here each is a deterministic wave built in SQL (one frequency per step/signature),
-- so that the vector leg has a clear nearest neighbour. The alert's query vector is the wave of step S2
-- plus a small perturbation. On a database switched to another model (`nocai db set-embedding-model`),
-- change 384 below to its dimension.

-- =====================================================================================================
-- The source document
-- =====================================================================================================

INSERT INTO documents (id, doc_type, service, component, title, content, tags, last_reviewed_at)
VALUES (
    'a0000000-0000-4000-8000-000000000001',
    'runbook',
    'db',
    'postgres',
    'PostgreSQL connection exhaustion',
    'Symptoms: clients fail with "FATAL: sorry, too many clients already"; application pools time out. '
    'Diagnose who holds the connections, release idle-in-transaction sessions, correct the pool sizing, '
    'then watch the connection count.',
    '["postgres", "connections", "pgbouncer", "capacity"]'::jsonb,
    '2026-10-01 09:00:00+00'
)
ON CONFLICT DO NOTHING;

-- =====================================================================================================
-- Runbook steps: step_id = '<runbook_id>-S<position>' (docs/runbook-format.md)
-- =====================================================================================================

INSERT INTO runbook_steps (
    id, step_id, runbook_id, condition, action, expected_outcome, rollback, risk_level,
    service, component, embedding, runbook_title, runbook_document_id, last_reviewed_at
)
VALUES
(
    'b0000000-0000-4000-8000-000000000001',
    'db-postgres-connection-exhaustion-S1',
    'db-postgres-connection-exhaustion',
    'Alert PostgresTooManyConnections fires, or clients log "FATAL: sorry, too many clients already".',
    'Find who holds the connections: SELECT usename, application_name, client_addr, state, count(*) '
    'FROM pg_stat_activity GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC;',
    'The application or client address holding most connections is known, and sessions idle in '
    'transaction are visible.',
    NULL,
    'low',
    'db',
    'postgres',
    (SELECT array_agg(sin(g * 0.11 + 0.5) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    'PostgreSQL connection exhaustion',
    'a0000000-0000-4000-8000-000000000001',
    '2026-10-01 09:00:00+00'
),
(
    'b0000000-0000-4000-8000-000000000002',
    'db-postgres-connection-exhaustion-S2',
    'db-postgres-connection-exhaustion',
    'Many sessions have been idle in transaction for more than 5 minutes and hold connection slots.',
    'Terminate them: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = '
    '''idle in transaction'' AND state_change < now() - interval ''5 minutes'';',
    'Active connections drop below 80% of max_connections within a minute; new clients connect.',
    'Cannot be undone: the terminated sessions'' open transactions are rolled back and their clients '
    'must reconnect.',
    'medium',
    'db',
    'postgres',
    (SELECT array_agg(sin(g * 0.23 + 1.0) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    'PostgreSQL connection exhaustion',
    'a0000000-0000-4000-8000-000000000001',
    '2026-10-01 09:00:00+00'
),
(
    'b0000000-0000-4000-8000-000000000003',
    'db-postgres-connection-exhaustion-S3',
    'db-postgres-connection-exhaustion',
    'One application opened far more connections than usual right after a deployment.',
    'Roll back its pool size change (default_pool_size in pgbouncer.ini, then RELOAD on the pgbouncer '
    'admin console), or scale it down: kubectl -n payments scale deploy/payments-api --replicas=4',
    'That application''s connection count returns to its usual share; no pool timeouts in its logs.',
    'Restore the previous pool size, or scale back to the previous replica count.',
    'medium',
    'db',
    'postgres',
    (SELECT array_agg(sin(g * 0.37 + 1.5) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    'PostgreSQL connection exhaustion',
    'a0000000-0000-4000-8000-000000000001',
    '2026-10-01 09:00:00+00'
),
(
    'b0000000-0000-4000-8000-000000000004',
    'db-postgres-connection-exhaustion-S4',
    'db-postgres-connection-exhaustion',
    'After any mitigation of connection exhaustion.',
    'Watch the connection count by state (pg_stat_activity_count in Grafana) for 15 minutes and search '
    'the application logs for new "too many clients" errors.',
    'Connections stay below 80% of max_connections and no new errors appear.',
    NULL,
    'low',
    'db',
    'postgres',
    (SELECT array_agg(sin(g * 0.53 + 2.0) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    'PostgreSQL connection exhaustion',
    'a0000000-0000-4000-8000-000000000001',
    '2026-10-01 09:00:00+00'
)
ON CONFLICT DO NOTHING;

-- =====================================================================================================
-- Incident signatures
-- =====================================================================================================

INSERT INTO incident_signatures (
    id, incident_signature_id, failure_type, error_class, symptoms, affected_service, service, component,
    assignment_group, impact, urgency, resolution_refs, embedding, source_incident_ids, source_document_id,
    last_seen_at, match_count, resolution_success_count
)
VALUES
(
    'c0000000-0000-4000-8000-000000000001',
    'SIG-DB-001',
    'database_connection_exhaustion',
    'resource_exhaustion',
    ARRAY[
        'FATAL: sorry, too many clients already',
        'application connection pool timeouts',
        'pg_stat_activity count near max_connections',
        'many sessions idle in transaction'
    ],
    'payments-api',
    'db',
    'postgres',
    'DBA On-Call',
    '2 - Medium',
    '1 - High',
    ARRAY['db-postgres-connection-exhaustion-S1', 'db-postgres-connection-exhaustion-S2'],
    (SELECT array_agg(cos(g * 0.17 + 0.3) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    ARRAY['INC0012345', 'INC0012811'],
    'a0000000-0000-4000-8000-000000000001',
    '2026-11-02 14:05:00+00',
    7,
    6
),
(
    'c0000000-0000-4000-8000-000000000002',
    'SIG-DB-002',
    'database_replication_lag',
    'performance_degradation',
    ARRAY[
        'replica replay lag above 60 seconds',
        'read-after-write inconsistencies reported by users',
        'WAL receiver restarting on the replica'
    ],
    'reporting-api',
    'db',
    'postgres',
    'DBA On-Call',
    '3 - Low',
    '2 - Medium',
    '{}'::text[],
    (SELECT array_agg(cos(g * 0.29 + 0.7) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    ARRAY['INC0013002'],
    NULL,
    '2026-10-19 03:40:00+00',
    2,
    1
),
(
    'c0000000-0000-4000-8000-000000000003',
    'SIG-K8S-001',
    'pod_crash_loop',
    'application_error',
    ARRAY[
        'pod restarts repeatedly with CrashLoopBackOff',
        'container exits with code 1 seconds after start',
        'readiness probe never succeeds'
    ],
    'checkout',
    'kubernetes',
    'workloads',
    'Platform SRE',
    '2 - Medium',
    '2 - Medium',
    '{}'::text[],
    (SELECT array_agg(cos(g * 0.41 + 1.1) ORDER BY g)::vector(384) FROM generate_series(1, 384) AS g),
    ARRAY['INC0012990', 'INC0013107', 'INC0013240'],
    NULL,
    '2026-11-20 22:15:00+00',
    11,
    9
)
ON CONFLICT DO NOTHING;

-- =====================================================================================================
-- One alert carried through triage to a proposed resolution
-- =====================================================================================================

INSERT INTO incidents (
    id, alert_id, source, raw_alert, policy_band, alert_received_at, triage_completed_at, resolution_proposed_at
)
VALUES (
    'd0000000-0000-4000-8000-000000000001',
    'am-5c1e9b7f',
    'alertmanager',
    '{"status": "firing",
      "labels": {"alertname": "PostgresTooManyConnections", "severity": "critical",
                 "service": "db", "instance": "pg-main-0:9187"},
      "annotations": {"summary": "PostgreSQL connections above 95% of max_connections",
                      "description": "pg-main-0 has 190 of 200 connections in use; 120 are idle in transaction."}}'::jsonb,
    'PROPOSE',
    '2026-11-24 07:58:00+00',
    '2026-11-24 07:58:04+00',
    '2026-11-24 07:58:09+00'
)
ON CONFLICT DO NOTHING;

INSERT INTO triage_results (
    id, incident_id, failure_type, error_class, severity, confidence, policy_band, assignment_group, impact,
    urgency, matched_signature_ids, matched_runbook_refs, evidence_chunks, retrieval_method, created_at,
    completed_at
)
VALUES (
    'e0000000-0000-4000-8000-000000000001',
    'd0000000-0000-4000-8000-000000000001',
    'database_connection_exhaustion',
    'resource_exhaustion',
    'high',
    0.8700,
    'PROPOSE',
    'DBA On-Call',
    '2 - Medium',
    '1 - High',
    ARRAY['SIG-DB-001'],
    ARRAY['db-postgres-connection-exhaustion'],
    '[{"source": "incident_signatures", "id": "SIG-DB-001", "vector_rank": 1, "fulltext_rank": 1, "rrf_score": 0.0328},
      {"source": "incident_signatures", "id": "SIG-DB-002", "vector_rank": 2, "fulltext_rank": null, "rrf_score": 0.0161}]'::jsonb,
    'hybrid_rrf',
    '2026-11-24 07:58:01+00',
    '2026-11-24 07:58:04+00'
)
ON CONFLICT DO NOTHING;

INSERT INTO resolution_outputs (
    id, incident_id, triage_result_id, overall_confidence, risk_level, recommendations, retrieved_step_ids,
    used_signature_ids, evidence_chunks, retrieval_method, created_at, proposed_at, execution_status
)
VALUES (
    'f0000000-0000-4000-8000-000000000001',
    'd0000000-0000-4000-8000-000000000001',
    'e0000000-0000-4000-8000-000000000001',
    0.8200,
    'medium',
    '[{"step_id": "db-postgres-connection-exhaustion-S1",
       "action": "Find who holds the connections (pg_stat_activity grouped by user, application, client, state).",
       "confidence": 0.91,
       "risk_level": "low",
       "provenance": {"runbook_id": "db-postgres-connection-exhaustion", "signature_id": "SIG-DB-001",
                      "document_id": "a0000000-0000-4000-8000-000000000001", "vector_rank": 2, "fulltext_rank": 3}},
      {"step_id": "db-postgres-connection-exhaustion-S2",
       "action": "Terminate sessions idle in transaction for more than 5 minutes.",
       "confidence": 0.84,
       "risk_level": "medium",
       "provenance": {"runbook_id": "db-postgres-connection-exhaustion", "signature_id": "SIG-DB-001",
                      "document_id": "a0000000-0000-4000-8000-000000000001", "vector_rank": 1, "fulltext_rank": 1}},
      {"step_id": "db-postgres-connection-exhaustion-S4",
       "action": "Watch the connection count by state for 15 minutes.",
       "confidence": 0.77,
       "risk_level": "low",
       "provenance": {"runbook_id": "db-postgres-connection-exhaustion", "signature_id": null,
                      "document_id": "a0000000-0000-4000-8000-000000000001", "vector_rank": 3, "fulltext_rank": 2}}]'::jsonb,
    ARRAY['db-postgres-connection-exhaustion-S1', 'db-postgres-connection-exhaustion-S2',
          'db-postgres-connection-exhaustion-S3', 'db-postgres-connection-exhaustion-S4'],
    ARRAY['SIG-DB-001'],
    '[{"source": "runbook_steps", "id": "db-postgres-connection-exhaustion-S2", "vector_rank": 1, "fulltext_rank": 1},
      {"source": "runbook_steps", "id": "db-postgres-connection-exhaustion-S1", "vector_rank": 2, "fulltext_rank": 3},
      {"source": "runbook_steps", "id": "db-postgres-connection-exhaustion-S4", "vector_rank": 3, "fulltext_rank": 2},
      {"source": "runbook_steps", "id": "db-postgres-connection-exhaustion-S3", "vector_rank": 4, "fulltext_rank": 4}]'::jsonb,
    'hybrid_rrf',
    '2026-11-24 07:58:05+00',
    '2026-11-24 07:58:09+00',
    'pending'
)
ON CONFLICT DO NOTHING;

-- =====================================================================================================
-- Queries
-- =====================================================================================================
--
-- nocai's own connections carry hnsw.ef_search (NOCAI_HNSW_EF_SEARCH, default 100) and
-- hnsw.iterative_scan (NOCAI_ITERATIVE_SCAN, default relaxed_order) as start-up options; a plain psql
-- session has pgvector's defaults (40, off) unless you SET them. In the application the query vector is
-- a bind parameter; here it is a scalar subquery, which PostgreSQL evaluates once (an InitPlan), so the
-- HNSW index can still serve ORDER BY embedding <=> (...) LIMIT n on a table large enough to prefer it.

-- Vector leg alone: nearest steps by cosine distance (similarity = 1 - distance).
SELECT
    step_id,
    round((1 - (embedding <=> (SELECT array_agg(sin(g * 0.23 + 1.0) + 0.1 * cos(g * 1.7) ORDER BY g)::vector(384)
                               FROM generate_series(1, 384) AS g)))::numeric, 3) AS similarity
FROM runbook_steps
WHERE embedding IS NOT NULL
ORDER BY embedding <=> (SELECT array_agg(sin(g * 0.23 + 1.0) + 0.1 * cos(g * 1.7) ORDER BY g)::vector(384)
                        FROM generate_series(1, 384) AS g)
LIMIT 5;

-- Full-text leg alone: matching steps ranked by ts_rank_cd over the weighted tsv (A condition, B action,
-- C expected outcome).
SELECT step_id, ts_rank_cd(tsv, query) AS rank
FROM runbook_steps,
     websearch_to_tsquery('english', '"too many clients" or "idle in transaction" or connections') AS query
WHERE tsv @@ query
ORDER BY rank DESC, step_id
LIMIT 5;

-- Hybrid retrieval in one statement: both legs, fused by Reciprocal Rank Fusion (k = 60), each leg's rank
-- and score kept for provenance. Filters (service, component) go into both legs.
WITH
params AS (
    SELECT
        (SELECT array_agg(sin(g * 0.23 + 1.0) + 0.1 * cos(g * 1.7) ORDER BY g)::vector(384)
         FROM generate_series(1, 384) AS g) AS query_embedding,
        websearch_to_tsquery('english', '"too many clients" or "idle in transaction" or connections') AS query,
        'db'::text AS service,
        60 AS rrf_k
),
vector_leg AS (
    SELECT step_id, row_number() OVER (ORDER BY distance, step_id) AS rank, 1 - distance AS score
    FROM (
        SELECT s.step_id, s.embedding <=> (SELECT query_embedding FROM params) AS distance
        FROM runbook_steps AS s
        WHERE s.embedding IS NOT NULL
          AND s.service = (SELECT service FROM params)
        ORDER BY s.embedding <=> (SELECT query_embedding FROM params)
        LIMIT 20
    ) AS nearest
),
fulltext_leg AS (
    SELECT step_id, row_number() OVER (ORDER BY score DESC, step_id) AS rank, score
    FROM (
        SELECT s.step_id, ts_rank_cd(s.tsv, p.query) AS score
        FROM runbook_steps AS s CROSS JOIN params AS p
        WHERE s.tsv @@ p.query
          AND s.service = p.service
        ORDER BY score DESC
        LIMIT 20
    ) AS matches
)
SELECT
    step_id,
    round(coalesce(1.0 / ((SELECT rrf_k FROM params) + v.rank), 0)
          + coalesce(1.0 / ((SELECT rrf_k FROM params) + f.rank), 0), 5) AS rrf_score,
    v.rank AS vector_rank,
    round(v.score::numeric, 3) AS vector_score,
    f.rank AS fulltext_rank,
    round(f.score::numeric, 3) AS fulltext_score
FROM vector_leg AS v
FULL OUTER JOIN fulltext_leg AS f USING (step_id)
ORDER BY rrf_score DESC, step_id
LIMIT 5;

-- Signatures whose symptoms include an exact symptom (GIN on symptoms), and those that point at a step
-- (GIN on resolution_refs).
SELECT incident_signature_id, failure_type, assignment_group
FROM incident_signatures
WHERE symptoms @> ARRAY['many sessions idle in transaction'];

SELECT incident_signature_id, resolution_refs
FROM incident_signatures
WHERE resolution_refs && ARRAY['db-postgres-connection-exhaustion-S2'];

-- Signatures by full text, best first (A failure type / error class, B symptoms, D routing words).
SELECT incident_signature_id, ts_rank_cd(tsv, query) AS rank
FROM incident_signatures, websearch_to_tsquery('english', 'too many clients connection pool') AS query
WHERE tsv @@ query
ORDER BY rank DESC;

-- Resolutions that recommended a step (GIN jsonb_path_ops on recommendations), with that item.
SELECT r.id, item ->> 'action' AS action, (item ->> 'confidence')::numeric AS confidence,
       item -> 'provenance' ->> 'signature_id' AS from_signature
FROM resolution_outputs AS r,
     jsonb_array_elements(r.recommendations) AS item
WHERE r.recommendations @> '[{"step_id": "db-postgres-connection-exhaustion-S2"}]'
  AND item ->> 'step_id' = 'db-postgres-connection-exhaustion-S2';

-- View: steps with their source document.
SELECT step_id, risk_level, document_title, document_type, document_tags
FROM runbook_steps_with_metadata
WHERE runbook_id = 'db-postgres-connection-exhaustion'
ORDER BY step_id;

-- View: the incident, its triage and its resolution in one row, with the time each stage took.
SELECT
    c.alert_id,
    c.failure_type,
    c.severity,
    c.triage_confidence,
    c.policy_band,
    c.matched_signature_ids,
    c.resolution_confidence,
    c.resolution_risk_level,
    c.execution_status,
    c.triage_completed_at - c.alert_received_at AS time_to_triage,
    c.proposed_at - c.alert_received_at AS time_to_proposal
FROM triage_to_resolution_chain AS c
WHERE c.incident_id = 'd0000000-0000-4000-8000-000000000001';

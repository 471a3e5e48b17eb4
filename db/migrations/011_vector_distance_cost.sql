-- 011: the vector legs use their HNSW index on mid-size tables too.
--
-- pgvector declares cosine_distance() (the <=> operator) at the default cost of one operator. At
-- hnsw.ef_search = 100 (nocai's default) the planner then preferred scanning the whole table and sorting it
-- whenever that looked cheaper than the index, up to several thousand rows: but each row's vector lives in the
-- TOAST table, so every distance first fetches 1.5 kB from there. Measured on 5,000 signatures: 11 ms per vector
-- column by table scan, ~1 ms through the index, triage 49.6 -> 24.2 ms p50. A cost that counts that fetch moves
-- the switch to a few hundred rows, where a scan is as cheap as it looks.
--
-- The function belongs to the extension: where the migrating role does not own it (an external server whose
-- extension a superuser created), the cost stays, with a warning that says how to set it.
DO $$
BEGIN
    ALTER FUNCTION cosine_distance(vector, vector) COST 1000;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot set the planner cost of cosine_distance(vector, vector): not its owner'
        USING HINT = 'as the owner of the vector extension: ALTER FUNCTION cosine_distance(vector, vector) COST 1000';
END
$$;

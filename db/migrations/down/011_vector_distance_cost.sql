-- Rollback of 011: pgvector's own cost.
DO $$
BEGIN
    ALTER FUNCTION cosine_distance(vector, vector) COST 1;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot reset the planner cost of cosine_distance(vector, vector): not its owner';
END
$$;

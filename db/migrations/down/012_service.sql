DROP INDEX IF EXISTS incidents_service_idx;
DROP INDEX IF EXISTS incidents_last_seen_idx;
DROP TABLE IF EXISTS resolution_events;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS work_items;

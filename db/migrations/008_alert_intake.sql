-- 008: alert intake with deduplication.
--
-- An incident is one *open* problem: a repeat of a firing alert (same fingerprint) updates it — occurrences,
-- last seen, latest payload — instead of opening and triaging another; a "resolved" notification closes it; a
-- later firing opens a new one. The partial unique index makes that exact under concurrency: thousands of
-- repeats arriving at once converge on one row through INSERT ... ON CONFLICT.
--
-- Idempotent, like every migration file.

ALTER TABLE incidents ADD COLUMN IF NOT EXISTS fingerprint text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'open'
    CONSTRAINT incidents_status_check CHECK (status IN ('open', 'resolved'));
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS title text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS severity text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS service text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS environment text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS occurrence_count integer NOT NULL DEFAULT 1
    CONSTRAINT incidents_occurrence_count_check CHECK (occurrence_count >= 1);
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS first_seen_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_raw_alert jsonb;

CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_fingerprint_key ON incidents (fingerprint)
    WHERE status = 'open' AND fingerprint IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_status_idx ON incidents (status, last_seen_at DESC);

-- Who accepted a resolution, and with which roles: the policy's approval requirements are checked against these
-- before a resolution may be executed.
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS accepted_by text;
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS accepted_roles text[];
ALTER TABLE resolution_outputs ADD COLUMN IF NOT EXISTS policy_decision jsonb;

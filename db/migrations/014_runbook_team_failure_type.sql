-- 014: who owns a runbook and what kind of failure it is about; where a triage's assignment group came from.
--
-- runbooks.team: the owning team a runbook declares (front matter `team:`, a YAML/JSON `team` field) or, when it
--   declares none, the folder it lives in under the ingested root. Triage proposes it as the assignment group.
-- runbooks.failure_type: the runbook's failure type from the failure taxonomy (ai_service/taxonomy.py,
--   docs/taxonomy.md), 'unknown' when its text has no evidence for any. NULL means the row was stored before this
--   migration: the next ingestion of its file, or relabel_knowledge_base, fills both columns.
-- triage_results.assignment_group_source: where the proposed assignment group came from ('runbook <id>',
--   'signature <id>', 'feedback <id>', 'runbooks <id>, <id>' for a no-match routed by its nearest runbooks), NULL
--   when none was proposed.
--
-- Idempotent, like every migration file.

ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS team text;
ALTER TABLE runbooks ADD COLUMN IF NOT EXISTS failure_type text;
CREATE INDEX IF NOT EXISTS runbooks_team_idx ON runbooks (team) WHERE team IS NOT NULL;

ALTER TABLE triage_results ADD COLUMN IF NOT EXISTS assignment_group_source text;

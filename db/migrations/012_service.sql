-- 012: the service — a durable work queue for triage, API tokens, and the audit trail of resolutions.
--
-- work_items: a webhook records each new incident together with its triage item in one transaction, so an
-- acknowledged alert is never lost. Workers take items with FOR UPDATE SKIP LOCKED and a lease; a worker that
-- dies leaves its item to be taken again once the lease expires; an item that keeps failing ends 'dead' with
-- its error after max_attempts. The triage rows and the item's 'done' commit together (guarded by the lease
-- token), so each item is triaged exactly once even when a lease expired under a slow worker.
--
-- api_tokens: bearer tokens, stored as SHA-256 digests (the token itself is shown once, at creation).
-- resolution_events: who accepted, executed, rejected or cancelled a resolution, with which roles, and when.
--
-- Idempotent, like every migration file.

CREATE TABLE IF NOT EXISTS work_items (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id      uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind             text NOT NULL DEFAULT 'triage',
    alert            jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'queued',
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 5,
    available_at     timestamptz NOT NULL DEFAULT now(),
    lease_token      uuid,
    leased_by        text,
    lease_expires_at timestamptz,
    last_error       text,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT work_items_kind_check CHECK (kind IN ('triage')),
    CONSTRAINT work_items_status_check CHECK (status IN ('queued', 'running', 'done', 'dead')),
    CONSTRAINT work_items_attempts_check CHECK (attempts >= 0 AND max_attempts >= 1)
);

CREATE INDEX IF NOT EXISTS work_items_ready_idx ON work_items (available_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS work_items_lease_idx ON work_items (lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS work_items_dead_idx ON work_items (finished_at) WHERE status = 'dead';
CREATE INDEX IF NOT EXISTS work_items_incident_id_idx ON work_items (incident_id);

CREATE TABLE IF NOT EXISTS api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    role         text NOT NULL,
    policy_roles text[] NOT NULL DEFAULT '{}'::text[],
    token_sha256 text NOT NULL,
    token_prefix text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_role_check CHECK (role IN ('ingest', 'viewer', 'responder', 'admin')),
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256)
);

CREATE TABLE IF NOT EXISTS resolution_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resolution_id uuid NOT NULL REFERENCES resolution_outputs (id) ON DELETE CASCADE,
    incident_id   uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    action        text NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    actor         text,
    roles         text[] NOT NULL DEFAULT '{}'::text[],
    notes         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resolution_events_action_check CHECK (action IN ('accept', 'execute', 'reject', 'cancel'))
);

CREATE INDEX IF NOT EXISTS resolution_events_resolution_id_idx ON resolution_events (resolution_id, created_at);
CREATE INDEX IF NOT EXISTS resolution_events_incident_id_idx ON resolution_events (incident_id, created_at);

-- The incident list filters and pages by these.
CREATE INDEX IF NOT EXISTS incidents_last_seen_idx ON incidents (last_seen_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS incidents_service_idx ON incidents (service) WHERE service IS NOT NULL;

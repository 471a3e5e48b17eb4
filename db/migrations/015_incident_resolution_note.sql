-- 015: why a human closed an incident.
--
-- incidents.resolution_note: the note a responder gave when closing the incident by hand (POST
--   /api/v1/incidents/{id}/close, `nocai incidents close --notes`, the console's Close form); NULL when the
--   alert's resolved notification closed it or no note was given.
--
-- Idempotent, like every migration file.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolution_note text;

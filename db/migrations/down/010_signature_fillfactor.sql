-- Rollback of 010.
ALTER TABLE incident_signatures RESET (fillfactor);

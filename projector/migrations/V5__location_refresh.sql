-- The stream sequence of the latest refresh request a status report answers
-- (`LocationStatus.refresh_sequence`; 0 when none).
ALTER TABLE location_status ADD COLUMN refresh_sequence bigint NOT NULL DEFAULT 0;

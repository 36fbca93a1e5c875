-- Issue 16: campaigns track their finished batches on the campaign row, so
-- settling a batch reads one row instead of scanning the recipients.
-- Recipients held for an A/B winner are numbered at materialization too,
-- from held_from on; batches counts them all.
ALTER TABLE campaigns ADD COLUMN batches_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN held_from INTEGER NOT NULL DEFAULT 0;

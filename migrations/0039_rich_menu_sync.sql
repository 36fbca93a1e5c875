-- Issue 14: rich menus are made on the admin page and published by the sync
-- job. The image is kept so that a failed upload can be retried; each menu
-- records how far its sync with LINE got and the last error; audience says
-- who sees it ('default': everyone without a menu of their own, which is how
-- unlinked friends see it; 'linked': every linked customer; 'segment');
-- line_default is whether LINE has it as the default menu now; a deleted
-- menu waits for the sync to delete it at LINE.
ALTER TABLE rich_menus ADD COLUMN image {{bytes}};
ALTER TABLE rich_menus ADD COLUMN image_type TEXT NOT NULL DEFAULT '';
ALTER TABLE rich_menus ADD COLUMN audience TEXT NOT NULL DEFAULT 'segment';
ALTER TABLE rich_menus ADD COLUMN image_uploaded {{bool}} NOT NULL DEFAULT FALSE;
ALTER TABLE rich_menus ADD COLUMN line_default {{bool}} NOT NULL DEFAULT FALSE;
ALTER TABLE rich_menus ADD COLUMN sync_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE rich_menus ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE rich_menus ADD COLUMN synced_at {{ts}};
ALTER TABLE rich_menus ADD COLUMN deleted_at {{ts}};
-- Menus made before were created and uploaded by the request itself.
UPDATE rich_menus SET image_uploaded = TRUE, sync_state = 'uploaded' WHERE line_rich_menu_id <> '';

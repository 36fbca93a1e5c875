-- Rich menus per LINE account (issue 13, item 6). A rich menu belongs to the
-- LINE Official Account whose token created it: LINE sets it as that
-- account's default and links it to that account's users only. Menus made
-- before belong to the shop's primary account; a menu without one (made
-- before any account was connected) is published on the primary. A deleted
-- account's menus go with it (LINE's copies cannot be reached without its
-- token).
ALTER TABLE rich_menus ADD COLUMN channel_id BIGINT REFERENCES line_channels(id) ON DELETE CASCADE;
UPDATE rich_menus SET channel_id = (SELECT c.id FROM line_channels c WHERE c.shop_id = rich_menus.shop_id AND c.is_primary);
CREATE INDEX rich_menus_channel ON rich_menus (channel_id);

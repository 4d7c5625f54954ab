-- Live events: the id of the transaction that wrote each event, so subscribers can catch up exactly.
--
-- Event ids come from a sequence, so a transaction can take a lower id and commit after another one
-- took a higher id and committed. A reader that kept only "the highest id delivered" would skip the
-- late row. Every row records its top-level transaction id instead: every transaction older than
-- pg_snapshot_xmin(pg_current_snapshot()) has finished, so all its rows are visible now or never,
-- and a subscriber only ever re-reads rows whose transaction id is at or above that horizon.
ALTER TABLE :HTDAG_SCHEMA.events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Catch-up reads the rows at or above the horizon of one channel.
CREATE INDEX events_channel_xid_idx ON :HTDAG_SCHEMA.events (channel, xid);

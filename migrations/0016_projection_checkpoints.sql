-- 0016 projection checkpoints: how far each projection of the change feed has got.
--
-- A projection (events::Projection) applies events of the feed to tables of its own. It stores the feed
-- cursor of the last event it applied here, in the same transaction as what the event made it write, so
-- a crash, a killed connection or a second runner never applies an event twice or skips one: the
-- checkpoint and the effects commit together or not at all, and the row lock taken on the checkpoint
-- serialises two runners of one projection. One row per projection, written only by system scopes (the
-- owner); the application role has no privilege on it.
--
-- A new table only: nothing existing waits on it.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.projection_checkpoints (
    name TEXT NOT NULL CONSTRAINT projection_checkpoints_name_check CHECK (length(name) BETWEEN 1 AND 200),
    -- The feed cursor (events.feed_xid, events.position) of the last event applied; (0, 0) before the
    -- first.
    feed_xid BIGINT NOT NULL DEFAULT 0,
    position BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT projection_checkpoints_pkey PRIMARY KEY (name)
);

-- Not a tenant table: no grant to mixerai_app, and row-level security on with no policy for it, so a
-- grant added by mistake still shows it nothing.
ALTER TABLE mixerai.projection_checkpoints ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

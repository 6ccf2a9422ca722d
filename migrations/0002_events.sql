-- 0002 events: the audit trail and event store, and the trigger that feeds it. Spec 3.6 / 8.3.
--
-- It comes before the tables it records so that each later migration attaches the audit trigger with one
-- line. The spec's foreign keys from events to users and brands are dropped on purpose: the trail must
-- outlive what it records (retention: 7 years) and an AFTER DELETE audit row for a brand would otherwise
-- reference the brand just deleted and fail the delete.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- One row per aggregate: the head of its stream. Erratum E3: the spec gave every audit row
-- event_version = 1, so the second change of any row broke UNIQUE(aggregate_id, event_version). The next
-- version is taken here with INSERT .. ON CONFLICT DO UPDATE, which row-locks the head until commit, so
-- concurrent writers of one aggregate get 1, 2, 3, ... in commit order and writers of different aggregates
-- never wait on each other. Erratum E7: should events ever be partitioned by time, per-aggregate uniqueness
-- still holds here, outside the partitioned table.
--
-- The head also records the brand the stream belongs to (NULL for rows of no brand, such as users), set
-- by its first event: an explicit append (append_event below) is accepted only into a stream of the
-- scope's brand, so no tenant can write into, or take the next version of, another brand's stream.
CREATE TABLE mixerai.event_streams (
    aggregate_id UUID PRIMARY KEY,
    aggregate_type VARCHAR(100) NOT NULL,
    brand_id UUID,
    version INTEGER NOT NULL CHECK (version >= 1)
);

CREATE TABLE mixerai.events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Global append order. With transaction_id a reader can follow the log without skipping rows of
    -- transactions that commit late (read up to the oldest transaction still in progress).
    position BIGINT GENERATED ALWAYS AS IDENTITY CONSTRAINT events_position_key UNIQUE,
    transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
    aggregate_id UUID NOT NULL,
    aggregate_type VARCHAR(100) NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    event_version INTEGER NOT NULL CHECK (event_version >= 1),
    -- Retention class (spec 5.2): security and audit 7 years, analytics 2 years, debug 30 days.
    category VARCHAR(20) NOT NULL DEFAULT 'audit'
        CONSTRAINT events_category_check CHECK (category IN ('security', 'audit', 'analytics', 'debug')),

    payload JSONB NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),

    user_id UUID,
    brand_id UUID,
    correlation_id UUID,
    causation_id UUID,

    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),

    CONSTRAINT events_aggregate_version_key UNIQUE (aggregate_id, event_version)
);

CREATE INDEX idx_events_brand_created ON mixerai.events (brand_id, created_at DESC) WHERE brand_id IS NOT NULL;
CREATE INDEX idx_events_type ON mixerai.events (event_type);
CREATE INDEX idx_events_created ON mixerai.events (created_at DESC);
CREATE INDEX idx_events_correlation ON mixerai.events (correlation_id) WHERE correlation_id IS NOT NULL;

-- audit_trigger(brand_column, category, omitted_column...)
--   brand_column: the column holding the row's brand ('id' for brands, '' when the table has none).
--     Erratum E2: the spec named NEW.brand_id, which PL/pgSQL resolves for every table and which fails on
--     tables without it; the row is read as JSON instead, so absent columns are never named.
--   category:     the retention class of the events.
--   omitted_column: columns removed from every payload (old, new and changed_fields), so a password hash
--     or MFA material never reaches the trail (and derived columns do not bloat it); only their names
--     appear, under "omitted".
-- SECURITY DEFINER: the application role appends through this trigger without being able to write
-- event_streams or events itself. It refuses to run for a table outside the crate's schema, so it
-- cannot be attached to a table of someone else's making (a temporary table named like one of ours)
-- to forge events; mixerai_app cannot even name it (no EXECUTE).
CREATE FUNCTION mixerai.audit_trigger() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    omitted_columns text[] := coalesce(TG_ARGV[2:TG_NARGS - 1], '{}');
    old_doc jsonb;
    new_doc jsonb;
    doc jsonb;
    changed jsonb;
    row_id uuid;
    next_version integer;
    row_brand uuid;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' THEN
        RAISE EXCEPTION 'audit_trigger is for the tables of schema mixerai only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_doc := to_jsonb(OLD) - omitted_columns;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_doc := to_jsonb(NEW) - omitted_columns;
    END IF;
    doc := coalesce(new_doc, old_doc);
    row_id := (doc ->> 'id')::uuid;
    row_brand := CASE WHEN TG_ARGV[0] <> '' THEN (doc ->> TG_ARGV[0])::uuid END;

    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}') INTO changed
        FROM jsonb_each(new_doc) AS n
        WHERE n.value IS DISTINCT FROM old_doc -> n.key;
    END IF;

    INSERT INTO mixerai.event_streams AS s (aggregate_id, aggregate_type, brand_id, version)
    VALUES (row_id, TG_TABLE_NAME, row_brand, 1)
    ON CONFLICT (aggregate_id) DO UPDATE SET version = s.version + 1
    RETURNING s.version INTO next_version;

    INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, event_version, category,
                                payload, user_id, brand_id)
    VALUES (row_id, TG_TABLE_NAME, TG_OP, next_version, TG_ARGV[1],
            jsonb_build_object('old', old_doc, 'new', new_doc, 'changed_fields', changed,
                               'omitted', to_jsonb(omitted_columns)),
            mixerai.app_current_user_id(), row_brand);
    RETURN NULL;
END
$$;

-- An explicit append to an aggregate's stream (the event store), the only way the application role
-- writes the trail. Everything that makes an event trustworthy is set here, not by the caller: the next
-- version of the stream (shared with the audit trigger's, so both kinds interleave without gaps), the
-- global position, the transaction, the time, the acting user and the scope's brand. Only a user who
-- may write in the scope's brand appends, only into a new stream or one of that brand, and never a
-- security event (those come from the audit trigger alone). `expected_version`, when given, is the
-- version the caller read: a stream elsewhere is stale (SQLSTATE 40001 would be a lie; it is raised as
-- check_violation naming events_stale_stream, with the actual version in the detail).
CREATE FUNCTION mixerai.append_event(
    p_aggregate_id uuid,
    p_aggregate_type text,
    p_event_type text,
    p_payload jsonb,
    p_expected_version integer DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_category text DEFAULT 'audit',
    p_correlation_id uuid DEFAULT NULL,
    p_causation_id uuid DEFAULT NULL)
    RETURNS TABLE (event_id uuid, event_position bigint, stream_version integer)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    brand uuid := mixerai.app_current_brand_id();
    stream_brand uuid;
    current_version integer;
BEGIN
    IF brand IS NULL OR NOT mixerai.app_can_write() THEN
        RAISE EXCEPTION 'appending events needs an editor or admin role in the scope''s brand'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_category NOT IN ('audit', 'analytics', 'debug') THEN
        RAISE EXCEPTION 'category % may not be appended', p_category
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_category_check';
    END IF;
    SELECT s.brand_id, s.version INTO stream_brand, current_version
    FROM mixerai.event_streams s WHERE s.aggregate_id = p_aggregate_id FOR UPDATE;
    IF FOUND AND stream_brand IS DISTINCT FROM brand THEN
        -- Another brand's stream (or a row of no brand) looks like no stream at all to this scope.
        RAISE EXCEPTION 'no stream % in this brand', p_aggregate_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'events_aggregate_id_fkey';
    END IF;
    IF p_expected_version IS NOT NULL AND coalesce(current_version, 0) <> p_expected_version THEN
        RAISE EXCEPTION 'stream % is at version %, not %', p_aggregate_id,
            coalesce(current_version, 0), p_expected_version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'events_stale_stream',
                  DETAIL = coalesce(current_version, 0)::text;
    END IF;
    INSERT INTO mixerai.event_streams AS s (aggregate_id, aggregate_type, brand_id, version)
    VALUES (p_aggregate_id, p_aggregate_type, brand, 1)
    ON CONFLICT (aggregate_id) DO UPDATE SET version = s.version + 1
    RETURNING s.version INTO current_version;
    RETURN QUERY
    INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, event_version, category,
                                payload, metadata, user_id, brand_id, correlation_id, causation_id)
    VALUES (p_aggregate_id, p_aggregate_type, p_event_type, current_version, p_category,
            p_payload, p_metadata, mixerai.app_current_user_id(), brand, p_correlation_id,
            p_causation_id)
    RETURNING events.id, events.position, events.event_version;
END
$$;
GRANT EXECUTE ON FUNCTION mixerai.append_event(uuid, text, text, jsonb, integer, jsonb, text, uuid, uuid)
    TO mixerai_app;

-- Read by members (security events by admins only); never written by the application role directly
-- (no INSERT, UPDATE or DELETE grant, no write policy): an audit log the application cannot forge or
-- rewrite (erratum W6), nor poison by occupying the keys the next audited write needs. Rows come from
-- the audit trigger and append_event, which run as the owning role.
GRANT SELECT ON mixerai.events TO mixerai_app;
ALTER TABLE mixerai.events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY events_scope ON mixerai.events AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_current_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_current_brand_id()));
CREATE POLICY events_read ON mixerai.events FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()) AND (category <> 'security' OR (SELECT mixerai.app_can_admin())));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

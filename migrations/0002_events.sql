-- 0002 events: the audit trail and event store, and the trigger that feeds it. Spec 3.6 / 8.3.
--
-- It comes before the tables it records so that each later migration attaches the audit trigger with one
-- line. The spec's foreign keys from events to users and brands are dropped on purpose: the trail must
-- outlive what it records (retention: 7 years) and an AFTER DELETE audit row for a brand would otherwise
-- reference the brand just deleted and fail the delete.

-- One row per aggregate: the head of its stream. Erratum E3: the spec gave every audit row
-- event_version = 1, so the second change of any row broke UNIQUE(aggregate_id, event_version). The next
-- version is taken here with INSERT .. ON CONFLICT DO UPDATE, which row-locks the head until commit, so
-- concurrent writers of one aggregate get 1, 2, 3, ... in commit order and writers of different aggregates
-- never wait on each other. Erratum E7: should events ever be partitioned by time, per-aggregate uniqueness
-- still holds here, outside the partitioned table.
CREATE TABLE mixerai.event_streams (
    aggregate_id UUID PRIMARY KEY,
    aggregate_type VARCHAR(100) NOT NULL,
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
-- event_streams itself.
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
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_doc := to_jsonb(OLD) - omitted_columns;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_doc := to_jsonb(NEW) - omitted_columns;
    END IF;
    doc := coalesce(new_doc, old_doc);
    row_id := (doc ->> 'id')::uuid;

    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}') INTO changed
        FROM jsonb_each(new_doc) AS n
        WHERE n.value IS DISTINCT FROM old_doc -> n.key;
    END IF;

    INSERT INTO mixerai.event_streams AS s (aggregate_id, aggregate_type, version)
    VALUES (row_id, TG_TABLE_NAME, 1)
    ON CONFLICT (aggregate_id) DO UPDATE SET version = s.version + 1
    RETURNING s.version INTO next_version;

    INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, event_version, category,
                                payload, user_id, brand_id)
    VALUES (row_id, TG_TABLE_NAME, TG_OP, next_version, TG_ARGV[1],
            jsonb_build_object('old', old_doc, 'new', new_doc, 'changed_fields', changed,
                               'omitted', to_jsonb(omitted_columns)),
            mixerai.app_current_user_id(),
            CASE WHEN TG_ARGV[0] <> '' THEN (doc ->> TG_ARGV[0])::uuid END);
    RETURN NULL;
END
$$;

-- Read by members (security events by admins only), appended by editors; never updated or deleted by
-- the application (no grant, no policy): an audit log the application cannot rewrite (erratum W6). The
-- audit trigger appends as the owning role, which bypasses row-level security.
GRANT SELECT, INSERT ON mixerai.events TO mixerai_app;
ALTER TABLE mixerai.events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY events_scope ON mixerai.events AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_current_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_current_brand_id()));
CREATE POLICY events_read ON mixerai.events FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()) AND (category <> 'security' OR (SELECT mixerai.app_can_admin())));
CREATE POLICY events_append ON mixerai.events FOR INSERT TO mixerai_app WITH CHECK ((SELECT mixerai.app_can_write()));

-- 0007 workflows: review/approval definitions. Spec 2.4 / 3.4. Erratum E1: before content.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.workflows (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL CHECK (length(trim(name)) > 0),
    description TEXT,

    -- WorkflowStep[] and WorkflowTransition[]; the crate validates their shape and references.
    steps JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(steps) = 'array'),
    transitions JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(transitions) = 'array'),

    type VARCHAR(50) NOT NULL DEFAULT 'sequential'
        CONSTRAINT workflows_type_check CHECK (type IN ('sequential', 'parallel', 'conditional')),
    timeout_hours INTEGER CHECK (timeout_hours > 0),
    escalation_rules JSONB CHECK (escalation_rules IS NULL OR jsonb_typeof(escalation_rules) = 'array'),

    -- Shared across brands like templates.
    brand_ids UUID[] NOT NULL DEFAULT '{}',
    content_types TEXT[] NOT NULL DEFAULT '{}',
    is_default BOOLEAN NOT NULL DEFAULT false,
    is_active BOOLEAN NOT NULL DEFAULT true,

    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),

    -- "Default for every type" would overlap every other default of its brands.
    CONSTRAINT workflows_default_has_types CHECK (NOT is_default OR cardinality(content_types) > 0)
);

CREATE INDEX idx_workflows_active ON mixerai.workflows (is_active);
CREATE INDEX idx_workflows_brands ON mixerai.workflows USING gin (brand_ids);
CREATE INDEX idx_workflows_default ON mixerai.workflows (is_default) WHERE is_active;
-- The keyset-paginated list; see idx_content_templates_created for why creation order alone.
CREATE INDEX idx_workflows_created ON mixerai.workflows (created_at DESC, id DESC);
-- The foreign-key check of created_by when a user is purged.
CREATE INDEX idx_workflows_created_by ON mixerai.workflows (created_by);

CREATE TRIGGER workflows_stamp_update BEFORE UPDATE ON mixerai.workflows
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER workflows_stamp_actor BEFORE INSERT ON mixerai.workflows
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert');

-- Whether `workflow` is assigned to `brand` (see template_assigned, 0006).
CREATE FUNCTION mixerai.workflow_assigned(workflow uuid, brand uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$ SELECT EXISTS (SELECT 1 FROM mixerai.workflows w WHERE w.id = workflow AND brand = ANY (w.brand_ids)) $$;

CREATE TRIGGER workflows_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflows
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('', 'audit');

-- One default workflow per brand and content type. brand_ids and content_types are arrays, so a unique
-- index cannot say "no two active defaults share a brand and a type", and an exclusion constraint cannot
-- either: `&&` on uuid[] / text[] exists only for GIN, which does not support exclusion constraints (GiST
-- array overlap needs the intarray extension and int4[]). This trigger does it under row locks on the
-- row's brands (FOR NO KEY UPDATE: content inserts, which only key-share the brand row, never wait),
-- taken in brand order so two writers cannot deadlock. Scopes run in READ COMMITTED, so the check query
-- after the lock sees every default committed by the lock's previous holder. A row lock, not an advisory
-- lock: any session could take an advisory key and hold it for ever, while a brand's row can be locked
-- only by those who may update it (its admins, who block only themselves). A clash is raised as unique_violation (23505) naming
-- workflows_one_default_per_brand_type, which the crate maps to Error::Conflict like any unique key.
-- SECURITY DEFINER: the check must see every active default of the row's brands, including rows the
-- acting scope cannot read (a default shared with a brand of another tenant), or two brand admins could
-- each add a default that overlaps one they cannot see.
CREATE FUNCTION mixerai.workflows_one_default() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    clash uuid;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'workflows' THEN
        RAISE EXCEPTION 'workflows_one_default is for mixerai.workflows only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM 1 FROM mixerai.brands b WHERE b.id = ANY (NEW.brand_ids) ORDER BY b.id FOR NO KEY UPDATE;
    SELECT w.id INTO clash
    FROM mixerai.workflows w
    WHERE w.id <> NEW.id AND w.is_default AND w.is_active
      AND w.brand_ids && NEW.brand_ids AND w.content_types && NEW.content_types
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'another active default workflow covers one of these brands and content types'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'workflows_one_default_per_brand_type',
                  TABLE = 'workflows';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER workflows_one_default
    BEFORE INSERT OR UPDATE OF is_default, is_active, brand_ids, content_types ON mixerai.workflows
    FOR EACH ROW WHEN (NEW.is_default AND NEW.is_active)
    EXECUTE FUNCTION mixerai.workflows_one_default();

-- Shared like templates (0006); admins write workflows, since they decide how content is approved.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.workflows TO mixerai_app;
ALTER TABLE mixerai.workflows ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflows_scope ON mixerai.workflows AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_ids @> ARRAY[(SELECT mixerai.app_scope_brand_id())])
    WITH CHECK (brand_ids @> ARRAY[(SELECT mixerai.app_scope_brand_id())]);
CREATE POLICY workflows_read ON mixerai.workflows FOR SELECT TO mixerai_app USING ((SELECT mixerai.app_can_read()));
CREATE POLICY workflows_insert ON mixerai.workflows FOR INSERT TO mixerai_app WITH CHECK (
    (SELECT mixerai.app_is_platform_admin())
    OR ((SELECT mixerai.app_can_admin()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));
CREATE POLICY workflows_update ON mixerai.workflows FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_is_platform_admin())
           OR ((SELECT mixerai.app_can_admin()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]))
    WITH CHECK ((SELECT mixerai.app_is_platform_admin())
                OR ((SELECT mixerai.app_can_admin()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));
CREATE POLICY workflows_delete ON mixerai.workflows FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_is_platform_admin())
           OR ((SELECT mixerai.app_can_admin()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

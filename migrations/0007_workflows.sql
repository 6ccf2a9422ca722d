-- 0007 workflows: review/approval definitions. Spec 2.4 / 3.4. Erratum E1: before content.

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

CREATE TRIGGER workflows_stamp_update BEFORE UPDATE ON mixerai.workflows
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER workflows_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflows
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('', 'audit');

-- One default workflow per brand and content type. brand_ids and content_types are arrays, so a unique
-- index cannot say "no two active defaults share a brand and a type", and an exclusion constraint cannot
-- either: `&&` on uuid[] / text[] exists only for GIN, which does not support exclusion constraints (GiST
-- array overlap needs the intarray extension and int4[]). This trigger does it under transaction-level
-- advisory locks, one per brand of the row, taken in brand order so two writers cannot deadlock. Scopes
-- run in READ COMMITTED, so the check query after the lock sees every default committed by the lock's
-- previous holder. A clash is raised as unique_violation (23505) naming
-- workflows_one_default_per_brand_type, which the crate maps to Error::Conflict like any unique key.
-- SECURITY DEFINER: the check must see every active default of the row's brands, including rows the
-- acting scope cannot read (a default shared with a brand of another tenant), or two brand admins could
-- each add a default that overlaps one they cannot see.
CREATE FUNCTION mixerai.workflows_one_default() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    brand uuid;
    clash uuid;
BEGIN
    FOR brand IN SELECT DISTINCT b FROM unnest(NEW.brand_ids) AS b ORDER BY b LOOP
        -- The first key names this lock space; the second the brand.
        PERFORM pg_advisory_xact_lock(hashtext('workflows_one_default'), hashtext(brand::text));
    END LOOP;
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
    USING (brand_ids @> ARRAY[(SELECT mixerai.app_current_brand_id())])
    WITH CHECK (brand_ids @> ARRAY[(SELECT mixerai.app_current_brand_id())]);
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

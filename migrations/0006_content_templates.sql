-- 0006 content_templates: typed field definitions content is validated against. Spec 2.3 / 3.3.
-- Erratum E1: created before content, which references it.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.content_templates (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL CHECK (length(trim(name)) > 0),
    description TEXT,
    icon VARCHAR(100),

    -- TemplateField[] (spec 2.3); the crate checks each element's shape.
    fields JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(fields) = 'array'),
    layout TEXT,

    ai_enabled BOOLEAN NOT NULL DEFAULT true,
    ai_prompts JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(ai_prompts) = 'object'),

    -- Erratum W9: the spec defaulted this to '{}' while its model says ValidationRule[]. One shape: an array.
    validation_rules JSONB NOT NULL DEFAULT '[]'
        CONSTRAINT content_templates_validation_rules_array CHECK (jsonb_typeof(validation_rules) = 'array'),

    -- The brands a template is assigned to. Shared across brands, so there is no single brand_id.
    brand_ids UUID[] NOT NULL DEFAULT '{}',
    content_types TEXT[] NOT NULL DEFAULT '{}',
    is_active BOOLEAN NOT NULL DEFAULT true,

    category VARCHAR(100),
    tags TEXT[] NOT NULL DEFAULT '{}',
    usage JSONB NOT NULL DEFAULT '{"count": 0}' CHECK (jsonb_typeof(usage) = 'object'),

    -- The optimistic-concurrency token of updates: a patch names the version it was read at; a stale one
    -- changes nothing.
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT content_templates_version_check CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_content_templates_active ON mixerai.content_templates (is_active);
CREATE INDEX idx_content_templates_brands ON mixerai.content_templates USING gin (brand_ids);
-- The keyset-paginated list. The brand filter is an array containment (brand_ids @> ARRAY[brand],
-- enforced by the RESTRICTIVE policy below) that a btree cannot serve; a brand has few templates, so
-- walking the creation order and filtering is the cheap plan, and it never sorts.
CREATE INDEX idx_content_templates_created ON mixerai.content_templates (created_at DESC, id DESC);
-- The foreign-key check of created_by when a user is purged.
CREATE INDEX idx_content_templates_created_by ON mixerai.content_templates (created_by);

CREATE TRIGGER content_templates_stamp_update BEFORE UPDATE ON mixerai.content_templates
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER content_templates_stamp_actor BEFORE INSERT ON mixerai.content_templates
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert');

-- Whether `template` is assigned to `brand`: the check a reference to a shared template needs
-- (content, AI generations), since a foreign key alone accepts any template of any tenant.
-- SECURITY DEFINER: the template may be one the writing scope cannot read.
CREATE FUNCTION mixerai.template_assigned(template uuid, brand uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$ SELECT EXISTS (SELECT 1 FROM mixerai.content_templates t WHERE t.id = template AND brand = ANY (t.brand_ids)) $$;

CREATE TRIGGER content_templates_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.content_templates
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('', 'audit');

-- A shared table: a scope sees a row when its brand is among the row's brand_ids (the GIN index serves
-- the @> test), and writes only rows assigned to its brand alone; rows shared by several brands are
-- written by platform admins only, since a change would reach brands the writer is not in. Editors write
-- templates.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.content_templates TO mixerai_app;
ALTER TABLE mixerai.content_templates ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_templates_scope ON mixerai.content_templates AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_ids @> ARRAY[(SELECT mixerai.app_scope_brand_id())])
    WITH CHECK (brand_ids @> ARRAY[(SELECT mixerai.app_scope_brand_id())]);
CREATE POLICY content_templates_read ON mixerai.content_templates FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY content_templates_insert ON mixerai.content_templates FOR INSERT TO mixerai_app WITH CHECK (
    (SELECT mixerai.app_is_platform_admin())
    OR ((SELECT mixerai.app_can_write()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));
CREATE POLICY content_templates_update ON mixerai.content_templates FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_is_platform_admin())
           OR ((SELECT mixerai.app_can_write()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]))
    WITH CHECK ((SELECT mixerai.app_is_platform_admin())
                OR ((SELECT mixerai.app_can_write()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));
CREATE POLICY content_templates_delete ON mixerai.content_templates FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_is_platform_admin())
           OR ((SELECT mixerai.app_can_write()) AND brand_ids = ARRAY[(SELECT mixerai.app_current_brand_id())]));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

-- 0005 content_templates: typed field definitions content is validated against. Spec 2.3 / 3.3.
-- Erratum E1: created before content, which references it.

CREATE TABLE content_templates (
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

    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_content_templates_active ON content_templates (is_active);
CREATE INDEX idx_content_templates_brands ON content_templates USING gin (brand_ids);

CREATE TRIGGER content_templates_updated_at BEFORE UPDATE ON content_templates
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER content_templates_audit AFTER INSERT OR UPDATE OR DELETE ON content_templates
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('', 'audit');

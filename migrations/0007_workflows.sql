-- 0006 workflows: review/approval definitions. Spec 2.4 / 3.4. Erratum E1: before content.

CREATE TABLE workflows (
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
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_workflows_active ON workflows (is_active);
CREATE INDEX idx_workflows_brands ON workflows USING gin (brand_ids);
CREATE INDEX idx_workflows_default ON workflows (is_default) WHERE is_active;

CREATE TRIGGER workflows_updated_at BEFORE UPDATE ON workflows FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER workflows_audit AFTER INSERT OR UPDATE OR DELETE ON workflows
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('', 'audit');

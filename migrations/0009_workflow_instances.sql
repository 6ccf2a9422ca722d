-- 0008 workflow_instances: one run of a workflow over one content item. Spec 3.4.
--
-- The spec's table had no brand_id, so row-level security could not scope it (erratum W4). It carries
-- the brand of its content, enforced by a composite foreign key so the two can never disagree.

CREATE TABLE workflow_instances (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL REFERENCES workflows (id),
    content_id UUID NOT NULL,
    brand_id UUID NOT NULL,

    status VARCHAR(50) NOT NULL DEFAULT 'active' CONSTRAINT workflow_instances_status_check
        CHECK (status IN ('active', 'completed', 'cancelled', 'failed', 'timeout')),
    current_step_index INTEGER NOT NULL DEFAULT 0 CHECK (current_step_index >= 0),

    context JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    history JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(history) = 'array'),

    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    deadline_at TIMESTAMPTZ,

    started_by UUID NOT NULL REFERENCES users (id),
    completed_by UUID REFERENCES users (id),

    CONSTRAINT workflow_instances_content_fkey FOREIGN KEY (content_id, brand_id) REFERENCES content (id, brand_id),
    CONSTRAINT workflow_instances_completed_when_done CHECK ((status = 'active') = (completed_at IS NULL))
);

CREATE INDEX idx_workflow_instances_brand ON workflow_instances (brand_id, started_at DESC);
CREATE INDEX idx_workflow_instances_content ON workflow_instances (content_id);
CREATE INDEX idx_workflow_instances_workflow ON workflow_instances (workflow_id);
CREATE INDEX idx_workflow_instances_deadline ON workflow_instances (deadline_at) WHERE status = 'active';
-- One active run per content item.
CREATE UNIQUE INDEX workflow_instances_one_active ON workflow_instances (content_id) WHERE status = 'active';

CREATE TRIGGER workflow_instances_audit AFTER INSERT OR UPDATE OR DELETE ON workflow_instances
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('brand_id', 'audit');

-- 0009 workflow_instances: one run of a workflow over one content item. Spec 3.4.
--
-- The spec's table had no brand_id, so row-level security could not scope it (erratum W4). It carries
-- the brand of its content, enforced by a composite foreign key so the two can never disagree.

CREATE TABLE mixerai.workflow_instances (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL REFERENCES mixerai.workflows (id),
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

    started_by UUID NOT NULL REFERENCES mixerai.users (id),
    completed_by UUID REFERENCES mixerai.users (id),

    CONSTRAINT workflow_instances_content_fkey FOREIGN KEY (content_id, brand_id) REFERENCES mixerai.content (id, brand_id),
    CONSTRAINT workflow_instances_completed_when_done CHECK ((status = 'active') = (completed_at IS NULL))
);

CREATE INDEX idx_workflow_instances_brand ON mixerai.workflow_instances (brand_id, started_at DESC);
CREATE INDEX idx_workflow_instances_content ON mixerai.workflow_instances (content_id);
CREATE INDEX idx_workflow_instances_workflow ON mixerai.workflow_instances (workflow_id);
CREATE INDEX idx_workflow_instances_deadline ON mixerai.workflow_instances (deadline_at) WHERE status = 'active';
-- One active run per content item.
CREATE UNIQUE INDEX workflow_instances_one_active ON mixerai.workflow_instances (content_id) WHERE status = 'active';

CREATE TRIGGER workflow_instances_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_instances
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');

-- Editors run content through workflows.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.workflow_instances TO mixerai_app;
ALTER TABLE mixerai.workflow_instances ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_instances_scope ON mixerai.workflow_instances AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_current_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_current_brand_id()));
CREATE POLICY workflow_instances_read ON mixerai.workflow_instances FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY workflow_instances_insert ON mixerai.workflow_instances FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY workflow_instances_update ON mixerai.workflow_instances FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_write())) WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY workflow_instances_delete ON mixerai.workflow_instances FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_can_write()));

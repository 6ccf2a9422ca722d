-- 0009 workflow_instances: one run of a workflow over one content item. Spec 3.4.
--
-- The spec's table had no brand_id, so row-level security could not scope it (erratum W4). It carries
-- the brand of its content, enforced by a composite foreign key so the two can never disagree.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

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
-- Foreign-key checks of the actor columns when a user is purged.
CREATE INDEX idx_workflow_instances_started_by ON mixerai.workflow_instances (started_by);
CREATE INDEX idx_workflow_instances_completed_by ON mixerai.workflow_instances (completed_by)
    WHERE completed_by IS NOT NULL;
CREATE INDEX idx_workflow_instances_deadline ON mixerai.workflow_instances (deadline_at) WHERE status = 'active';
-- One active run per content item.
CREATE UNIQUE INDEX workflow_instances_one_active ON mixerai.workflow_instances (content_id) WHERE status = 'active';

CREATE TRIGGER workflow_instances_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.workflow_instances
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('started_by=insert', 'completed_by=change');

-- An instance runs a workflow assigned to its brand (see content_check_references, 0008).
CREATE FUNCTION mixerai.workflow_instances_check_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF NOT mixerai.workflow_assigned(NEW.workflow_id, NEW.brand_id) THEN
        RAISE EXCEPTION 'workflow % is not assigned to brand %', NEW.workflow_id, NEW.brand_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'workflow_instances_workflow_id_fkey',
                  TABLE = 'workflow_instances';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER workflow_instances_check_references
    BEFORE INSERT OR UPDATE OF workflow_id, brand_id ON mixerai.workflow_instances
    FOR EACH ROW EXECUTE FUNCTION mixerai.workflow_instances_check_references();

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

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

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
    -- The workflow's version when the run started, and its definition then (type, steps, transitions,
    -- escalation rules, timeout): a run follows the definition it started with, whatever is saved since.
    workflow_version INTEGER NOT NULL CHECK (workflow_version >= 1),
    definition JSONB NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    content_id UUID NOT NULL,
    brand_id UUID NOT NULL,
    -- The content version (content_versions.version, the head's latest_version) the run reviews; an
    -- edit during the run moves it to the new version and voids the decisions taken (migration 0021).
    content_version INTEGER NOT NULL CHECK (content_version >= 1),
    -- How many times the run has started over after an edit, counting the first run.
    round INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1),

    -- active: steps are open; changes_requested: a reviewer asked for changes, the next edit restarts
    -- the run; approved / rejected: done, the content moved with it; cancelled: ended without a verdict.
    status VARCHAR(50) NOT NULL DEFAULT 'active' CONSTRAINT workflow_instances_status_check
        CHECK (status IN ('active', 'changes_requested', 'approved', 'rejected', 'cancelled')),

    context JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),

    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    deadline_at TIMESTAMPTZ,

    started_by UUID NOT NULL REFERENCES mixerai.users (id),
    completed_by UUID REFERENCES mixerai.users (id),

    CONSTRAINT workflow_instances_content_fkey FOREIGN KEY (content_id, brand_id) REFERENCES mixerai.content (id, brand_id),
    CONSTRAINT workflow_instances_completed_when_done
        CHECK ((status IN ('active', 'changes_requested')) = (completed_at IS NULL))
);

CREATE INDEX idx_workflow_instances_brand ON mixerai.workflow_instances (brand_id, started_at DESC);
CREATE INDEX idx_workflow_instances_content ON mixerai.workflow_instances (content_id);
CREATE INDEX idx_workflow_instances_workflow ON mixerai.workflow_instances (workflow_id);
-- Foreign-key checks of the actor columns when a user is purged.
CREATE INDEX idx_workflow_instances_started_by ON mixerai.workflow_instances (started_by);
CREATE INDEX idx_workflow_instances_completed_by ON mixerai.workflow_instances (completed_by)
    WHERE completed_by IS NOT NULL;
CREATE INDEX idx_workflow_instances_deadline ON mixerai.workflow_instances (brand_id, deadline_at) WHERE completed_at IS NULL;
-- One active run per content item.
CREATE UNIQUE INDEX workflow_instances_one_active ON mixerai.workflow_instances (content_id) WHERE completed_at IS NULL;

CREATE TRIGGER workflow_instances_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.workflow_instances
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('started_by=insert', 'completed_by=change');

-- An instance runs a workflow assigned to its brand (see content_check_references, 0008). A new row
-- that names no workflow version, definition or content version gets the workflow's and the content's
-- as they are now.
CREATE FUNCTION mixerai.workflow_instances_check_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'workflow_instances' THEN
        RAISE EXCEPTION 'workflow_instances_check_references is for mixerai.workflow_instances only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.workflow_version IS NULL OR NEW.definition IS NULL THEN
            SELECT coalesce(NEW.workflow_version, w.version),
                   coalesce(NEW.definition, jsonb_build_object('type', w.type, 'steps', w.steps,
                            'transitions', w.transitions, 'escalationRules', coalesce(w.escalation_rules, '[]'),
                            'timeoutHours', w.timeout_hours))
            INTO NEW.workflow_version, NEW.definition
            FROM mixerai.workflows w WHERE w.id = NEW.workflow_id;
        END IF;
        IF NEW.content_version IS NULL THEN
            SELECT c.latest_version INTO NEW.content_version FROM mixerai.content c WHERE c.id = NEW.content_id;
        END IF;
    END IF;
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
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
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

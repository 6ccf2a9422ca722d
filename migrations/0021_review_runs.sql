-- 0021 review runs: the steps, assignees, decisions, timeline and notification outbox of workflow
-- instances (0009), and the functions that run them. Spec 2.4 / 3.4 / 4.2; issue 13.
--
-- The shape. A run (workflow_instances) has one row per step of its definition
-- (workflow_instance_steps), resolved assignees per step (workflow_step_assignees, one row per user,
-- `pending` while their decision is awaited: what "my pending decisions" reads), decisions as rows
-- (workflow_decisions, voided by an edit rather than deleted), and a timeline of everything that
-- happened (workflow_timeline: starts, decisions, completions, edits, escalations, and the content
-- moves the run made). Notification steps and notifying escalations write workflow_outbox rows for a
-- host to deliver. None of these tables is written by the application role: every change goes through
-- the SECURITY DEFINER functions below (mixerai.workflow_start, mixerai.workflow_decide), which check who
-- may act, and through the trigger on the content version log that voids decisions after an edit, so
-- every edit path counts. Escalation (mixerai.workflow_escalate) is a maintenance job's, run by the
-- owner in a system scope.
--
-- The content moves with its run: starting it takes the item to in_review, the last approval to
-- approved (at the version the run reviewed), a rejection to rejected and back to draft. Who may take
-- those lifecycle steps is the run's business (its assignees, whatever their brand role), so
-- content_check_actor (0014) is replaced here to accept a step the run records, in the same transaction,
-- in workflow_timeline (which only these functions write) for the item named by the transaction-local
-- setting mixerai.review_moves. Anything else is checked as before.
--
-- A run whose item leaves review another way (its draft discarded, the item soft-deleted) ends as
-- cancelled, by a trigger on content.
--
-- Costs: new tables only, a trigger on content_versions and one on content (CREATE TRIGGER takes a
-- brief SHARE ROW EXCLUSIVE lock, bounded by lock_timeout), and one function replaced.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- One row per step of a run's definition. `definition` is the step as the run's definition holds it
-- (WorkflowStep JSON); `activation` counts the times the step was entered, so decisions and escalations
-- of an earlier pass never count for a later one.
CREATE TABLE IF NOT EXISTS mixerai.workflow_instance_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id UUID NOT NULL REFERENCES mixerai.workflow_instances (id),
    brand_id UUID NOT NULL,
    content_id UUID NOT NULL,
    step_id UUID NOT NULL,
    name TEXT NOT NULL,
    step_type TEXT NOT NULL
        CONSTRAINT workflow_instance_steps_step_type_check
        CHECK (step_type IN ('review', 'approval', 'notification', 'automated')),
    position BIGINT NOT NULL,
    definition JSONB NOT NULL
        CONSTRAINT workflow_instance_steps_definition_check CHECK (jsonb_typeof(definition) = 'object'),
    status TEXT NOT NULL DEFAULT 'waiting'
        CONSTRAINT workflow_instance_steps_status_check
        CHECK (status IN ('waiting', 'active', 'approved', 'rejected', 'changes_requested', 'skipped', 'done',
                          'not_reached')),
    required_approvals BIGINT
        CONSTRAINT workflow_instance_steps_required_approvals_check CHECK (required_approvals >= 1),
    activation BIGINT NOT NULL DEFAULT 0
        CONSTRAINT workflow_instance_steps_activation_check CHECK (activation >= 0),
    started_at TIMESTAMPTZ,
    deadline_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    CONSTRAINT workflow_instance_steps_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id)
);

-- A run's steps in order; also the foreign key's check.
CREATE UNIQUE INDEX IF NOT EXISTS workflow_instance_steps_instance_step_key
    ON mixerai.workflow_instance_steps (instance_id, step_id);
CREATE INDEX IF NOT EXISTS idx_workflow_instance_steps_content ON mixerai.workflow_instance_steps (content_id);
-- overdue(now): the open steps of a brand past their deadline.
CREATE INDEX IF NOT EXISTS idx_workflow_instance_steps_deadline
    ON mixerai.workflow_instance_steps (brand_id, deadline_at) WHERE status = 'active';

-- Who a step is assigned to, resolved when the step starts (or by an escalation). `pending` while the
-- step is open and the user has not decided it: "my pending decisions".
CREATE TABLE IF NOT EXISTS mixerai.workflow_step_assignees (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_step_id UUID NOT NULL REFERENCES mixerai.workflow_instance_steps (id),
    instance_id UUID NOT NULL REFERENCES mixerai.workflow_instances (id),
    brand_id UUID NOT NULL,
    content_id UUID NOT NULL,
    user_id UUID NOT NULL REFERENCES mixerai.users (id),
    -- How the user came to the step: the step's assignment type, or 'escalation'.
    source TEXT NOT NULL
        CONSTRAINT workflow_step_assignees_source_check
        CHECK (source IN ('user', 'role', 'group', 'dynamic', 'escalation')),
    pending BOOLEAN NOT NULL DEFAULT true,
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at TIMESTAMPTZ,
    CONSTRAINT workflow_step_assignees_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id)
);

CREATE UNIQUE INDEX IF NOT EXISTS workflow_step_assignees_step_user_key
    ON mixerai.workflow_step_assignees (instance_step_id, user_id);
-- "My pending decisions", newest first, keyset-paged: one seek per page.
CREATE INDEX IF NOT EXISTS idx_workflow_step_assignees_pending
    ON mixerai.workflow_step_assignees (user_id, brand_id, assigned_at DESC, id DESC) WHERE pending;
-- Foreign-key checks (a user purged, a run's rows).
CREATE INDEX IF NOT EXISTS idx_workflow_step_assignees_user ON mixerai.workflow_step_assignees (user_id);
CREATE INDEX IF NOT EXISTS idx_workflow_step_assignees_instance ON mixerai.workflow_step_assignees (instance_id);
CREATE INDEX IF NOT EXISTS idx_workflow_step_assignees_content ON mixerai.workflow_step_assignees (content_id);

-- A decision: who decided which step (in which pass), on which content version, how, and why. An edit
-- of the content voids every standing decision of the run (re-approval after an edit).
CREATE TABLE IF NOT EXISTS mixerai.workflow_decisions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id UUID NOT NULL REFERENCES mixerai.workflow_instances (id),
    instance_step_id UUID NOT NULL REFERENCES mixerai.workflow_instance_steps (id),
    brand_id UUID NOT NULL,
    content_id UUID NOT NULL,
    content_version BIGINT NOT NULL,
    activation BIGINT NOT NULL,
    -- NULL: the escalation job decided (auto_approve, auto_reject).
    decided_by UUID REFERENCES mixerai.users (id),
    decision TEXT NOT NULL
        CONSTRAINT workflow_decisions_decision_check
        CHECK (decision IN ('approve', 'reject', 'request_changes', 'skip')),
    comment TEXT,
    decided_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    voided_at TIMESTAMPTZ,
    -- The content version whose save voided it.
    voided_at_version BIGINT,
    CONSTRAINT workflow_decisions_comment_required
        CHECK (decision NOT IN ('reject', 'request_changes') OR length(trim(coalesce(comment, ''))) > 0),
    CONSTRAINT workflow_decisions_voided_together CHECK ((voided_at IS NULL) = (voided_at_version IS NULL)),
    CONSTRAINT workflow_decisions_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id)
);

-- A user decides a pass of a step once.
CREATE UNIQUE INDEX IF NOT EXISTS workflow_decisions_once_per_user
    ON mixerai.workflow_decisions (instance_step_id, activation, decided_by);
CREATE INDEX IF NOT EXISTS idx_workflow_decisions_instance ON mixerai.workflow_decisions (instance_id, decided_at);
CREATE INDEX IF NOT EXISTS idx_workflow_decisions_content ON mixerai.workflow_decisions (content_id);
CREATE INDEX IF NOT EXISTS idx_workflow_decisions_decided_by ON mixerai.workflow_decisions (decided_by)
    WHERE decided_by IS NOT NULL;

-- What happened to a run, in order (`seq`). `xact` is the writing transaction, which is how
-- content_check_actor recognises a content move the run made in the same transaction. No foreign key on
-- the actor: the record outlives who it names (as the audit trail does).
CREATE TABLE IF NOT EXISTS mixerai.workflow_timeline (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    instance_id UUID NOT NULL REFERENCES mixerai.workflow_instances (id),
    instance_step_id UUID REFERENCES mixerai.workflow_instance_steps (id),
    brand_id UUID NOT NULL,
    content_id UUID NOT NULL,
    kind TEXT NOT NULL
        CONSTRAINT workflow_timeline_kind_check
        CHECK (kind IN ('started', 'step_started', 'decided', 'step_completed', 'notified', 'step_done',
                        'changes_requested', 'edited', 'escalated', 'approved', 'rejected', 'cancelled',
                        'content_start_review', 'content_approve', 'content_reject', 'content_revise')),
    actor UUID,
    activation BIGINT,
    rule_index BIGINT,
    detail JSONB NOT NULL DEFAULT '{}'
        CONSTRAINT workflow_timeline_detail_check CHECK (jsonb_typeof(detail) = 'object'),
    xact XID8 NOT NULL DEFAULT pg_current_xact_id(),
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT workflow_timeline_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id)
);

CREATE INDEX IF NOT EXISTS idx_workflow_timeline_instance ON mixerai.workflow_timeline (instance_id, seq);
CREATE INDEX IF NOT EXISTS idx_workflow_timeline_step ON mixerai.workflow_timeline (instance_step_id)
    WHERE instance_step_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_workflow_timeline_content ON mixerai.workflow_timeline (content_id, xact);
-- Each escalation rule fires once per pass of a step, whichever worker gets there first.
CREATE UNIQUE INDEX IF NOT EXISTS workflow_timeline_escalation_once
    ON mixerai.workflow_timeline (instance_step_id, activation, rule_index) WHERE kind = 'escalated';

-- Notifications for a host to deliver (no mail leaves the crate): one row per recipient.
CREATE TABLE IF NOT EXISTS mixerai.workflow_outbox (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL,
    instance_id UUID NOT NULL REFERENCES mixerai.workflow_instances (id),
    instance_step_id UUID NOT NULL REFERENCES mixerai.workflow_instance_steps (id),
    content_id UUID NOT NULL,
    recipient UUID NOT NULL REFERENCES mixerai.users (id),
    reason TEXT NOT NULL
        CONSTRAINT workflow_outbox_reason_check CHECK (reason IN ('notification_step', 'escalation')),
    payload JSONB NOT NULL DEFAULT '{}'
        CONSTRAINT workflow_outbox_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ,
    CONSTRAINT workflow_outbox_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id)
);

-- What is left to deliver, oldest first.
CREATE INDEX IF NOT EXISTS idx_workflow_outbox_undelivered ON mixerai.workflow_outbox (created_at, id)
    WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_workflow_outbox_instance ON mixerai.workflow_outbox (instance_id);
CREATE INDEX IF NOT EXISTS idx_workflow_outbox_step ON mixerai.workflow_outbox (instance_step_id);
CREATE INDEX IF NOT EXISTS idx_workflow_outbox_content ON mixerai.workflow_outbox (content_id);
CREATE INDEX IF NOT EXISTS idx_workflow_outbox_recipient ON mixerai.workflow_outbox (recipient);

CREATE TRIGGER workflow_instance_steps_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_instance_steps
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');
CREATE TRIGGER workflow_step_assignees_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_step_assignees
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');
CREATE TRIGGER workflow_decisions_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_decisions
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');
CREATE TRIGGER workflow_timeline_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_timeline
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit', 'xact');
CREATE TRIGGER workflow_outbox_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.workflow_outbox
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');

-- Whether a transition's condition (templates' Condition JSON: field, operator, value) holds on a
-- content item's fields; an absent or JSON null field has no value. Mirrors Condition::holds.
CREATE FUNCTION mixerai.workflow_condition_holds(cond jsonb, fields jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = ''
    AS $$
    SELECT CASE cond ->> 'operator'
        WHEN 'equals' THEN f.v IS NOT NULL AND f.v = cond -> 'value'
        WHEN 'not_equals' THEN f.v IS NULL OR f.v <> cond -> 'value'
        WHEN 'in' THEN f.v IS NOT NULL
            AND EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(cond -> 'value') e WHERE e.value = f.v)
        WHEN 'not_in' THEN f.v IS NULL
            OR NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(cond -> 'value') e WHERE e.value = f.v)
        WHEN 'contains' THEN CASE pg_catalog.jsonb_typeof(f.v)
            WHEN 'array' THEN EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(f.v) e WHERE e.value = cond -> 'value')
            WHEN 'string' THEN pg_catalog.jsonb_typeof(cond -> 'value') = 'string'
                AND pg_catalog.strpos(f.v #>> '{}', cond #>> '{value}') > 0
            ELSE false END
        WHEN 'is_set' THEN f.v IS NOT NULL
        WHEN 'is_not_set' THEN f.v IS NULL
        ELSE false END
    FROM (SELECT CASE WHEN pg_catalog.jsonb_typeof(fields -> (cond ->> 'field')) = 'null' THEN NULL
                      ELSE fields -> (cond ->> 'field') END AS v) f
    $$;

-- The users a step's (or an escalation's) assignees name in `brand`, as live members of it: `user`
-- names user ids; `role` brand roles (the run's starter left out: nobody reviews their own
-- submission by role); `dynamic` content.created_by / content.updated_by. Groups have no membership in
-- this schema and resolve to nobody.
CREATE FUNCTION mixerai.workflow_resolve(brand uuid, item uuid, starter uuid, kind text, names jsonb)
    RETURNS TABLE (assignee uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$
    SELECT u.id
    FROM mixerai.users u
    JOIN mixerai.user_brand_roles r ON r.user_id = u.id AND r.brand_id = brand
         AND (r.expires_at IS NULL OR r.expires_at > pg_catalog.now())
    LEFT JOIN mixerai.content c ON c.id = item
    WHERE u.deleted_at IS NULL
      AND CASE kind
            WHEN 'user' THEN names ? (u.id::text)
            WHEN 'role' THEN names ? (r.role::text) AND u.id IS DISTINCT FROM starter
            WHEN 'dynamic' THEN (names ? 'content.created_by' AND c.created_by = u.id)
                             OR (names ? 'content.updated_by' AND c.updated_by = u.id)
            ELSE false END
    ORDER BY u.id
    $$;

-- Moves the run's item one lifecycle step (`action`, to `to_status`), recorded in the timeline first so
-- content_check_actor lets the run take it.
CREATE FUNCTION mixerai.workflow_move_content(run mixerai.workflow_instances, action text, to_status text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    INSERT INTO mixerai.workflow_timeline (instance_id, brand_id, content_id, kind, actor, detail)
    VALUES (run.id, run.brand_id, run.content_id, 'content_' || action, mixerai.app_current_user_id(),
            jsonb_build_object('status', to_status, 'content_version', run.content_version));
    PERFORM set_config('mixerai.review_moves', run.content_id::text, true);
    UPDATE mixerai.content c SET status = to_status
    WHERE c.id = run.content_id AND (action <> 'approve' OR c.latest_version = run.content_version);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item % is no longer at version %', run.content_id, run.content_version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_instances_content_version_current',
                  TABLE = 'workflow_instances';
    END IF;
    PERFORM set_config('mixerai.review_moves', '', true);
END
$$;

-- Closes a run as `outcome` (approved, rejected, cancelled): steps not reached stay so, open
-- assignments close, and the timeline records it with `detail` and the run's content version. The
-- content is the caller's business (workflow_finish moves it; a cancellation follows a move made
-- elsewhere).
CREATE FUNCTION mixerai.workflow_close(run mixerai.workflow_instances, outcome text, actor uuid, detail jsonb)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    UPDATE mixerai.workflow_instance_steps s SET status = 'not_reached', completed_at = now()
    WHERE s.instance_id = run.id AND s.status IN ('waiting', 'active');
    UPDATE mixerai.workflow_step_assignees a SET pending = false, ended_at = now()
    WHERE a.instance_id = run.id AND a.pending;
    UPDATE mixerai.workflow_instances i SET status = outcome, completed_at = now(), completed_by = actor
    WHERE i.id = run.id;
    INSERT INTO mixerai.workflow_timeline (instance_id, brand_id, content_id, kind, actor, detail)
    VALUES (run.id, run.brand_id, run.content_id, outcome, actor,
            detail || jsonb_build_object('content_version', run.content_version));
END
$$;

-- Ends a run with a verdict: 'approved' approves the item at the run's content version, 'rejected'
-- rejects it and returns it to draft; then closes the run.
CREATE FUNCTION mixerai.workflow_finish(run_id uuid, outcome text, actor uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    run mixerai.workflow_instances;
BEGIN
    SELECT * INTO STRICT run FROM mixerai.workflow_instances i WHERE i.id = run_id;
    IF outcome = 'approved' THEN
        PERFORM mixerai.workflow_move_content(run, 'approve', 'approved');
    ELSE
        PERFORM mixerai.workflow_move_content(run, 'reject', 'rejected');
        PERFORM mixerai.workflow_move_content(run, 'revise', 'draft');
    END IF;
    PERFORM mixerai.workflow_close(run, outcome, actor, '{}');
END
$$;

-- Enters a step: review and approval steps get their assignees (resolved now, recorded) and wait for
-- decisions (true); a notification step writes its outbox rows and is done, an automated step is done
-- (false).
CREATE FUNCTION mixerai.workflow_activate(step uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    st mixerai.workflow_instance_steps;
    starter uuid;
    version integer;
    people uuid[];
    n bigint;
    needed bigint;
BEGIN
    UPDATE mixerai.workflow_instance_steps s
    SET status = 'active', activation = s.activation + 1, started_at = now(), completed_at = NULL,
        deadline_at = now() + make_interval(hours => (s.definition ->> 'timeoutHours')::integer)
    WHERE s.id = step
    RETURNING * INTO STRICT st;
    SELECT i.started_by, i.content_version INTO STRICT starter, version
    FROM mixerai.workflow_instances i WHERE i.id = st.instance_id;
    SELECT coalesce(array_agg(r.assignee), '{}') INTO people
    FROM mixerai.workflow_resolve(st.brand_id, st.content_id, starter, st.definition ->> 'assignmentType',
                                  coalesce(st.definition -> 'assignees', '[]')) r;
    n := cardinality(people)::bigint;
    IF st.step_type IN ('review', 'approval') THEN
        INSERT INTO mixerai.workflow_step_assignees (instance_step_id, instance_id, brand_id, content_id, user_id,
                                                     source)
        SELECT st.id, st.instance_id, st.brand_id, st.content_id, u, st.definition ->> 'assignmentType'
        FROM unnest(people) u
        ON CONFLICT (instance_step_id, user_id)
            DO UPDATE SET pending = true, assigned_at = now(), ended_at = NULL, source = EXCLUDED.source;
        needed := greatest(1, CASE
            WHEN coalesce((st.definition ->> 'requireAllApprovals')::boolean, false) THEN n
            WHEN st.definition ->> 'minApprovals' IS NOT NULL THEN least((st.definition ->> 'minApprovals')::bigint, n)
            ELSE least(1, n) END);
        UPDATE mixerai.workflow_instance_steps s SET required_approvals = needed WHERE s.id = st.id;
        INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind, actor,
                                               activation, detail)
        VALUES (st.instance_id, st.id, st.brand_id, st.content_id, 'step_started', mixerai.app_current_user_id(),
                st.activation, jsonb_build_object('assignees', to_jsonb(people), 'required_approvals', needed));
        RETURN true;
    END IF;
    IF st.step_type = 'notification' THEN
        INSERT INTO mixerai.workflow_outbox (brand_id, instance_id, instance_step_id, content_id, recipient, reason,
                                             payload)
        SELECT st.brand_id, st.instance_id, st.id, st.content_id, u, 'notification_step',
               jsonb_build_object('step', st.name, 'instructions', st.definition -> 'instructions',
                                  'content_version', version)
        FROM unnest(people) u;
    END IF;
    UPDATE mixerai.workflow_instance_steps s SET status = 'done', completed_at = now() WHERE s.id = st.id;
    INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind, actor,
                                           activation, detail)
    VALUES (st.instance_id, st.id, st.brand_id, st.content_id,
            CASE WHEN st.step_type = 'notification' THEN 'notified' ELSE 'step_done' END,
            mixerai.app_current_user_id(), st.activation, jsonb_build_object('recipients', to_jsonb(people)));
    RETURN false;
END
$$;

-- Moves a run on after `done_step` completed (NULL: from the start of a sequential run): the next
-- waiting step by order (sequential), the first transition from the step whose action and condition
-- hold (conditional), nothing (parallel: every step started at once). A run with no step left open
-- and none to enter is approved.
CREATE FUNCTION mixerai.workflow_advance(run_id uuid, done_step uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    run mixerai.workflow_instances;
    item_fields jsonb;
    from_step uuid := done_step;
    next_step uuid;
    passes integer := 0;
BEGIN
    SELECT * INTO STRICT run FROM mixerai.workflow_instances i WHERE i.id = run_id;
    SELECT c.fields INTO STRICT item_fields FROM mixerai.content c WHERE c.id = run.content_id;
    LOOP
        passes := passes + 1;
        IF passes > 1000 THEN
            RAISE EXCEPTION 'workflow run % loops through steps that wait for nobody', run_id
                USING ERRCODE = 'program_limit_exceeded';
        END IF;
        IF EXISTS (SELECT 1 FROM mixerai.workflow_instance_steps s WHERE s.instance_id = run_id AND s.status = 'active') THEN
            RETURN;
        END IF;
        next_step := NULL;
        IF run.definition ->> 'type' = 'conditional' THEN
            IF from_step IS NOT NULL THEN
                SELECT s.id INTO next_step
                FROM mixerai.workflow_instance_steps cur
                CROSS JOIN LATERAL jsonb_array_elements(run.definition -> 'transitions') WITH ORDINALITY AS t(tr, ord)
                JOIN mixerai.workflow_instance_steps s ON s.instance_id = run_id AND s.step_id = (t.tr ->> 'to')::uuid
                WHERE cur.id = from_step AND (t.tr ->> 'from')::uuid = cur.step_id
                  AND coalesce(t.tr ->> 'on', 'approve') = 'approve'
                  AND (t.tr -> 'condition' IS NULL OR mixerai.workflow_condition_holds(t.tr -> 'condition', item_fields))
                ORDER BY t.ord
                LIMIT 1;
            END IF;
        ELSE
            SELECT s.id INTO next_step FROM mixerai.workflow_instance_steps s
            WHERE s.instance_id = run_id AND s.status = 'waiting'
            ORDER BY s.position, s.id
            LIMIT 1;
        END IF;
        IF next_step IS NULL THEN
            PERFORM mixerai.workflow_finish(run_id, 'approved', mixerai.app_current_user_id());
            RETURN;
        END IF;
        IF mixerai.workflow_activate(next_step) THEN
            RETURN;
        END IF;
        from_step := next_step;
    END LOOP;
END
$$;

-- Enters a run's first steps: every step of a parallel run, the first by order otherwise.
CREATE FUNCTION mixerai.workflow_begin(run_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    kind text;
    first_step uuid;
    st record;
BEGIN
    SELECT i.definition ->> 'type' INTO STRICT kind FROM mixerai.workflow_instances i WHERE i.id = run_id;
    IF kind = 'parallel' THEN
        FOR st IN SELECT s.id FROM mixerai.workflow_instance_steps s WHERE s.instance_id = run_id ORDER BY s.position, s.id LOOP
            PERFORM mixerai.workflow_activate(st.id);
        END LOOP;
        PERFORM mixerai.workflow_advance(run_id, NULL);
    ELSIF kind = 'conditional' THEN
        SELECT s.id INTO STRICT first_step FROM mixerai.workflow_instance_steps s
        WHERE s.instance_id = run_id ORDER BY s.position, s.id LIMIT 1;
        IF NOT mixerai.workflow_activate(first_step) THEN
            PERFORM mixerai.workflow_advance(run_id, first_step);
        END IF;
    ELSE
        PERFORM mixerai.workflow_advance(run_id, NULL);
    END IF;
END
$$;

-- Starts the review of `item` (at `expected_version`, its `version` token as the caller read it) with
-- `chosen` or, when NULL, the brand's active default workflow for the item's type: the item goes to
-- pending_review (a draft is submitted, under the lifecycle's own rules) and in_review, the run is
-- created against the item's latest version with the workflow's version and definition, its steps are
-- laid out and the first entered. Returns the run's id; NULL when the item is not visible to the caller
-- or not at `expected_version` (the crate tells which).
CREATE FUNCTION mixerai.workflow_start(item uuid, expected_version integer, chosen uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    actor uuid := mixerai.app_current_user_id();
    brand uuid := mixerai.app_current_brand_id();
    c mixerai.content;
    w mixerai.workflows;
    run mixerai.workflow_instances;
    unresolved text;
BEGIN
    IF actor IS NULL OR brand IS NULL OR NOT mixerai.app_can_read() THEN
        RETURN NULL;
    END IF;
    SELECT * INTO c FROM mixerai.content x
    WHERE x.id = item AND x.brand_id = brand AND x.deleted_at IS NULL
    FOR NO KEY UPDATE;
    IF NOT FOUND OR c.version <> expected_version THEN
        RETURN NULL;
    END IF;
    IF NOT mixerai.app_can_write() THEN
        RAISE EXCEPTION 'only an editor or admin of the brand may submit for review'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF chosen IS NULL THEN
        SELECT * INTO w FROM mixerai.workflows x
        WHERE x.brand_ids @> ARRAY[brand] AND x.content_types @> ARRAY[c.type::text] AND x.is_default AND x.is_active;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'brand % has no default workflow for %', brand, c.type
                USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_instances_workflow_required',
                      TABLE = 'workflow_instances';
        END IF;
    ELSE
        SELECT * INTO w FROM mixerai.workflows x WHERE x.id = chosen AND x.brand_ids @> ARRAY[brand] AND x.is_active;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'workflow % is not an active workflow of brand %', chosen, brand
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'workflow_instances_workflow_id_fkey',
                      TABLE = 'workflow_instances';
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(w.steps) e WHERE e.value ->> 'type' IN ('review', 'approval')) THEN
        RAISE EXCEPTION 'workflow % has no review or approval step', w.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_instances_needs_reviewers',
                  TABLE = 'workflow_instances';
    END IF;
    SELECT e.value ->> 'name' INTO unresolved
    FROM jsonb_array_elements(w.steps) e
    WHERE e.value ->> 'type' IN ('review', 'approval')
      AND NOT EXISTS (SELECT 1 FROM mixerai.workflow_resolve(brand, item, actor, e.value ->> 'assignmentType',
                                                             coalesce(e.value -> 'assignees', '[]')))
    LIMIT 1;
    IF unresolved IS NOT NULL THEN
        RAISE EXCEPTION 'step % of workflow % names nobody who may review in brand %', unresolved, w.id, brand
            USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_instances_assignees_resolve',
                  TABLE = 'workflow_instances';
    END IF;

    IF c.status = 'draft' THEN
        UPDATE mixerai.content x SET status = 'pending_review' WHERE x.id = item;
    ELSIF c.status <> 'pending_review' THEN
        RAISE EXCEPTION 'no transition from % to pending_review', c.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'content_status_transition', TABLE = 'content',
                  DETAIL = c.status || '>pending_review';
    END IF;

    INSERT INTO mixerai.workflow_instances (workflow_id, workflow_version, definition, content_id, brand_id,
                                            content_version, started_by, deadline_at)
    VALUES (w.id, w.version,
            jsonb_build_object('type', w.type, 'steps', w.steps, 'transitions', w.transitions,
                               'escalationRules', coalesce(w.escalation_rules, '[]'), 'timeoutHours', w.timeout_hours),
            item, brand, c.latest_version, actor, now() + make_interval(hours => w.timeout_hours))
    RETURNING * INTO STRICT run;
    INSERT INTO mixerai.workflow_timeline (instance_id, brand_id, content_id, kind, actor, detail)
    VALUES (run.id, brand, item, 'started', actor,
            jsonb_build_object('workflow_id', w.id, 'workflow_version', w.version, 'content_version', c.latest_version));
    PERFORM mixerai.workflow_move_content(run, 'start_review', 'in_review');
    INSERT INTO mixerai.workflow_instance_steps (instance_id, brand_id, content_id, step_id, name, step_type, position,
                                                 definition)
    SELECT run.id, brand, item, (e.value ->> 'id')::uuid, e.value ->> 'name', e.value ->> 'type',
           coalesce((e.value ->> 'order')::bigint, 0), e.value
    FROM jsonb_array_elements(w.steps) e;
    PERFORM mixerai.workflow_begin(run.id);
    RETURN run.id;
END
$$;

-- What a decision does to its step and run, once recorded: a rejection rejects the run (and the item);
-- a request for changes holds the run until the next edit; a skip completes the step; an approval
-- completes it when enough have approved (or at once when the escalation job approves, `actor` NULL).
CREATE FUNCTION mixerai.workflow_apply(run_id uuid, step uuid, decision text, actor uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    st mixerai.workflow_instance_steps;
    approvals bigint;
BEGIN
    SELECT * INTO STRICT st FROM mixerai.workflow_instance_steps s WHERE s.id = step;
    IF decision = 'approve' THEN
        SELECT count(*) INTO approvals FROM mixerai.workflow_decisions d
        WHERE d.instance_step_id = st.id AND d.activation = st.activation AND d.decision = 'approve'
          AND d.voided_at IS NULL;
        IF actor IS NOT NULL AND approvals < st.required_approvals THEN
            RETURN;
        END IF;
    END IF;
    UPDATE mixerai.workflow_instance_steps s
    SET status = CASE decision WHEN 'approve' THEN 'approved' WHEN 'reject' THEN 'rejected'
                               WHEN 'request_changes' THEN 'changes_requested' ELSE 'skipped' END,
        completed_at = now()
    WHERE s.id = st.id;
    UPDATE mixerai.workflow_step_assignees a SET pending = false, ended_at = now()
    WHERE a.instance_step_id = st.id AND a.pending;
    INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind, actor,
                                           activation, detail)
    VALUES (run_id, st.id, st.brand_id, st.content_id, 'step_completed', actor, st.activation,
            jsonb_build_object('outcome', decision));
    IF decision = 'reject' THEN
        PERFORM mixerai.workflow_finish(run_id, 'rejected', actor);
    ELSIF decision = 'request_changes' THEN
        UPDATE mixerai.workflow_step_assignees a SET pending = false, ended_at = now()
        WHERE a.instance_id = run_id AND a.pending;
        UPDATE mixerai.workflow_instances i SET status = 'changes_requested' WHERE i.id = run_id;
        INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind, actor,
                                               activation)
        VALUES (run_id, st.id, st.brand_id, st.content_id, 'changes_requested', actor, st.activation);
    ELSE
        PERFORM mixerai.workflow_advance(run_id, st.id);
    END IF;
END
$$;

-- The acting user decides `step` of a run reviewing `seen_version` of the item (the content version the
-- caller read): approve, reject, request_changes or skip, with a comment (required to reject or to ask
-- for changes), one the step offers (its `actions`, when it lists any; a skip needs `allowSkip`). Only a
-- current assignee of an open step decides (insufficient_privilege otherwise), once
-- per pass (unique_violation on workflow_decisions_once_per_user). Returns the run's id; NULL when the
-- step is not visible or the run reviews another version by now (the crate tells which). Locks the item,
-- then the run, in the order an edit takes them, so decisions and edits of one item take turns.
CREATE FUNCTION mixerai.workflow_decide(step uuid, seen_version integer, decision text, note text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    actor uuid := mixerai.app_current_user_id();
    brand uuid := mixerai.app_current_brand_id();
    st mixerai.workflow_instance_steps;
    run mixerai.workflow_instances;
BEGIN
    IF actor IS NULL OR brand IS NULL OR NOT mixerai.app_can_read() THEN
        RETURN NULL;
    END IF;
    SELECT * INTO st FROM mixerai.workflow_instance_steps s WHERE s.id = step AND s.brand_id = brand;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM mixerai.content c WHERE c.id = st.content_id FOR NO KEY UPDATE;
    SELECT * INTO STRICT run FROM mixerai.workflow_instances i WHERE i.id = st.instance_id FOR UPDATE;
    IF run.content_version <> seen_version THEN
        RETURN NULL;
    END IF;
    SELECT * INTO STRICT st FROM mixerai.workflow_instance_steps s WHERE s.id = step;
    IF EXISTS (SELECT 1 FROM mixerai.workflow_decisions d
               WHERE d.instance_step_id = st.id AND d.activation = st.activation AND d.decided_by = actor) THEN
        RAISE EXCEPTION 'user % has decided this step already', actor
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'workflow_decisions_once_per_user',
                  TABLE = 'workflow_decisions';
    END IF;
    IF run.status <> 'active' OR st.status <> 'active'
       OR NOT EXISTS (SELECT 1 FROM mixerai.workflow_step_assignees a
                      WHERE a.instance_step_id = st.id AND a.user_id = actor AND a.pending) THEN
        RAISE EXCEPTION 'only a current assignee of an open step may decide it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF decision = 'skip' AND NOT coalesce((st.definition ->> 'allowSkip')::boolean, false) THEN
        RAISE EXCEPTION 'step % cannot be skipped', st.name
            USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_decisions_skip_allowed',
                  TABLE = 'workflow_decisions';
    END IF;
    IF decision <> 'skip' AND jsonb_array_length(coalesce(st.definition -> 'actions', '[]')) > 0
       AND NOT (st.definition -> 'actions') ? decision THEN
        RAISE EXCEPTION 'step % does not offer %', st.name, decision
            USING ERRCODE = 'check_violation', CONSTRAINT = 'workflow_decisions_action_offered',
                  TABLE = 'workflow_decisions';
    END IF;
    INSERT INTO mixerai.workflow_decisions (instance_id, instance_step_id, brand_id, content_id, content_version,
                                            activation, decided_by, decision, comment)
    VALUES (run.id, st.id, st.brand_id, st.content_id, run.content_version, st.activation, actor, decision, note);
    UPDATE mixerai.workflow_step_assignees a SET pending = false
    WHERE a.instance_step_id = st.id AND a.user_id = actor;
    INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind, actor,
                                           activation, detail)
    VALUES (run.id, st.id, st.brand_id, st.content_id, 'decided', actor, st.activation,
            jsonb_build_object('decision', decision, 'comment', note));
    PERFORM mixerai.workflow_apply(run.id, st.id, decision, actor);
    RETURN run.id;
END
$$;

-- Re-approval after an edit: a save of an item under review (a new row of the version log, whatever
-- path wrote it) voids every standing decision of its run, recorded, and starts the run over at the new
-- version; a run held for changes becomes active again.
CREATE FUNCTION mixerai.workflow_restart_on_edit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    run mixerai.workflow_instances;
    voided bigint;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content_versions' THEN
        RAISE EXCEPTION 'workflow_restart_on_edit is for mixerai.content_versions only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO run FROM mixerai.workflow_instances i
    WHERE i.content_id = NEW.content_id AND i.completed_at IS NULL
    FOR UPDATE;
    IF NOT FOUND OR NEW.version <= run.content_version THEN
        RETURN NULL;
    END IF;
    UPDATE mixerai.workflow_decisions d SET voided_at = now(), voided_at_version = NEW.version
    WHERE d.instance_id = run.id AND d.voided_at IS NULL;
    GET DIAGNOSTICS voided = ROW_COUNT;
    UPDATE mixerai.workflow_step_assignees a SET pending = false, ended_at = now()
    WHERE a.instance_id = run.id AND a.pending;
    UPDATE mixerai.workflow_instance_steps s
    SET status = 'waiting', started_at = NULL, deadline_at = NULL, completed_at = NULL
    WHERE s.instance_id = run.id;
    UPDATE mixerai.workflow_instances i
    SET content_version = NEW.version::integer, status = 'active', round = i.round + 1
    WHERE i.id = run.id;
    INSERT INTO mixerai.workflow_timeline (instance_id, brand_id, content_id, kind, actor, detail)
    VALUES (run.id, run.brand_id, run.content_id, 'edited', mixerai.app_current_user_id(),
            jsonb_build_object('content_version', NEW.version, 'voided_decisions', voided));
    PERFORM mixerai.workflow_begin(run.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER content_versions_restart_review AFTER INSERT ON mixerai.content_versions
    FOR EACH ROW EXECUTE FUNCTION mixerai.workflow_restart_on_edit();

-- A run ends as cancelled when its item leaves review by another path than the run's own moves: the
-- draft under review is discarded (the item is its live version again), the item is soft-deleted, or
-- an admin takes the lifecycle step by hand. Its open steps end as not reached and its pending
-- assignments close, so no reviewer is left with a decision that could no longer be applied; the
-- timeline says why (`detail.reason`: discarded, deleted, moved; `detail.status`). The run's own moves
-- name the item in mixerai.review_moves; a tenant who sets it by hand only keeps a run open that can
-- no longer finish, as before this trigger.
-- A plain AFTER UPDATE with a WHEN clause, not UPDATE OF status: a discard sets latest_version and the
-- lifecycle's BEFORE trigger sets the status, which a column list would not see.
CREATE FUNCTION mixerai.workflow_cancel_on_leave() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    run mixerai.workflow_instances;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'workflow_cancel_on_leave is for mixerai.content only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF pg_catalog.current_setting('mixerai.review_moves', true) = NEW.id::text THEN
        RETURN NULL;
    END IF;
    SELECT * INTO run FROM mixerai.workflow_instances i
    WHERE i.content_id = NEW.id AND i.completed_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM mixerai.workflow_close(run, 'cancelled', mixerai.app_current_user_id(),
        jsonb_build_object('reason', CASE WHEN NEW.deleted_at IS NOT NULL THEN 'deleted'
                                          WHEN NEW.status = 'published' THEN 'discarded'
                                          ELSE 'moved' END,
                           'status', NEW.status));
    RETURN NULL;
END
$$;

CREATE TRIGGER content_cancel_review AFTER UPDATE ON mixerai.content
    FOR EACH ROW
    WHEN ((OLD.status = 'in_review' AND NEW.status IS DISTINCT FROM 'in_review')
          OR (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL))
    EXECUTE FUNCTION mixerai.workflow_cancel_on_leave();

-- The escalation job (a system scope, the owner): for up to `batch_size` rules due by `due_by` on open steps
-- (`afterHours` after the step was entered), each applied once per pass of a step whichever worker
-- claims it first (a unique timeline row), under the item's lock taken with SKIP LOCKED so concurrent
-- workers take different items and never wait for one another or for a reviewer. notify writes outbox
-- rows (to the rule's `to`, else to the step's pending assignees); reassign gives the step to `to`
-- (those pending who are not among them are relieved); auto_approve and auto_reject decide on the
-- assignees' behalf (a decision row with no user). Returns what it applied.
CREATE FUNCTION mixerai.workflow_escalate(due_by timestamptz, batch_size integer)
    RETURNS TABLE (escalated_step uuid, escalated_run uuid, escalated_brand uuid, escalated_rule bigint,
                   escalated_action text)
    LANGUAGE plpgsql
    SET search_path = ''
    AS $$
DECLARE
    cand record;
    run mixerai.workflow_instances;
    claimed uuid;
    people uuid[];
    rule_action text;
    needed bigint;
BEGIN
    FOR cand IN
        SELECT s.id AS step, s.instance_id AS run_id, s.activation, r.ord, r.rule, s.content_id AS item
        FROM mixerai.workflow_instance_steps s
        JOIN mixerai.workflow_instances i ON i.id = s.instance_id
        CROSS JOIN LATERAL jsonb_array_elements(i.definition -> 'escalationRules') WITH ORDINALITY AS r(rule, ord)
        WHERE s.status = 'active' AND i.status = 'active'
          AND (r.rule ->> 'stepId' IS NULL OR (r.rule ->> 'stepId')::uuid = s.step_id)
          AND s.started_at + make_interval(hours => (r.rule ->> 'afterHours')::integer) <= due_by
          AND NOT EXISTS (SELECT 1 FROM mixerai.workflow_timeline t
                          WHERE t.instance_step_id = s.id AND t.kind = 'escalated' AND t.activation = s.activation
                            AND t.rule_index = r.ord)
        ORDER BY s.started_at, s.id, r.ord
        LIMIT batch_size
    LOOP
        PERFORM 1 FROM mixerai.content c WHERE c.id = cand.item FOR NO KEY UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        SELECT * INTO STRICT run FROM mixerai.workflow_instances i WHERE i.id = cand.run_id FOR UPDATE;
        CONTINUE WHEN run.status <> 'active' OR NOT EXISTS (
            SELECT 1 FROM mixerai.workflow_instance_steps s
            WHERE s.id = cand.step AND s.status = 'active' AND s.activation = cand.activation);
        rule_action := cand.rule ->> 'action';
        people := '{}';
        IF jsonb_array_length(coalesce(cand.rule -> 'to', '[]')) > 0 THEN
            SELECT coalesce(array_agg(x.assignee), '{}') INTO people
            FROM mixerai.workflow_resolve(run.brand_id, run.content_id, run.started_by,
                                          coalesce(cand.rule ->> 'assignmentType', 'user'), cand.rule -> 'to') x;
        END IF;
        IF rule_action = 'notify' AND cardinality(people) = 0 THEN
            SELECT coalesce(array_agg(a.user_id ORDER BY a.user_id), '{}') INTO people
            FROM mixerai.workflow_step_assignees a WHERE a.instance_step_id = cand.step AND a.pending;
        END IF;
        INSERT INTO mixerai.workflow_timeline (instance_id, instance_step_id, brand_id, content_id, kind,
                                               activation, rule_index, detail)
        VALUES (run.id, cand.step, run.brand_id, run.content_id, 'escalated', cand.activation, cand.ord,
                jsonb_build_object('action', rule_action, 'after_hours', (cand.rule ->> 'afterHours')::integer,
                                   'to', to_jsonb(people)))
        ON CONFLICT (instance_step_id, activation, rule_index) WHERE kind = 'escalated' DO NOTHING
        RETURNING id INTO claimed;
        CONTINUE WHEN claimed IS NULL;
        IF rule_action = 'notify' THEN
            INSERT INTO mixerai.workflow_outbox (brand_id, instance_id, instance_step_id, content_id, recipient,
                                                 reason, payload)
            SELECT run.brand_id, run.id, cand.step, run.content_id, u, 'escalation',
                   jsonb_build_object('rule_index', cand.ord, 'after_hours', (cand.rule ->> 'afterHours')::integer,
                                      'content_version', run.content_version)
            FROM unnest(people) u;
        ELSIF rule_action = 'reassign' AND cardinality(people) > 0 THEN
            UPDATE mixerai.workflow_step_assignees a SET pending = false, ended_at = now()
            WHERE a.instance_step_id = cand.step AND a.pending AND NOT a.user_id = ANY (people);
            INSERT INTO mixerai.workflow_step_assignees (instance_step_id, instance_id, brand_id, content_id, user_id,
                                                         source)
            SELECT cand.step, run.id, run.brand_id, run.content_id, u, 'escalation'
            FROM unnest(people) u
            WHERE NOT EXISTS (SELECT 1 FROM mixerai.workflow_decisions d
                              WHERE d.instance_step_id = cand.step AND d.activation = cand.activation
                                AND d.decided_by = u)
            ON CONFLICT (instance_step_id, user_id)
                DO UPDATE SET pending = true, assigned_at = now(), ended_at = NULL, source = 'escalation';
            -- The step can still be decided by those now assigned.
            SELECT least(s.required_approvals,
                         (SELECT count(*) FROM mixerai.workflow_decisions d
                          WHERE d.instance_step_id = s.id AND d.activation = s.activation AND d.decision = 'approve'
                            AND d.voided_at IS NULL)
                         + (SELECT count(*) FROM mixerai.workflow_step_assignees a
                            WHERE a.instance_step_id = s.id AND a.pending))
            INTO needed
            FROM mixerai.workflow_instance_steps s WHERE s.id = cand.step;
            UPDATE mixerai.workflow_instance_steps s SET required_approvals = greatest(1, needed) WHERE s.id = cand.step;
        ELSIF rule_action IN ('auto_approve', 'auto_reject') THEN
            INSERT INTO mixerai.workflow_decisions (instance_id, instance_step_id, brand_id, content_id,
                                                    content_version, activation, decided_by, decision, comment)
            VALUES (run.id, cand.step, run.brand_id, run.content_id, run.content_version, cand.activation, NULL,
                    CASE rule_action WHEN 'auto_approve' THEN 'approve' ELSE 'reject' END,
                    format('escalated after %s hours without a decision', cand.rule ->> 'afterHours'));
            PERFORM mixerai.workflow_apply(run.id, cand.step,
                                           CASE rule_action WHEN 'auto_approve' THEN 'approve' ELSE 'reject' END, NULL);
        END IF;
        escalated_step := cand.step;
        escalated_run := run.id;
        escalated_brand := run.brand_id;
        escalated_rule := cand.ord;
        escalated_action := rule_action;
        RETURN NEXT;
    END LOOP;
END
$$;

-- content_check_actor (0014) with one addition: a lifecycle step a review run takes in this very
-- transaction (recorded first in workflow_timeline, which only the run's functions write) for the item
-- named by mixerai.review_moves is the run's to take, whoever its assignees are.
CREATE OR REPLACE FUNCTION mixerai.content_check_actor(step mixerai.content_transitions) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    moving text := current_setting('mixerai.review_moves', true);
BEGIN
    IF moving IS NOT NULL AND moving <> '' AND step.action IN ('start_review', 'approve', 'reject', 'revise')
       AND EXISTS (SELECT 1 FROM mixerai.workflow_timeline t
                   WHERE t.content_id = moving::uuid AND t.xact = pg_current_xact_id_if_assigned()
                     AND t.kind = 'content_' || step.action) THEN
        RETURN;
    END IF;
    IF mixerai.app_current_user_id() IS NULL THEN
        IF NOT step.by_job THEN
            RAISE EXCEPTION '% is a user''s step, not the publishing job''s', step.action
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF step.least_role = 'admin' AND NOT mixerai.app_can_admin() THEN
        RAISE EXCEPTION 'only an admin of the brand may %', step.action USING ERRCODE = 'insufficient_privilege';
    ELSIF NOT mixerai.app_can_write() THEN
        RAISE EXCEPTION 'only an editor or admin of the brand may %', step.action
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

-- Members read runs, steps, assignees, decisions, the timeline and the outbox of their brand; nobody
-- but the functions above writes them.
GRANT SELECT ON mixerai.workflow_instance_steps, mixerai.workflow_step_assignees, mixerai.workflow_decisions,
    mixerai.workflow_timeline, mixerai.workflow_outbox TO mixerai_app;
ALTER TABLE mixerai.workflow_instance_steps ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_instance_steps_scope ON mixerai.workflow_instance_steps AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY workflow_instance_steps_read ON mixerai.workflow_instance_steps FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
ALTER TABLE mixerai.workflow_step_assignees ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_step_assignees_scope ON mixerai.workflow_step_assignees AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY workflow_step_assignees_read ON mixerai.workflow_step_assignees FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
ALTER TABLE mixerai.workflow_decisions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_decisions_scope ON mixerai.workflow_decisions AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY workflow_decisions_read ON mixerai.workflow_decisions FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
ALTER TABLE mixerai.workflow_timeline ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_timeline_scope ON mixerai.workflow_timeline AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY workflow_timeline_read ON mixerai.workflow_timeline FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
ALTER TABLE mixerai.workflow_outbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_outbox_scope ON mixerai.workflow_outbox AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY workflow_outbox_read ON mixerai.workflow_outbox FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));

-- The application role starts runs and decides; everything else here is the functions' own.
GRANT EXECUTE ON FUNCTION mixerai.workflow_start(uuid, integer, uuid),
    mixerai.workflow_decide(uuid, integer, text, text) TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

-- 0014 content lifecycle: the immutable version log, the publishing state machine, approvals pinned to a
-- version. Spec 2.3 / 4.2 ("Content versioning": versions, drafts of published content); issue 12.
--
-- The shape. mixerai.content stays the item's head: its latest draft and its `version` token (0008).
-- Every save of the head's content, through the crate or raw SQL by any role, appends one immutable row
-- to mixerai.content_versions in the same transaction (a SECURITY DEFINER trigger), keyed
-- (content_id, version) with `version` the head's token right after that save. The head points at what
-- matters (latest_version, live_version, approved_version, scheduled_version), so reading the live item
-- or the latest draft is one primary-key look-up and a save writes one new version row and nothing on
-- older ones (no max(version), no `latest` flag to move). A transition moves the token too but saves no
-- content, so version numbers in the history have gaps there: a version row exists for every save.
--
-- The lifecycle is enforced by the BEFORE trigger content_lifecycle, from the one table
-- mixerai.content_transitions: which status may follow which, by which action, and who may take it. A
-- statement takes exactly one step: a save (content columns), a status change (the transition), or a
-- pointer request (live_version := scheduled_version fires a schedule, live_version := NULL takes the
-- live version down, latest_version := live_version discards the draft, scheduled_for reschedules or
-- cancels). Every other lifecycle column (approved_version, scheduled_version, scheduled_by,
-- published_at, published_by) is computed here and refused when written by hand.
--
-- Costs: new tables only, and two triggers on content (CREATE TRIGGER takes a brief SHARE ROW EXCLUSIVE
-- lock on content, bounded by lock_timeout).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- The state machine, as data: one row per (from, action). `edit` rows say where a save moves an item
-- (a status without one stays as it is); `discard` rows where discarding the draft of a live item
-- leaves it. Every other action is requested by setting `status` (unique per from and to).
-- least_role: 'editor' (editors and admins) or 'admin'; by_job: the publishing job (a system scope, no
-- user) may take it too. The same for every brand, so no brand column and no row-level security:
-- readable by the application role, written by migrations only.
CREATE TABLE IF NOT EXISTS mixerai.content_transitions (
    from_status TEXT NOT NULL,
    action TEXT NOT NULL CONSTRAINT content_transitions_action_check CHECK (action ~ '^[a-z_]+$'),
    to_status TEXT NOT NULL,
    least_role TEXT NOT NULL CONSTRAINT content_transitions_least_role_check CHECK (least_role IN ('editor', 'admin')),
    by_job BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT content_transitions_pkey PRIMARY KEY (from_status, action)
);
CREATE UNIQUE INDEX IF NOT EXISTS content_transitions_request_key
    ON mixerai.content_transitions (from_status, to_status) WHERE action NOT IN ('edit', 'discard');

INSERT INTO mixerai.content_transitions (from_status, action, to_status, least_role, by_job) VALUES
    ('draft',          'submit',       'pending_review', 'editor', false),
    ('pending_review', 'withdraw',     'draft',          'editor', false),
    ('pending_review', 'start_review', 'in_review',      'admin',  false),
    ('in_review',      'approve',      'approved',       'admin',  false),
    ('in_review',      'reject',       'rejected',       'admin',  false),
    ('rejected',       'revise',       'draft',          'editor', false),
    ('approved',       'revoke',       'pending_review', 'admin',  false),
    ('approved',       'schedule',     'scheduled',      'editor', false),
    ('approved',       'publish',      'published',      'editor', false),
    ('scheduled',      'unschedule',   'approved',       'editor', false),
    ('scheduled',      'publish',      'published',      'editor', true),
    ('published',      'archive',      'archived',       'admin',  true),
    ('archived',       'reopen',       'draft',          'editor', false),
    -- A save of a published, archived or rejected item is a new draft (a published item keeps serving
    -- its live version); a save after approval voids the approval and sends the item back to review.
    ('published',      'edit',         'draft',          'editor', false),
    ('archived',       'edit',         'draft',          'editor', false),
    ('rejected',       'edit',         'draft',          'editor', false),
    ('approved',       'edit',         'pending_review', 'editor', false),
    ('scheduled',      'edit',         'pending_review', 'editor', false),
    -- Discarding the draft of a live item: the head is the live version again.
    ('draft',          'discard',      'published',      'editor', false),
    ('pending_review', 'discard',      'published',      'editor', false),
    ('in_review',      'discard',      'published',      'editor', false),
    ('rejected',       'discard',      'published',      'editor', false),
    ('approved',       'discard',      'published',      'editor', false),
    ('scheduled',      'discard',      'published',      'editor', false)
ON CONFLICT (from_status, action) DO NOTHING;

GRANT SELECT ON mixerai.content_transitions TO mixerai_app;

-- The hash of a version's content: SHA-256 of its canonical JSON (jsonb's text form is deterministic),
-- so equal content has one hash whatever path wrote it. What an approval pins besides the number.
CREATE FUNCTION mixerai.content_hash(title text, body text, excerpt text, fields jsonb, metadata jsonb,
                                     tags text[], categories text[], template_id uuid) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = ''
    AS $$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_build_object(
        'title', title, 'body', body, 'excerpt', excerpt, 'fields', fields, 'metadata', metadata,
        'tags', pg_catalog.to_jsonb(tags), 'categories', pg_catalog.to_jsonb(categories),
        'template_id', template_id)::text, 'UTF8'))
    $$;

-- One row per save: what the head's content was right after it, who saved it, when, with which note,
-- against which template (and that template's version at the time), and the content's hash.
CREATE TABLE IF NOT EXISTS mixerai.content_versions (
    content_id UUID NOT NULL,
    brand_id UUID NOT NULL,
    -- The head's `version` right after the save.
    version BIGINT NOT NULL CONSTRAINT content_versions_version_check CHECK (version >= 1),
    title TEXT NOT NULL,
    body TEXT,
    excerpt TEXT,
    fields JSONB NOT NULL,
    metadata JSONB NOT NULL,
    tags TEXT[] NOT NULL,
    categories TEXT[] NOT NULL,
    -- No foreign keys on the template and the author: history outlives what it names (as the trail does).
    template_id UUID,
    template_version BIGINT,
    note TEXT,
    content_hash BYTEA NOT NULL CONSTRAINT content_versions_content_hash_check CHECK (length(content_hash) = 32),
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT content_versions_pkey PRIMARY KEY (content_id, version),
    -- (content_id, brand_id): a version is always of an item of its own brand. A hard delete of the
    -- item takes its history with it; a soft delete keeps it.
    CONSTRAINT content_versions_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE
);

-- An approval: who approved which version, with the hash of exactly what they saw. It stands until it
-- is voided (an edit after approval, a revoked approval, a discarded or superseded schedule); one that
-- went live stays as the record of what was approved.
CREATE TABLE IF NOT EXISTS mixerai.content_approvals (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    content_id UUID NOT NULL,
    brand_id UUID NOT NULL,
    version BIGINT NOT NULL,
    content_hash BYTEA NOT NULL,
    approved_by UUID REFERENCES mixerai.users (id),
    approved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    voided_at TIMESTAMPTZ,
    voided_by UUID REFERENCES mixerai.users (id),
    -- The head's version when it was voided (the edit that voided it, for instance).
    voided_at_version BIGINT,
    CONSTRAINT content_approvals_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE,
    CONSTRAINT content_approvals_version_fkey FOREIGN KEY (content_id, version)
        REFERENCES mixerai.content_versions (content_id, version) ON DELETE CASCADE,
    CONSTRAINT content_approvals_voided_together CHECK ((voided_at IS NULL) = (voided_at_version IS NULL))
);

CREATE INDEX IF NOT EXISTS idx_content_approvals_content ON mixerai.content_approvals (content_id, approved_at DESC);
-- At most one approval of a version stands.
CREATE UNIQUE INDEX IF NOT EXISTS content_approvals_standing_key ON mixerai.content_approvals (content_id, version)
    WHERE voided_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_content_approvals_approved_by ON mixerai.content_approvals (approved_by)
    WHERE approved_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_content_approvals_voided_by ON mixerai.content_approvals (voided_by)
    WHERE voided_by IS NOT NULL;

CREATE TRIGGER content_approvals_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.content_approvals
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');

-- Versions never change; approvals change once, when voided. Deletes only follow the item's own hard
-- delete (the cascades above). For every role, the owner included: the application role has no write
-- grant on either table at all.
CREATE FUNCTION mixerai.content_history_immutable() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME NOT IN ('content_versions', 'content_approvals') THEN
        RAISE EXCEPTION 'content_history_immutable is for the content history tables only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM mixerai.content c WHERE c.id = OLD.content_id) THEN
            RAISE EXCEPTION 'content history is kept while its item exists'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    -- Read as JSON: the two tables share this function, and only approvals have these columns.
    IF TG_TABLE_NAME = 'content_approvals' THEN
        IF to_jsonb(OLD) ->> 'voided_at' IS NULL AND to_jsonb(NEW) ->> 'voided_at' IS NOT NULL
           AND (to_jsonb(NEW) - '{voided_at,voided_by,voided_at_version}'::text[])
               = (to_jsonb(OLD) - '{voided_at,voided_by,voided_at_version}'::text[]) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% rows are never changed', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER content_versions_immutable BEFORE UPDATE OR DELETE ON mixerai.content_versions
    FOR EACH ROW EXECUTE FUNCTION mixerai.content_history_immutable();
CREATE TRIGGER content_approvals_immutable BEFORE UPDATE OR DELETE ON mixerai.content_approvals
    FOR EACH ROW EXECUTE FUNCTION mixerai.content_history_immutable();

-- Who may take `step`: a user of the scope's brand with its least role, or the publishing job (no
-- user in context: a system scope) where the step allows it.
CREATE FUNCTION mixerai.content_check_actor(step mixerai.content_transitions) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
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

-- The state machine (see the file's head). BEFORE INSERT OR UPDATE, named to run after stamp_update
-- and stamp_actor (triggers fire in name order), so NEW.version and NEW.updated_by are final here.
CREATE FUNCTION mixerai.content_lifecycle() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    actor uuid := mixerai.app_current_user_id();
    saved boolean;
    steps integer;
    step mixerai.content_transitions;
    target integer;
    live mixerai.content_versions;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_lifecycle is for mixerai.content only' USING ERRCODE = 'insufficient_privilege';
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a new item starts as a draft, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_created_as_draft', TABLE = 'content';
        END IF;
        IF num_nonnulls(NEW.live_version, NEW.approved_version, NEW.scheduled_version, NEW.scheduled_by,
                        NEW.scheduled_for, NEW.published_at, NEW.published_by) > 0 THEN
            RAISE EXCEPTION 'publication columns are set by the lifecycle only'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.latest_version := NEW.version;
        RETURN NEW;
    END IF;

    IF (NEW.approved_version, NEW.scheduled_version, NEW.scheduled_by, NEW.published_at, NEW.published_by)
       IS DISTINCT FROM (OLD.approved_version, OLD.scheduled_version, OLD.scheduled_by, OLD.published_at,
                         OLD.published_by) THEN
        RAISE EXCEPTION 'approval, schedule and publication columns are set by the lifecycle only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    saved := (NEW.title, NEW.body, NEW.excerpt, NEW.fields, NEW.metadata, NEW.tags, NEW.categories, NEW.template_id)
             IS DISTINCT FROM
             (OLD.title, OLD.body, OLD.excerpt, OLD.fields, OLD.metadata, OLD.tags, OLD.categories, OLD.template_id);
    steps := saved::integer
        + (NEW.status IS DISTINCT FROM OLD.status)::integer
        + (NEW.live_version IS DISTINCT FROM OLD.live_version)::integer
        + (NEW.latest_version IS DISTINCT FROM OLD.latest_version)::integer
        + (NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for AND NEW.status IS NOT DISTINCT FROM OLD.status)::integer;
    IF steps > 1 THEN
        RAISE EXCEPTION 'one lifecycle step per statement: a save, a status change or a publication'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'content_one_lifecycle_step', TABLE = 'content';
    END IF;

    -- A note belongs to one save: a save that sets none records none, and only a save sets one.
    IF saved THEN
        IF NEW.version_note IS NOT DISTINCT FROM OLD.version_note THEN
            NEW.version_note := NULL;
        END IF;
    ELSE
        NEW.version_note := OLD.version_note;
    END IF;

    IF saved THEN
        NEW.latest_version := NEW.version;
        SELECT * INTO step FROM mixerai.content_transitions t WHERE t.from_status = OLD.status AND t.action = 'edit';
        IF FOUND THEN
            NEW.status := step.to_status;
        END IF;

    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        SELECT * INTO step FROM mixerai.content_transitions t
        WHERE t.from_status = OLD.status AND t.to_status = NEW.status AND t.action NOT IN ('edit', 'discard');
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no transition from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_status_transition', TABLE = 'content',
                      DETAIL = OLD.status || '>' || NEW.status;
        END IF;
        PERFORM mixerai.content_check_actor(step);
        IF NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for AND step.action <> 'schedule' THEN
            RAISE EXCEPTION 'one lifecycle step per statement: a save, a status change or a publication'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_one_lifecycle_step', TABLE = 'content';
        END IF;
        CASE step.action
            WHEN 'approve' THEN
                NEW.approved_version := OLD.latest_version;
            WHEN 'schedule' THEN
                IF NEW.scheduled_for IS NULL THEN
                    RAISE EXCEPTION 'scheduling needs scheduled_for'
                        USING ERRCODE = 'check_violation', CONSTRAINT = 'content_scheduled_has_time', TABLE = 'content';
                END IF;
                NEW.scheduled_version := OLD.approved_version;
                NEW.scheduled_by := actor;
            WHEN 'unschedule' THEN
                NEW.scheduled_for := NULL;
                NEW.scheduled_version := NULL;
                NEW.scheduled_by := NULL;
            WHEN 'publish' THEN
                target := CASE WHEN OLD.status = 'scheduled' THEN OLD.scheduled_version ELSE OLD.approved_version END;
            WHEN 'archive' THEN
                NEW.live_version := NULL;
                NEW.expires_at := NULL;
            ELSE
                NULL;
        END CASE;

    ELSIF NEW.live_version IS DISTINCT FROM OLD.live_version THEN
        IF NEW.live_version IS NULL THEN
            -- Taking the live version down: an admin, or the job when it expired. A published head is
            -- archived with it; a draft of the item stays a draft.
            SELECT * INTO STRICT step FROM mixerai.content_transitions t
            WHERE t.from_status = 'published' AND t.action = 'archive';
            PERFORM mixerai.content_check_actor(step);
            NEW.expires_at := NULL;
            IF OLD.status = 'published' THEN
                NEW.status := step.to_status;
            END IF;
        ELSIF NEW.live_version = OLD.scheduled_version THEN
            -- A schedule fires: its pinned version goes live, whatever the head holds by now.
            SELECT * INTO STRICT step FROM mixerai.content_transitions t
            WHERE t.from_status = 'scheduled' AND t.action = 'publish';
            PERFORM mixerai.content_check_actor(step);
            target := OLD.scheduled_version;
            IF OLD.status = 'scheduled' THEN
                NEW.status := step.to_status;
            END IF;
        ELSE
            RAISE EXCEPTION 'live_version is set by publishing only' USING ERRCODE = 'insufficient_privilege';
        END IF;

    ELSIF NEW.latest_version IS DISTINCT FROM OLD.latest_version THEN
        -- Discarding the draft: the head takes the live version's content again. The discarded versions
        -- stay in the history.
        IF OLD.live_version IS NULL OR NEW.latest_version IS DISTINCT FROM OLD.live_version THEN
            RAISE EXCEPTION 'latest_version is set by saves, and by discarding a draft (to live_version)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT * INTO step FROM mixerai.content_transitions t WHERE t.from_status = OLD.status AND t.action = 'discard';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no transition from % to published', OLD.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_status_transition', TABLE = 'content',
                      DETAIL = OLD.status || '>published';
        END IF;
        PERFORM mixerai.content_check_actor(step);
        SELECT * INTO STRICT live FROM mixerai.content_versions v
        WHERE v.content_id = OLD.id AND v.version = OLD.live_version;
        NEW.title := live.title;
        NEW.body := live.body;
        NEW.excerpt := live.excerpt;
        NEW.fields := live.fields;
        NEW.metadata := live.metadata;
        NEW.tags := live.tags;
        NEW.categories := live.categories;
        NEW.template_id := live.template_id;
        NEW.version_note := live.note;
        NEW.status := step.to_status;
        NEW.scheduled_for := NULL;
        NEW.scheduled_version := NULL;
        NEW.scheduled_by := NULL;

    ELSIF NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for THEN
        -- Rescheduling or cancelling a pending schedule.
        IF OLD.scheduled_version IS NULL THEN
            RAISE EXCEPTION 'nothing is scheduled: schedule an approved item'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_scheduled_has_time', TABLE = 'content';
        END IF;
        SELECT * INTO STRICT step FROM mixerai.content_transitions t
        WHERE t.from_status = 'scheduled' AND t.action = 'unschedule';
        PERFORM mixerai.content_check_actor(step);
        IF NEW.scheduled_for IS NULL THEN
            NEW.scheduled_version := NULL;
            NEW.scheduled_by := NULL;
            IF OLD.status = 'scheduled' THEN
                NEW.status := step.to_status;
            END IF;
        ELSE
            NEW.scheduled_by := actor;
        END IF;
    END IF;

    IF target IS NOT NULL THEN
        -- Publishing publishes exactly what was approved: the version's content, hashed afresh, must be
        -- what its standing approval recorded.
        IF NOT EXISTS (SELECT 1 FROM mixerai.content_approvals a
                       JOIN mixerai.content_versions v ON v.content_id = a.content_id AND v.version = a.version
                       WHERE a.content_id = OLD.id AND a.version = target AND a.voided_at IS NULL
                         AND a.content_hash = mixerai.content_hash(v.title, v.body, v.excerpt, v.fields, v.metadata,
                                                                   v.tags, v.categories, v.template_id)) THEN
            RAISE EXCEPTION 'version % has no standing approval of its content', target
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_publish_approved', TABLE = 'content';
        END IF;
        NEW.live_version := target;
        -- A publication supersedes any pending schedule.
        NEW.scheduled_for := NULL;
        NEW.scheduled_version := NULL;
        NEW.scheduled_by := NULL;
        NEW.published_at := coalesce(OLD.published_at, now());
        NEW.published_by := coalesce(OLD.published_by, actor, OLD.scheduled_by);
    END IF;

    -- The standing approval is the head's: it goes when the head is no longer approved.
    IF NEW.status NOT IN ('approved', 'scheduled') THEN
        NEW.approved_version := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER content_version_lifecycle BEFORE INSERT OR UPDATE ON mixerai.content
    FOR EACH ROW EXECUTE FUNCTION mixerai.content_lifecycle();

-- Records what content_lifecycle decided, in the same transaction: the version row of a save, the
-- approval of an approve, the voiding of approvals no longer in force (neither the head's, nor
-- scheduled, nor live).
CREATE FUNCTION mixerai.content_record() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    actor uuid := mixerai.app_current_user_id();
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_record is for mixerai.content only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- A save sets latest_version to the new token; a discard moves it back to a version that exists.
    IF NEW.latest_version IS DISTINCT FROM OLD.latest_version AND NEW.latest_version = NEW.version THEN
        INSERT INTO mixerai.content_versions (content_id, brand_id, version, title, body, excerpt, fields,
                                              metadata, tags, categories, template_id, template_version, note,
                                              content_hash, created_by)
        VALUES (NEW.id, NEW.brand_id, NEW.latest_version, NEW.title, NEW.body, NEW.excerpt, NEW.fields,
                NEW.metadata, NEW.tags, NEW.categories, NEW.template_id,
                (SELECT t.version FROM mixerai.content_templates t WHERE t.id = NEW.template_id),
                NEW.version_note,
                mixerai.content_hash(NEW.title, NEW.body, NEW.excerpt, NEW.fields, NEW.metadata, NEW.tags,
                                     NEW.categories, NEW.template_id),
                NEW.updated_by);
    END IF;
    BEGIN
        IF num_nonnulls(OLD.approved_version, OLD.scheduled_version) > 0 THEN
            UPDATE mixerai.content_approvals a
            SET voided_at = now(), voided_by = actor, voided_at_version = NEW.version
            WHERE a.content_id = NEW.id AND a.voided_at IS NULL
              AND a.version IN (OLD.approved_version, OLD.scheduled_version)
              AND a.version IS DISTINCT FROM NEW.approved_version
              AND a.version IS DISTINCT FROM NEW.scheduled_version
              AND a.version IS DISTINCT FROM NEW.live_version;
        END IF;
        IF NEW.approved_version IS NOT NULL AND NEW.approved_version IS DISTINCT FROM OLD.approved_version THEN
            INSERT INTO mixerai.content_approvals (content_id, brand_id, version, content_hash, approved_by)
            SELECT NEW.id, NEW.brand_id, v.version, v.content_hash, actor
            FROM mixerai.content_versions v
            WHERE v.content_id = NEW.id AND v.version = NEW.approved_version;
        END IF;
    END;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_version_record AFTER UPDATE ON mixerai.content
    FOR EACH ROW EXECUTE FUNCTION mixerai.content_record();

-- The first version of new items, one statement per INSERT (a bulk insert of a thousand items is one
-- more INSERT here, as for the search side table).
CREATE FUNCTION mixerai.content_record_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_record_inserted is for mixerai.content only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.content_versions (content_id, brand_id, version, title, body, excerpt, fields,
                                          metadata, tags, categories, template_id, template_version, note,
                                          content_hash, created_by)
    SELECT i.id, i.brand_id, i.latest_version, i.title, i.body, i.excerpt, i.fields, i.metadata, i.tags,
           i.categories, i.template_id, t.version, i.version_note,
           mixerai.content_hash(i.title, i.body, i.excerpt, i.fields, i.metadata, i.tags, i.categories,
                                i.template_id),
           i.updated_by
    FROM inserted i
    LEFT JOIN mixerai.content_templates t ON t.id = i.template_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_version_record_insert AFTER INSERT ON mixerai.content
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION mixerai.content_record_inserted();

-- Members read the history and the approvals; nobody but these triggers writes them.
GRANT SELECT ON mixerai.content_versions, mixerai.content_approvals TO mixerai_app;
ALTER TABLE mixerai.content_versions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_versions_scope ON mixerai.content_versions AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY content_versions_read ON mixerai.content_versions FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
ALTER TABLE mixerai.content_approvals ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_approvals_scope ON mixerai.content_approvals AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY content_approvals_read ON mixerai.content_approvals FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));

-- Functions are not PUBLIC's to call (see 0001); none of these is the application role's to call.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

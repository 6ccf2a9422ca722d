-- 0008 content: one row per content item (the head), and its full-text search. Spec 2.3 / 3.3.
--
-- This row is the item's head: its latest draft (the working copy) and `version`, the optimistic-
-- concurrency token every write moves. The immutable version log (mixerai.content_versions, 0014) and
-- the lifecycle (0015) hang off it through direct pointers kept on this row: `latest_version` (the
-- version the head's content is), `live_version` (what readers of the published item get),
-- `approved_version` (the standing approval) and `scheduled_version` (what a due schedule publishes), so
-- "latest" and "live" are one indexed look-up, never max(version), never a flag rewritten on older rows.
-- Erratum E7: not partitioned (a partitioned table's unique keys must include the partition key, which
-- would break every foreign key to content.id).

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.content (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id),
    template_id UUID REFERENCES mixerai.content_templates (id),
    type VARCHAR(50) NOT NULL CHECK (length(trim(type)) > 0),

    title VARCHAR(500) NOT NULL CONSTRAINT content_title_not_empty CHECK (length(trim(title)) > 0),
    slug VARCHAR(500) NOT NULL CONSTRAINT content_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(fields) = 'object'),

    body TEXT,
    excerpt TEXT,

    -- SEO: {metaTitle, metaDescription, keywords[], ogImage, canonicalUrl}
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),

    -- The lifecycle state of the head (the working copy), moved only as mixerai.content_transitions
    -- allows (0015); the pointers below say what is live and what is scheduled.
    status VARCHAR(50) NOT NULL DEFAULT 'draft' CONSTRAINT content_status_check CHECK (status IN
        ('draft', 'pending_review', 'in_review', 'approved', 'scheduled', 'published', 'archived', 'rejected')),
    -- When, and by whom, the item first went live: set by publishing only (0015), kept across republishes.
    published_at TIMESTAMPTZ,
    published_by UUID REFERENCES mixerai.users (id),
    -- A pending schedule: `scheduled_version` goes live at `scheduled_for` (publish_due), as pinned when
    -- `scheduled_by` scheduled it, whatever the head holds by then.
    scheduled_for TIMESTAMPTZ,
    scheduled_version INTEGER,
    scheduled_by UUID REFERENCES mixerai.users (id),
    -- When the live version is taken down (publish_due archives it).
    expires_at TIMESTAMPTZ,

    workflow_id UUID REFERENCES mixerai.workflows (id),
    -- A step id inside workflows.steps (JSON), so no foreign key.
    current_step_id UUID,
    workflow_data JSONB,

    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- The version whose content the head holds (the latest draft): the newest save, or the live version
    -- again after a discarded draft. Set by the lifecycle trigger only (0015).
    latest_version INTEGER NOT NULL DEFAULT 1,
    -- The version readers of the published item get; NULL when nothing is live.
    live_version INTEGER,
    -- The version the standing approval approved (mixerai.content_approvals); NULL when none stands.
    approved_version INTEGER,
    -- The note of the latest save (copied into its version row); a save that sets none records none.
    version_note TEXT,
    -- Whether the head is a draft: nothing live, or the head ahead of (or apart from) the live version.
    is_draft BOOLEAN GENERATED ALWAYS AS (live_version IS DISTINCT FROM latest_version) STORED,
    -- An item of the same brand only: content_parent_fkey below names (parent_id, brand_id).
    parent_id UUID,

    views INTEGER NOT NULL DEFAULT 0 CHECK (views >= 0),
    shares INTEGER NOT NULL DEFAULT 0 CHECK (shares >= 0),
    engagement JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(engagement) = 'object'),

    tags TEXT[] NOT NULL DEFAULT '{}',
    categories TEXT[] NOT NULL DEFAULT '{}',
    custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),

    -- Full-text document over title, body and field values (spec 7.1 idx_content_fts), stored so that
    -- the search side table below copies one expression and nothing is recomputed per read.
    search_vector TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
        || setweight(jsonb_to_tsvector('english'::regconfig, fields, '["string"]'), 'C')
    ) STORED,

    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by UUID NOT NULL REFERENCES mixerai.users (id),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,

    -- Lets child tables reference (id, brand_id) together, so a child can never claim another brand
    -- (a foreign-key check does not look at row-level security).
    CONSTRAINT content_id_brand_key UNIQUE (id, brand_id),
    CONSTRAINT content_parent_fkey FOREIGN KEY (parent_id, brand_id) REFERENCES mixerai.content (id, brand_id),
    CONSTRAINT content_published_has_time CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT content_scheduled_has_time CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL),
    -- The pointers' invariants, so that no write (nor a bulk load with triggers off) can leave a head
    -- that contradicts itself. Pointers name versions at or before the head's.
    CONSTRAINT content_versions_in_order CHECK (latest_version BETWEEN 1 AND version
        AND live_version BETWEEN 1 AND latest_version AND approved_version BETWEEN 1 AND latest_version
        AND scheduled_version BETWEEN 1 AND latest_version),
    CONSTRAINT content_live_has_time CHECK (live_version IS NULL OR published_at IS NOT NULL),
    -- `published` means the head is the live version; `approved` and `scheduled` that it is the approved one.
    CONSTRAINT content_published_is_live CHECK (status <> 'published' OR live_version = latest_version),
    CONSTRAINT content_approved_is_pinned CHECK (status NOT IN ('approved', 'scheduled') OR approved_version = latest_version),
    CONSTRAINT content_schedule_is_pinned CHECK ((scheduled_version IS NULL) = (scheduled_for IS NULL)
        AND (scheduled_version IS NULL) = (scheduled_by IS NULL)
        AND (status <> 'scheduled' OR scheduled_version = latest_version))
);

-- Erratum W8: the spec's UNIQUE(brand_id, slug, version) kept a soft-deleted item's slug forever (and let
-- two live items share a slug at different versions). A slug is unique among the brand's live items.
CREATE UNIQUE INDEX content_brand_slug_key ON mixerai.content (brand_id, slug) WHERE deleted_at IS NULL;

CREATE INDEX idx_content_brand_status ON mixerai.content (brand_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_brand_type_status ON mixerai.content (brand_id, type, status) WHERE deleted_at IS NULL;
-- Keyset pagination: a brand's items newest first with id as the tie-breaker.
CREATE INDEX idx_content_brand_created ON mixerai.content (brand_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_type ON mixerai.content (type) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_created_at ON mixerai.content (created_at DESC) WHERE deleted_at IS NULL;
-- Erratum E6: the spec's "published in the last 30 days" index used NOW() in its predicate, which
-- PostgreSQL refuses (index predicates must be immutable). A plain partial index on published_at serves
-- the same range queries.
CREATE INDEX idx_content_published ON mixerai.content (published_at DESC) WHERE deleted_at IS NULL AND status = 'published';
-- A brand's live items, latest published first (ContentRepo::list_live, keyset on (published_at, id)).
CREATE INDEX idx_content_brand_live ON mixerai.content (brand_id, published_at DESC, id DESC)
    WHERE deleted_at IS NULL AND live_version IS NOT NULL;
-- What publish_due finds: due schedules, and live items that expire.
CREATE INDEX idx_content_scheduled ON mixerai.content (scheduled_for) WHERE deleted_at IS NULL AND scheduled_version IS NOT NULL;
CREATE INDEX idx_content_expiring ON mixerai.content (expires_at)
    WHERE deleted_at IS NULL AND live_version IS NOT NULL AND expires_at IS NOT NULL;
CREATE INDEX idx_content_workflow ON mixerai.content (workflow_id, current_step_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX idx_content_template ON mixerai.content (template_id) WHERE template_id IS NOT NULL;
CREATE INDEX idx_content_parent ON mixerai.content (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX idx_content_tags ON mixerai.content USING gin (tags);
-- Foreign-key checks: of brand_id when a brand is purged (the brand indexes above are all partial, which
-- such a check cannot use), and of the actor columns when a user is purged.
CREATE INDEX idx_content_brand ON mixerai.content (brand_id);
CREATE INDEX idx_content_created_by ON mixerai.content (created_by);
CREATE INDEX idx_content_updated_by ON mixerai.content (updated_by);
CREATE INDEX idx_content_published_by ON mixerai.content (published_by) WHERE published_by IS NOT NULL;
CREATE INDEX idx_content_scheduled_by ON mixerai.content (scheduled_by) WHERE scheduled_by IS NOT NULL;
CREATE INDEX idx_content_categories ON mixerai.content USING gin (categories);
CREATE INDEX idx_content_fields ON mixerai.content USING gin (fields jsonb_path_ops);

CREATE TRIGGER content_stamp_update BEFORE UPDATE ON mixerai.content
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER content_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.content
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert', 'updated_by=insert',
                                                      'updated_by=update');

-- A template or workflow named by an item must be one assigned to the item's brand: the foreign keys
-- alone accept any tenant's, and such a reference would also block that tenant's later purge. Reported
-- as the foreign key's violation. Checked when the reference is set, not again when the template is
-- later unassigned (the item keeps the template it was made from).
CREATE FUNCTION mixerai.content_check_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF NEW.template_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.template_id IS DISTINCT FROM OLD.template_id OR NEW.brand_id <> OLD.brand_id)
       AND NOT mixerai.template_assigned(NEW.template_id, NEW.brand_id) THEN
        RAISE EXCEPTION 'template % is not assigned to brand %', NEW.template_id, NEW.brand_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'content_template_id_fkey', TABLE = 'content';
    END IF;
    IF NEW.workflow_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.workflow_id IS DISTINCT FROM OLD.workflow_id OR NEW.brand_id <> OLD.brand_id)
       AND NOT mixerai.workflow_assigned(NEW.workflow_id, NEW.brand_id) THEN
        RAISE EXCEPTION 'workflow % is not assigned to brand %', NEW.workflow_id, NEW.brand_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'content_workflow_id_fkey', TABLE = 'content';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER content_check_references BEFORE INSERT OR UPDATE OF template_id, workflow_id, brand_id
    ON mixerai.content FOR EACH ROW EXECUTE FUNCTION mixerai.content_check_references();

-- search_vector is derived from title, body and fields: left out of the trail.
CREATE TRIGGER content_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.content
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit', 'search_vector');

-- Editors write content.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.content TO mixerai_app;
ALTER TABLE mixerai.content ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_scope ON mixerai.content AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
-- Reading is written as a brand equality, not as the boolean (SELECT mixerai.app_can_read()): the planner
-- estimates a boolean InitPlan filter at half the rows, which made the brand's newest-first page look
-- twice as dear through idx_content_brand_created as it is and pushed it onto (brand_id, status) and a
-- sort (issue 16). As an equality it joins the brand's equivalence class: one index condition, the
-- InitPlans compared once, the bare query's estimates and plan (tests/it/plans.rs). Same meaning: the
-- scope's brand when the user may read there, else NULL, which no row equals. The brand is read
-- unchecked (app_scope_brand_id, 0001) because app_can_read() has just checked the context's seal in
-- the same expression; the checked read would be a second definer call in every read of content.
CREATE POLICY content_read ON mixerai.content FOR SELECT TO mixerai_app
    USING (brand_id = (SELECT CASE WHEN mixerai.app_can_read() THEN mixerai.app_scope_brand_id() END));
CREATE POLICY content_insert ON mixerai.content FOR INSERT TO mixerai_app WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY content_update ON mixerai.content FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_write())) WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY content_delete ON mixerai.content FOR DELETE TO mixerai_app USING ((SELECT mixerai.app_can_write()));

-- Full-text search that keeps its GIN index under row-level security.
--
-- Why a side table. Under RLS, PostgreSQL evaluates a policy's quals before any qual of the query that
-- is not leakproof, so such a qual cannot become an index condition (restriction_is_securely_promotable).
-- `tsvector @@ tsquery` (ts_match_vq) is not leakproof, and marking it so needs a superuser, so a tenant
-- scope would never reach a GIN index on content: it would read all of the brand's rows and filter them.
--
-- So the search document lives beside content in content_search, one row per live item, kept by
-- triggers. Row-level security is enabled on it with no policy and no grant to mixerai_app: the
-- application role cannot read it at all (default deny). Its owner bypasses row-level security, so it
-- reads the table without policy quals and the GIN index is usable. The only door is
-- content_search_ids(), a SECURITY DEFINER function that admits only the scope's brand and only a user
-- who may read there (app_can_read), and returns ids and ranks; the caller then reads the rows from
-- content, where every policy applies again (defence in depth). The document itself is defined once, by
-- content.search_vector; content_search copies it.

-- The brand as one extra lexeme of the document ('b' and the id's 32 hex digits, no positions), so the
-- GIN index answers "this brand's items that match" as one intersection of posting lists: no btree_gin
-- extension, and no planner choice between a brand index and the text index. A brand lexeme never
-- changes a rank: queries never name it, and ts_rank's default normalisation ignores document length.
CREATE FUNCTION mixerai.content_search_brand_term(brand uuid) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = ''
    AS $$ SELECT 'b' || replace(brand::text, '-', '') $$;

CREATE TABLE mixerai.content_search (
    content_id UUID PRIMARY KEY,
    brand_id UUID NOT NULL,
    -- content.search_vector plus the brand lexeme.
    search_vector TSVECTOR NOT NULL,
    -- Hard deletes of content take the document with them; (id, brand_id) so it can never name another
    -- brand's item.
    CONSTRAINT content_search_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE
);

CREATE INDEX idx_content_fts ON mixerai.content_search USING gin (search_vector);

-- Deliberately ENABLE without FORCE and without a policy: default deny for every role but the owner.
ALTER TABLE mixerai.content_search ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON mixerai.content_search FROM PUBLIC;

-- New items, in one statement per INSERT (a bulk insert of a thousand rows is one more INSERT here).
CREATE FUNCTION mixerai.content_search_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_search_inserted is for mixerai.content only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.content_search (content_id, brand_id, search_vector)
    SELECT i.id, i.brand_id, i.search_vector || mixerai.content_search_brand_term(i.brand_id)::tsvector
    FROM inserted i WHERE i.deleted_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_search_insert AFTER INSERT ON mixerai.content
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION mixerai.content_search_inserted();

-- Edits of the text, soft deletes and restores; the WHEN clause keeps every other update free.
CREATE FUNCTION mixerai.content_search_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_search_updated is for mixerai.content only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.deleted_at IS NOT NULL THEN
        DELETE FROM mixerai.content_search WHERE content_id = NEW.id;
    ELSE
        INSERT INTO mixerai.content_search (content_id, brand_id, search_vector)
        VALUES (NEW.id, NEW.brand_id, NEW.search_vector || mixerai.content_search_brand_term(NEW.brand_id)::tsvector)
        ON CONFLICT (content_id) DO UPDATE SET search_vector = EXCLUDED.search_vector;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_search_update AFTER UPDATE ON mixerai.content FOR EACH ROW
    WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION mixerai.content_search_updated();

-- The ids and ranks of the scope's brand's live items that match `query`, best first (rank, then id),
-- at most `max_rows`. Nothing at all for a caller who may not read the brand, or without a brand context.
CREATE FUNCTION mixerai.content_search_ids(query tsquery, max_rows integer)
    RETURNS TABLE (id uuid, rank real)
    -- A page of hits, not the default guess of 1000: so the caller's join reads content by key.
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20
    SET search_path = ''
    AS $$
DECLARE
    brand uuid := mixerai.app_current_brand_id();
BEGIN
    -- A query without lexemes (only stop words) matches nothing, rather than every item of the brand.
    IF brand IS NULL OR numnode(query) = 0 OR NOT mixerai.app_can_read() THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT cs.content_id, ts_rank(cs.search_vector, query)
    FROM mixerai.content_search cs
    WHERE cs.search_vector @@ (query && mixerai.content_search_brand_term(brand)::tsquery)
      -- Redundant with the brand lexeme, unless an item's own text spells another brand's lexeme.
      AND cs.brand_id = brand
    ORDER BY 2 DESC, 1 DESC
    LIMIT max_rows;
END
$$;
GRANT EXECUTE ON FUNCTION mixerai.content_search_ids(tsquery, integer) TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

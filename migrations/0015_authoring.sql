-- 0015 authoring: what the template and workflow repositories need beyond 0006/0007.
--
-- * content_templates.version: the optimistic-concurrency token of template updates (workflows have had
--   one since 0007). A patch names the version it was read at; a stale one changes nothing.
-- * Keyset-list indexes on (created_at DESC, id DESC) for both shared tables. The brand filter is an
--   array containment (brand_ids @> ARRAY[brand], enforced by the RESTRICTIVE policies of 0013) that a
--   btree cannot serve; a brand has few templates and workflows, so walking the creation order and
--   filtering is the cheap plan, and it never sorts.
-- * One default workflow per brand and content type. brand_ids and content_types are arrays, so a unique
--   index cannot say "no two active defaults share a brand and a type", and an exclusion constraint
--   cannot either: `&&` on uuid[] / text[] exists only for GIN, which does not support exclusion
--   constraints (GiST array overlap needs the intarray extension and int4[]). A trigger does it under
--   transaction-level advisory locks, one per brand of the row, taken in brand order so two writers
--   cannot deadlock. Scopes run in READ COMMITTED, so the check query after the lock sees every default
--   committed by the lock's previous holder. A clash is raised as unique_violation (23505) naming
--   workflows_one_default_per_brand_type, which the crate maps to Error::Conflict like any unique key.
-- * A default workflow names at least one content type: "default for every type" would overlap every
--   other default of its brands.

ALTER TABLE content_templates ADD COLUMN version INTEGER NOT NULL DEFAULT 1
    CONSTRAINT content_templates_version_check CHECK (version >= 1);

CREATE INDEX idx_content_templates_created ON content_templates (created_at DESC, id DESC);
CREATE INDEX idx_workflows_created ON workflows (created_at DESC, id DESC);

ALTER TABLE workflows ADD CONSTRAINT workflows_default_has_types
    CHECK (NOT is_default OR cardinality(content_types) > 0);

-- SECURITY DEFINER: the check must see every active default of the row's brands, including rows the
-- acting scope cannot read (a default shared with a brand of another tenant), or two brand admins could
-- each add a default that overlaps one they cannot see.
CREATE FUNCTION workflows_one_default() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
DECLARE
    brand uuid;
    clash uuid;
BEGIN
    FOR brand IN SELECT DISTINCT b FROM unnest(NEW.brand_ids) AS b ORDER BY b LOOP
        -- The first key names this lock space; the second the brand.
        PERFORM pg_advisory_xact_lock(hashtext('workflows_one_default'), hashtext(brand::text));
    END LOOP;
    SELECT w.id INTO clash
    FROM workflows w
    WHERE w.id <> NEW.id AND w.is_default AND w.is_active
      AND w.brand_ids && NEW.brand_ids AND w.content_types && NEW.content_types
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'another active default workflow covers one of these brands and content types'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'workflows_one_default_per_brand_type',
                  TABLE = 'workflows';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER workflows_one_default
    BEFORE INSERT OR UPDATE OF is_default, is_active, brand_ids, content_types ON workflows
    FOR EACH ROW WHEN (NEW.is_default AND NEW.is_active)
    EXECUTE FUNCTION workflows_one_default();

-- The definer function above runs as this migration's role, which FORCE ROW LEVEL SECURITY (0013) holds
-- to the policies: it is given the read it needs, as 0013 did for its own definer functions.
CREATE POLICY workflows_definer_read ON workflows FOR SELECT TO CURRENT_USER USING (true);

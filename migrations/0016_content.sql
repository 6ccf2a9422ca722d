-- 0016 content: full-text search that keeps its GIN index under row-level security.
--
-- Why a side table. Under RLS, PostgreSQL evaluates a policy's quals before any qual of the query that
-- is not leakproof, so such a qual cannot become an index condition (restriction_is_securely_promotable).
-- `tsvector @@ tsquery` (ts_match_vq) is not leakproof, and marking it so needs a superuser, so a tenant
-- scope never reaches idx_content_fts: it reads all of the brand's rows and filters them. A SECURITY
-- DEFINER function does not help by itself: its owner (the migrating role) is a member of mixerai_app
-- and inherits its privileges, so the policies written TO mixerai_app, including the RESTRICTIVE brand
-- scope, apply to it as well under FORCE ROW LEVEL SECURITY (seen on PostgreSQL 15 with a non-superuser
-- migrating role), and no owner policy can lift a restrictive one.
--
-- So the search document lives beside content in content_search, one row per live item, kept by
-- triggers. Row-level security is enabled on it with no policy and no grant to mixerai_app: the
-- application role cannot read it at all (default deny). It is not FORCEd, so its owner reads it
-- without policy quals and its GIN index is usable. The only door is content_search_ids(), a SECURITY
-- DEFINER function owned by the migrating role that admits only the scope's brand and only a user who
-- may read there (app_can_read), and returns ids and ranks; the caller then reads the rows from
-- content, where every policy applies again (defence in depth). Nothing here needs a superuser.
--
-- The document itself is still defined once, by content.search_vector (0008); content_search copies it.
-- idx_content_fts moves with it: on content it could serve no tenant query and only cost writes.

-- The brand as one extra lexeme of the document ('b' and the id's 32 hex digits, no positions), so the
-- GIN index answers "this brand's items that match" as one intersection of posting lists: no btree_gin
-- extension, and no planner choice between a brand index and the text index. A brand lexeme never
-- changes a rank: queries never name it, and ts_rank's default normalisation ignores document length.
CREATE FUNCTION content_search_brand_term(brand uuid) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'b' || replace(brand::text, '-', '') $$;

CREATE TABLE content_search (
    content_id UUID PRIMARY KEY,
    brand_id UUID NOT NULL,
    -- content.search_vector plus the brand lexeme.
    search_vector TSVECTOR NOT NULL,
    -- Hard deletes of content take the document with them; (id, brand_id) so it can never name another
    -- brand's item.
    CONSTRAINT content_search_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES content (id, brand_id) ON DELETE CASCADE
);

DROP INDEX idx_content_fts;
CREATE INDEX idx_content_fts ON content_search USING gin (search_vector);

-- Deliberately ENABLE without FORCE (see the header): default deny for every role but the owner.
ALTER TABLE content_search ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON content_search FROM PUBLIC;

-- Backfill. FORCE ROW LEVEL SECURITY would hide every row from a migrating role that is not a superuser,
-- so it is lifted for this one statement; the ALTERs hold an exclusive lock on content until the
-- migration commits, so no other session ever sees content without it.
ALTER TABLE content NO FORCE ROW LEVEL SECURITY;
INSERT INTO content_search (content_id, brand_id, search_vector)
SELECT id, brand_id, search_vector || content_search_brand_term(brand_id)::tsvector FROM content WHERE deleted_at IS NULL;
ALTER TABLE content FORCE ROW LEVEL SECURITY;

-- New items, in one statement per INSERT (a bulk insert of a thousand rows is one more INSERT here).
CREATE FUNCTION content_search_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    INSERT INTO content_search (content_id, brand_id, search_vector)
    SELECT id, brand_id, search_vector || content_search_brand_term(brand_id)::tsvector FROM inserted WHERE deleted_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_search_insert AFTER INSERT ON content
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION content_search_inserted();

-- Edits of the text, soft deletes and restores; the WHEN clause keeps every other update free.
CREATE FUNCTION content_search_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF NEW.deleted_at IS NOT NULL THEN
        DELETE FROM content_search WHERE content_id = NEW.id;
    ELSE
        INSERT INTO content_search (content_id, brand_id, search_vector)
        VALUES (NEW.id, NEW.brand_id, NEW.search_vector || content_search_brand_term(NEW.brand_id)::tsvector)
        ON CONFLICT (content_id) DO UPDATE SET search_vector = EXCLUDED.search_vector;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER content_search_update AFTER UPDATE ON content FOR EACH ROW
    WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION content_search_updated();

-- The ids and ranks of the scope's brand's live items that match `query`, best first (rank, then id),
-- at most `max_rows`. Nothing at all for a caller who may not read the brand, or without a brand context.
CREATE FUNCTION content_search_ids(query tsquery, max_rows integer)
    RETURNS TABLE (id uuid, rank real)
    -- A page of hits, not the default guess of 1000: so the caller's join reads content by key.
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20
    SET search_path = pg_catalog, public, pg_temp
    AS $$
DECLARE
    brand uuid := app_current_brand_id();
BEGIN
    -- A query without lexemes (only stop words) matches nothing, rather than every item of the brand.
    IF brand IS NULL OR numnode(query) = 0 OR NOT app_can_read() THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT cs.content_id, ts_rank(cs.search_vector, query)
    FROM content_search cs
    WHERE cs.search_vector @@ (query && content_search_brand_term(brand)::tsquery)
      -- Redundant with the brand lexeme, unless an item's own text spells another brand's lexeme.
      AND cs.brand_id = brand
    ORDER BY 2 DESC, 1 DESC
    LIMIT max_rows;
END
$$;
REVOKE ALL ON FUNCTION content_search_ids(tsquery, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION content_search_ids(tsquery, integer) TO mixerai_app;

-- 0017 claim rule revisions: what a compliance check was made under, so that a rule change can say
-- which checks it made stale (issue #15).
--
-- A compliance check (0018) is a snapshot: the findings of one content version against the claims and
-- guardrails that applied in one market at one point in time. It stops describing the rules when
--   (a) a claim that applies in that market is created, edited, deleted or restored, in the brand or in
--       a brand it takes claims from (its parent, its master claim brands), or the brand's own rules
--       change (guardrails, language, parent, master claim brands, soft delete); or
--   (b) time crosses a claim's effective_from or effective_to.
-- (b) needs no bookkeeping: claim_rules_boundaries() reads it off the claims. (a) is this table: one
-- counter per brand and market ('*' for the claims of every country and for the brand's own rules),
-- bumped by the triggers below in the transaction that makes the change. A check records the counters it
-- was made under (claim_rules_fingerprint()) and is stale once any of them differs. Counters, not
-- timestamps: a change committed after a check read the rules, by a transaction that began before the
-- check, carries an earlier time than the check and would be missed; a counter cannot be, because the
-- change and its bump become visible together, at its commit.
--
-- Only the owner touches the table: the triggers and the functions that read it are SECURITY DEFINER
-- and the application role has no privilege on it, so no tenant can make a stale check look fresh, nor
-- read another brand's counters.
--
-- New objects only, plus triggers on claims and brands (CREATE TRIGGER takes a brief SHARE ROW
-- EXCLUSIVE lock on each, bounded by the lock timeout below).

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.claim_rule_revisions (
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE,
    -- An ISO 3166-1 alpha-2 code, or '*': claims listing no country, and the brand's own rules.
    market TEXT NOT NULL CONSTRAINT claim_rule_revisions_market_format CHECK (market = '*' OR market ~ '^[A-Z]{2}$'),
    revision BIGINT NOT NULL DEFAULT 1 CONSTRAINT claim_rule_revisions_revision_check CHECK (revision >= 1),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT claim_rule_revisions_pkey PRIMARY KEY (brand_id, market)
);

-- The pattern of every tenant table, with no permissive policy and no grant: the application role sees
-- nothing here; the owner (BYPASSRLS) reads and writes it for the definer functions below.
ALTER TABLE mixerai.claim_rule_revisions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
REVOKE ALL ON mixerai.claim_rule_revisions FROM PUBLIC;
CREATE POLICY claim_rule_revisions_scope ON mixerai.claim_rule_revisions AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));

-- Claims written in one statement bump each of their (brand, market) counters once, in key order, so two
-- transactions bumping overlapping sets lock the rows in the same order and cannot deadlock. Statement
-- triggers with transition tables: a bulk insert of a thousand claims is one more statement, not a
-- thousand. Three functions, one per event, since each sees different transition tables.
CREATE FUNCTION mixerai.claims_revise_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'claims' THEN
        RAISE EXCEPTION 'claims_revise_inserted is for mixerai.claims only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.claim_rule_revisions AS r (brand_id, market)
    SELECT DISTINCT n.brand_id, m.market
    FROM inserted n
    CROSS JOIN LATERAL unnest(CASE WHEN cardinality(n.countries) = 0 THEN ARRAY['*'] ELSE n.countries END) AS m (market)
    ORDER BY 1, 2
    ON CONFLICT (brand_id, market) DO UPDATE SET revision = r.revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

-- An edit counts when it changes what resolution or a check reads (not notes, references or documents),
-- in the markets the claim applied in before and after it.
CREATE FUNCTION mixerai.claims_revise_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'claims' THEN
        RAISE EXCEPTION 'claims_revise_updated is for mixerai.claims only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.claim_rule_revisions AS r (brand_id, market)
    SELECT DISTINCT t.brand_id, t.market
    FROM (
        SELECT o.brand_id, o.countries, n.brand_id AS new_brand_id, n.countries AS new_countries
        FROM old_rows o
        JOIN new_rows n ON n.id = o.id
        WHERE (o.brand_id, o.type, o.level, o.text, o.status, o.countries, o.products, o.ingredients,
               o.effective_from, o.effective_to, o.replacements, o.deleted_at)
              IS DISTINCT FROM
              (n.brand_id, n.type, n.level, n.text, n.status, n.countries, n.products, n.ingredients,
               n.effective_from, n.effective_to, n.replacements, n.deleted_at)
    ) AS c
    CROSS JOIN LATERAL (
        SELECT c.brand_id, unnest(CASE WHEN cardinality(c.countries) = 0 THEN ARRAY['*'] ELSE c.countries END)
        UNION
        SELECT c.new_brand_id, unnest(CASE WHEN cardinality(c.new_countries) = 0 THEN ARRAY['*'] ELSE c.new_countries END)
    ) AS t (brand_id, market)
    ORDER BY 1, 2
    ON CONFLICT (brand_id, market) DO UPDATE SET revision = r.revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

CREATE FUNCTION mixerai.claims_revise_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'claims' THEN
        RAISE EXCEPTION 'claims_revise_deleted is for mixerai.claims only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.claim_rule_revisions AS r (brand_id, market)
    SELECT DISTINCT o.brand_id, m.market
    FROM old_rows o
    CROSS JOIN LATERAL unnest(CASE WHEN cardinality(o.countries) = 0 THEN ARRAY['*'] ELSE o.countries END) AS m (market)
    ORDER BY 1, 2
    ON CONFLICT (brand_id, market) DO UPDATE SET revision = r.revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER claims_revise_inserted AFTER INSERT ON mixerai.claims
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION mixerai.claims_revise_inserted();
CREATE TRIGGER claims_revise_updated AFTER UPDATE ON mixerai.claims
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mixerai.claims_revise_updated();
CREATE TRIGGER claims_revise_deleted AFTER DELETE ON mixerai.claims
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mixerai.claims_revise_deleted();

-- The brand's own rules: its guardrails (checked too), its language (the translation fallback), where it
-- takes claims from, and whether it is live (a soft-deleted parent or master brand gives no claims).
CREATE FUNCTION mixerai.brands_revise_claim_rules() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'brands' THEN
        RAISE EXCEPTION 'brands_revise_claim_rules is for mixerai.brands only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO mixerai.claim_rule_revisions AS r (brand_id, market) VALUES (NEW.id, '*')
    ON CONFLICT (brand_id, market) DO UPDATE SET revision = r.revision + 1, changed_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER brands_revise_claim_rules
    AFTER UPDATE OF guardrails, language, parent_brand_id, master_claim_brand_ids, deleted_at ON mixerai.brands
    FOR EACH ROW
    WHEN (OLD.guardrails IS DISTINCT FROM NEW.guardrails OR OLD.language IS DISTINCT FROM NEW.language
          OR OLD.parent_brand_id IS DISTINCT FROM NEW.parent_brand_id
          OR OLD.master_claim_brand_ids IS DISTINCT FROM NEW.master_claim_brand_ids
          OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION mixerai.brands_revise_claim_rules();

-- (Parameters of SQL functions are named apart from every column: in an SQL function body a column
-- of the same name would win over the parameter without a word.)
--
-- The brands whose claims apply in `for_brand`, with the rank precedence gives their source: the brand
-- itself (3), its parent (2), its master claim brands (1). A soft-deleted parent or master brand gives
-- none; one named both parent and master claim brand counts once, as master. The owner's only: the
-- definer functions that call it decide who may ask about which brand.
CREATE FUNCTION mixerai.claim_source_brands(for_brand uuid) RETURNS TABLE (brand_id uuid, source_rank integer)
    LANGUAGE sql STABLE
    SET search_path = ''
    AS $$
    SELECT b.id, 3 FROM mixerai.brands b WHERE b.id = for_brand
    UNION ALL
    SELECT p.id, 2
    FROM mixerai.brands b JOIN mixerai.brands p ON p.id = b.parent_brand_id
    WHERE b.id = for_brand AND p.deleted_at IS NULL AND p.id <> ALL (b.master_claim_brand_ids)
    UNION ALL
    SELECT m.id, 1
    FROM mixerai.brands b
    CROSS JOIN LATERAL unnest(b.master_claim_brand_ids) AS u (id)
    JOIN mixerai.brands m ON m.id = u.id
    WHERE b.id = for_brand AND m.deleted_at IS NULL AND m.id <> for_brand
$$;

-- The counters `for_brand`'s rules in `for_market` stand at: {source brand: its market's counter plus
-- its '*' counter}. Two counters that only grow, over a fixed pair, so the sum moves whenever either
-- does; and a change of the source brands themselves bumps the brand's own '*'. The owner's only (see
-- above).
CREATE FUNCTION mixerai.claim_rules_fingerprint_of(for_brand uuid, for_market text) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = ''
    AS $$
    SELECT coalesce(jsonb_object_agg(s.brand_id, coalesce(r.revision, 0) ORDER BY s.brand_id), '{}'::jsonb)
    FROM mixerai.claim_source_brands(for_brand) s
    LEFT JOIN LATERAL (SELECT sum(x.revision) AS revision FROM mixerai.claim_rule_revisions x
                       WHERE x.brand_id = s.brand_id AND x.market IN (for_market, '*')) r ON true
$$;

-- The instants in (after_time, up_to_time] at which one of `for_brand`'s claims for `for_market` takes
-- effect or lapses: if there is one between the time a check was made for and another time, the claims
-- in effect at the two differ. Served by idx_claims_market (0010). The owner's only (see above).
CREATE FUNCTION mixerai.claim_rules_boundaries_of(for_brand uuid, for_market text, after_time timestamptz,
                                                  up_to_time timestamptz)
    RETURNS timestamptz[]
    LANGUAGE sql STABLE
    SET search_path = ''
    AS $$
    SELECT coalesce(array_agg(DISTINCT t.at ORDER BY t.at), '{}')
    FROM mixerai.claims c
    CROSS JOIN LATERAL (VALUES (c.effective_from), (c.effective_to)) AS t (at)
    WHERE mixerai.claim_market_keys(c.brand_id, c.countries) && (
              SELECT array_agg(k.key)
              FROM mixerai.claim_source_brands(for_brand) s
              CROSS JOIN LATERAL (VALUES (s.brand_id::text || ':' || for_market), (s.brand_id::text || ':*')) AS k (key))
      AND c.deleted_at IS NULL
      AND t.at > after_time AND t.at <= up_to_time
$$;

-- The tenant's doors to the two above: the scope's brand only, for a reader of it; nothing (NULL)
-- otherwise. A system scope (no tenant context) calls the owner's functions directly.
CREATE FUNCTION mixerai.claim_rules_fingerprint(market text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    brand uuid := mixerai.app_current_brand_id();
BEGIN
    IF brand IS NULL OR NOT mixerai.app_can_read() THEN
        RETURN NULL;
    END IF;
    RETURN mixerai.claim_rules_fingerprint_of(brand, market);
END
$$;

CREATE FUNCTION mixerai.claim_rules_boundaries(market text, after timestamptz, up_to timestamptz)
    RETURNS timestamptz[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    brand uuid := mixerai.app_current_brand_id();
BEGIN
    IF brand IS NULL OR NOT mixerai.app_can_read() THEN
        RETURN NULL;
    END IF;
    RETURN mixerai.claim_rules_boundaries_of(brand, market, after, up_to);
END
$$;

GRANT EXECUTE ON FUNCTION mixerai.claim_rules_fingerprint(text),
    mixerai.claim_rules_boundaries(text, timestamptz, timestamptz) TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

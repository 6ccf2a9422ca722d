-- 0020 claim resolution and the compliance gate (issue #15).
--
-- claims_resolve(): which claims apply to content of the scope's brand in one market, for an optional
-- product and ingredients, at one point in time, and which of them wins where several make the same
-- statement; one statement, one round trip. compliance_gate(): whether a version of an item may be
-- approved or published in its target markets, by its recorded checks (0018) and the brand's settings
-- (0019). content_compliance_gate: the lifecycle enforces the gate, on every path that approves,
-- schedules or publishes a version (the crate, the publishing job, a host's raw SQL). The precedence
-- rules and the gate's decisions are documented once, in the crate (src/claims/mod.rs); the comments
-- here say how the SQL implements them.
--
-- Functions, and one trigger on mixerai.content: CREATE TRIGGER takes a brief SHARE ROW EXCLUSIVE lock
-- on content, bounded by lock_timeout; no data is read or rewritten.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

-- The claims in effect for the scope's brand in `market` at `at_time`, one per statement (claims
-- grouped by claims.statement_key, 0010), each with the rule that decided it, the claims it overrode, and
-- its wording for the market: the market's replacement, else the translation into `lang`, else into the
-- brand's language, else the original (of the winning claim; the overridden claims' texts come too).
--
-- SECURITY DEFINER because the brand's parent and master claim brands are other tenants, whose claims a
-- tenant scope cannot read; what it returns is claims only (no actor, no time stamps, nothing of the
-- other brand's content or settings), and only of the brands the scope's own brand row names. Nothing
-- at all without a brand context or for a user who may not read the brand. Running as the owner, which
-- bypasses row-level security, is also what lets the GIN index idx_claims_market serve the market
-- condition (under a policy a non-leakproof operator such as && could not be an index condition).
--
-- PL/pgSQL, so the statement's plan is kept for the session (a definer SQL function is planned on every
-- call); STABLE, so its statements share one snapshot.
CREATE FUNCTION mixerai.claims_resolve(market text, lang text, product uuid, product_ingredients text[],
                                       at_time timestamptz)
    RETURNS TABLE (id uuid, brand_id uuid, source text, type text, level text, status text, text jsonb,
                   countries text[], products uuid[], ingredients text[], effective_from timestamptz,
                   effective_to timestamptz, regulatory_references text[], documentation_urls text[],
                   notes text, replacements jsonb, version integer, rule text, overridden uuid[],
                   overridden_texts jsonb, wording text, wording_source text, wording_language text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 500
    SET search_path = ''
    AS $$
DECLARE
    brand uuid := mixerai.app_current_brand_id();
    brand_language text;
    source_ids uuid[];
    source_ranks integer[];
    market_keys text[];
    wanted text[];
BEGIN
    IF brand IS NULL OR NOT mixerai.app_can_read() THEN
        RETURN;
    END IF;
    IF market IS NULL OR market !~ '^[A-Z]{2}$' OR at_time IS NULL THEN
        RAISE EXCEPTION 'a market (ISO 3166-1 alpha-2) and a point in time are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Everything the statement below needs of the brand, in one statement: its language, its source
    -- brands with their ranks, two market keys per source brand (its claims for the market, and its
    -- claims for every country), and the ingredients asked about as they are compared.
    SELECT (SELECT b.language FROM mixerai.brands b WHERE b.id = brand),
           array_agg(s.brand_id), array_agg(s.source_rank),
           array_agg(s.brand_id::text || ':' || market) || array_agg(s.brand_id::text || ':*'),
           ARRAY(SELECT DISTINCT lower(btrim(i)) FROM unnest(coalesce(product_ingredients, '{}')) AS i
                 WHERE btrim(i) <> '')
    INTO brand_language, source_ids, source_ranks, market_keys, wanted
    FROM mixerai.claim_source_brands(brand) s;
    RETURN QUERY
    WITH candidates AS (
        -- Every claim that applies, as the few columns precedence reads: of a source brand, live, for
        -- the market (idx_claims_market), in effect at at_time (half-open window), and for the product
        -- and ingredients asked about. A list of products or ingredients limits a claim to them; a
        -- product-level claim needs a product, an ingredient-level claim an ingredient.
        SELECT c.id, c.statement_key, c.effective_from,
               source_ranks[array_position(source_ids, c.brand_id)] AS source_rank,
               -- Regulator level: every claim of a master claim brand, and any claim of type master.
               ((source_ranks[array_position(source_ids, c.brand_id)] = 1 OR c.type = 'master')
                AND c.status = 'disallowed') AS master_disallow,
               CASE c.level WHEN 'ingredient' THEN 3 WHEN 'product' THEN 2 ELSE 1 END AS scope_rank,
               CASE c.status WHEN 'disallowed' THEN 3 WHEN 'mandatory' THEN 2 ELSE 1 END AS status_rank
        FROM mixerai.claims c
        -- The keys name the source brands, so this one condition is also the brand condition: one
        -- scan of the market index, no join to a brand index (which would read every claim of the
        -- brands, in every market).
        WHERE mixerai.claim_market_keys(c.brand_id, c.countries) && market_keys
          AND c.deleted_at IS NULL
          AND c.effective_from <= at_time AND (c.effective_to IS NULL OR at_time < c.effective_to)
          AND (cardinality(coalesce(c.products, '{}')) = 0 OR coalesce(product = ANY (c.products), false))
          AND (c.level <> 'product' OR product IS NOT NULL)
          AND (cardinality(coalesce(c.ingredients, '{}')) = 0
               OR EXISTS (SELECT 1 FROM unnest(c.ingredients) AS ci WHERE lower(btrim(ci)) = ANY (wanted)))
          AND (c.level <> 'ingredient' OR cardinality(wanted) > 0)
    ), ranked AS (
        -- The winner of each statement comes first: a regulator-level disallow; then the most specific
        -- scope; at equal scope the strongest status (disallowed, then mandatory, then allowed); then the
        -- nearest source (own, parent, master); then the latest to take effect; then the id, so the
        -- choice is total.
        SELECT cand.*,
               row_number() OVER w AS rn,
               first_value(cand.status_rank) OVER w AS win_status,
               first_value(cand.scope_rank) OVER w AS win_scope
        FROM candidates cand
        WINDOW w AS (PARTITION BY cand.statement_key
                     ORDER BY cand.master_disallow DESC, cand.scope_rank DESC, cand.status_rank DESC,
                              cand.source_rank DESC, cand.effective_from DESC, cand.id)
    ), decided AS (
        SELECT r.statement_key,
               (array_agg(r.id) FILTER (WHERE r.rn = 1))[1] AS winner,
               max(r.source_rank) FILTER (WHERE r.rn = 1) AS source_rank,
               max(r.status_rank) FILTER (WHERE r.rn = 1) AS status_rank,
               bool_or(r.master_disallow AND r.rn = 1) AS master_disallow,
               bool_or(r.status_rank <> r.win_status) AS contested,
               bool_or(r.status_rank <> r.win_status AND r.scope_rank = r.win_scope) AS contested_at_scope,
               array_agg(r.id ORDER BY r.rn) FILTER (WHERE r.rn > 1) AS overridden
        FROM ranked r
        GROUP BY r.statement_key
    )
    -- Only the winners' rows are read whole (by primary key), and the overridden claims' texts.
    SELECT w.id, w.brand_id,
           CASE d.source_rank WHEN 3 THEN 'own' WHEN 2 THEN 'parent' ELSE 'master' END AS source,
           w.type::text AS type, w.level::text AS level, w.status::text AS status, w.text, w.countries,
           coalesce(w.products, '{}') AS products, coalesce(w.ingredients, '{}') AS ingredients,
           w.effective_from, w.effective_to,
           coalesce(w.regulatory_references, '{}') AS regulatory_references,
           coalesce(w.documentation_urls, '{}') AS documentation_urls, w.notes,
           coalesce(w.replacements, '[]') AS replacements, w.version,
           CASE WHEN d.master_disallow THEN 'master_disallow'
                WHEN d.contested_at_scope AND w.status = 'disallowed' THEN 'disallowed_over_allowed'
                WHEN d.contested_at_scope THEN 'mandatory_over_allowed'
                WHEN d.contested THEN 'more_specific_scope'
                ELSE 'uncontested' END AS rule,
           coalesce(d.overridden, '{}') AS overridden,
           -- The same statement in the overridden claims' words (their translations, say): a check
           -- looks for every wording of a statement, whichever claim carries it.
           CASE WHEN d.overridden IS NULL THEN '[]'::jsonb
                ELSE (SELECT jsonb_agg(o.text ORDER BY u.n) FROM unnest(d.overridden) WITH ORDINALITY AS u (id, n)
                      JOIN mixerai.claims o ON o.id = u.id) END AS overridden_texts,
           coalesce(rep.replacement, w.text ->> lang, w.text ->> brand_language, w.text ->> 'original') AS wording,
           CASE WHEN rep.replacement IS NOT NULL THEN 'replacement'
                WHEN w.text ? lang THEN 'requested_language'
                WHEN w.text ? brand_language THEN 'brand_language'
                ELSE 'original' END AS wording_source,
           CASE WHEN rep.replacement IS NOT NULL THEN NULL
                WHEN w.text ? lang THEN lang
                WHEN w.text ? brand_language THEN brand_language END AS wording_language
    FROM decided d
    JOIN mixerai.claims w ON w.id = d.winner
    -- Most claims have no replacement: the guard spares them the subquery.
    LEFT JOIN LATERAL (SELECT CASE WHEN w.replacements IS NOT NULL AND w.replacements <> '[]'::jsonb THEN
                                  (SELECT r.value ->> 'replacement' FROM jsonb_array_elements(w.replacements) AS r
                                   WHERE r.value ->> 'country' = market LIMIT 1) END AS replacement) AS rep ON true
    ORDER BY d.status_rank DESC, d.statement_key, w.id;
END
$$;

-- Whether version `item_version` of item `item` may pass `stage` ('approval' or 'publishing') in each
-- of `markets`, as of `at_time` (the publication or scheduled time): one row per market, in code order.
-- verdict, for the last check of that version in that market:
--   not_checked              there is none;
--   rules_edited             a claim or a brand rule it was made under changed since (0017 counters);
--   rules_changed_over_time  a claim takes effect or lapses between the time it was made for and at_time;
--   blocking_findings        it has findings of a kind the brand's settings block (their count too);
--   clear                    none of these.
-- blocks: the brand gates this stage (0019) and the verdict is not clear. No rows when the item is not
-- visible to the caller.
--
-- SECURITY INVOKER: the item, its checks and the settings are read under the caller's own policies. In
-- a tenant scope the cross-brand parts come through the tenant's definer doors of 0017 (the scope's
-- brand only); a system scope (no tenant context, the owner) calls the owner's functions directly. A
-- tenant that clears its context reads no item here, so never reaches the latter.
CREATE FUNCTION mixerai.compliance_gate(item uuid, item_version integer, markets text[], stage text,
                                        at_time timestamptz)
    RETURNS TABLE (country text, verdict text, check_id uuid, blocking_findings integer, blocks boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = ''
    AS $$
DECLARE
    tenant boolean := mixerai.app_current_brand_id() IS NOT NULL;
    item_brand uuid;
    gated boolean;
    kinds text[];
    market text;
    last_id uuid;
    last_for timestamptz;
    last_fingerprint jsonb;
    last_findings jsonb;
    now_fingerprint jsonb;
    crossed timestamptz[];
BEGIN
    IF stage IS NULL OR stage NOT IN ('approval', 'publishing') THEN
        RAISE EXCEPTION 'the stage is approval or publishing, not %', stage USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF at_time IS NULL THEN
        RAISE EXCEPTION 'the gate needs the publication or scheduled time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.brand_id INTO item_brand FROM mixerai.content c WHERE c.id = item;
    IF item_brand IS NULL THEN
        RETURN;
    END IF;
    SELECT CASE stage WHEN 'approval' THEN s.gate_approval ELSE s.gate_publishing END, s.blocking_kinds
    INTO gated, kinds
    FROM mixerai.compliance_settings s WHERE s.brand_id = item_brand;
    -- No settings row: not gated, and the defaults of a new row (0019).
    gated := coalesce(gated, false);
    kinds := coalesce(kinds, '{disallowed_claim,missing_mandatory_claim,replacement_required}');
    FOREACH market IN ARRAY ARRAY(SELECT DISTINCT m FROM unnest(markets) AS m WHERE m IS NOT NULL ORDER BY m) LOOP
        country := market;
        check_id := NULL;
        blocking_findings := 0;
        SELECT k.id, k.checked_for, k.rules_fingerprint, k.findings
        INTO last_id, last_for, last_fingerprint, last_findings
        FROM mixerai.compliance_checks k
        WHERE k.content_id = item AND k.version = item_version AND k.country = market
        ORDER BY k.checked_at DESC, k.id DESC
        LIMIT 1;
        IF last_id IS NULL THEN
            verdict := 'not_checked';
        ELSE
            check_id := last_id;
            blocking_findings := (SELECT count(*)::integer FROM jsonb_array_elements(last_findings) AS f
                                  WHERE f.value ->> 'kind' = ANY (kinds));
            IF tenant THEN
                now_fingerprint := mixerai.claim_rules_fingerprint(market);
                crossed := mixerai.claim_rules_boundaries(market, least(last_for, at_time), greatest(last_for, at_time));
            ELSE
                now_fingerprint := mixerai.claim_rules_fingerprint_of(item_brand, market);
                crossed := mixerai.claim_rules_boundaries_of(item_brand, market, least(last_for, at_time),
                                                             greatest(last_for, at_time));
            END IF;
            IF now_fingerprint IS DISTINCT FROM last_fingerprint THEN
                verdict := 'rules_edited';
            ELSIF cardinality(crossed) > 0 THEN
                verdict := 'rules_changed_over_time';
            ELSIF blocking_findings > 0 THEN
                verdict := 'blocking_findings';
            ELSE
                verdict := 'clear';
            END IF;
        END IF;
        blocks := gated AND verdict <> 'clear';
        RETURN NEXT;
    END LOOP;
END
$$;

-- The gate, enforced by the lifecycle. After content_lifecycle (0014) has computed the pointers of a
-- step, a statement that
--   approves a version (approved_version becomes non-NULL or changes)   is asked about stage approval,
--       for approved_version, as of now();
--   schedules one or moves its schedule (scheduled_version non-NULL, and it or scheduled_for
--       changed)                                                         stage publishing, for
--       scheduled_version, as of scheduled_for (when it will be seen);
--   makes one live (live_version becomes a new non-NULL value: the crate's publish, the publishing
--       job firing a schedule, raw SQL)                                   stage publishing, for
--       live_version, as of now();
-- in the brand's target markets (compliance_settings.markets; none listed: the brand's own country).
-- When the brand gates that stage and compliance_gate() blocks it in any of them, the statement fails
-- (check_violation, constraint content_compliance_gate, DETAIL '<stage>>FR,GB': the blocking markets
-- in code order), so nothing of it is written; the crate maps it to Error::ComplianceBlocked. A stage
-- the brand does not gate (or a brand without settings) costs one look-up of the settings and nothing
-- more; the trigger's WHEN clause spares every other update (saves, status changes that move no
-- pointer) even that.
--
-- SECURITY DEFINER, like the lifecycle triggers: whether a version may pass must not depend on what the
-- writing role may read (a host's role with UPDATE on content and no read of the settings or checks
-- would otherwise pass ungated). compliance_gate() then runs as the owner: in a tenant scope through the
-- tenant's doors for the scope's brand (the item's: row-level security let the update through only
-- for it), in a system scope (the job) through the owner's functions for the item's brand.
CREATE FUNCTION mixerai.content_compliance_gate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    approval_gated boolean;
    publishing_gated boolean;
    targets text[];
    stages text[] := ARRAY[]::text[];
    versions integer[] := ARRAY[]::integer[];
    times timestamptz[] := ARRAY[]::timestamptz[];
    blocked text[];
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'content' THEN
        RAISE EXCEPTION 'content_compliance_gate is for mixerai.content only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT s.gate_approval, s.gate_publishing,
           CASE WHEN cardinality(s.markets) > 0 THEN s.markets ELSE ARRAY[b.country] END
    INTO approval_gated, publishing_gated, targets
    FROM mixerai.compliance_settings s
    JOIN mixerai.brands b ON b.id = s.brand_id
    WHERE s.brand_id = NEW.brand_id;
    -- No settings: not gated (0019).
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF approval_gated AND NEW.approved_version IS NOT NULL
       AND NEW.approved_version IS DISTINCT FROM OLD.approved_version THEN
        stages := stages || 'approval'::text;
        versions := versions || NEW.approved_version;
        times := times || now();
    END IF;
    IF publishing_gated AND NEW.scheduled_version IS NOT NULL
       AND (NEW.scheduled_version IS DISTINCT FROM OLD.scheduled_version
            OR NEW.scheduled_for IS DISTINCT FROM OLD.scheduled_for) THEN
        stages := stages || 'publishing'::text;
        versions := versions || NEW.scheduled_version;
        times := times || NEW.scheduled_for;
    END IF;
    IF publishing_gated AND NEW.live_version IS NOT NULL
       AND NEW.live_version IS DISTINCT FROM OLD.live_version THEN
        stages := stages || 'publishing'::text;
        versions := versions || NEW.live_version;
        times := times || now();
    END IF;
    FOR i IN 1 .. cardinality(stages) LOOP
        SELECT array_agg(g.country ORDER BY g.country) INTO blocked
        FROM mixerai.compliance_gate(NEW.id, versions[i], targets, stages[i], times[i]) g
        WHERE g.blocks;
        IF blocked IS NOT NULL THEN
            RAISE EXCEPTION '% of version % of item % is blocked by the compliance gate in %', stages[i],
                            versions[i], NEW.id, array_to_string(blocked, ', ')
                USING ERRCODE = 'check_violation', CONSTRAINT = 'content_compliance_gate', TABLE = 'content',
                      DETAIL = stages[i] || '>' || array_to_string(blocked, ',');
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Named to fire before content_version_record (AFTER triggers fire in name order), so a refused step
-- fails before its approval row is written (the statement's failure undoes it anyway).
CREATE TRIGGER content_compliance_gate AFTER UPDATE ON mixerai.content
    FOR EACH ROW
    WHEN ((NEW.approved_version, NEW.scheduled_version, NEW.scheduled_for, NEW.live_version)
          IS DISTINCT FROM (OLD.approved_version, OLD.scheduled_version, OLD.scheduled_for, OLD.live_version))
    EXECUTE FUNCTION mixerai.content_compliance_gate();

GRANT EXECUTE ON FUNCTION mixerai.claims_resolve(text, text, uuid, text[], timestamptz),
    mixerai.compliance_gate(uuid, integer, text[], text, timestamptz) TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

-- 0010 claims: what a brand may, may not and must say, by market and date. Spec 2.5 / 3.5.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- What makes two claims "the same statement" when resolution (0020 claims_resolve) decides between
-- them: the original wording, compatibility-decomposed (NFKD: ligatures, full-width forms and
-- no-break spaces become their plain forms), without combining marks (accents), lowercased, and with
-- every run of spaces and punctuation collapsed to one space. So "Rich in fibre", "rich in fibre!"
-- and "RICH  IN FIBRE" are one statement, decided by precedence; "Rich in fibres" is another.
-- lower() follows the database's LC_CTYPE: in a database created with the C locale it folds ASCII
-- letters only (accented Latin letters still fold, being decomposed first; Greek or Cyrillic capitals
-- then do not). IMMUTABLE, for the stored column below; computed once per write, never per read.
CREATE FUNCTION mixerai.claim_statement_key(original text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = ''
    AS $$
    SELECT btrim(regexp_replace(
        lower(regexp_replace(normalize(original, NFKD), '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')),
        '[[:space:][:punct:]\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf\u2000-\u206f\u3000-\u303f]+', ' ', 'g'))
$$;

-- The markets a claim applies in, as keys of its brand: '<brand>:GB', '<brand>:FR', or '<brand>:*'
-- for a claim listing no country (every country). Resolution asks the GIN index over these keys for
-- "claims of these three brands that apply in GB" as one overlap (&&) of two keys per brand, so it
-- reads the claims of the market and no others, however many claims the brands hold elsewhere
-- (the content_search brand lexeme of 0008 is the same idea: no btree_gin extension, no planner
-- choice between a brand index and a country index).
CREATE FUNCTION mixerai.claim_market_keys(brand uuid, countries text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = ''
    AS $$
    SELECT CASE WHEN cardinality(countries) = 0 THEN ARRAY[brand::text || ':*']
                ELSE ARRAY(SELECT brand::text || ':' || c FROM unnest(countries) AS c) END
$$;

CREATE TABLE mixerai.claims (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id),

    type VARCHAR(50) NOT NULL CONSTRAINT claims_type_check CHECK (type IN ('master', 'product', 'ingredient')),
    level VARCHAR(50) NOT NULL CONSTRAINT claims_level_check CHECK (level IN ('brand', 'product', 'ingredient')),
    -- {"original": "...", "<language>": "<translation>", ...}
    text JSONB NOT NULL CONSTRAINT claims_text_has_original
        CHECK (jsonb_typeof(text) = 'object' AND jsonb_typeof(text -> 'original') = 'string'),

    status VARCHAR(50) NOT NULL CONSTRAINT claims_status_check CHECK (status IN ('allowed', 'disallowed', 'mandatory')),

    -- ISO 3166-1 alpha-2 codes; empty means every country.
    countries TEXT[] NOT NULL DEFAULT '{}'
        CONSTRAINT claims_countries_format CHECK (mixerai.is_country_code_array(countries)),
    products UUID[],
    ingredients TEXT[],

    effective_from TIMESTAMPTZ NOT NULL DEFAULT now(),
    effective_to TIMESTAMPTZ,

    regulatory_references TEXT[],
    documentation_urls TEXT[],
    notes TEXT,

    -- [{country, replacement, reason}]
    replacements JSONB CHECK (replacements IS NULL OR jsonb_typeof(replacements) = 'array'),

    -- The statement this claim makes (claim_statement_key above), kept by the database from the
    -- original wording: resolution groups by it and never recomputes it.
    statement_key TEXT GENERATED ALWAYS AS (mixerai.claim_statement_key(text ->> 'original')) STORED,

    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by UUID NOT NULL REFERENCES mixerai.users (id),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,

    CONSTRAINT claims_effective_range CHECK (effective_to IS NULL OR effective_to > effective_from)
);

CREATE INDEX idx_claims_brand_status ON mixerai.claims (brand_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_claims_brand_effective ON mixerai.claims (brand_id, effective_from, effective_to) WHERE deleted_at IS NULL;
CREATE INDEX idx_claims_countries ON mixerai.claims USING gin (countries);
-- The brand's live claims, newest first (keyset pages). Status, type, level, country and effective-date
-- filters are applied while walking this index in order (a brand holds hundreds to a few thousand
-- claims, and a page stops after limit + 1 matches): no sort, no OFFSET.
CREATE INDEX idx_claims_brand_created ON mixerai.claims (brand_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
-- Foreign-key checks: of brand_id when a brand is purged (the indexes above are partial), of the actor
-- columns when a user is purged.
CREATE INDEX idx_claims_brand ON mixerai.claims (brand_id);
-- Resolution by market (0020 claims_resolve) and the time boundaries of a market's rules (0017):
-- the live claims of a set of brands that apply in one country. See claim_market_keys above. Without
-- GIN's pending list (fastupdate): claims are written rarely and read on every check, and a search
-- reads the whole pending list, so a bulk import would slow every resolution until the next vacuum
-- (measured: 7 ms instead of 0.2 ms for one market at 100k claims).
CREATE INDEX idx_claims_market ON mixerai.claims USING gin (mixerai.claim_market_keys(brand_id, countries))
    WITH (fastupdate = off) WHERE deleted_at IS NULL;
CREATE INDEX idx_claims_created_by ON mixerai.claims (created_by);
CREATE INDEX idx_claims_updated_by ON mixerai.claims (updated_by);

CREATE TRIGGER claims_stamp_update BEFORE UPDATE ON mixerai.claims
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER claims_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.claims
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert', 'updated_by=insert', 'updated_by=update');

CREATE TRIGGER claims_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.claims
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit', 'statement_key');

-- Admins write claims: they are the regulatory rules content is checked against, and those subject to a
-- rule should not edit it.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.claims TO mixerai_app;
ALTER TABLE mixerai.claims ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY claims_scope ON mixerai.claims AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY claims_read ON mixerai.claims FOR SELECT TO mixerai_app USING ((SELECT mixerai.app_can_read()));
CREATE POLICY claims_insert ON mixerai.claims FOR INSERT TO mixerai_app WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY claims_update ON mixerai.claims FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin())) WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY claims_delete ON mixerai.claims FOR DELETE TO mixerai_app USING ((SELECT mixerai.app_can_admin()));

-- The stored key and the market index are computed as the writing role: claims are written as
-- mixerai_app in tenant scopes.
GRANT EXECUTE ON FUNCTION mixerai.claim_statement_key(text), mixerai.claim_market_keys(uuid, text[]) TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

-- 0009 claims: what a brand may, may not and must say, by market and date. Spec 2.5 / 3.5.

CREATE TABLE claims (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES brands (id),

    type VARCHAR(50) NOT NULL CONSTRAINT claims_type_check CHECK (type IN ('master', 'product', 'ingredient')),
    level VARCHAR(50) NOT NULL CONSTRAINT claims_level_check CHECK (level IN ('brand', 'product', 'ingredient')),
    -- {"original": "...", "<language>": "<translation>", ...}
    text JSONB NOT NULL CONSTRAINT claims_text_has_original
        CHECK (jsonb_typeof(text) = 'object' AND jsonb_typeof(text -> 'original') = 'string'),

    status VARCHAR(50) NOT NULL CONSTRAINT claims_status_check CHECK (status IN ('allowed', 'disallowed', 'mandatory')),

    -- ISO 3166-1 alpha-2 codes; empty means every country.
    countries TEXT[] NOT NULL DEFAULT '{}' CONSTRAINT claims_countries_format CHECK (is_country_code_array(countries)),
    products UUID[],
    ingredients TEXT[],

    effective_from TIMESTAMPTZ NOT NULL DEFAULT now(),
    effective_to TIMESTAMPTZ,

    regulatory_references TEXT[],
    documentation_urls TEXT[],
    notes TEXT,

    -- [{country, replacement, reason}]
    replacements JSONB CHECK (replacements IS NULL OR jsonb_typeof(replacements) = 'array'),

    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by UUID NOT NULL REFERENCES users (id),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,

    CONSTRAINT claims_effective_range CHECK (effective_to IS NULL OR effective_to > effective_from)
);

CREATE INDEX idx_claims_brand_status ON claims (brand_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_claims_brand_effective ON claims (brand_id, effective_from, effective_to) WHERE deleted_at IS NULL;
CREATE INDEX idx_claims_countries ON claims USING gin (countries);

CREATE TRIGGER claims_updated_at BEFORE UPDATE ON claims FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER claims_audit AFTER INSERT OR UPDATE OR DELETE ON claims
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('brand_id', 'audit');

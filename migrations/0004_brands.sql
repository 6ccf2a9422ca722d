-- 0003 brands: the tenants. Spec 2.2 / 3.2. Every tenant row hangs off a brand.

CREATE TABLE brands (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Name and slug are unique over soft-deleted brands too: a brand's slug is its identity in URLs and
    -- a deleted brand must stay restorable.
    name VARCHAR(255) NOT NULL CONSTRAINT brands_name_key UNIQUE,
    slug VARCHAR(255) NOT NULL CONSTRAINT brands_slug_key UNIQUE
        CONSTRAINT brands_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description TEXT,

    -- {mission, vision, values[], usp}
    identity JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(identity) = 'object'),
    tone_of_voice TEXT,
    communication_style TEXT,
    brand_personality TEXT[],

    guardrails TEXT[] NOT NULL DEFAULT '{}',
    key_messages TEXT[],
    target_audience TEXT,

    country CHAR(2) NOT NULL CONSTRAINT brands_country_format CHECK (country ~ '^[A-Z]{2}$'),
    language CHAR(2) NOT NULL CONSTRAINT brands_language_format CHECK (language ~ '^[a-z]{2}$'),
    currency CHAR(3) CONSTRAINT brands_currency_format CHECK (currency ~ '^[A-Z]{3}$'),

    -- {url, altText, type: light|dark|full}
    logo JSONB CHECK (logo IS NULL OR jsonb_typeof(logo) = 'object'),
    -- {primary, secondary?, accent?} as #rrggbb
    colors JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(colors) = 'object'),
    -- {contentTypes[], features[], integrations{}}
    settings JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),

    -- Sub-brands. A brand is never its own ancestor: see brands_no_cycle below.
    parent_brand_id UUID REFERENCES brands (id) CONSTRAINT brands_not_own_parent CHECK (parent_brand_id <> id),
    master_claim_brand_ids UUID[] NOT NULL DEFAULT '{}',

    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

CREATE INDEX idx_brands_country ON brands (country) WHERE deleted_at IS NULL;
CREATE INDEX idx_brands_parent ON brands (parent_brand_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_brands_master_claim_brands ON brands USING gin (master_claim_brand_ids);

CREATE TRIGGER brands_updated_at BEFORE UPDATE ON brands FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A CHECK cannot see other rows, so cycles in the hierarchy are refused by a trigger. The advisory lock
-- serialises hierarchy changes: two concurrent re-parentings could otherwise each pass the check and
-- together close a loop. SECURITY DEFINER: the walk must see ancestors in other brands, which a tenant
-- scope cannot (0013 gives the definer that read).
CREATE FUNCTION brands_no_cycle() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF NEW.parent_brand_id IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('mixerai.brands.hierarchy'));
    IF EXISTS (
        WITH RECURSIVE ancestors (id, parent_brand_id) AS (
            SELECT b.id, b.parent_brand_id FROM brands b WHERE b.id = NEW.parent_brand_id
            UNION
            SELECT b.id, b.parent_brand_id FROM brands b JOIN ancestors a ON b.id = a.parent_brand_id
        )
        SELECT 1 FROM ancestors WHERE id = NEW.id
    ) THEN
        RAISE EXCEPTION 'brand % cannot be a sub-brand of its own descendant %', NEW.id, NEW.parent_brand_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'brands_no_cycle';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_no_cycle BEFORE INSERT OR UPDATE OF parent_brand_id ON brands
    FOR EACH ROW EXECUTE FUNCTION brands_no_cycle();

-- Agencies that vet a brand's claims, tried in priority order.
CREATE TABLE brand_vetting_agencies (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    agency_name VARCHAR(255) NOT NULL CHECK (length(trim(agency_name)) > 0),
    priority INTEGER NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT true,
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT brand_vetting_agencies_name_key UNIQUE (brand_id, agency_name)
);

CREATE INDEX idx_brand_vetting_agencies_brand ON brand_vetting_agencies (brand_id, priority);

CREATE TRIGGER brands_audit AFTER INSERT OR UPDATE OR DELETE ON brands
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('id', 'audit');
CREATE TRIGGER brand_vetting_agencies_audit AFTER INSERT OR UPDATE OR DELETE ON brand_vetting_agencies
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('brand_id', 'audit');

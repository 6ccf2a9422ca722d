-- 0004 brands: the tenants, and the agencies that vet their claims. Spec 2.2 / 3.2. Every tenant row
-- hangs off a brand.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.brands (
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

    -- ISO codes as TEXT: the CHECKs fix their width, and CHAR would pad.
    country TEXT NOT NULL CONSTRAINT brands_country_format CHECK (country ~ '^[A-Z]{2}$'),
    language TEXT NOT NULL CONSTRAINT brands_language_format CHECK (language ~ '^[a-z]{2}$'),
    currency TEXT CONSTRAINT brands_currency_format CHECK (currency ~ '^[A-Z]{3}$'),

    -- {url, altText, type: light|dark|full}
    logo JSONB CHECK (logo IS NULL OR jsonb_typeof(logo) = 'object'),
    -- {primary, secondary?, accent?} as #rrggbb
    colors JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(colors) = 'object'),
    -- {contentTypes[], features[], integrations{}}
    settings JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),

    -- Sub-brands. A brand is never its own ancestor: see brands_no_cycle below.
    parent_brand_id UUID REFERENCES mixerai.brands (id) CONSTRAINT brands_not_own_parent CHECK (parent_brand_id <> id),
    -- An array, which a foreign key cannot cover: brands_master_claim_brands_exist below checks it.
    master_claim_brand_ids UUID[] NOT NULL DEFAULT '{}',

    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- The optimistic-concurrency token (0001 stamp_update).
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT brands_version_check CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

CREATE INDEX idx_brands_country ON mixerai.brands (country) WHERE deleted_at IS NULL;
CREATE INDEX idx_brands_master_claim_brands ON mixerai.brands USING gin (master_claim_brand_ids);
-- Keyset-paginated lists, newest first: all brands, and a brand's sub-brands.
CREATE INDEX idx_brands_created ON mixerai.brands (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_brands_parent_created ON mixerai.brands (parent_brand_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
-- The foreign-key check of parent_brand_id when a brand is purged, which the partial index above cannot
-- serve (the check does not say deleted_at IS NULL).
CREATE INDEX idx_brands_parent ON mixerai.brands (parent_brand_id) WHERE parent_brand_id IS NOT NULL;
-- Foreign-key checks when a user is purged (retention): without it each would scan brands.
CREATE INDEX idx_brands_created_by ON mixerai.brands (created_by);

CREATE TRIGGER brands_stamp_update BEFORE UPDATE ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

-- Locks that serialise rules spanning rows, one row per rule. No role but the owner has any privilege
-- on the table, so no tenant and no outsider can take or hold one of these locks (an advisory lock key,
-- by contrast, can be taken by any session that computes it, and held for ever).
CREATE TABLE mixerai.locks (
    name TEXT PRIMARY KEY
);
INSERT INTO mixerai.locks (name) VALUES ('brand_hierarchy');

-- Which brands a brand may hang under: a CHECK cannot see other rows, so a trigger refuses cycles, and in
-- a tenant scope a parent the acting user does not administer (platform admins excepted), or one that is
-- soft-deleted: a brand admin may not graft their brand under another tenant, who could then neither
-- see nor detach it. Only a new parent is checked, so a brand keeps a parent a platform admin gave it.
-- The lock row serialises hierarchy changes: two concurrent re-parentings could otherwise each pass
-- the check and together close a loop. SECURITY DEFINER: the walk must see ancestors in other brands,
-- which a tenant scope cannot.
CREATE FUNCTION mixerai.brands_no_cycle() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'brands' THEN
        RAISE EXCEPTION 'brands_no_cycle is for mixerai.brands only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.parent_brand_id IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.parent_brand_id IS NOT DISTINCT FROM OLD.parent_brand_id) THEN
        RETURN NEW;
    END IF;
    IF mixerai.app_current_user_id() IS NOT NULL
       AND (NOT mixerai.app_administers(NEW.parent_brand_id)
            OR NOT EXISTS (SELECT 1 FROM mixerai.brands b
                           WHERE b.id = NEW.parent_brand_id AND b.deleted_at IS NULL)) THEN
        RAISE EXCEPTION 'brand % may hang only under a live brand the acting user administers', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'brands_parent_brand_id_fkey';
    END IF;
    PERFORM 1 FROM mixerai.locks WHERE name = 'brand_hierarchy' FOR UPDATE;
    IF EXISTS (
        WITH RECURSIVE ancestors (id, parent_brand_id) AS (
            SELECT b.id, b.parent_brand_id FROM mixerai.brands b WHERE b.id = NEW.parent_brand_id
            UNION
            SELECT b.id, b.parent_brand_id FROM mixerai.brands b JOIN ancestors a ON b.id = a.parent_brand_id
        )
        SELECT 1 FROM ancestors WHERE id = NEW.id
    ) THEN
        RAISE EXCEPTION 'brand % cannot be a sub-brand of its own descendant %', NEW.id, NEW.parent_brand_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'brands_no_cycle';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_no_cycle BEFORE INSERT OR UPDATE OF parent_brand_id ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.brands_no_cycle();

-- Soft-deleting or restoring a brand is a platform admin's or a maintenance job's call, not a brand
-- admin's: brands_update lets a brand admin update any column of their brand, so this trigger guards
-- deleted_at for every role that is held to row-level security (mixerai_app, and a tenant login after
-- RESET ROLE). System scopes (the owner, which bypasses row-level security) pass.
CREATE FUNCTION mixerai.brands_guard_soft_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
    AS $$
BEGIN
    IF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
       AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
       AND NOT mixerai.app_is_platform_admin() THEN
        RAISE EXCEPTION 'only a platform admin or a system scope may delete or restore a brand'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_guard_soft_delete BEFORE UPDATE OF deleted_at ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.brands_guard_soft_delete();

-- Every master claim brand must exist, reported as a foreign-key violation so the crate maps it like
-- one; in a tenant scope every newly named one must also be live and administered by the acting user
-- (platform admins excepted), as a parent must (brands_no_cycle). SECURITY DEFINER: the brands named are
-- other tenants, which a tenant scope cannot see. For system scopes soft-deleted brands still exist
-- (they may be restored), so they pass.
CREATE FUNCTION mixerai.brands_master_claim_brands_exist() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
DECLARE
    tenant boolean := mixerai.app_current_user_id() IS NOT NULL;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'brands' THEN
        RAISE EXCEPTION 'brands_master_claim_brands_exist is for mixerai.brands only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(NEW.master_claim_brand_ids) AS m (id)
               WHERE NOT EXISTS (SELECT 1 FROM mixerai.brands b WHERE b.id = m.id)
                  OR (tenant
                      AND m.id <> ALL (CASE WHEN TG_OP = 'UPDATE' THEN OLD.master_claim_brand_ids
                                            ELSE '{}'::uuid[] END)
                      AND (NOT mixerai.app_administers(m.id)
                           OR NOT EXISTS (SELECT 1 FROM mixerai.brands b
                                          WHERE b.id = m.id AND b.deleted_at IS NULL)))) THEN
        RAISE EXCEPTION 'a master claim brand of brand % does not exist or is not the acting user''s to name', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'brands_master_claim_brand_ids_fkey';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_master_claim_brands_exist BEFORE INSERT OR UPDATE OF master_claim_brand_ids ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.brands_master_claim_brands_exist();

-- Agencies that vet a brand's claims, tried in priority order.
CREATE TABLE mixerai.brand_vetting_agencies (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE,
    agency_name VARCHAR(255) NOT NULL CHECK (length(trim(agency_name)) > 0),
    priority INTEGER NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT true,
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT brand_vetting_agencies_version_check CHECK (version >= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT brand_vetting_agencies_name_key UNIQUE (brand_id, agency_name)
);

CREATE INDEX idx_brand_vetting_agencies_brand ON mixerai.brand_vetting_agencies (brand_id, priority);

CREATE TRIGGER brand_vetting_agencies_bump_version BEFORE UPDATE ON mixerai.brand_vetting_agencies
    FOR EACH ROW EXECUTE FUNCTION mixerai.bump_version();

CREATE TRIGGER brands_stamp_actor BEFORE INSERT ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert');

CREATE TRIGGER brands_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.brands
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('id', 'audit');
CREATE TRIGGER brand_vetting_agencies_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.brand_vetting_agencies
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');

-- Row-level security (errata W1-W5), the pattern of every tenant table: FORCE, so the owner is held too
-- unless it bypasses; one RESTRICTIVE policy admits only rows of the scope's brand (AND-ed with
-- everything else, so no other policy can widen it; no context means no rows, erratum E5); PERMISSIVE
-- policies per command say who may do what. The brand row itself: members read it, admins change it,
-- platform admins create and delete brands.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.brands, mixerai.brand_vetting_agencies TO mixerai_app;

ALTER TABLE mixerai.brands ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY brands_scope ON mixerai.brands AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY brands_read ON mixerai.brands FOR SELECT TO mixerai_app USING ((SELECT mixerai.app_can_read()));
CREATE POLICY brands_create ON mixerai.brands FOR INSERT TO mixerai_app WITH CHECK ((SELECT mixerai.app_is_platform_admin()));
CREATE POLICY brands_update ON mixerai.brands FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin())) WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY brands_delete ON mixerai.brands FOR DELETE TO mixerai_app USING ((SELECT mixerai.app_is_platform_admin()));

-- Vetting agencies: part of managing the brand.
ALTER TABLE mixerai.brand_vetting_agencies ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY brand_vetting_agencies_scope ON mixerai.brand_vetting_agencies AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY brand_vetting_agencies_read ON mixerai.brand_vetting_agencies FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY brand_vetting_agencies_insert ON mixerai.brand_vetting_agencies FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY brand_vetting_agencies_update ON mixerai.brand_vetting_agencies FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin())) WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY brand_vetting_agencies_delete ON mixerai.brand_vetting_agencies FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin()));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

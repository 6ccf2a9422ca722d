-- 0019 compliance settings: a brand's choice of whether compliance checks gate approval and publishing,
-- and which findings block (issue #15).
--
-- One row per brand, created by its admins; a brand without one is not gated (the defaults below are what
-- a new row holds). The gate (0020 compliance_gate) reads the row as it is when it is asked, so a change
-- here applies to versions checked before it too; the lifecycle asks it (0020 content_compliance_gate)
-- for the markets listed here, or the brand's own country when none are.
--
-- A new table only; nothing an existing table waits on.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.compliance_settings (
    -- The row's own id: the audit trail's stream (the brand's id is the brand row's stream).
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE
        CONSTRAINT compliance_settings_brand_id_key UNIQUE,
    -- Whether a version whose check has blocking findings (or no current check) may not be approved,
    -- and may not be published, in a market it targets.
    gate_approval BOOLEAN NOT NULL DEFAULT false,
    gate_publishing BOOLEAN NOT NULL DEFAULT false,
    -- The kinds of finding that block (claims::FindingKind). Guardrail findings advise by default: a
    -- guardrail is the brand's own wording rule, not a regulator's.
    blocking_kinds TEXT[] NOT NULL DEFAULT '{disallowed_claim,missing_mandatory_claim,replacement_required}'
        CONSTRAINT compliance_settings_blocking_kinds_check CHECK (blocking_kinds <@ ARRAY[
            'disallowed_claim', 'missing_mandatory_claim', 'replacement_required', 'guardrail_violated']::text[]),
    -- The markets a version must pass the gate in (ISO 3166-1 alpha-2 codes, as claims list them, no
    -- repeats: the crate checks that); empty means the brand's own country (brands.country), read when
    -- the gate is asked, so a brand that moves country is gated where it is now.
    markets TEXT[] NOT NULL DEFAULT '{}'
        CONSTRAINT compliance_settings_markets_format CHECK (mixerai.is_country_code_array(markets)),
    -- The optimistic-concurrency token (0001 stamp_update). BIGINT only because migrations after the
    -- baseline take no 32-bit integer (squawk); the crate reads it as the i32 every version is.
    version BIGINT NOT NULL DEFAULT 1 CONSTRAINT compliance_settings_version_check CHECK (version >= 1),
    created_by UUID NOT NULL REFERENCES mixerai.users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by UUID NOT NULL REFERENCES mixerai.users (id),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Foreign-key checks of the actor columns when a user is purged.
CREATE INDEX IF NOT EXISTS idx_compliance_settings_created_by ON mixerai.compliance_settings (created_by);
CREATE INDEX IF NOT EXISTS idx_compliance_settings_updated_by ON mixerai.compliance_settings (updated_by);

CREATE TRIGGER compliance_settings_stamp_update BEFORE UPDATE ON mixerai.compliance_settings
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

CREATE TRIGGER compliance_settings_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.compliance_settings
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert', 'updated_by=insert', 'updated_by=update');

CREATE TRIGGER compliance_settings_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.compliance_settings
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit');

-- Members read the settings (the gate does, as the caller); admins set them, as they write claims.
GRANT SELECT, INSERT, UPDATE ON mixerai.compliance_settings TO mixerai_app;
ALTER TABLE mixerai.compliance_settings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY compliance_settings_scope ON mixerai.compliance_settings AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY compliance_settings_read ON mixerai.compliance_settings FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY compliance_settings_insert ON mixerai.compliance_settings FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY compliance_settings_update ON mixerai.compliance_settings FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin())) WITH CHECK ((SELECT mixerai.app_can_admin()));

-- 0018 compliance checks: the recorded result of checking one content version against the claims and
-- guardrails of one market (issue #15).
--
-- A row is a snapshot, never changed: which version of which item was checked (content_id, version: the
-- content version, the item's mixerai.content.latest_version when it was checked, the key of the
-- content version log, 0014, and of approved_version, scheduled_version and live_version; not the
-- row's concurrency token content.version, which a status change moves too), for which
-- market, language, product and ingredients, for which point in time (checked_for: the publication or
-- scheduled time, not when the check ran), under which rule counters (rules_fingerprint, 0017), and what
-- was found (findings, as the crate's `claims::Finding` serialises: the claim, the rule that decided it,
-- the position in the text). A re-check adds a row; the last one per item and market is the one that
-- counts. Findings name claims by id without a foreign key: a claim may be another brand's (a master
-- claim brand's), which this brand may not reference, and a finding records what the claim said then.
--
-- The application role records checks (editors and admins, as they write content) and reads them; it
-- can neither change nor delete one, and the database sets who checked and when. Hard-deleting an item
-- takes its checks with it. No audit trigger: the rows are themselves the record, and never change.
--
-- A new table only; nothing an existing table waits on.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.compliance_checks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL,
    content_id UUID NOT NULL,
    -- The content version checked (a content_versions.version, BIGINT there too; the crate reads it as
    -- the i32 content.latest_version is).
    version BIGINT NOT NULL CONSTRAINT compliance_checks_version_check CHECK (version >= 1),
    country TEXT NOT NULL CONSTRAINT compliance_checks_country_format CHECK (country ~ '^[A-Z]{2}$'),
    language TEXT NOT NULL CONSTRAINT compliance_checks_language_format CHECK (language ~ '^[a-z]{2}$'),
    product_id UUID,
    ingredients TEXT[] NOT NULL DEFAULT '{}',
    checked_for TIMESTAMPTZ NOT NULL,
    rules_fingerprint JSONB NOT NULL
        CONSTRAINT compliance_checks_rules_fingerprint_check CHECK (jsonb_typeof(rules_fingerprint) = 'object'),
    findings JSONB NOT NULL DEFAULT '[]'
        CONSTRAINT compliance_checks_findings_check CHECK (jsonb_typeof(findings) = 'array'),
    checked_by UUID NOT NULL REFERENCES mixerai.users (id),
    checked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- (id, brand_id): a check can only be of an item of its own brand.
    CONSTRAINT compliance_checks_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE,
    -- A check is of a version the log holds; the log goes only with its item (0014), and its checks with
    -- it. Served by idx_compliance_checks_content, which leads with content_id.
    CONSTRAINT compliance_checks_version_fkey FOREIGN KEY (content_id, version)
        REFERENCES mixerai.content_versions (content_id, version) ON DELETE CASCADE
);

-- The last check of an item per market (the gate, an item's checks), newest first; also the foreign
-- keys' checks when an item or its versions are deleted.
CREATE INDEX IF NOT EXISTS idx_compliance_checks_content
    ON mixerai.compliance_checks (content_id, country, checked_at DESC, id DESC);
-- A brand's checks, newest first (the stale-check listing pages through them).
CREATE INDEX IF NOT EXISTS idx_compliance_checks_brand_checked
    ON mixerai.compliance_checks (brand_id, checked_at DESC, id DESC);
-- The foreign-key check of the actor column when a user is purged.
CREATE INDEX IF NOT EXISTS idx_compliance_checks_checked_by ON mixerai.compliance_checks (checked_by);

-- What a tenant cannot forge: the time of the check is the database's, and a check is recorded for the
-- content version the item is at, its latest_version (the crate reads the item and records its findings
-- in one scope; a check of a version since replaced by a save would describe text that is no longer the
-- item's; a status change saves no content and leaves latest_version, so a check survives it). Reads the
-- item under the caller's own policies. STABLE, so it reads the item in the inserting statement's
-- snapshot: a save committed after that statement began is not seen here either, and the statement's
-- own test of the version (the crate's INSERT ... WHERE EXISTS, which then reports the check as stale)
-- and this one agree instead of the trigger refusing what the statement admitted.
CREATE FUNCTION mixerai.compliance_checks_stamp() RETURNS trigger
    LANGUAGE plpgsql STABLE
    SET search_path = ''
    AS $$
DECLARE
    current_version integer;
    deleted timestamptz;
BEGIN
    IF TG_TABLE_SCHEMA <> 'mixerai' OR TG_TABLE_NAME <> 'compliance_checks' THEN
        RAISE EXCEPTION 'compliance_checks_stamp is for mixerai.compliance_checks only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.checked_at := now();
    SELECT c.latest_version, c.deleted_at INTO current_version, deleted
    FROM mixerai.content c
    WHERE c.id = NEW.content_id AND c.brand_id = NEW.brand_id;
    -- An item the caller cannot see is left to the policies and the foreign key, which refuse it
    -- with their own errors (a trigger runs before either).
    IF FOUND AND (deleted IS NOT NULL OR current_version <> NEW.version) THEN
        RAISE EXCEPTION 'item % is at version % (deleted: %), not %', NEW.content_id, current_version,
                        deleted IS NOT NULL, NEW.version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'compliance_checks_version_current',
                  TABLE = 'compliance_checks';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER compliance_checks_stamp BEFORE INSERT ON mixerai.compliance_checks
    FOR EACH ROW EXECUTE FUNCTION mixerai.compliance_checks_stamp();

CREATE TRIGGER compliance_checks_stamp_actor BEFORE INSERT ON mixerai.compliance_checks
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('checked_by=insert');

-- Readers read checks; writers record them; nobody changes or deletes one.
GRANT SELECT, INSERT ON mixerai.compliance_checks TO mixerai_app;
ALTER TABLE mixerai.compliance_checks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY compliance_checks_scope ON mixerai.compliance_checks AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY compliance_checks_read ON mixerai.compliance_checks FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY compliance_checks_insert ON mixerai.compliance_checks FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_write()));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

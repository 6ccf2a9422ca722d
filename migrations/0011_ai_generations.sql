-- 0011 ai_generations: one AI request and its outcome. Spec 2.6 names AIGeneration but gives no table;
-- this is its table. Rows are logs with their own retention (spec 5.2: 90 days ok, 30 days failed), so
-- they are not copied into the audit trail.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.ai_generations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES mixerai.users (id),

    type VARCHAR(50) NOT NULL CONSTRAINT ai_generations_type_check CHECK (type IN (
        'content_generation', 'brand_analysis', 'metadata_generation', 'alt_text',
        'transcreation', 'claim_review', 'title_suggestion')),
    model VARCHAR(100) NOT NULL CHECK (length(trim(model)) > 0),
    prompt TEXT NOT NULL,
    parameters JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),

    output TEXT,
    tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    latency_ms INTEGER NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    -- Money is DECIMAL(19,4) (spec "Data Types"), in US dollars.
    cost NUMERIC(19, 4) CHECK (cost >= 0),

    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CONSTRAINT ai_generations_status_check CHECK (status IN ('pending', 'completed', 'failed')),
    error TEXT,

    content_id UUID,
    template_id UUID REFERENCES mixerai.content_templates (id) ON DELETE SET NULL,
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),

    -- The optimistic-concurrency token (0001 bump_version): a pending generation is at 1, a settled one
    -- at 2, so settling it twice is a stale write like any other.
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT ai_generations_version_check CHECK (version >= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,

    -- The content, when given, must be of the same brand.
    CONSTRAINT ai_generations_content_fkey FOREIGN KEY (content_id, brand_id) REFERENCES mixerai.content (id, brand_id),
    CONSTRAINT ai_generations_outcome CHECK (
        (status = 'pending' AND completed_at IS NULL AND error IS NULL)
        OR (status = 'completed' AND completed_at IS NOT NULL AND output IS NOT NULL AND error IS NULL)
        OR (status = 'failed' AND completed_at IS NOT NULL AND error IS NOT NULL))
);

-- Keyset pages, newest first: all of a brand's generations; by type and by the requesting user, which
-- a user pages through and which therefore seek instead of filtering (a high-volume log). By user across
-- brands serves user deletion and retention.
CREATE INDEX idx_ai_generations_brand_created ON mixerai.ai_generations (brand_id, created_at DESC, id DESC);
CREATE INDEX idx_ai_generations_brand_type_created ON mixerai.ai_generations (brand_id, type, created_at DESC, id DESC);
CREATE INDEX idx_ai_generations_brand_user_created ON mixerai.ai_generations (brand_id, user_id, created_at DESC, id DESC);
CREATE INDEX idx_ai_generations_user ON mixerai.ai_generations (user_id, created_at DESC);
CREATE INDEX idx_ai_generations_content ON mixerai.ai_generations (content_id) WHERE content_id IS NOT NULL;
-- The foreign-key action of template_id (ON DELETE SET NULL) when a template is deleted.
CREATE INDEX idx_ai_generations_template ON mixerai.ai_generations (template_id) WHERE template_id IS NOT NULL;

-- The requesting user is the acting one (0001 stamp_actor).
CREATE TRIGGER ai_generations_stamp_actor BEFORE INSERT ON mixerai.ai_generations
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('user_id=insert');

-- A generation names a template assigned to its brand (see content_check_references, 0008).
CREATE FUNCTION mixerai.ai_generations_check_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
    AS $$
BEGIN
    IF NEW.template_id IS NOT NULL AND NOT mixerai.template_assigned(NEW.template_id, NEW.brand_id) THEN
        RAISE EXCEPTION 'template % is not assigned to brand %', NEW.template_id, NEW.brand_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ai_generations_template_id_fkey',
                  TABLE = 'ai_generations';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ai_generations_check_references
    BEFORE INSERT OR UPDATE OF template_id, brand_id ON mixerai.ai_generations
    FOR EACH ROW EXECUTE FUNCTION mixerai.ai_generations_check_references();

CREATE TRIGGER ai_generations_bump_version BEFORE UPDATE ON mixerai.ai_generations
    FOR EACH ROW EXECUTE FUNCTION mixerai.bump_version();

-- Editors record and complete generations; deleting the log is an admin's call.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.ai_generations TO mixerai_app;
ALTER TABLE mixerai.ai_generations ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY ai_generations_scope ON mixerai.ai_generations AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY ai_generations_read ON mixerai.ai_generations FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY ai_generations_insert ON mixerai.ai_generations FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY ai_generations_update ON mixerai.ai_generations FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_write())) WITH CHECK ((SELECT mixerai.app_can_write()));
CREATE POLICY ai_generations_delete ON mixerai.ai_generations FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin()));

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

-- 0013 idempotency keys: writes that happen at most once, whatever retries follow.
--
-- When the connection breaks while COMMIT is in flight the host cannot tell whether a scope was
-- applied (Error::CommitUnknown). A scope that first claims a key of the host's choosing
-- (Scope::claim_once) commits the key together with its writes, so running it again finds the key and
-- skips them. One row per brand and key; the primary key serialises two scopes claiming one key at
-- once. Kept for a week (IDEMPOTENCY_KEY_RETENTION), purged by SystemScope::purge_idempotency_keys.
--
-- The first migration after the baseline: a new table only, nothing an existing one waits on.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.idempotency_keys (
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE,
    key TEXT NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 200),
    -- Who claimed it: the acting user, set by the database (0001 stamp_actor).
    created_by UUID REFERENCES mixerai.users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (brand_id, key)
);

-- The purge reads by age; the foreign-key action of created_by by user.
CREATE INDEX IF NOT EXISTS idx_idempotency_keys_created ON mixerai.idempotency_keys (created_at);
CREATE INDEX IF NOT EXISTS idx_idempotency_keys_created_by ON mixerai.idempotency_keys (created_by)
    WHERE created_by IS NOT NULL;

CREATE TRIGGER idempotency_keys_stamp_actor BEFORE INSERT ON mixerai.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert');

-- Writers of the scope's brand claim keys; they are never changed, and only a system scope purges them.
GRANT SELECT, INSERT ON mixerai.idempotency_keys TO mixerai_app;
ALTER TABLE mixerai.idempotency_keys ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_scope ON mixerai.idempotency_keys AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY idempotency_keys_read ON mixerai.idempotency_keys FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_write()));
CREATE POLICY idempotency_keys_insert ON mixerai.idempotency_keys FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_write()));

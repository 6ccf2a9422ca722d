-- 0005 user_brand_roles: who may do what in which brand. Spec 2.1 / 3.1. Erratum E1: the spec created
-- this table before brands existed; it comes after brands here. The membership helpers of 0001 read it.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.user_brand_roles (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES mixerai.users (id) ON DELETE CASCADE,
    brand_id UUID NOT NULL REFERENCES mixerai.brands (id) ON DELETE CASCADE,
    role VARCHAR(50) NOT NULL CONSTRAINT user_brand_roles_role_check CHECK (role IN ('admin', 'editor', 'viewer')),

    permissions TEXT[] NOT NULL DEFAULT '{}',
    restrictions TEXT[] NOT NULL DEFAULT '{}',

    last_accessed_at TIMESTAMPTZ,
    access_count INTEGER NOT NULL DEFAULT 0 CHECK (access_count >= 0),

    assigned_by UUID REFERENCES mixerai.users (id),
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Temporary access: a role whose expires_at has passed grants nothing.
    expires_at TIMESTAMPTZ,
    -- The optimistic-concurrency token of changes to the grant (0001 bump_version); access tracking
    -- does not count as one.
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT user_brand_roles_version_check CHECK (version >= 1),

    CONSTRAINT user_brand_roles_user_brand_key UNIQUE (user_id, brand_id)
);

-- (user_id, brand_id) is covered by the unique constraint; membership look-ups by brand use this one.
CREATE INDEX idx_user_brand_roles_brand ON mixerai.user_brand_roles (brand_id, role);
-- Members of a brand, newest grant first; a user's memberships, newest first (keyset pages).
CREATE INDEX idx_user_brand_roles_brand_assigned ON mixerai.user_brand_roles (brand_id, assigned_at DESC, id DESC);
CREATE INDEX idx_user_brand_roles_user_assigned ON mixerai.user_brand_roles (user_id, assigned_at DESC, id DESC);
-- The foreign-key check of assigned_by when a user is purged.
CREATE INDEX idx_user_brand_roles_assigned_by ON mixerai.user_brand_roles (assigned_by) WHERE assigned_by IS NOT NULL;

CREATE TRIGGER user_brand_roles_bump_version
    BEFORE UPDATE OF role, permissions, restrictions, expires_at, assigned_by, assigned_at
    ON mixerai.user_brand_roles FOR EACH ROW EXECUTE FUNCTION mixerai.bump_version();

-- The assigning admin is the acting one (0001 stamp_actor).
CREATE TRIGGER user_brand_roles_stamp_actor BEFORE INSERT OR UPDATE OF assigned_by ON mixerai.user_brand_roles
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('assigned_by=insert', 'assigned_by=change');

-- Permission changes are security events (spec 5.1 "Audit required"). Access tracking is not a
-- permission change: its columns are left out of the UPDATE OF list, so counting a use writes no event
-- (a viewer could otherwise fill the trail, with seven-year retention, one call at a time). The count
-- and the last access are kept on the row itself.
CREATE TRIGGER user_brand_roles_audit
    AFTER INSERT OR DELETE OR UPDATE OF user_id, brand_id, role, permissions, restrictions, assigned_by,
        assigned_at, expires_at
    ON mixerai.user_brand_roles FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'security');

-- Access tracking without giving viewers UPDATE on role rows: records one use of the acting user's live
-- role in the scope's brand; a soft-deleted user's accesses are not counted.
CREATE FUNCTION mixerai.app_touch_brand_access() RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = ''
    AS $$
    UPDATE mixerai.user_brand_roles r
    SET last_accessed_at = now(), access_count = r.access_count + 1
    FROM mixerai.users u
    WHERE r.user_id = mixerai.app_current_user_id() AND r.brand_id = mixerai.app_current_brand_id()
      AND (r.expires_at IS NULL OR r.expires_at > now())
      AND u.id = r.user_id AND u.deleted_at IS NULL
$$;
GRANT EXECUTE ON FUNCTION mixerai.app_touch_brand_access() TO mixerai_app;

-- Members see the brand's members; admins grant, change and revoke.
GRANT SELECT, INSERT, UPDATE, DELETE ON mixerai.user_brand_roles TO mixerai_app;
ALTER TABLE mixerai.user_brand_roles ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY user_brand_roles_scope ON mixerai.user_brand_roles AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY user_brand_roles_read ON mixerai.user_brand_roles FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
CREATE POLICY user_brand_roles_insert ON mixerai.user_brand_roles FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY user_brand_roles_update ON mixerai.user_brand_roles FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin())) WITH CHECK ((SELECT mixerai.app_can_admin()));
CREATE POLICY user_brand_roles_delete ON mixerai.user_brand_roles FOR DELETE TO mixerai_app
    USING ((SELECT mixerai.app_can_admin()));

-- What a tenant scope sees of other people: the public profile (name, avatar, address, since when) of
-- the acting user and of everyone who holds or held a role in the scope's brand, and nothing more: no
-- phone, metadata or sign-in state, which only the account's owner (users_read_self, 0003) and system
-- scopes read. A view, so a grant of a role to any user id reveals no more than a name. It reads users
-- with its owner's rights (the owner bypasses row-level security), so its WHERE clauses are the whole
-- rule; security_barrier keeps a caller's own conditions from being evaluated before them. Soft-deleted
-- users are left out. The members come from the brand's roles (idx_user_brand_roles_brand), so a page
-- of a brand's people reads that brand's roles, not every user; UNION, as the acting user is usually a
-- member too.
CREATE VIEW mixerai.user_profiles WITH (security_barrier) AS
SELECT u.id, u.email, u.first_name, u.last_name, u.avatar_url, u.created_at
FROM mixerai.users u
WHERE u.deleted_at IS NULL AND u.id = (SELECT mixerai.app_current_user_id())
UNION
SELECT u.id, u.email, u.first_name, u.last_name, u.avatar_url, u.created_at
FROM mixerai.user_brand_roles r
JOIN mixerai.users u ON u.id = r.user_id
WHERE r.brand_id = (SELECT mixerai.app_current_brand_id())
  AND (SELECT mixerai.app_can_read())
  AND u.deleted_at IS NULL;
GRANT SELECT ON mixerai.user_profiles TO mixerai_app;

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

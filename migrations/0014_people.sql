-- 0014 people: what the users and brands repositories need beyond 0003-0005 and 0013.
--
-- * Indexes serving the keyset-paginated lists (newest first by (created_at, id), or for memberships by
--   (assigned_at, id)): users, a brand's members, a user's memberships, a brand's sub-brands, all brands.
-- * Soft-deleting or restoring a brand is a platform admin's or a maintenance job's call, not a brand
--   admin's: brands_update (0013) lets a brand admin update any column of their brand, so a trigger
--   guards deleted_at for the application role.
-- * master_claim_brand_ids is an array, which a foreign key cannot cover: a trigger checks that every id
--   names a brand, and reports it as a foreign-key violation so the crate maps it to InvalidReference.

CREATE INDEX idx_users_created ON users (created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- Members of a brand, newest grant first; a user's memberships, newest first.
CREATE INDEX idx_user_brand_roles_brand_assigned ON user_brand_roles (brand_id, assigned_at DESC, id DESC);
CREATE INDEX idx_user_brand_roles_user_assigned ON user_brand_roles (user_id, assigned_at DESC, id DESC);

CREATE INDEX idx_brands_created ON brands (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_brands_parent_created ON brands (parent_brand_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- The application role may change deleted_at only as a platform admin (who may also hard-delete, 0013
-- brands_delete). System scopes (the pool's own role) are not mixerai_app and pass.
CREATE FUNCTION brands_guard_soft_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
       AND current_user = 'mixerai_app' AND NOT app_is_platform_admin() THEN
        RAISE EXCEPTION 'only a platform admin or a system scope may delete or restore a brand'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_guard_soft_delete BEFORE UPDATE OF deleted_at ON brands
    FOR EACH ROW EXECUTE FUNCTION brands_guard_soft_delete();

-- Every master claim brand must exist. SECURITY DEFINER: the brands named are other tenants, which a
-- tenant scope cannot see (brands_definer_read in 0013 gives the definer that read). Soft-deleted brands
-- still exist (they may be restored), so they pass.
CREATE FUNCTION brands_master_claim_brands_exist() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(NEW.master_claim_brand_ids) AS m (id)
               WHERE NOT EXISTS (SELECT 1 FROM brands b WHERE b.id = m.id)) THEN
        RAISE EXCEPTION 'a master claim brand of brand % does not exist', NEW.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'brands_master_claim_brand_ids_fkey';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER brands_master_claim_brands_exist BEFORE INSERT OR UPDATE OF master_claim_brand_ids ON brands
    FOR EACH ROW EXECUTE FUNCTION brands_master_claim_brands_exist();

-- 0018 deleted brands grant nothing: a soft-deleted brand is closed to its members.
--
-- Until now app_current_role() looked only at the user and the role row, so after a brand was
-- soft-deleted its admins, editors and viewers could still open scopes in it and read and write its
-- content. The role now also requires the brand to be live. Platform admins keep 'admin' in a deleted
-- brand, because restoring it is their job (brands_guard_soft_delete, 0014). One extra primary-key probe,
-- and still once per statement: the policies call the helpers as (SELECT ...) InitPlans.

CREATE OR REPLACE FUNCTION app_current_role() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
DECLARE
    acting uuid := app_current_user_id();
    found_role text;
BEGIN
    IF acting IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT CASE WHEN u.metadata ->> 'is_platform_admin' = 'true' THEN 'admin' ELSE r.role END
    INTO found_role
    FROM users u
    LEFT JOIN user_brand_roles r
           ON r.user_id = u.id
          AND r.brand_id = app_current_brand_id()
          AND (r.expires_at IS NULL OR r.expires_at > now())
          AND EXISTS (SELECT 1 FROM brands b WHERE b.id = r.brand_id AND b.deleted_at IS NULL)
    WHERE u.id = acting AND u.deleted_at IS NULL;
    RETURN found_role;
END
$$;

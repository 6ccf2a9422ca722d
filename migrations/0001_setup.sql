-- 0001 setup: helpers every later migration uses, defined once.
--
-- Nothing here needs an extension: gen_random_uuid() is built in since PostgreSQL 13, and encryption
-- happens in the crate (erratum E9: no pgcrypto, no Supabase vault).

-- The acting user and brand of the current transaction, as the crate's scope sets them with
-- set_config(..., true). Erratum E4: once a setting has been set and reset its value is '' (not NULL),
-- and ''::uuid raises; erratum E5: current_setting without missing_ok raises when the setting was never
-- set. Both helpers therefore read with missing_ok and turn '' into NULL, so "no context" is NULL, never an
-- error. Every policy, trigger and query reads the context through these two functions only.
CREATE FUNCTION app_current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.current_user_id', true), '')::uuid $$;

CREATE FUNCTION app_current_brand_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.current_brand_id', true), '')::uuid $$;

-- Keeps updated_at honest whoever writes the row; applied to each table with one line.
CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- A text array whose every element is an ISO 3166-1 alpha-2 code (empty = all countries). CHECK
-- constraints cannot hold subqueries, so this is an IMMUTABLE function.
CREATE FUNCTION is_country_code_array(codes text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(bool_and(c ~ '^[A-Z]{2}$'), true) FROM unnest(codes) AS c $$;

-- 0003 users: people who sign in. Spec 2.1 / 3.1.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

CREATE TABLE mixerai.users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored as the crate's Email type normalises it (trimmed, lowercase). Erratum W7: the spec's CHECK
    -- used [A-Z|a-z], which admits a literal '|'. The crate's Email type is the real validator; this CHECK
    -- is the second line.
    email VARCHAR(255) NOT NULL
        CONSTRAINT users_email_format CHECK (email ~* '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'),
    -- Derived, never written by hand: one account per address in any letter case. Unique over soft-deleted
    -- rows too, so a deleted account can always be restored (retention keeps them for 7 years, spec 5.2).
    email_normalized VARCHAR(255) GENERATED ALWAYS AS (lower(email)) STORED
        CONSTRAINT users_email_normalized_key UNIQUE,
    -- An Argon2id PHC string (crate::crypto), NULL for SSO users.
    password_hash VARCHAR(255),
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    avatar_url TEXT,
    phone VARCHAR(50),
    -- An IANA zone name; the crate validates it against the tz database.
    timezone VARCHAR(50) NOT NULL DEFAULT 'UTC',
    -- TEXT, not CHAR(2): the CHECK fixes the width, and CHAR would pad.
    language TEXT NOT NULL DEFAULT 'en' CONSTRAINT users_language_format CHECK (language ~ '^[a-z]{2}$'),

    email_verified BOOLEAN NOT NULL DEFAULT false,
    email_verified_at TIMESTAMPTZ,
    last_login_at TIMESTAMPTZ,
    login_count INTEGER NOT NULL DEFAULT 0 CHECK (login_count >= 0),
    failed_login_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_attempts >= 0),
    locked_until TIMESTAMPTZ,

    mfa_enabled BOOLEAN NOT NULL DEFAULT false,
    -- Erratum E9: an AES-256-GCM envelope made by the crate and bound to this row and column; the key never
    -- reaches the database, so a dump or a copied value reveals nothing.
    mfa_secret BYTEA,
    -- One-way hashes of the backup codes: they are only ever compared, never decrypted.
    mfa_backup_codes TEXT[],

    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- The optimistic-concurrency token (0001 stamp_update): counts changes of the account (profile,
    -- address, metadata, deletion), not sign-ins, so signing in never makes an open profile edit stale.
    version INTEGER NOT NULL DEFAULT 1 CONSTRAINT users_version_check CHECK (version >= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,

    CONSTRAINT users_mfa_secret_when_enabled CHECK (NOT mfa_enabled OR mfa_secret IS NOT NULL)
);

CREATE INDEX idx_users_last_login ON mixerai.users (last_login_at DESC) WHERE deleted_at IS NULL;
-- The keyset-paginated list of users, newest first.
CREATE INDEX idx_users_created ON mixerai.users (created_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TRIGGER users_stamp_update
    BEFORE UPDATE OF email, first_name, last_name, avatar_url, phone, timezone, language, metadata, deleted_at
    ON mixerai.users FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();

-- Account changes are security events; the password hash and MFA material never enter the trail.
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.users
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('', 'security', 'password_hash', 'mfa_secret', 'mfa_backup_codes');

-- Never the password hash or MFA material. A user reads their own account and edits their own profile,
-- nothing else (the platform-admin flag lives in metadata, which only a system scope writes); a
-- soft-deleted user is read-only. What members see of each other is the view user_profiles (0005).
GRANT SELECT (id, email, email_normalized, first_name, last_name, avatar_url, phone, timezone, language,
    email_verified, email_verified_at, last_login_at, login_count, failed_login_attempts, locked_until,
    mfa_enabled, metadata, version, created_at, updated_at, deleted_at) ON mixerai.users TO mixerai_app;
GRANT UPDATE (first_name, last_name, avatar_url, phone, timezone, language) ON mixerai.users TO mixerai_app;

ALTER TABLE mixerai.users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read_self ON mixerai.users FOR SELECT TO mixerai_app
    USING (id = (SELECT mixerai.app_current_user_id()));
CREATE POLICY users_update_self ON mixerai.users FOR UPDATE TO mixerai_app
    USING (id = (SELECT mixerai.app_current_user_id()) AND deleted_at IS NULL)
    WITH CHECK (id = (SELECT mixerai.app_current_user_id()) AND deleted_at IS NULL);

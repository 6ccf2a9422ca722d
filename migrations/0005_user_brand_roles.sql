-- 0004 user_brand_roles: who may do what in which brand. Spec 2.1 / 3.1. Erratum E1: the spec created
-- this table before brands existed; it comes after brands here.

CREATE TABLE user_brand_roles (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    brand_id UUID NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    role VARCHAR(50) NOT NULL CONSTRAINT user_brand_roles_role_check CHECK (role IN ('admin', 'editor', 'viewer')),

    permissions TEXT[] NOT NULL DEFAULT '{}',
    restrictions TEXT[] NOT NULL DEFAULT '{}',

    last_accessed_at TIMESTAMPTZ,
    access_count INTEGER NOT NULL DEFAULT 0 CHECK (access_count >= 0),

    assigned_by UUID REFERENCES users (id),
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Temporary access: a role whose expires_at has passed grants nothing.
    expires_at TIMESTAMPTZ,

    CONSTRAINT user_brand_roles_user_brand_key UNIQUE (user_id, brand_id)
);

-- (user_id, brand_id) is covered by the unique constraint; membership look-ups by brand use this one.
CREATE INDEX idx_user_brand_roles_brand ON user_brand_roles (brand_id, role);

-- Permission changes are security events (spec 5.1 "Audit required").
CREATE TRIGGER user_brand_roles_audit AFTER INSERT OR UPDATE OR DELETE ON user_brand_roles
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('brand_id', 'security');

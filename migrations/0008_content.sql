-- 0007 content: one row per content item (the head). Spec 2.3 / 3.3.
--
-- Shaped for versioning: this row is the item's current state and `version` counts its saves (it is the
-- optimistic-concurrency token). An immutable version log will hang off it with direct pointers from
-- this row to the draft and live versions, so "latest" is never found by max(version) or a flag.
-- Erratum E7: not partitioned (a partitioned table's unique keys must include the partition key, which
-- would break every foreign key to content.id).

CREATE TABLE content (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES brands (id),
    template_id UUID REFERENCES content_templates (id),
    type VARCHAR(50) NOT NULL CHECK (length(trim(type)) > 0),

    title VARCHAR(500) NOT NULL CONSTRAINT content_title_not_empty CHECK (length(trim(title)) > 0),
    slug VARCHAR(500) NOT NULL CONSTRAINT content_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(fields) = 'object'),

    body TEXT,
    excerpt TEXT,

    -- SEO: {metaTitle, metaDescription, keywords[], ogImage, canonicalUrl}
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),

    status VARCHAR(50) NOT NULL DEFAULT 'draft' CONSTRAINT content_status_check CHECK (status IN
        ('draft', 'pending_review', 'in_review', 'approved', 'scheduled', 'published', 'archived', 'rejected')),
    published_at TIMESTAMPTZ,
    published_by UUID REFERENCES users (id),
    scheduled_for TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,

    workflow_id UUID REFERENCES workflows (id),
    -- A step id inside workflows.steps (JSON), so no foreign key.
    current_step_id UUID,
    workflow_data JSONB,

    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    version_note TEXT,
    is_draft BOOLEAN NOT NULL DEFAULT true,
    parent_id UUID REFERENCES content (id),

    views INTEGER NOT NULL DEFAULT 0 CHECK (views >= 0),
    shares INTEGER NOT NULL DEFAULT 0 CHECK (shares >= 0),
    engagement JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(engagement) = 'object'),

    tags TEXT[] NOT NULL DEFAULT '{}',
    categories TEXT[] NOT NULL DEFAULT '{}',
    custom_fields JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),

    -- Full-text document over title, body and field values (spec 7.1 idx_content_fts), stored so that
    -- queries and the GIN index share one expression and nothing is recomputed per read.
    search_vector TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
        || setweight(jsonb_to_tsvector('english'::regconfig, fields, '["string"]'), 'C')
    ) STORED,

    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by UUID NOT NULL REFERENCES users (id),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,

    -- Lets child tables reference (id, brand_id) together, so a child can never claim another brand.
    CONSTRAINT content_id_brand_key UNIQUE (id, brand_id),
    CONSTRAINT content_published_has_time CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT content_scheduled_has_time CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL)
);

-- Erratum W8: the spec's UNIQUE(brand_id, slug, version) kept a soft-deleted item's slug forever (and let
-- two live items share a slug at different versions). A slug is unique among the brand's live items.
CREATE UNIQUE INDEX content_brand_slug_key ON content (brand_id, slug) WHERE deleted_at IS NULL;

CREATE INDEX idx_content_brand_status ON content (brand_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_brand_type_status ON content (brand_id, type, status) WHERE deleted_at IS NULL;
-- Keyset pagination: a brand's items newest first with id as the tie-breaker.
CREATE INDEX idx_content_brand_created ON content (brand_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_type ON content (type) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_created_at ON content (created_at DESC) WHERE deleted_at IS NULL;
-- Erratum E6: the spec's "published in the last 30 days" index used NOW() in its predicate, which
-- PostgreSQL refuses (index predicates must be immutable). A plain partial index on published_at serves
-- the same range queries.
CREATE INDEX idx_content_published ON content (published_at DESC) WHERE deleted_at IS NULL AND status = 'published';
CREATE INDEX idx_content_scheduled ON content (scheduled_for) WHERE deleted_at IS NULL AND status = 'scheduled';
CREATE INDEX idx_content_workflow ON content (workflow_id, current_step_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX idx_content_template ON content (template_id) WHERE template_id IS NOT NULL;
CREATE INDEX idx_content_parent ON content (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX idx_content_fts ON content USING gin (search_vector);
CREATE INDEX idx_content_tags ON content USING gin (tags);
CREATE INDEX idx_content_categories ON content USING gin (categories);
CREATE INDEX idx_content_fields ON content USING gin (fields jsonb_path_ops);

CREATE TRIGGER content_updated_at BEFORE UPDATE ON content FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- search_vector is derived from title, body and fields: left out of the trail.
CREATE TRIGGER content_audit AFTER INSERT OR UPDATE OR DELETE ON content
    FOR EACH ROW EXECUTE FUNCTION audit_trigger('brand_id', 'audit', 'search_vector');

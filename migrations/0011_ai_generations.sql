-- 0010 ai_generations: one AI request and its outcome. Spec 2.6 names AIGeneration but gives no table;
-- this is its table. Rows are logs with their own retention (spec 5.2: 90 days ok, 30 days failed), so
-- they are not copied into the audit trail.

CREATE TABLE ai_generations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id),

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
    template_id UUID REFERENCES content_templates (id) ON DELETE SET NULL,
    metadata JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),

    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,

    -- The content, when given, must be of the same brand.
    CONSTRAINT ai_generations_content_fkey FOREIGN KEY (content_id, brand_id) REFERENCES content (id, brand_id),
    CONSTRAINT ai_generations_outcome CHECK (
        (status = 'pending' AND completed_at IS NULL AND error IS NULL)
        OR (status = 'completed' AND completed_at IS NOT NULL AND output IS NOT NULL AND error IS NULL)
        OR (status = 'failed' AND completed_at IS NOT NULL AND error IS NOT NULL))
);

CREATE INDEX idx_ai_generations_brand_created ON ai_generations (brand_id, created_at DESC, id DESC);
CREATE INDEX idx_ai_generations_brand_type ON ai_generations (brand_id, type, created_at DESC);
CREATE INDEX idx_ai_generations_user ON ai_generations (user_id, created_at DESC);
CREATE INDEX idx_ai_generations_content ON ai_generations (content_id) WHERE content_id IS NOT NULL;

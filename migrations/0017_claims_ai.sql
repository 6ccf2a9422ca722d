-- 0017 claims and AI generations: indexes for the keyset-paginated lists of the claims and ai
-- repositories. Every list is ordered newest first by (created_at, id) and continues with
-- (created_at, id) < (cursor), so each needs an index whose order is exactly that, after the columns
-- the list seeks on. No data changes.

-- Claims: the brand's live claims, newest first. Status, type, level, country and effective-date
-- filters are applied while walking this index in order (a brand holds hundreds to a few thousand
-- claims, and a page stops after limit + 1 matches): no sort, no OFFSET.
CREATE INDEX idx_claims_brand_created ON claims (brand_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- AI generations are a high-volume log, so the two filters a user pages through seek instead of
-- filtering: by type, and by the user who made the request (always within the scope's brand; the
-- existing idx_ai_generations_user, by user across brands, serves user deletion and retention).
CREATE INDEX idx_ai_generations_brand_type_created ON ai_generations (brand_id, type, created_at DESC, id DESC);
CREATE INDEX idx_ai_generations_brand_user_created ON ai_generations (brand_id, user_id, created_at DESC, id DESC);

-- Superseded by idx_ai_generations_brand_type_created, whose leading columns it repeats without the id
-- the keyset needs; keeping both would cost every insert into the log a second identical index write.
DROP INDEX idx_ai_generations_brand_type;

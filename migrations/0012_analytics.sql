-- 0012 analytics and data quality: spec 7.3 and 5.3.
--
-- The materialized view is not protected by row-level security (PostgreSQL has none for materialized
-- views); it is for maintenance jobs and reporting, not for the application role, which gets no grant.

-- Bounded waits (migrations/README.md): never queue for long behind, or in front of, live traffic.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- Erratum E8: the spec's AVG(engagement->>'duration')::integer averaged text (no such function); the cast
-- belongs inside the aggregate. Values that are not numbers are skipped rather than failing the refresh.
CREATE MATERIALIZED VIEW mixerai.mv_content_analytics AS
SELECT c.brand_id,
       c.type,
       date_trunc('day', c.created_at) AS date,
       count(*) AS total_count,
       count(*) FILTER (WHERE c.status = 'published') AS published_count,
       count(*) FILTER (WHERE c.status = 'draft') AS draft_count,
       avg(c.views) AS avg_views,
       avg(CASE WHEN jsonb_typeof(c.engagement -> 'duration') = 'number'
                THEN (c.engagement ->> 'duration')::numeric END)::integer AS avg_engagement_duration
FROM mixerai.content c
WHERE c.deleted_at IS NULL
GROUP BY c.brand_id, c.type, date_trunc('day', c.created_at);

-- REFRESH ... CONCURRENTLY needs a unique index. Built with the view it belongs to, which no session
-- can be using yet, so there is nothing for CONCURRENTLY to spare.
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX mv_content_analytics_key ON mixerai.mv_content_analytics (brand_id, type, date);

CREATE FUNCTION mixerai.refresh_content_analytics() RETURNS void
    LANGUAGE sql
    SET search_path = ''
    AS $$ REFRESH MATERIALIZED VIEW CONCURRENTLY mixerai.mv_content_analytics $$;

-- Names are NOT NULL, so the spec's "IS NULL" metric could never count anything: blank names are the
-- real defect.
CREATE VIEW mixerai.data_quality_metrics AS
SELECT 'users_without_names' AS metric, count(*) AS count
FROM mixerai.users
WHERE deleted_at IS NULL AND (length(trim(first_name)) = 0 OR length(trim(last_name)) = 0)
UNION ALL
SELECT 'content_without_metadata', count(*)
FROM mixerai.content
WHERE deleted_at IS NULL AND metadata = '{}' AND status = 'published';

-- Functions are not PUBLIC's to call (see 0001).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mixerai FROM PUBLIC;

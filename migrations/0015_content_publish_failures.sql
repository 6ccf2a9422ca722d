-- 0015 content publish failures: what the publishing job (publish_due) could not do, and how often.
--
-- The job publishes due schedules and takes down expired live versions (0014 decides what each step
-- does). A step that fails (the database refused it) is rolled back to its savepoint and recorded here,
-- once per item, action and due time, with the count of attempts and the last error, so the job goes
-- on with the other items and gives up on this one after a few attempts (the crate's
-- MAX_PUBLISH_ATTEMPTS) until the schedule or expiry is changed: a new due time is a fresh start.
-- Readable by the brand's members, so an editor sees why an item did not go live; written by the job
-- (a system scope) only.
--
-- A new table only, nothing an existing one waits on.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

CREATE TABLE IF NOT EXISTS mixerai.content_publish_failures (
    content_id UUID NOT NULL,
    brand_id UUID NOT NULL,
    action TEXT NOT NULL CONSTRAINT content_publish_failures_action_check CHECK (action IN ('publish', 'expire')),
    -- scheduled_for (publish) or expires_at (expire) of the attempt.
    due_at TIMESTAMPTZ NOT NULL,
    -- The version the step was for: the scheduled one, or the live one to take down.
    version BIGINT,
    attempts BIGINT NOT NULL DEFAULT 1 CONSTRAINT content_publish_failures_attempts_check CHECK (attempts >= 1),
    last_error TEXT NOT NULL,
    first_failed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_failed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT content_publish_failures_pkey PRIMARY KEY (content_id, action, due_at),
    CONSTRAINT content_publish_failures_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE
);

GRANT SELECT ON mixerai.content_publish_failures TO mixerai_app;
ALTER TABLE mixerai.content_publish_failures ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_publish_failures_scope ON mixerai.content_publish_failures AS RESTRICTIVE FOR ALL
    TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_scope_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_scope_brand_id()));
CREATE POLICY content_publish_failures_read ON mixerai.content_publish_failures FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));

-- A host's own tenant table under the crate's isolation: reviewers' notes on content items.
--
-- Runs after Database::migrate() (it names mixerai.content and the crate's helpers), as the role that
-- owns the crate's schema. The pattern, for any table of the host's that holds one brand's data:
-- * brand_id defaults to the scope's brand, and a RESTRICTIVE policy admits only rows of that brand
--   (AND-ed with every other policy, so nothing widens it); no scope means no rows.
-- * Permissive policies per command call the crate's documented helpers (mixerai.app_can_read(),
--   app_can_write(), app_can_admin(), app_current_user_id(), app_current_brand_id()), each wrapped
--   in (SELECT ...) so PostgreSQL evaluates it once per statement, not once per row.
-- * A reference to a crate table names (id, brand_id) together, against the crate's unique key on
--   both. Foreign-key checks bypass row-level security, so a plain content_id reference would accept
--   another brand's item (whose id a tenant may learn); the composite key refuses it.
-- * FORCE ROW LEVEL SECURITY, so the owner is held to the policies too unless it bypasses them.

CREATE TABLE public.content_notes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    brand_id UUID NOT NULL DEFAULT mixerai.app_current_brand_id(),
    content_id UUID NOT NULL,
    author_id UUID NOT NULL DEFAULT mixerai.app_current_user_id() REFERENCES mixerai.users (id),
    body TEXT NOT NULL CHECK (length(trim(body)) > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT content_notes_content_fkey FOREIGN KEY (content_id, brand_id)
        REFERENCES mixerai.content (id, brand_id) ON DELETE CASCADE
);

-- Serves the foreign key's checks and the notes of one item.
CREATE INDEX content_notes_content ON public.content_notes (content_id, brand_id);
CREATE INDEX content_notes_author ON public.content_notes (author_id);

GRANT SELECT, INSERT, DELETE ON public.content_notes TO mixerai_app;
ALTER TABLE public.content_notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY content_notes_scope ON public.content_notes AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_current_brand_id()))
    WITH CHECK (brand_id = (SELECT mixerai.app_current_brand_id()));
CREATE POLICY content_notes_read ON public.content_notes FOR SELECT TO mixerai_app
    USING ((SELECT mixerai.app_can_read()));
-- Anyone who may read the brand may leave a note, as themselves only.
CREATE POLICY content_notes_insert ON public.content_notes FOR INSERT TO mixerai_app
    WITH CHECK ((SELECT mixerai.app_can_read()) AND author_id = (SELECT mixerai.app_current_user_id()));
-- Authors delete their own notes; admins any note of the brand.
CREATE POLICY content_notes_delete ON public.content_notes FOR DELETE TO mixerai_app
    USING (author_id = (SELECT mixerai.app_current_user_id()) OR (SELECT mixerai.app_can_admin()));

CREATE TABLE public.events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES public.users (id),
    what TEXT NOT NULL
);
CREATE TABLE public.content (title TEXT PRIMARY KEY);

-- A host application's own schema, numbered from 1 like the crate's and using sqlx's default history
-- table: its own `users` and `events` in `public`, names the crate also uses inside `mixerai`.
CREATE TABLE public.users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login TEXT NOT NULL UNIQUE
);

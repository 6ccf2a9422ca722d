-- 0022 lz4 for the large values of the write path, where the server has it.
--
-- An audited content update stores both row images in events.payload, and a save writes the body
-- again into the version log, so an item with an 8.7 kB body puts ~20 kB through TOAST compression on
-- every save. With PostgreSQL's default, pglz, inserting such a payload cost ~280 to ~360 us; with
-- lz4 ~63 to ~75 us, and it took 33 MB on disk where pglz took 58 MB (2,000 such payloads, measured in
-- a loop on PostgreSQL 15). Values already stored keep their compression; new ones use lz4.
--
-- lz4 exists only where the server was built with it (--with-lz4: the PGDG and Debian packages, the
-- official images and the large managed services are). Elsewhere this migration changes nothing and
-- says so (a NOTICE), rather than failing, so every server can run it.
--
-- Cost to a running system: ALTER COLUMN ... SET COMPRESSION changes the catalog only (no rewrite, no
-- scan), under a brief ACCESS EXCLUSIVE lock per table, bounded below.

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '1min';

DO $$
BEGIN
    ALTER TABLE mixerai.events ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE mixerai.content ALTER COLUMN body SET COMPRESSION lz4,
                                ALTER COLUMN fields SET COMPRESSION lz4;
    ALTER TABLE mixerai.content_versions ALTER COLUMN body SET COMPRESSION lz4,
                                         ALTER COLUMN fields SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4 (built without --with-lz4): mixerai keeps pglz';
END
$$;

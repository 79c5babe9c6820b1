-- Read model v8: the documents are compressed with LZ4 instead of pglz.
--
-- Values over about 2 kB (most `fields` documents, larger descriptors and
-- their history) are compressed as rows are written; LZ4 compresses
-- several times faster than pglz at a similar ratio, which makes each
-- insert about a tenth cheaper. Rows already stored keep their compression
-- (both are read alike). A server built without LZ4 keeps pglz: the
-- migration then only notes it.
DO $$
BEGIN
    ALTER TABLE entities
        ALTER COLUMN entity SET COMPRESSION lz4,
        ALTER COLUMN fields SET COMPRESSION lz4,
        ALTER COLUMN fields_case SET COMPRESSION lz4;
    ALTER TABLE entity_history ALTER COLUMN entity SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no LZ4: documents stay compressed with pglz';
END
$$;

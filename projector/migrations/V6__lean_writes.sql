-- Read model v6: leaner writes.
--
-- 1. Relations are stored once, as their source entity's spec declares
--    them, with the type the target sees (`inverse_type`): one row and two
--    indexes per relation instead of a row per direction with three. Both
--    directions are read from the same row (`catalog_projector::query::RELATIONS`).
-- 2. The relation hashes go: the etag is computed by the reader from the
--    event id and the relations it serves (`catalog_projector::query::etag`),
--    so no batch writes rows of entities outside its own partition.
-- 3. `fields` holds the lower-cased values the filters compare, plus the
--    list of paths under the key "" (a flattened path is never empty), so
--    one GIN index on the column itself serves equality and existence; the
--    values as written, where they differ, are in `fields_case` (facets).
--    The per-row `lower(fields::text)::jsonb`, the `field_keys` array and
--    its index, and the unused stored `etag` go.

CREATE TABLE declared_relations (
    source_ref   text NOT NULL,           -- the entity whose spec declares it
    type         text NOT NULL,           -- what the source is to the target
    target_ref   text NOT NULL,           -- may not exist
    inverse_type text NOT NULL,           -- what the target is to the source
    PRIMARY KEY (source_ref, type, target_ref)
);
INSERT INTO declared_relations (source_ref, type, target_ref, inverse_type)
SELECT DISTINCT source_ref, type, target_ref,
    CASE type
        WHEN 'ownedBy' THEN 'ownerOf' WHEN 'ownerOf' THEN 'ownedBy'
        WHEN 'consumesApi' THEN 'apiConsumedBy' WHEN 'apiConsumedBy' THEN 'consumesApi'
        WHEN 'providesApi' THEN 'apiProvidedBy' WHEN 'apiProvidedBy' THEN 'providesApi'
        WHEN 'dependsOn' THEN 'dependencyOf' WHEN 'dependencyOf' THEN 'dependsOn'
        WHEN 'parentOf' THEN 'childOf' WHEN 'childOf' THEN 'parentOf'
        WHEN 'memberOf' THEN 'hasMember' WHEN 'hasMember' THEN 'memberOf'
        WHEN 'partOf' THEN 'hasPart' WHEN 'hasPart' THEN 'partOf'
    END
FROM relations WHERE originating_ref = source_ref;
CREATE INDEX declared_relations_target ON declared_relations (target_ref, inverse_type);
DROP TABLE relations;
ALTER TABLE declared_relations RENAME TO relations;
ALTER INDEX declared_relations_pkey RENAME TO relations_pkey;
ALTER INDEX declared_relations_target RENAME TO relations_target;
DROP TABLE relation_hashes;

ALTER TABLE entities ADD COLUMN fields_case jsonb;
UPDATE entities SET
    fields_case = (SELECT jsonb_object_agg(f.key, f.value) FROM jsonb_each(entities.fields) AS f
                   WHERE f.value::text <> lower(f.value::text)),
    fields = lower(fields::text)::jsonb || jsonb_build_object('', to_jsonb(field_keys));
DROP INDEX entities_fields;
DROP INDEX entities_field_keys;
ALTER TABLE entities DROP COLUMN field_keys, DROP COLUMN etag;
CREATE INDEX entities_fields ON entities USING gin (fields jsonb_path_ops);

-- Read model v7: facet counts maintained as entities change.
--
-- For the paths the catalog's pickers ask about (`query::facets::COUNTED`),
-- the number of entities with each value, per lower-cased kind and spec.type
-- ('' when none): facets under no filter, or under a filter on kind and
-- spec.type only, are a sum over a few rows instead of a scan of every
-- matching entity. Each batch adds the counts of its entities' new versions
-- and subtracts those of their old ones. Rows that reach zero stay (their
-- number is bounded by the value combinations ever seen) and are not read.
CREATE TABLE facet_counts (
    kind      text NOT NULL,
    spec_type text NOT NULL,
    path      text NOT NULL,
    value     text NOT NULL,              -- as written
    count     bigint NOT NULL,
    PRIMARY KEY (kind, spec_type, path, value)
);

INSERT INTO facet_counts (kind, spec_type, path, value, count)
SELECT e.kind, coalesce(e.spec_type, ''), k, v, count(*)
FROM entities e
CROSS JOIN LATERAL unnest(ARRAY['kind', 'metadata.namespace', 'metadata.tags', 'spec.type',
                                'spec.lifecycle']) AS k
CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(e.fields_case -> k, e.fields -> k)) AS v
WHERE v IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO facet_counts (kind, spec_type, path, value, count)
SELECT e.kind, coalesce(e.spec_type, ''), 'relations.ownedby', r.target_ref, count(DISTINCT e.entity_ref)
FROM entities e JOIN relations r ON r.source_ref = e.entity_ref AND r.type = 'ownedBy'
GROUP BY 1, 2, 3, 4;

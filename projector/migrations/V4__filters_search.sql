-- Read model v4: the filter index on any field path, full-text and
-- substring search, and etags that follow relation changes.
--
-- After upgrading from v3, run `catalog rebuild` so that existing rows get
-- their fields (new and changed entities get them as they are projected).

-- Trigram matching for the search box's substring search. Trusted
-- extension: the database owner may create it. Always in `public`, so that
-- a rebuild schema (whose search_path is that schema alone) finds it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

ALTER TABLE entities
    -- Backstage's flattened search rows as one document:
    -- {"<lower-cased dotted path>": ["<original value>" | null, ...]}
    -- (see catalog_model::fields). Filters match the lower-cased copy
    -- through the GIN index below; facets count the original values.
    ADD COLUMN fields jsonb NOT NULL DEFAULT '{}',
    -- The keys of `fields`, for existence filters (`spec.owner`).
    ADD COLUMN field_keys text[] NOT NULL DEFAULT '{}',
    -- Full-text document: names and titles weigh most, then tags, then the
    -- description, then the chosen spec fields. 'simple': no stemming, so
    -- that prefix matching of names behaves predictably.
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig,
            coalesce(entity #>> '{metadata,name}', '') || ' ' ||
            coalesce(entity #>> '{metadata,title}', '') || ' ' ||
            coalesce(entity #>> '{spec,profile,displayName}', '')), 'A') ||
        setweight(jsonb_to_tsvector('simple'::regconfig,
            coalesce(entity #> '{metadata,tags}', '[]'::jsonb), '["string"]'::jsonb), 'B') ||
        setweight(to_tsvector('simple'::regconfig,
            coalesce(entity #>> '{metadata,description}', '')), 'C') ||
        setweight(to_tsvector('simple'::regconfig,
            coalesce(entity #>> '{spec,type}', '') || ' ' ||
            coalesce(entity #>> '{spec,lifecycle}', '') || ' ' ||
            coalesce(entity #>> '{spec,owner}', '') || ' ' ||
            coalesce(entity #>> '{spec,system}', '') || ' ' ||
            coalesce(entity #>> '{spec,domain}', '') || ' ' ||
            coalesce(entity #>> '{spec,profile,email}', '')), 'D')
    ) STORED,
    -- Lower-cased ref and title, for substring matching.
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        entity_ref || ' ' || lower(coalesce(entity #>> '{metadata,title}', ''))
    ) STORED;

-- Equality filters on any path: `lower(fields) @> {"spec.type": ["service"]}`.
CREATE INDEX entities_fields ON entities USING gin ((lower(fields::text)::jsonb) jsonb_path_ops);
CREATE INDEX entities_name ON entities (name, entity_ref);
CREATE INDEX entities_spec_type ON entities (spec_type, entity_ref);
CREATE INDEX entities_field_keys ON entities USING gin (field_keys);
CREATE INDEX entities_search_vector ON entities USING gin (search_vector);
CREATE INDEX entities_search_text ON entities USING gin (search_text public.gin_trgm_ops);

-- Per source entity, an order-independent hash of its relation rows (see
-- catalog_projector::apply): with the event id, it makes the entity's etag,
-- so a relation change changes the etag without rewriting the entity row.
-- Kept for refs whether or not the entity exists yet.
CREATE TABLE relation_hashes (
    source_ref  text PRIMARY KEY,
    hash        bigint NOT NULL
);

-- History by entity and time, for "as it was at".
CREATE INDEX entity_history_ref_time ON entity_history (entity_ref, occurred_at);

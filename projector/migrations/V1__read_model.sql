-- Read model v1: entities, relations, history, checkpoints, dead letters.
-- Owned by catalog-projector: the projector is the only writer.

-- Entities in their current form, one row per live entity.
CREATE TABLE entities (
    entity_ref   text PRIMARY KEY,          -- canonical kind:namespace/name, lower-case
    uid          uuid NOT NULL UNIQUE,      -- id of the event that created it
    kind         text NOT NULL,             -- lower-case, for filters
    namespace    text NOT NULL,             -- lower-case
    name         text NOT NULL,             -- lower-case
    spec_type    text,                      -- lower-case spec.type, for filters
    entity       jsonb NOT NULL,            -- the descriptor as ingested
    etag         text NOT NULL,             -- changes on every change
    sequence     bigint NOT NULL,           -- stream sequence of the last applied event
    event_id     uuid NOT NULL,             -- id of that event
    location     text NOT NULL,             -- where it was read from
    updated_at   timestamptz NOT NULL       -- time of that event
);
CREATE INDEX entities_kind_ref ON entities (kind, entity_ref);
CREATE INDEX entities_kind_type_ref ON entities (kind, spec_type, entity_ref);
CREATE INDEX entities_namespace_ref ON entities (namespace, entity_ref);

-- Relations, both directions, each row owned by the entity whose spec
-- produced it (originating_ref), so that a change to that entity replaces
-- exactly its rows.
CREATE TABLE relations (
    originating_ref text NOT NULL,
    source_ref      text NOT NULL,
    type            text NOT NULL,
    target_ref      text NOT NULL,
    PRIMARY KEY (originating_ref, source_ref, type, target_ref)
);
CREATE INDEX relations_source ON relations (source_ref, type);
CREATE INDEX relations_target ON relations (target_ref, type);

-- Every applied event, deletions included: the entity's full history.
CREATE TABLE entity_history (
    sequence      bigint PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    entity_ref    text NOT NULL,
    change        text NOT NULL CHECK (change IN ('upserted', 'deleted')),
    entity        jsonb,
    content_hash  text,
    producer      text NOT NULL,
    location      text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_history_ref ON entity_history (entity_ref, sequence);

-- Last stream sequence applied, per consumer; written in the same
-- transaction as the changes it covers.
CREATE TABLE projector_checkpoints (
    consumer        text PRIMARY KEY,
    stream_sequence bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Messages that could not be decoded or applied, with the reason.
CREATE TABLE dead_letters (
    sequence     bigint PRIMARY KEY,
    subject      text NOT NULL,
    reason       text NOT NULL,
    payload      bytea NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

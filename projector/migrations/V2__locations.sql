-- Registered locations and the status of every location (registered or
-- configured), from location events.

CREATE TABLE locations (
    id            uuid PRIMARY KEY,          -- UUID v5 of the location key
    type          text NOT NULL,
    target        text NOT NULL,
    location_key  text NOT NULL UNIQUE,
    registered_at timestamptz NOT NULL,
    sequence      bigint NOT NULL
);

CREATE TABLE location_status (
    id            uuid PRIMARY KEY,
    location_key  text NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'partial', 'failed')),
    entities      integer NOT NULL,
    problems      jsonb NOT NULL,            -- [{location, document, field, message}]
    static        boolean NOT NULL,
    sequence      bigint NOT NULL
);

-- Who registered a location: `api`, or `config:<producer>`.
ALTER TABLE locations ADD COLUMN registered_by text NOT NULL DEFAULT 'api';

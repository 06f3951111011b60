-- Express delivery (EMS) of finished cards: one shipment per application (`reference`, no foreign key so the
-- logistics module stays independent of the applications tables), and the carrier's tracking events, stored once
-- however often they arrive (pushed and polled copies share the carrier's event id). `applied_at` makes the
-- events table an outbox: the application layer claims unapplied events with a lease and marks them applied.

CREATE TABLE shipments (
    id             TEXT PRIMARY KEY,
    reference      TEXT NOT NULL UNIQUE,
    carrier        TEXT NOT NULL,
    tracking_no    TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL CHECK (status IN ('created', 'collected', 'in_transit', 'out_for_delivery', 'delivered', 'delivery_failed', 'returned')),
    -- Progress order of `status` (see TrackingStatus::rank); a status only ever moves forward.
    status_rank    INTEGER NOT NULL,
    -- Carrier time of the event that set `status` (creation time at first).
    status_at      INTEGER NOT NULL,
    -- Recipient, AES-256-GCM encrypted by the caller, with masked forms for pages and logs.
    name_enc       BLOB NOT NULL,
    phone_enc      BLOB NOT NULL,
    address_enc    BLOB NOT NULL,
    name_masked    TEXT NOT NULL,
    phone_masked   TEXT NOT NULL,
    address_masked TEXT NOT NULL,
    division       TEXT NOT NULL, -- 6-digit county code of the address
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- The polling job claims a shipment by moving this forward (one conditional UPDATE), so one instance asks.
    last_polled_at INTEGER NOT NULL
);
-- The polling job's scan: shipments not yet final, least recently polled first.
CREATE INDEX shipments_poll ON shipments (last_polled_at) WHERE status NOT IN ('delivered', 'returned');

CREATE TABLE shipment_events (
    id               TEXT PRIMARY KEY,
    shipment_id      TEXT NOT NULL REFERENCES shipments (id),
    carrier          TEXT NOT NULL,
    carrier_event_id TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('created', 'collected', 'in_transit', 'out_for_delivery', 'delivered', 'delivery_failed', 'returned')),
    at               INTEGER NOT NULL, -- carrier time, UTC ms
    location         TEXT NOT NULL,
    description      TEXT NOT NULL,
    -- Delivery events: whether the courier verified the recipient's face (NULL: not a hand-over, or not said).
    face_verified    INTEGER CHECK (face_verified IN (0, 1)),
    received_at      INTEGER NOT NULL,
    -- Outbox: a consumer's lease, then the time the application layer applied the event.
    lease_until      INTEGER,
    applied_at       INTEGER,
    UNIQUE (carrier, carrier_event_id)
);
CREATE INDEX shipment_events_shipment ON shipment_events (shipment_id, at);
CREATE INDEX shipment_events_unapplied ON shipment_events (at) WHERE applied_at IS NULL;

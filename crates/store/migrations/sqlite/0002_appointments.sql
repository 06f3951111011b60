-- Smart appointments: point settings and live status, per-day exceptions, slots, appointments, counter queue.

ALTER TABLE acceptance_points ADD COLUMN opening_hours TEXT NOT NULL DEFAULT 'mon-fri 09:00-12:00,13:30-17:00';
ALTER TABLE acceptance_points ADD COLUMN services TEXT NOT NULL DEFAULT 'first_issue,renewal,replacement,photo_capture,pickup';
ALTER TABLE acceptance_points ADD COLUMN windows INTEGER NOT NULL DEFAULT 2 CHECK (windows BETWEEN 1 AND 100);
ALTER TABLE acceptance_points ADD COLUMN slot_minutes INTEGER NOT NULL DEFAULT 30 CHECK (slot_minutes BETWEEN 10 AND 120);
ALTER TABLE acceptance_points ADD COLUMN capacity_per_slot INTEGER NOT NULL DEFAULT 6 CHECK (capacity_per_slot BETWEEN 1 AND 500);
ALTER TABLE acceptance_points ADD COLUMN status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'busy', 'paused', 'closed'));
ALTER TABLE acceptance_points ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
-- When a paused/closed point expects to reopen (UTC ms), if known.
ALTER TABLE acceptance_points ADD COLUMN status_until INTEGER;
ALTER TABLE acceptance_points ADD COLUMN status_changed_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE point_exceptions (
    point_id   TEXT NOT NULL REFERENCES acceptance_points (id),
    day        TEXT NOT NULL, -- YYYY-MM-DD, China time
    kind       TEXT NOT NULL CHECK (kind IN ('closed', 'extra_capacity', 'hours')),
    value      TEXT NOT NULL, -- reason, extra seats per slot, or the day's hours
    created_at INTEGER NOT NULL,
    PRIMARY KEY (point_id, day)
);

CREATE TABLE slots (
    id         TEXT PRIMARY KEY,
    point_id   TEXT NOT NULL REFERENCES acceptance_points (id),
    day        TEXT NOT NULL,
    start_min  INTEGER NOT NULL, -- minutes after local midnight
    end_min    INTEGER NOT NULL,
    starts_at  INTEGER NOT NULL, -- UTC ms, for "is it past?" comparisons
    capacity   INTEGER NOT NULL CHECK (capacity >= 0),
    booked     INTEGER NOT NULL DEFAULT 0,
    -- The invariant the booking statement relies on, enforced by the engine as well.
    CHECK (booked >= 0 AND booked <= capacity),
    UNIQUE (point_id, day, start_min)
);
CREATE INDEX slots_day ON slots (day, point_id);

CREATE TABLE appointments (
    id           TEXT PRIMARY KEY,
    code         TEXT NOT NULL UNIQUE, -- short code shown as QR and typed at the counter
    citizen_id   TEXT NOT NULL REFERENCES citizens (id),
    point_id     TEXT NOT NULL REFERENCES acceptance_points (id),
    slot_id      TEXT NOT NULL REFERENCES slots (id),
    service      TEXT NOT NULL CHECK (service IN ('first_issue', 'renewal', 'replacement', 'photo_capture', 'pickup')),
    status       TEXT NOT NULL CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- When the day-before reminder went out (set by one conditional UPDATE, so it is sent once across instances).
    reminded_at  INTEGER
);
CREATE INDEX appointments_citizen ON appointments (citizen_id, status);
CREATE INDEX appointments_slot ON appointments (slot_id);
-- At most one active appointment per citizen and service, enforced by the engine across instances.
CREATE UNIQUE INDEX appointments_one_active ON appointments (citizen_id, service) WHERE status IN ('booked', 'checked_in');

-- Per citizen and month (YYYY-MM): cancellations and no-shows, for the suspension rule.
CREATE TABLE booking_counters (
    citizen_id    TEXT NOT NULL,
    month         TEXT NOT NULL,
    cancellations INTEGER NOT NULL DEFAULT 0,
    no_shows      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (citizen_id, month)
);

CREATE TABLE queue_tickets (
    id             TEXT PRIMARY KEY,
    point_id       TEXT NOT NULL REFERENCES acceptance_points (id),
    day            TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'walk_in')),
    number         INTEGER NOT NULL,
    appointment_id TEXT UNIQUE REFERENCES appointments (id),
    status         TEXT NOT NULL CHECK (status IN ('waiting', 'called', 'served', 'skipped')),
    window_no      INTEGER,
    created_at     INTEGER NOT NULL,
    called_at      INTEGER,
    UNIQUE (point_id, day, kind, number)
);
CREATE INDEX queue_waiting ON queue_tickets (point_id, day, status);

CREATE TABLE queue_counters (
    point_id TEXT NOT NULL,
    day      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    last     INTEGER NOT NULL,
    PRIMARY KEY (point_id, day, kind)
);

-- Foundation schema (SQLite). Kept in step with migrations/postgres/0001_foundation.sql:
-- app-generated ids (UUIDv7 text), enums as CHECKed TEXT, timestamps as UTC unix milliseconds, money in fen.

CREATE TABLE citizens (
    id               TEXT PRIMARY KEY,
    phone            TEXT NOT NULL UNIQUE,
    verification     TEXT NOT NULL DEFAULT 'none' CHECK (verification IN ('none', 'primary', 'intermediate')),
    name_enc         BLOB,
    id_number_enc    BLOB,
    id_number_blind  TEXT UNIQUE,
    id_number_masked TEXT,
    name_masked      TEXT,
    -- Registered residence (户籍) county code from the population registry, for staff scope checks.
    hukou_code       TEXT,
    verified_at      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('reviewer', 'counter', 'production', 'admin')),
    scope_kind    TEXT NOT NULL CHECK (scope_kind IN ('point', 'district', 'province')),
    scope_code    TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash     TEXT PRIMARY KEY,
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('citizen', 'staff')),
    principal_id   TEXT NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('cookie', 'bearer')),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX sessions_principal ON sessions (principal_kind, principal_id);

CREATE TABLE sms_codes (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL,
    purpose     TEXT NOT NULL CHECK (purpose IN ('sign_in', 'change_phone')),
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE INDEX sms_codes_phone ON sms_codes (phone, purpose, created_at);

-- Fixed-window counters shared by every instance: one row per (bucket, window).
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- What the sandbox SMS gateway "sent" (shown on /dev/outbox in demo mode).
CREATE TABLE sms_outbox (
    id         TEXT PRIMARY KEY,
    phone      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sms_outbox_phone ON sms_outbox (phone, created_at);

-- Append-only, hash-chained audit log. audit_head serialises appends and remembers the tip,
-- so that deleting the newest rows is detected too.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('citizen', 'staff', 'system', 'anonymous')),
    actor_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    source_ip  TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);


-- Acceptance points (户政窗口 / 受理点). Locations are GCJ-02, as Chinese map apps use them.
CREATE TABLE acceptance_points (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    district_code TEXT NOT NULL,
    address       TEXT NOT NULL,
    phone         TEXT NOT NULL,
    lat_gcj02     REAL NOT NULL,
    lng_gcj02     REAL NOT NULL,
    is_demo       INTEGER NOT NULL DEFAULT 0 CHECK (is_demo IN (0, 1)),
    created_at    INTEGER NOT NULL
);
CREATE INDEX acceptance_points_district ON acceptance_points (district_code);

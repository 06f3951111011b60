-- ID card applications (issue 6): the application with its current state (the domain's state machine decides every
-- move), its timeline of events, and every portrait submitted for it with the engine's verdict.
-- Personal data (applicant name, ID number, delivery address, recipient) is encrypted by the server; the masked
-- forms are what pages show. Times are epoch milliseconds.

CREATE TABLE applications (
    id                     TEXT PRIMARY KEY,
    -- The number the citizen and officers quote (受理编号).
    ref_no                 TEXT NOT NULL UNIQUE,
    -- NULL for an application entered at the counter for someone without a platform account.
    citizen_id             TEXT REFERENCES citizens (id),
    kind                   TEXT NOT NULL CHECK (kind IN ('first_issue', 'renewal_expiry', 'renewal_change', 'replacement_lost', 'replacement_damaged', 'temporary_card')),
    channel                TEXT NOT NULL CHECK (channel IN ('online', 'online_then_counter', 'counter')),
    state                  TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'under_review', 'returned', 'rejected', 'approved', 'awaiting_payment', 'paid', 'in_production', 'produced', 'quality_checked', 'dispatched', 'ready_for_pickup', 'delivered', 'collected', 'closed', 'cancelled', 'expired')),
    -- Optimistic concurrency: every change is `UPDATE … WHERE version = $seen`.
    version                BIGINT NOT NULL,
    applicant_name_enc     BYTEA NOT NULL,
    applicant_name_masked  TEXT NOT NULL,
    applicant_id_enc       BYTEA NOT NULL,
    applicant_id_masked    TEXT NOT NULL,
    applicant_id_blind     TEXT NOT NULL,
    -- County code of the registered residence: the reviewers' scope.
    division_code          TEXT NOT NULL,
    -- Acceptance point of a counter application or of the pickup; counter staff's scope.
    point_id               TEXT,
    portrait_source        TEXT,
    portrait_id            TEXT,
    delivery_method        TEXT NOT NULL CHECK (delivery_method IN ('ems', 'pickup')),
    delivery_division      TEXT,
    delivery_address_enc   BYTEA,
    delivery_address_masked TEXT,
    recipient_phone        TEXT,
    pickup_point_id        TEXT,
    fee_waived             BIGINT NOT NULL DEFAULT 0,
    fee_fen                BIGINT NOT NULL CHECK (fee_fen >= 0),
    postage_fen            BIGINT NOT NULL DEFAULT 0 CHECK (postage_fen >= 0),
    payment_order_no       TEXT,
    appointment_id         TEXT,
    return_reasons         TEXT,
    return_note            TEXT,
    reject_reason          TEXT,
    tracking_no            TEXT,
    batch_id               TEXT,
    -- A reviewer's claim (lease): two reviewers never work on one item.
    claimed_by             TEXT,
    claim_until            BIGINT,
    submitted_at           BIGINT,
    approved_at            BIGINT,
    payment_due_at         BIGINT,
    finished_at            BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX applications_citizen ON applications (citizen_id, created_at);
CREATE INDEX applications_state ON applications (state, submitted_at);
CREATE INDEX applications_division ON applications (division_code, state);
CREATE INDEX applications_applicant ON applications (applicant_id_blind);
CREATE INDEX applications_point ON applications (point_id, state);

-- The timeline: one row per legal move, numbered by the version it produced.
CREATE TABLE application_events (
    application_id      TEXT NOT NULL REFERENCES applications (id),
    seq                 BIGINT NOT NULL,
    at                  BIGINT NOT NULL,
    event               TEXT NOT NULL,
    from_state          TEXT NOT NULL,
    to_state            TEXT NOT NULL,
    actor_kind          TEXT NOT NULL,
    actor_id            TEXT NOT NULL,
    -- JSON: reasons, tracking number, verification results … (never personal data in clear).
    detail              TEXT NOT NULL,
    -- Denormalised for the online-route counters (Hefei rules 3, 8, 9).
    citizen_id          TEXT,
    online_cancellation BIGINT NOT NULL DEFAULT 0,
    failed_photo_review BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (application_id, seq)
);
CREATE INDEX application_events_citizen ON application_events (citizen_id, at);
CREATE INDEX application_events_at ON application_events (at);

-- Every photo submitted for an application (or in preparation for one), with the engine's verdict.
CREATE TABLE portraits (
    id             TEXT PRIMARY KEY,
    citizen_id     TEXT REFERENCES citizens (id),
    application_id TEXT REFERENCES applications (id),
    source         TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    bytes          BYTEA NOT NULL,
    sha256         TEXT NOT NULL,
    passed         BIGINT NOT NULL,
    -- The engine's report (JSON): each check, its verdict and guidance.
    report         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX portraits_citizen ON portraits (citizen_id, created_at);
CREATE INDEX portraits_application ON portraits (application_id, created_at);

-- Applications find their payment orders by reference (orders_for, the payment sweeps).
CREATE INDEX IF NOT EXISTS payment_orders_reference ON payment_orders (reference);

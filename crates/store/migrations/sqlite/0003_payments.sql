-- Smart fee collection: payment orders (GOV.UK Pay states), idempotency keys, provider notifications seen,
-- refunds, counter cash shifts. Amounts are integer fen.

CREATE TABLE payment_orders (
    id                TEXT PRIMARY KEY,
    -- Our merchant order number (out_trade_no / orderId): what providers and receipts show.
    order_no          TEXT NOT NULL UNIQUE,
    citizen_id        TEXT REFERENCES citizens (id),
    -- What is paid for, e.g. an application id.
    reference         TEXT NOT NULL,
    item              TEXT NOT NULL CHECK (item IN ('first_issue', 'renewal', 'replacement_lost', 'replacement_damaged', 'temporary_card', 'postage')),
    amount_fen        INTEGER NOT NULL CHECK (amount_fen > 0),
    channel           TEXT CHECK (channel IN ('alipay', 'wechat', 'unionpay', 'alipay_qr', 'wechat_qr', 'cash')),
    status            TEXT NOT NULL CHECK (status IN ('created', 'started', 'submitted', 'success', 'failed', 'cancelled', 'expired', 'error')),
    failure_code      TEXT,
    provider_trade_no TEXT,
    -- Never more back than was paid, enforced by the engine as well as by the refund statement.
    refunded_fen      INTEGER NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    point_id          TEXT,
    staff_id          TEXT,
    cash_received_fen INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    paid_at           INTEGER
);
CREATE INDEX payment_orders_citizen ON payment_orders (citizen_id, created_at);
CREATE INDEX payment_orders_status ON payment_orders (status, updated_at);
CREATE INDEX payment_orders_paid ON payment_orders (paid_at);

-- Idempotency-Key on order creation: the same key and body give the first answer; another body is refused.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL, -- the caller (citizen or staff id)
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    order_id     TEXT NOT NULL REFERENCES payment_orders (id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Every verified provider notification, once: replays are recognised by the provider's own event id.
CREATE TABLE payment_notifications (
    provider          TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    order_no          TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    received_at       INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_event_id)
);

CREATE TABLE refunds (
    id                 TEXT PRIMARY KEY,
    refund_no          TEXT NOT NULL UNIQUE,
    order_id           TEXT NOT NULL REFERENCES payment_orders (id),
    amount_fen         INTEGER NOT NULL CHECK (amount_fen > 0),
    reason             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    provider_refund_no TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);
CREATE INDEX refunds_pending ON refunds (status, updated_at);

-- A counter shift's cash: opened by the staff member, closed with the counted total.
CREATE TABLE cash_shifts (
    id             TEXT PRIMARY KEY,
    point_id       TEXT NOT NULL,
    staff_id       TEXT NOT NULL,
    opened_at      INTEGER NOT NULL,
    closed_at      INTEGER,
    expected_fen   INTEGER,
    counted_fen    INTEGER
);
-- One open shift per staff member.
CREATE UNIQUE INDEX cash_shifts_open ON cash_shifts (staff_id) WHERE closed_at IS NULL;

-- Payments, continued.
-- 1. When the current provider order was opened: UnionPay finds an order by orderId together with the txnTime it
--    was sent with, so that moment must be kept (and it changes when the payer starts again).
-- 2. The daily reconciliation of our orders with each provider's statement: one run per provider and day (the
--    unique key is how several instances agree that only one of them fetches and compares), and its mismatches.

ALTER TABLE payment_orders ADD COLUMN opened_at INTEGER;

CREATE TABLE reconciliation_runs (
    id                   TEXT PRIMARY KEY,
    provider             TEXT NOT NULL CHECK (provider IN ('alipay', 'wechat', 'unionpay')),
    -- The statement day, YYYY-MM-DD, China time.
    day                  TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    -- Raised by every claim: only the claimant holding the current attempt may record the result.
    attempt              INTEGER NOT NULL,
    -- 'job' for the daily job, otherwise the staff id who asked.
    requested_by         TEXT NOT NULL,
    started_at           INTEGER NOT NULL,
    finished_at          INTEGER,
    provider_payments    INTEGER,
    provider_payment_fen INTEGER,
    provider_refunds     INTEGER,
    provider_refund_fen  INTEGER,
    our_payments         INTEGER,
    our_payment_fen      INTEGER,
    our_refunds          INTEGER,
    our_refund_fen       INTEGER,
    mismatches           INTEGER,
    error                TEXT,
    UNIQUE (provider, day)
);
CREATE INDEX reconciliation_runs_day ON reconciliation_runs (day);

CREATE TABLE reconciliation_mismatches (
    run_id            TEXT NOT NULL REFERENCES reconciliation_runs (id),
    seq               INTEGER NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('missing_at_us', 'missing_at_provider', 'amount_differs', 'status_differs')),
    entry             TEXT NOT NULL CHECK (entry IN ('payment', 'refund')),
    order_no          TEXT NOT NULL,
    refund_no         TEXT,
    provider_trade_no TEXT,
    our_fen           INTEGER,
    provider_fen      INTEGER,
    our_status        TEXT,
    PRIMARY KEY (run_id, seq)
);

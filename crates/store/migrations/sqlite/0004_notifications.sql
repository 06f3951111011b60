-- Notifications: one row per (event, channel). The row is both the in-app message and the SMS job: SMS rows are
-- claimed with a lease by any instance's worker, sent, and then updated by the provider's delivery receipt.
-- Statuses follow GOV.UK Notify. 0003 is reserved for payments.

CREATE TABLE notifications (
    id                  TEXT PRIMARY KEY,
    citizen_id          TEXT NOT NULL REFERENCES citizens (id),
    event_kind          TEXT NOT NULL,
    -- The event's own identity (e.g. `appointment:<id>:booked`): one event yields one message per channel.
    dedupe_key          TEXT NOT NULL,
    channel             TEXT NOT NULL CHECK (channel IN ('sms', 'inapp')),
    template            TEXT NOT NULL,
    vars                TEXT NOT NULL, -- JSON object of the template's named variables
    phone               TEXT,          -- SMS only: the number at enqueue time
    status              TEXT NOT NULL CHECK (status IN ('created', 'sending', 'sent', 'delivered', 'permanent-failure', 'temporary-failure', 'technical-failure')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL, -- UTC ms; quiet hours and back-off push it forward
    lease_until         INTEGER,
    leased_by           TEXT,
    provider            TEXT,
    provider_message_id TEXT,
    error               TEXT,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    delivered_at        INTEGER,
    read_at             INTEGER,
    UNIQUE (dedupe_key, channel)
);
-- The worker's scan: due SMS jobs in time order.
CREATE INDEX notifications_due ON notifications (channel, status, next_attempt_at);
-- Receipts find their message by the provider's id.
CREATE UNIQUE INDEX notifications_provider_message ON notifications (provider, provider_message_id);
-- The notification centre and the live stream.
CREATE INDEX notifications_citizen ON notifications (citizen_id, channel, created_at);

-- Expiry reminders (到期短信提醒) and the live notification stream.

-- Each citizen's current card: filled from the population registry at real-name verification, or recorded when
-- this platform issues a card. Dates are ISO `YYYY-MM-DD` (China time), which compare correctly as text.
CREATE TABLE cards (
    citizen_id  TEXT PRIMARY KEY REFERENCES citizens (id),
    issued_on   TEXT NOT NULL,
    expires_on  TEXT,                -- NULL = long-term (长期)
    source      TEXT NOT NULL CHECK (source IN ('registry', 'issued')),
    updated_at  INTEGER NOT NULL
);
-- The reminder job's scan: cards expiring within a window.
CREATE INDEX cards_expires ON cards (expires_on);

-- One row per (card, reminder window): whoever inserts it sends that reminder. A row whose sender died before
-- `sent_at` is taken over once its claim is stale; the notification's own dedupe key keeps the SMS single even then.
CREATE TABLE card_reminders (
    citizen_id  TEXT NOT NULL REFERENCES citizens (id),
    expires_on  TEXT NOT NULL,
    window_days INTEGER NOT NULL,
    claimed_by  TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    PRIMARY KEY (citizen_id, expires_on, window_days)
);

-- The live hub's one query per instance: new in-app notifications of every citizen, in time order.
CREATE INDEX notifications_channel_created ON notifications (channel, created_at);

-- Web Push subscriptions (one per browser and device that opted in). The endpoint is the push service's URL for
-- that browser; p256dh and auth (base64url) encrypt the messages (RFC 8291). A browser re-subscribing under
-- another account moves to that account.
CREATE TABLE push_subscriptions (
    id              TEXT PRIMARY KEY,
    citizen_id      TEXT NOT NULL REFERENCES citizens (id),
    endpoint        TEXT NOT NULL UNIQUE,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    lang            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_success_at INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_subscriptions_citizen ON push_subscriptions (citizen_id);

-- Operations (issue 8): staff account security, audit-log search, audit retention anchor, retention indexes.
-- Kept in step with migrations/sqlite/0008_staff_security.sql.

-- Forced password rotation and the optional TOTP second factor (RFC 6238). Secrets are AES-256-GCM encrypted
-- with the field key, like other secrets at rest. `totp_last_step` is the last accepted 30-second step: a code
-- is accepted only for a later step, so no code works twice.
ALTER TABLE staff ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
ALTER TABLE staff ADD COLUMN password_changed_at BIGINT;
ALTER TABLE staff ADD COLUMN totp_secret_enc BYTEA;
ALTER TABLE staff ADD COLUMN totp_pending_enc BYTEA;
ALTER TABLE staff ADD COLUMN totp_last_step BIGINT;

-- A staff sign-in that passed the password and waits for the second factor. Not a session: it grants nothing
-- but the right to present a code, a few times, for a few minutes.
CREATE TABLE staff_mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    staff_id   TEXT NOT NULL REFERENCES staff (id),
    channel    TEXT NOT NULL CHECK (channel IN ('cookie', 'bearer')),
    attempts   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_mfa_challenges_expires ON staff_mfa_challenges (expires_at);

-- When old audit entries are removed by the retention policy, the last removed entry's (seq, hash) is kept
-- here so that the rest of the chain still verifies from it.
CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The audit viewer filters by actor, target and time; retention removes by time.
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);
CREATE INDEX audit_log_at ON audit_log (at);
-- Retention removes expired sessions and old one-time codes.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sms_codes_expires ON sms_codes (expires_at);

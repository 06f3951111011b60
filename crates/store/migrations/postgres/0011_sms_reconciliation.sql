-- Messages the provider accepted but no receipt has closed: the reconciler asks the provider about the oldest of
-- them (`claim_unconfirmed_sms`). Delivered messages leave the index, so it holds only the few in flight.
CREATE INDEX notifications_sms_unconfirmed ON notifications (sent_at) WHERE channel = 'sms' AND status = 'sent';
-- A message the carrier never reported on within the give-up window ends as `temporary-failure` (GOV.UK Notify's
-- meaning: the phone was off or out of reach). It was sent once and must not be sent again: due jobs are only the
-- ones never accepted by a provider.
DROP INDEX notifications_sms_due;
CREATE INDEX notifications_sms_due ON notifications (next_attempt_at) WHERE channel = 'sms' AND status IN ('created', 'temporary-failure') AND sent_at IS NULL;
-- What the provider filed each outbox message under, so the demo outbox can show the message's delivery status.
ALTER TABLE sms_outbox ADD COLUMN provider TEXT;
ALTER TABLE sms_outbox ADD COLUMN provider_message_id TEXT;
-- Identical SMS to one number within a short window go once (the content key hashes number, text and window).
ALTER TABLE notifications ADD COLUMN content_key TEXT;
CREATE UNIQUE INDEX notifications_sms_content ON notifications (content_key) WHERE content_key IS NOT NULL;

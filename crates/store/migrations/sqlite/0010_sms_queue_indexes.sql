-- The SMS queue's two claim paths, each an ordered scan of a small partial index however long the backlog of
-- delivered messages grows: due jobs oldest first, and jobs whose worker died holding the lease. The general
-- (channel, status, next_attempt_at) index made each claim sort every due row, which under a backlog cost more
-- than the sending itself.
CREATE INDEX notifications_sms_due ON notifications (next_attempt_at) WHERE channel = 'sms' AND status IN ('created', 'temporary-failure');
CREATE INDEX notifications_sms_leased ON notifications (lease_until) WHERE channel = 'sms' AND status = 'sending';
DROP INDEX notifications_due;
-- Only in-app messages are read in time order across citizens (the live hub): SMS rows, updated three times each
-- on their way to delivery, need not keep an entry in that index up to date.
DROP INDEX notifications_channel_created;
CREATE INDEX notifications_inapp_created ON notifications (created_at) WHERE channel = 'inapp';

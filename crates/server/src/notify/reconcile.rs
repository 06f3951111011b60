//! Reconciling delivery receipts by asking the provider. Receipt callbacks are pushed by the providers, unsigned
//! and without a guarantee: one can be lost on the way, or arrive before this side wrote the acceptance down (it
//! is then acknowledged as unknown, and the provider does not send it again). So a message still `sent` after
//! `notify.reconcile.after_secs` is looked up in the provider's status API (Aliyun `QuerySendDetails`, Tencent
//! `PullSmsSendStatusByPhoneNumber`), and a final answer is applied exactly like a receipt. A message the carrier
//! never reports on ends as `temporary-failure` after `give_up_hours`, and is not sent again.
//!
//! Every instance may run it: a pass claims its messages in the database until their next check is due, so two
//! instances never ask about the same message at once, and a crashed instance's claims simply fall due again.

use futures_util::StreamExt;
use shenfen_store::Receipt;

use super::StatusAnswer;
use crate::app::AppState;
use crate::error::AppError;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Messages asked about.
    pub checked: usize,
    /// Final reports applied (delivered or failed), as receipts.
    pub delivered: usize,
    pub failed: usize,
    /// No final report yet; asked again after `recheck_secs`.
    pub pending: usize,
    /// Ended as `temporary-failure`: no report within `give_up_hours`.
    pub given_up: usize,
    /// The provider could not answer; asked again after `recheck_secs`.
    pub errors: usize,
}

/// The error recorded on messages given up on.
pub const NO_RECEIPT: &str = "no_receipt";

/// One pass: claims the oldest unconfirmed messages of the configured provider and asks about each.
pub async fn reconcile_once(state: &AppState) -> Result<Reconciled, AppError> {
    let provider = state.sms_provider.clone();
    if !provider.has_status_api() || !crate::clock_guard::may_run_jobs(state) {
        return Ok(Reconciled::default());
    }
    let cfg = &state.config.notify.reconcile;
    let now = state.now_ms();
    let claimed = state
        .store
        .claim_unconfirmed_sms(&state.worker_id, provider.name(), now - cfg.after_secs * 1000, cfg.batch, now, now + cfg.recheck_secs * 1000)
        .await?;
    let mut done = Reconciled { checked: claimed.len(), ..Reconciled::default() };
    if claimed.is_empty() {
        return Ok(done);
    }
    let give_up_before = now - cfg.give_up_hours * 3_600_000;
    let answers: Vec<_> = futures_util::stream::iter(claimed)
        .map(|sent| {
            let provider = provider.clone();
            async move {
                let answer = provider.status(&sent).await;
                (sent, answer)
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut receipts = Vec::new();
    let mut give_up = Vec::new();
    for (sent, answer) in answers {
        match answer {
            StatusAnswer::Final { delivered, code } => {
                if delivered {
                    done.delivered += 1;
                } else {
                    done.failed += 1;
                }
                if let Some(id) = &sent.provider_message_id {
                    receipts.push(Receipt { provider_message_id: id.clone(), delivered, error: code });
                }
            }
            StatusAnswer::Pending if sent.sent_at.is_some_and(|at| at <= give_up_before) => give_up.push(sent.id.clone()),
            StatusAnswer::Pending => done.pending += 1,
            StatusAnswer::Failed { reason } => {
                done.errors += 1;
                tracing::warn!(provider = provider.name(), reason = %reason, "SMS status query failed; will ask again");
            }
        }
    }
    if !receipts.is_empty() {
        state.store.record_receipts(provider.name(), &receipts, now).await?;
    }
    if !give_up.is_empty() {
        done.given_up = state.store.give_up_unconfirmed(&state.worker_id, &give_up, NO_RECEIPT).await? as usize;
        tracing::warn!(provider = provider.name(), messages = done.given_up, "SMS without a carrier report ended as temporary-failure");
    }
    for (outcome, n) in [("delivered", done.delivered), ("failed", done.failed), ("pending", done.pending), ("given_up", done.given_up), ("error", done.errors)] {
        if n > 0 {
            metrics::counter!("sms_reconciled_total", "provider" => provider.name(), "outcome" => outcome).increment(n as u64);
        }
    }
    if done.delivered + done.failed > 0 {
        tracing::info!(provider = provider.name(), delivered = done.delivered, failed = done.failed, "receipts recovered from the provider's status API");
    }
    Ok(done)
}

/// Runs [`reconcile_once`] every `notify.reconcile.every_secs` for as long as the process runs (a full pass is
/// followed at once by another: there may be more waiting).
pub fn spawn(state: AppState) {
    if !state.config.notify.reconcile.enabled || !state.sms_provider.has_status_api() {
        return;
    }
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(state.config.notify.reconcile.every_secs.max(1));
        loop {
            match reconcile_once(&state).await {
                Ok(r) if r.checked >= state.config.notify.reconcile.batch as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.code, "SMS reconciliation pass failed; will retry"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

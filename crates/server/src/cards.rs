//! Each citizen's current card and the expiry reminders (到期短信提醒).
//!
//! The card comes from the population registry when the citizen passes primary real-name verification, or is
//! recorded when this platform issues one ([`record_issued_card`], called by the application lifecycle on
//! delivery). Its end date follows the validity rules of the Resident ID Card Law (`shenfen_domain::validity`).
//!
//! The reminder job runs on every instance, every `interval_secs`: for each window (default 90 and 30 days) it
//! claims the cards that have entered it and enqueues one reminder each — non-urgent, so quiet hours hold the SMS
//! until morning — with a link to start a renewal online. A card entering the 30-day window gets its second
//! reminder; a card first seen with 20 days left gets only the 30-day one. Claims are rows with a unique key (see
//! `shenfen_store::cards`), and the notification's dedupe key names the card and the window, so neither a
//! restart, a rerun, nor two instances running at once can send a reminder twice.

use std::collections::BTreeMap;

use shenfen_domain::IdNumber;
use shenfen_domain::applications::ApplicationKind;
use shenfen_domain::timefmt::format_date;
use shenfen_store::{Card, CardSource, ClaimedReminder};
use time::{Date, Duration};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::notify::{self, EventKind, NotificationEvent};

/// A claim not marked sent after this long belonged to a runner that died: another may take it over.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;

/// Where a reminder sends the citizen: starting an online renewal of an expiring card.
pub fn renewal_path() -> String {
    format!("/applications/new?kind={}", ApplicationKind::RenewalExpiry.code())
}

/// Records the card the registry has on file for a citizen who just passed primary verification.
pub async fn record_registry_card(state: &AppState, citizen_id: &str, id_number: &IdNumber, issued_on: Date) -> AppResult<Card> {
    record(state, citizen_id, id_number, issued_on, CardSource::Registry).await
}

/// Records a card this platform issued (the application lifecycle calls this when the card is delivered). It
/// replaces the citizen's previous card, so the reminders start over for the new end date.
pub async fn record_issued_card(state: &AppState, citizen_id: &str, id_number: &IdNumber, issued_on: Date) -> AppResult<Card> {
    record(state, citizen_id, id_number, issued_on, CardSource::Issued).await
}

async fn record(state: &AppState, citizen_id: &str, id_number: &IdNumber, issued_on: Date, source: CardSource) -> AppResult<Card> {
    let expires = shenfen_domain::validity::expiry_date(issued_on, id_number.birth_date());
    let card = Card {
        citizen_id: citizen_id.to_string(),
        issued_on: format_date(issued_on),
        expires_on: expires.map(format_date),
        source,
        updated_at: state.now_ms(),
    };
    Ok(state.store.upsert_card(&card).await?)
}

/// What one run of the reminder job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryRun {
    /// Reminders enqueued by this run.
    pub reminded: usize,
    /// Of those, claims taken over from a runner that died.
    pub taken_over: usize,
}

/// One pass of the reminder job (safe to run anywhere, any number of times, concurrently).
pub async fn run_expiry_reminders(state: &AppState) -> AppResult<ExpiryRun> {
    let cfg = &state.config.notify.expiry;
    let store = &state.store;
    let now = state.now_ms();
    let today = state.clock.today_cst();
    let mut run = ExpiryRun::default();

    loop {
        let stale = store.reclaim_stale_reminders(now - STALE_CLAIM_MS, &state.worker_id, now, cfg.batch).await?;
        if stale.is_empty() {
            break;
        }
        for claim in &stale {
            remind(state, claim).await?;
        }
        run.reminded += stale.len();
        run.taken_over += stale.len();
    }

    // Windows from the tightest: a card belongs to the smallest window it is inside, never to two at once.
    let mut windows = cfg.windows_days.clone();
    windows.sort_unstable();
    windows.dedup();
    let mut from = today;
    for days in windows {
        let to = today.checked_add(Duration::days(days)).ok_or_else(AppError::internal)?;
        loop {
            let claims = store.claim_expiry_reminders(days, &format_date(from), &format_date(to), &state.worker_id, now, cfg.batch).await?;
            if claims.is_empty() {
                break;
            }
            for claim in &claims {
                remind(state, claim).await?;
            }
            run.reminded += claims.len();
        }
        from = to.next_day().ok_or_else(AppError::internal)?;
    }
    Ok(run)
}

async fn remind(state: &AppState, claim: &ClaimedReminder) -> AppResult<()> {
    let link = format!("{}{}", state.config.public_url.trim_end_matches('/'), renewal_path());
    let vars: BTreeMap<String, String> = notify::templates::vars([("expires_on", claim.expires_on.clone()), ("days", claim.window_days.to_string()), ("link", link)]);
    let event = NotificationEvent {
        citizen_id: claim.citizen_id.clone(),
        kind: EventKind::ExpiryReminder,
        // The card (its holder and end date) and the window: a rerun or a second runner enqueues nothing new.
        dedupe_key: format!("card:{}:{}:expiry:{}", claim.citizen_id, claim.expires_on, claim.window_days),
        vars,
    };
    // Thousands may fall due at once: the workers send them, this loop only records them.
    notify::enqueue_for_worker(state, event).await?;
    if !state.store.mark_reminder_sent(claim, &state.worker_id, state.now_ms()).await? {
        tracing::info!("expiry reminder claim was taken over meanwhile; its notification exists once either way");
    }
    Ok(())
}

/// Runs the reminder job now and then every `interval_secs` until the process ends.
pub fn spawn_expiry_job(state: AppState) {
    if !state.config.notify.expiry.enabled {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(state.config.notify.expiry.interval_secs.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !crate::clock_guard::may_run_jobs(&state) {
                continue;
            }
            match run_expiry_reminders(&state).await {
                Ok(run) if run.reminded > 0 => tracing::info!(reminded = run.reminded, taken_over = run.taken_over, "expiry reminders enqueued"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.code, "expiry reminder run failed; will retry"),
            }
        }
    });
}

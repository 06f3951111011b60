//! The notification pipeline: an event becomes one in-app message and one SMS job (each at most once, by the
//! event's dedupe key), the SMS job is sent by whichever instance's worker claims it, and the provider's delivery
//! receipt closes it. Templates are rendered from named variables; a missing variable fails the enqueue, so a
//! half-filled SMS can never go out.
//!
//! The enqueuing request also tries to deliver its own SMS at once (claiming it like any worker would), so a
//! notice normally leaves within the request; the worker loop catches everything else (retries, quiet hours,
//! crashed instances).

pub mod callbacks;
pub mod live;
pub mod providers;
pub mod push;
pub mod push_sandbox;
pub mod reconcile;
pub mod sandbox;
pub mod templates;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use shenfen_store::{Channel, Failure, NewNotification, Notification, NotificationStatus, OutboxMessage, Receipt, RetryPolicy, SentJob, new_id};

use crate::app::AppState;
use crate::config::{Config, SmsProviderKind};
use crate::error::AppError;
pub use templates::{EventKind, Template};

/// Something happened that the citizen should hear about.
#[derive(Debug, Clone)]
pub struct NotificationEvent {
    pub citizen_id: String,
    pub kind: EventKind,
    /// Identifies the event itself (e.g. `appointment:<id>:booked:<updated_at>`): enqueuing it twice, from any
    /// instance, yields one message per channel.
    pub dedupe_key: String,
    pub vars: BTreeMap<String, String>,
}

/// One SMS as a provider needs it: the template and its variables (providers send approved templates, not free
/// text) plus our rendered text for sandboxes and logs.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    /// Our notification id (Aliyun `OutId`, Tencent `SessionContext`).
    pub id: String,
    pub phone: String,
    pub template: &'static Template,
    pub vars: BTreeMap<String, String>,
    /// Full text, sign name included, as the handset shows it.
    pub text: String,
}

/// What a provider said about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; the provider's id is what receipts will name.
    Accepted { provider_message_id: String },
    /// Refused and retrying cannot help (invalid number, blacklisted).
    Rejected { code: String },
    /// Not sent this time (network, provider down, rate limit): retry with back-off.
    Retry { reason: String },
}

/// What a provider's status API said about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAnswer {
    /// The carrier's final report: delivered, or not with the carrier's code.
    Final { delivered: bool, code: String },
    /// No final report yet (the phone may be off).
    Pending,
    /// The question could not be answered now (network, throttling, provider error): ask again later.
    Failed { reason: String },
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Short name stored with the message and used in the receipt URL (`aliyun`, `tencent`, `outbox`).
    fn name(&self) -> &'static str;
    async fn submit(&self, sms: &OutgoingSms) -> SendOutcome;
    /// Whether the provider has a status API for [`reconcile`] to ask.
    fn has_status_api(&self) -> bool {
        false
    }
    /// Asks what became of `sent` (a message this provider accepted; its `provider_message_id` is set).
    async fn status(&self, sent: &Notification) -> StatusAnswer {
        let _ = sent;
        StatusAnswer::Failed { reason: "no status API".into() }
    }
}

/// Demo/test provider: the message lands in the outbox at once and counts as delivered on acceptance (there is
/// no carrier to report back).
pub struct OutboxProvider {
    store: shenfen_store::DynStore,
}

#[async_trait]
impl SmsProvider for OutboxProvider {
    fn name(&self) -> &'static str {
        "outbox"
    }
    async fn submit(&self, sms: &OutgoingSms) -> SendOutcome {
        let id = new_id();
        let msg = OutboxMessage {
            id: id.clone(),
            phone: sms.phone.clone(),
            body: sms.text.clone(),
            created_at: now_ms(),
            provider: Some(self.name().into()),
            provider_message_id: Some(id.clone()),
        };
        match self.store.insert_outbox(&msg).await {
            Ok(()) => SendOutcome::Accepted { provider_message_id: id },
            Err(e) => SendOutcome::Retry { reason: e.to_string() },
        }
    }
}

/// The machine's clock (providers and their sandboxes keep real time, whatever clock the app runs on).
pub(super) fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// The provider the configuration selects. In demo mode an Aliyun/Tencent provider without a base URL talks to
/// this instance's own sandbox.
pub fn provider_from_config(config: &Config, store: shenfen_store::DynStore) -> Arc<dyn SmsProvider> {
    let own = |path: &str| format!("{}{}", config.public_url.trim_end_matches('/'), path);
    let timeout = std::time::Duration::from_millis(config.notify.send_timeout_ms);
    match config.notify.provider {
        SmsProviderKind::Outbox => Arc::new(OutboxProvider { store }),
        SmsProviderKind::Aliyun => {
            let base = config.notify.aliyun.base_url.clone().unwrap_or_else(|| own("/sandbox/aliyun-sms"));
            Arc::new(providers::AliyunSms::new(base, config.notify.aliyun.clone(), timeout))
        }
        SmsProviderKind::Tencent => {
            let base = config.notify.tencent.base_url.clone().unwrap_or_else(|| own("/sandbox/tencent-sms"));
            Arc::new(providers::TencentSms::new(base, config.notify.tencent.clone(), timeout))
        }
    }
}

pub fn retry_policy(config: &Config) -> RetryPolicy {
    RetryPolicy { max_attempts: config.notify.max_attempts, base_ms: config.notify.backoff_base_ms, cap_ms: config.notify.backoff_cap_ms }
}

/// The first moment a message of this kind may go out: now, or — for non-urgent kinds inside quiet hours — the
/// end of the quiet period (China time, UTC+8).
pub fn not_before(config: &Config, kind: EventKind, now_ms: i64) -> i64 {
    if kind.template().urgent {
        return now_ms;
    }
    let (from, until) = (i64::from(config.notify.quiet_from_hour), i64::from(config.notify.quiet_until_hour));
    const HOUR: i64 = 3_600_000;
    let local = now_ms + 8 * HOUR;
    let day_start = local.div_euclid(24 * HOUR) * (24 * HOUR);
    let hour = (local - day_start) / HOUR;
    let quiet = if from > until { hour >= from || hour < until } else { hour >= from && hour < until };
    if !quiet {
        return now_ms;
    }
    // The next `until` o'clock after now, local time, back to UTC.
    let mut end = day_start + until * HOUR;
    if end <= local {
        end += 24 * HOUR;
    }
    end - 8 * HOUR
}

/// Renders and records the event: an in-app message and an SMS job, each at most once. Delivery of the SMS is
/// then attempted at once when it is due; a delivery problem never fails the caller (the worker retries).
/// Errors: a template variable missing or unknown (`template_vars`), no such citizen.
pub async fn enqueue(state: &AppState, event: NotificationEvent) -> Result<(), AppError> {
    if let Some((id, not_before)) = record(state, event).await? {
        if not_before <= state.now_ms()
            && let Err(e) = deliver_by_id(state, &id).await
        {
            tracing::warn!(error = %e, "immediate SMS delivery failed; the worker will retry");
        }
        state.notify_wake.notify_one();
    }
    Ok(())
}

/// Like [`enqueue`], but leaves the SMS to the workers: for jobs that raise many events at once (expiry
/// reminders), where delivering each inline would only serialise what the workers do in parallel.
pub async fn enqueue_for_worker(state: &AppState, event: NotificationEvent) -> Result<(), AppError> {
    if record(state, event).await?.is_some() {
        state.notify_wake.notify_one();
    }
    Ok(())
}

/// Writes the in-app message and the SMS job (one transaction); returns the SMS job's id and due time when this
/// call created it.
async fn record(state: &AppState, event: NotificationEvent) -> Result<Option<(String, i64)>, AppError> {
    let template = event.kind.template();
    template.check_vars(&event.vars)?;
    let citizen = state.store.citizen(&event.citizen_id).await?.ok_or_else(AppError::not_found)?;
    let now = state.now_ms();
    let vars = serde_json::to_string(&event.vars).map_err(|_| AppError::internal())?;
    let inapp = NewNotification {
        citizen_id: citizen.id.clone(),
        event_kind: template.name.into(),
        dedupe_key: event.dedupe_key.clone(),
        channel: Channel::InApp,
        template: template.name.into(),
        vars,
        phone: None,
        not_before: now,
        now,
        content_key: None,
    };
    let due = not_before(&state.config, event.kind, now);
    let content_key = Some(content_key(&citizen.phone, template.name, &inapp.vars, now, state.config.notify.identical_window_secs));
    let sms = NewNotification { channel: Channel::Sms, phone: Some(citizen.phone.clone()), not_before: due, content_key, ..inapp.clone() };
    let created = state.store.enqueue_notifications(&[inapp, sms]).await?;
    let (inapp_id, sms_id) = match created.as_slice() {
        [inapp_id, sms_id] => (inapp_id.clone(), sms_id.clone()),
        _ => return Err(AppError::internal()),
    };
    if let Some(inapp_id) = inapp_id {
        // Pages open on this instance hear of it now; other instances' hubs find it on their next look.
        state.live.poke();
        // Browsers that opted in get it pushed, unless it is a non-urgent message in quiet hours.
        if due <= now {
            push::push_new(state, &citizen.id, inapp_id, template.urgent);
        }
    }
    if sms_id.is_some() {
        metrics::counter!("notifications_enqueued_total", "kind" => template.name).increment(1);
    }
    Ok(sms_id.map(|id| (id, due)))
}

/// What makes two SMS identical: the number, the template and its variables (hence the text), and the
/// `window_secs`-long window the event fell in. Two events that would put the same text on the same phone within
/// one window send one SMS (each still gets its in-app message).
fn content_key(phone: &str, template: &str, vars_json: &str, now_ms: i64, window_secs: i64) -> String {
    use sha2::Digest as _;
    let window = now_ms.div_euclid(window_secs.max(1) * 1000);
    let digest = sha2::Sha256::digest(format!("{phone}\n{template}\n{vars_json}\n{window}").as_bytes());
    hex::encode(&digest[..16])
}

/// Rate-limit windows: per number an hour, the whole platform a second.
const NUMBER_WINDOW_MS: i64 = 3_600_000;
const GLOBAL_WINDOW_MS: i64 = 1_000;

/// Applies the platform-wide allowance of the current second (shared by every instance through the database) to
/// claimed jobs: as many as it grants go now, the rest are put back (the attempt not counted) for the next second.
async fn within_global_limit(state: &AppState, mut jobs: Vec<Notification>, now: i64) -> Result<Vec<Notification>, AppError> {
    let limit = state.config.notify.global_per_second;
    let window = now - now.rem_euclid(GLOBAL_WINDOW_MS);
    let mut ask = (jobs.len() as u32).min(limit);
    // All or nothing per request: ask for less until something fits (a few statements at most, and only when the
    // allowance runs short).
    while ask > 0 {
        if state.store.take_rate(&[("sms-global".to_string(), ask)], window, limit).await?.first() == Some(&true) {
            break;
        }
        ask /= 2;
    }
    for job in jobs.split_off(ask as usize) {
        state.store.defer_sms(&job, &state.worker_id, window + GLOBAL_WINDOW_MS, "rate_limited_global").await?;
        metrics::counter!("sms_deferred_total", "limit" => "global").increment(1);
    }
    Ok(jobs)
}

/// Applies the per-number hourly limit to claimed jobs: those over it are put back (the attempt not counted) until
/// the number's window ends. Returns the jobs that may go now.
async fn within_number_limit(state: &AppState, jobs: Vec<Notification>, now: i64) -> Result<Vec<Notification>, AppError> {
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let window = now - now.rem_euclid(NUMBER_WINDOW_MS);
    let hits: Vec<(String, u32)> = jobs.iter().map(|j| (format!("sms-number:{}", j.phone.as_deref().unwrap_or("")), 1)).collect();
    let taken = state.store.take_rate(&hits, window, state.config.notify.per_number_per_hour).await?;
    let mut go = Vec::with_capacity(jobs.len());
    for (job, ok) in jobs.into_iter().zip(taken) {
        if ok {
            go.push(job);
        } else {
            let masked = job.phone.as_deref().map(mask_phone).unwrap_or_default();
            state.store.defer_sms(&job, &state.worker_id, window + NUMBER_WINDOW_MS, "rate_limited_per_number").await?;
            metrics::counter!("sms_deferred_total", "limit" => "per_number").increment(1);
            tracing::info!(phone = %masked, "SMS held back: the number's hourly limit is reached");
        }
    }
    Ok(go)
}

/// Claims and sends one job now if it is still due (another worker may already have it: then nothing happens).
pub async fn deliver_by_id(state: &AppState, id: &str) -> Result<(), AppError> {
    // A clock far off would misjudge leases: the job waits for a worker on a sound instance.
    if !crate::clock_guard::may_run_jobs(state) {
        return Ok(());
    }
    let now = state.now_ms();
    if let Some(job) = state.store.claim_sms_by_id(id, &state.worker_id, now, now + state.config.notify.lease_secs * 1000).await? {
        let jobs = within_global_limit(state, vec![job], now).await?;
        for job in within_number_limit(state, jobs, now).await? {
            let accepted = send(state, job).await?;
            record_accepted(state, accepted.into_iter().collect()).await?;
        }
    }
    Ok(())
}

/// One pass of the worker: claims a batch of due jobs and sends those the rate limits let through (the others
/// wait, their attempt not counted). Returns how many were sent.
/// Nothing, while this instance's clock is too far from the database's (it would take over live leases).
pub async fn run_once(state: &AppState) -> Result<usize, AppError> {
    if !crate::clock_guard::may_run_jobs(state) {
        return Ok(0);
    }
    let now = state.now_ms();
    let jobs = state.store.claim_sms(&state.worker_id, state.config.notify.batch, now, now + state.config.notify.lease_secs * 1000).await?;
    let jobs = within_global_limit(state, jobs, now).await?;
    let jobs = within_number_limit(state, jobs, now).await?;
    // Counted after the limits: a pass whose jobs were all held back lets the worker rest rather than claim again.
    let n = jobs.len();
    let concurrency = state.config.notify.concurrency.max(1);
    // Each send is a round trip to the provider: a batch's jobs go side by side, up to `concurrency` at once. The
    // acceptances are written down by a recorder alongside, which takes everything that finished while it was
    // writing in one statement — so sending never waits for the database, and a busy worker writes in groups.
    let (accepted_tx, accepted_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_continuously(state.clone(), accepted_rx));
    let mut sends = futures_util::stream::iter(jobs).map(|job| send(state, job)).buffer_unordered(concurrency);
    let mut first_error = None;
    while let Some(result) = sends.next().await {
        match result {
            Ok(Some(accepted)) => {
                let _ = accepted_tx.send(accepted);
            }
            Ok(None) => {}
            // Keep going after an error: the other sends already happened and must be recorded.
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    drop(accepted_tx);
    match recorder.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            first_error.get_or_insert(e);
        }
        Err(_) => {
            first_error.get_or_insert(AppError::internal());
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

/// Most acceptances written in one statement.
const RECORD_GROUP: usize = 256;

/// Writes acceptances as they arrive until the sender hangs up: each write takes all that are waiting.
async fn record_continuously(state: AppState, mut arriving: tokio::sync::mpsc::UnboundedReceiver<Accepted>) -> Result<(), AppError> {
    let mut first_error = None;
    let mut group = Vec::with_capacity(RECORD_GROUP);
    while arriving.recv_many(&mut group, RECORD_GROUP).await > 0 {
        if let Err(e) = record_accepted(&state, std::mem::take(&mut group)).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A job the provider accepted, not yet written down.
struct Accepted {
    job: Notification,
    provider_message_id: String,
}

/// Sends one claimed job. Refusals and failures are recorded here; an acceptance is returned for
/// [`record_accepted`].
async fn send(state: &AppState, job: Notification) -> Result<Option<Accepted>, AppError> {
    let masked = job.phone.as_deref().map(mask_phone).unwrap_or_default();
    let policy = retry_policy(&state.config);
    let Some(sms) = outgoing(&job) else {
        // A row we cannot render (template renamed since) would fail forever: dead-letter it at once.
        let dead = RetryPolicy { max_attempts: 0, ..policy };
        state.store.mark_failed(&job, &state.worker_id, Failure::Retryable, "unrenderable", dead, state.now_ms()).await?;
        tracing::error!(id = %job.id, template = %job.template, "notification cannot be rendered; dead-lettered");
        return Ok(None);
    };
    let provider = state.sms_provider.clone();
    let outcome = provider.submit(&sms).await;
    let now = state.now_ms();
    match outcome {
        SendOutcome::Accepted { provider_message_id } => return Ok(Some(Accepted { job, provider_message_id })),
        SendOutcome::Rejected { code } => {
            state.store.mark_failed(&job, &state.worker_id, Failure::Permanent, &code, policy, now).await?;
            tracing::warn!(phone = %masked, code = %code, "SMS rejected permanently");
        }
        SendOutcome::Retry { reason } => {
            let status = state.store.mark_failed(&job, &state.worker_id, Failure::Retryable, &reason, policy, now).await?;
            if status == Some(NotificationStatus::TechnicalFailure) {
                tracing::error!(phone = %masked, attempts = job.attempts, reason = %reason, "SMS dead-lettered after repeated failures");
            } else {
                tracing::warn!(phone = %masked, attempts = job.attempts, reason = %reason, "SMS not sent; will retry");
            }
        }
    }
    Ok(None)
}

/// Writes down acceptances, all in one transaction.
async fn record_accepted(state: &AppState, accepted: Vec<Accepted>) -> Result<(), AppError> {
    if accepted.is_empty() {
        return Ok(());
    }
    let provider = state.sms_provider.name();
    let now = state.now_ms();
    let sent: Vec<SentJob> = accepted
        .iter()
        .map(|a| SentJob { id: a.job.id.clone(), provider: provider.into(), provider_message_id: a.provider_message_id.clone(), at: now })
        .collect();
    let recorded = state.store.mark_sent_many(&state.worker_id, &sent).await?;
    for (a, ok) in accepted.iter().zip(&recorded) {
        if !ok {
            tracing::warn!(id = %a.job.id, "lease lost before the send was recorded");
        }
        let masked = a.job.phone.as_deref().map(mask_phone).unwrap_or_default();
        tracing::info!(phone = %masked, provider, "SMS accepted by provider");
    }
    metrics::counter!("sms_sent_total", "provider" => provider).increment(accepted.len() as u64);
    // The outbox provider has no carrier behind it: acceptance is delivery.
    if provider == "outbox" {
        let receipts: Vec<Receipt> = sent.into_iter().map(|s| Receipt { provider_message_id: s.provider_message_id, delivered: true, error: String::new() }).collect();
        state.store.record_receipts("outbox", &receipts, now).await?;
    }
    Ok(())
}

/// Rebuilds the provider message from a stored job.
pub fn outgoing(job: &Notification) -> Option<OutgoingSms> {
    let template = Template::by_name(&job.template)?;
    let vars: BTreeMap<String, String> = serde_json::from_str(&job.vars).ok()?;
    let text = template.sms_text(&vars).ok()?;
    Some(OutgoingSms { id: job.id.clone(), phone: job.phone.clone()?, template, vars, text })
}

/// Runs the worker until the process ends: woken by enqueues, and polling so that retries, deferred jobs and
/// jobs of crashed instances are picked up. Every instance runs one.
pub fn spawn_worker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let idle = std::time::Duration::from_millis(state.config.notify.poll_ms.max(10));
        loop {
            match run_once(&state).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.code, "notification worker pass failed; will retry"),
            }
            tokio::select! {
                _ = state.notify_wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
    })
}

pub fn mask_phone(phone: &str) -> String {
    shenfen_domain::MobileNumber::parse(phone).map(|p| p.masked()).unwrap_or_else(|_| "***".into())
}

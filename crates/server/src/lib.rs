//! The Shenfen server: HTTP API, web pages and the `shenfen` command. See ARCHITECTURE.md for the map.

pub mod accounts;
pub mod applications;
pub mod appointments;
pub mod api;
pub mod app;
pub mod audit_view;
pub mod auth;
pub mod cards;
pub mod bench;
pub mod backup;
pub mod cli;
pub mod clock_guard;
pub mod config;
pub mod config_ref;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod i18n;
pub mod logistics;
pub mod notify;
pub mod ops;
pub mod point_admin;
pub mod pages;
pub mod payments;
pub mod person_data;
pub mod registry;
pub mod retention;
pub mod sms;
pub mod staff_admin;
pub mod staff_security;
pub mod stats;
pub mod telemetry;
pub mod totp;

use std::sync::Arc;

use app::{AppState, Clock, Inner};
use config::Config;

/// Connects and migrates the database, loads keys, wires the providers, and seeds demo data when in demo mode.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let keys = crypto::Keys::load(&config)?;
    // Fail at start-up, with the adapter's message, when payment keys or URLs are missing or wrong.
    payments::providers::from_config(&config, &config.public_url)?;
    logistics::carrier_from_config(&config)?;
    notify::push::WebPush::from_config(&config, &keys)?;
    if !config.is_postgres() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let store = shenfen_store::connect(&config.database_url()).await?;
    store.migrate().await?;
    let state = assemble(config, store, keys, clock);
    if state.config.demo {
        tracing::warn!("DEMO MODE: generated secrets, sandbox SMS gateway, demo registry and demo staff passwords. Never expose this instance to real users.");
        let report = demo::seed(&state.store, state.now_ms()).await?;
        if report.points + report.staff > 0 {
            tracing::info!(points = report.points, staff = report.staff, "seeded demo data");
        }
        // The statistics' demo history takes a while on a fresh database: in the background, the server is up meanwhile.
        let demo_state = state.clone();
        tokio::spawn(async move {
            if !demo_state.config.demo_history {
                return;
            }
            match demo::history::seed(&demo_state, &Default::default()).await {
                Ok(r) if r.skipped => {}
                Ok(r) => tracing::info!(citizens = r.citizens, visits = r.visits, payments = r.payments, applications = r.applications, "seeded demo history"),
                Err(e) => tracing::error!(error = %e, "demo history incomplete"),
            }
        });
    }
    let created = appointments::ensure_all_slots(&state).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(created, "appointment slots ready for the booking horizon");
    Ok(state)
}

/// Wires a state from parts (tests use this with a fresh store).
pub fn assemble(config: Config, store: shenfen_store::DynStore, keys: crypto::Keys, clock: Clock) -> AppState {
    // Production adapters for the registry, verifier and carrier SMS are configured here when they exist;
    // until then every instance uses the sandbox ones, which is why non-demo mode refuses to start without keys
    // but still talks to sandboxes (see README: "what is real and what is a sandbox").
    AppState(Arc::new(Inner {
        sms: Arc::new(sms::SandboxSms::new(store.clone())),
        sms_provider: notify::provider_from_config(&config, store.clone()),
        notify_wake: Arc::new(tokio::sync::Notify::new()),
        shipments_wake: Arc::new(tokio::sync::Notify::new()),
        worker_id: format!("worker-{}", shenfen_store::new_id()),
        live: notify::live::LiveHub::new(store.clone(), clock.clone(), config.notify.live.clone()),
        web_push: notify::push::WebPush::from_config(&config, &keys)
            .map_err(|e| tracing::error!(error = %e, "web push not available"))
            .ok()
            .flatten()
            .map(Arc::new),
        registry: Arc::new(registry::DemoRegistry::new()),
        verifier: Arc::new(registry::DemoVerifier),
        metrics: app::install_metrics(),
        store,
        keys,
        clock,
        clock_skew: Default::default(),
        live_loads: Default::default(),
        payment_providers: payments::providers::from_config(&config, &config.public_url)
            .map_err(|e| tracing::error!(error = %e, "payment providers not available"))
            .ok(),
        carrier: logistics::carrier_from_config(&config).map_err(|e| tracing::error!(error = %e, "express carrier not available")).ok(),
        config,
    }))
}

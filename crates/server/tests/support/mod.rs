//! Test harness: a real server on a loopback port, over a fresh SQLite file or a fresh PostgreSQL schema.
#![allow(dead_code)]

use std::net::SocketAddr;

use shenfen_server::app::{AppState, Clock};
use shenfen_server::config::Config;
use shenfen_server::crypto::Keys;
use shenfen_store::test_support::{TempDir, fresh_postgres, fresh_sqlite, postgres_url};

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    _dir: TempDir,
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl TestApp {
    /// Starts an app, or returns None when PostgreSQL is asked for but not configured (outside CI).
    pub async fn start(db: Db) -> Option<TestApp> {
        Self::start_with(db, Clock::default(), |_| {}).await
    }

    pub async fn start_with(db: Db, clock: Clock, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let dir = TempDir::new();
        let store = match db {
            Db::Sqlite => fresh_sqlite(&dir).await.expect("sqlite"),
            Db::Postgres => fresh_postgres(&postgres_url()?).await.expect("postgres"),
        };
        let mut config = Config { data_dir: dir.0.clone(), demo: true, ..Config::default() };
        tweak(&mut config);
        Some(Self::serve(config, store, Keys::random(), clock, dir).await)
    }

    /// Several instances on one fresh PostgreSQL schema, sharing keys as a real deployment does.
    pub async fn postgres_cluster(n: usize) -> Option<Vec<TestApp>> {
        Self::postgres_cluster_with(n, |_| {}).await
    }

    /// A cluster whose instances' configuration `tweak` adjusts.
    pub async fn postgres_cluster_with(n: usize, tweak: impl Fn(&mut Config)) -> Option<Vec<TestApp>> {
        Self::postgres_cluster_clocks((0..n).map(|_| Clock::default()).collect(), tweak).await
    }

    /// A cluster with one instance per clock (e.g. `Clock::offset` for a machine whose clock is wrong).
    #[allow(dead_code)]
    pub async fn postgres_cluster_clocks(clocks: Vec<Clock>, tweak: impl Fn(&mut Config)) -> Option<Vec<TestApp>> {
        let opts = shenfen_store::test_support::fresh_postgres_schema(&postgres_url()?).await.expect("schema");
        let keys = Keys::random();
        let mut apps = Vec::new();
        for clock in clocks {
            let store: shenfen_store::DynStore = std::sync::Arc::new(shenfen_store::PgStore::connect(opts.clone(), 8).await.expect("pg"));
            store.migrate().await.expect("migrate");
            let dir = TempDir::new();
            let mut config = Config { data_dir: dir.0.clone(), demo: true, ..Config::default() };
            tweak(&mut config);
            apps.push(Self::serve(config, store, keys.clone(), clock, dir).await);
        }
        Some(apps)
    }

    async fn serve(mut config: Config, store: shenfen_store::DynStore, keys: Keys, clock: Clock, dir: TempDir) -> TestApp {
        // Bound first, so that links this instance gives out (provider notify URLs, its own sandboxes) point at it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        config.public_url = format!("http://{addr}");
        let state = shenfen_server::assemble(config, store, keys, clock);
        shenfen_server::demo::seed(&state.store, state.now_ms()).await.expect("seed");
        let app = shenfen_server::app::router(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        TestApp { base: format!("http://{addr}"), state, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The newest 6-digit code the sandbox SMS gateway sent to `phone`.
    pub async fn last_code(&self, phone: &str) -> String {
        let msgs = self.state.store.outbox(Some(phone), 1).await.unwrap();
        let body = &msgs.first().expect("an SMS was sent").body;
        body.chars().filter(|c| c.is_ascii_digit()).take(6).collect()
    }

    /// A bearer token for a citizen signed in by SMS code through the API.
    pub async fn citizen_token(&self, http: &reqwest::Client, phone: &str) -> String {
        let r = http.post(self.url("/api/v1/auth/sms-codes")).json(&serde_json::json!({ "phone": phone })).send().await.unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let code = self.last_code(phone).await;
        let r = http.post(self.url("/api/v1/auth/sessions")).json(&serde_json::json!({ "phone": phone, "code": code })).send().await.unwrap();
        assert_eq!(r.status(), 201);
        r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    /// A citizen and bearer session made directly in the store (for load-style tests that would hit SMS limits).
    pub async fn direct_citizen_session(&self, phone: &str) -> (String, shenfen_store::Citizen) {
        let now = self.state.now_ms();
        let citizen = self.state.store.citizen_for_phone(phone, now).await.unwrap();
        let token = shenfen_server::crypto::new_token();
        self.state
            .store
            .insert_session(&shenfen_store::Session {
                token_hash: shenfen_server::crypto::token_hash(&token),
                principal_kind: shenfen_store::PrincipalKind::Citizen,
                principal_id: citizen.id.clone(),
                channel: shenfen_store::SessionChannel::Bearer,
                created_at: now,
                expires_at: now + 3_600_000,
            })
            .await
            .unwrap();
        (token, citizen)
    }

    pub async fn staff_token(&self, http: &reqwest::Client, username: &str) -> String {
        let password = shenfen_server::demo::DEMO_STAFF.iter().find(|s| s.0 == username).expect("demo user").1;
        let r = http
            .post(self.url("/api/v1/auth/staff-sessions"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }
}

/// The CSRF token of the first form on a page.
#[allow(dead_code)]
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("form with csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_string()
}

/// A browser-like client signed in as a demo staff member through the sign-in page; returns it and its CSRF token.
#[allow(dead_code)]
pub async fn staff_pages(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    let c = http();
    let html = c.get(app.url("/staff/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let password = shenfen_server::demo::DEMO_STAFF.iter().find(|s| s.0 == username).expect("demo user").1;
    let r = c.post(app.url("/staff/sign-in")).form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    (c, csrf)
}

/// A browser-like client with a citizen signed in through the pages; with `verify`, primary verification (name, ID
/// number) is done too. Returns the client and its CSRF token.
#[allow(dead_code)]
pub async fn citizen_pages(app: &TestApp, phone: &str, verify: Option<(&str, &str)>) -> (reqwest::Client, String) {
    let c = http();
    let html = c.get(app.url("/sign-in")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&html);
    let r = c.post(app.url("/sign-in/code")).form(&[("csrf", csrf.as_str()), ("phone", phone), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let code = app.last_code(phone).await;
    let r = c.post(app.url("/sign-in")).form(&[("csrf", csrf.as_str()), ("phone", phone), ("code", code.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    if let Some((name, id)) = verify {
        let r = c.post(app.url("/me/verify")).form(&[("csrf", csrf.as_str()), ("name", name), ("id_number", id)]).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
    (c, csrf)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

/// Runs an async test body against SQLite, and against PostgreSQL when configured.
#[macro_export]
macro_rules! on_both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = support::TestApp::start(support::Db::Sqlite).await.unwrap();
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = support::TestApp::start(support::Db::Postgres).await else { return };
                $body
            }
        }
    };
}

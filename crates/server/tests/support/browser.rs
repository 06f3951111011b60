//! The Chromium harness of `tests/browser.rs`, shared: chromedriver on a free port, a throw-away profile, one
//! browser at a time, phone-sized viewport, and helpers (click-and-wait, sign in through the pages, screenshots,
//! sideways-overflow check). Included with `#[path = "support/browser.rs"] mod harness;` next to `mod support;`
//! by the browser test files that use it (so other test binaries do not compile it).
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use shenfen_store::test_support::TempDir;

use crate::support::{self, TestApp};

/// Phone-sized viewport (an iPhone 12–15 in CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    for c in candidates {
        if c.starts_with('/') {
            if Path::new(c).is_file() {
                return Some(PathBuf::from(c));
            }
        } else if let Some(path) = std::env::var_os("PATH") {
            if let Some(found) = std::env::split_paths(&path).map(|d| d.join(c)).find(|p| p.is_file()) {
                return Some(found);
            }
        }
    }
    None
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Chromium and chromedriver, or None (after a visible message) when they are absent outside CI.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_binary("SHENFEN_CHROMIUM", &["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]);
    let driver = find_binary("SHENFEN_CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [c.is_none().then_some("chromium"), d.is_none().then_some("chromedriver")].into_iter().flatten().collect::<Vec<_>>().join(" and ");
            if in_ci() {
                panic!("browser tests must run under CI=true, but {missing} is not installed (apt-get install chromium chromium-driver)");
            }
            // Written to the real stderr, not through eprintln!, so that cargo test's capture does not hide it.
            let _ = writeln!(std::io::stderr(), "\nSKIPPED: browser tests (chromium not installed: {missing} missing; apt-get install chromium chromium-driver)\n");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// chromedriver as a child process, killed when dropped; plus the throw-away browser profile.
struct Driver {
    child: Child,
    url: String,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session against one app. Holding it keeps chromedriver alive; `finish` closes the session.
pub struct Browser {
    pub c: Client,
    pub app: TestApp,
    _driver: Driver,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Two cores: one browser at a time keeps the tests fast and free of timing flakes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Browser {
    /// A browser against the app `make_app` starts (called only when Chromium is installed, holding the turn).
    pub async fn start_with<F: std::future::Future<Output = TestApp>>(make_app: impl FnOnce() -> F) -> Option<Browser> {
        let (chromium, chromedriver) = browser_binaries()?;
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let app = make_app().await;
        let profile = TempDir::new();
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}"), _profile: profile };

        // Wait until chromedriver answers /status with ready.
        let http = support::http();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{}/status", driver.url)).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok().and_then(|v| v["value"]["ready"].as_bool()).unwrap_or(false),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--hide-scrollbars".into(),
            "--lang=zh-CN".into(),
            format!("--window-size={},{}", PHONE.0, PHONE.1),
            format!("--user-data-dir={}", driver._profile.0.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium.to_string_lossy(), "args": args, "prefs": { "intl.accept_languages": "zh-CN,zh" } }),
        );
        // Two rustls crypto providers are compiled into the tests; pick one (errors only if already installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("cannot start a Chromium session via chromedriver: {e}"));
        let b = Browser { c, app, _driver: driver, _turn: turn };
        b.goto("/healthz").await;
        b.phone_viewport().await;
        Some(b)
    }

    pub async fn finish(self) {
        let Browser { c, app, _driver, _turn } = self;
        let _ = c.close().await;
        drop(app);
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    pub async fn goto(&self, path: &str) {
        self.c.goto(&self.url(path)).await.unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        self.c.current_url().await.expect("current url").path().to_string()
    }

    pub async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        match self.c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(selector)).await {
            Ok(el) => el,
            Err(e) => panic!("no element {selector:?} on {}: {e}", self.path().await),
        }
    }

    pub async fn exists(&self, selector: &str) -> bool {
        !self.c.find_all(Locator::Css(selector)).await.expect("find_all").is_empty()
    }

    pub async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.expect("text").trim().to_string()
    }

    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        self.css(selector).await.attr(name).await.expect("attr")
    }

    pub async fn type_into(&self, selector: &str, text: &str) {
        let el = self.css(selector).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("send_keys");
    }

    /// Clicks and waits for the next page to load (the old `<html>` element goes stale).
    pub async fn click_and_load(&self, selector: &str) {
        let before = self.c.find(Locator::Css("html")).await.expect("html");
        // A live update (live.js) may replace the part of the page holding the target between finding it and
        // clicking it, as it would under a person's finger: find it again and retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let target = self.css(selector).await;
            // Into the middle of the viewport: chromedriver scrolls a target only just into view, where the fixed
            // tab bar at the bottom of the page covers it.
            let clicked = match self.c.execute("arguments[0].scrollIntoView({block: 'center'})", vec![serde_json::to_value(&target).expect("element ref")]).await {
                Ok(_) => target.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => break,
                Err(e) if attempt < 5 && format!("{e:?}").contains("StaleElementReference") => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("click {selector:?}: {e}"),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        // A stale reference errors out; a fresh document means the navigation happened.
        while before.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {selector:?} did not load a new page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("body")).await.expect("body");
    }

    pub async fn html_lang(&self) -> String {
        self.attr("html", "lang").await.unwrap_or_default()
    }

    /// Signs in through the pages, reading the code from the sandbox outbox page in a second tab.
    pub async fn sign_in(&self, phone: &str) {
        self.goto("/sign-in").await;
        self.type_into("#phone", phone).await;
        self.click_and_load("#send-code").await;
        assert!(self.text(".lead").await.contains(&phone[7..]), "code page names the masked number");

        // The developer outbox page, as a person trying the demo would use it.
        let main_window = self.c.window().await.expect("window");
        let tab = self.c.new_window(true).await.expect("new tab");
        self.c.switch_to_window(tab.handle).await.expect("switch");
        self.goto(&format!("/dev/outbox?phone={phone}")).await;
        let page = self.text("main").await;
        let code_on_page = six_digits(&page).unwrap_or_else(|| panic!("no 6-digit code on the outbox page: {page}"));
        assert_eq!(code_on_page, self.app.last_code(phone).await, "the outbox page shows the newest code first");
        self.c.close_window().await.expect("close tab");
        self.c.switch_to_window(main_window).await.expect("switch back");

        self.type_into("#code", &code_on_page).await;
        self.click_and_load("#sign-in").await;
        assert_eq!(self.path().await, "/me", "signing in lands on my account");
    }

    /// How much taller the window is than its viewport (headless Chromium still reserves room for its UI).
    pub async fn chrome_height(&self) -> u32 {
        let v = self.c.execute("return window.outerHeight - window.innerHeight", vec![]).await.expect("window sizes");
        v.as_u64().unwrap_or(0) as u32
    }

    /// Makes the viewport (not the window) phone-sized.
    pub async fn phone_viewport(&self) {
        let extra = self.chrome_height().await;
        self.c.set_window_size(PHONE.0, PHONE.1 + extra).await.expect("resize");
    }

    /// Saves a screenshot of the whole page at phone width (the viewport grows to the page height meanwhile).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let extra = self.chrome_height().await;
        let height = self.c.execute("window.scrollTo(0, 0); return Math.ceil(document.documentElement.scrollHeight)", vec![]).await.expect("height").as_u64().unwrap_or(PHONE.1 as u64) as u32;
        self.c.set_window_size(PHONE.0, height.max(PHONE.1) + extra).await.expect("resize");
        self.c.execute("window.scrollTo(0, 0)", vec![]).await.expect("scroll to top");
        let png = self.c.screenshot().await.expect("screenshot");
        self.c.set_window_size(PHONE.0, PHONE.1 + extra).await.expect("resize back");
        let dir = std::env::var_os("SHENFEN_SCREENSHOT_DIR").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("shenfen-screenshots"));
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Nothing on the page is wider than the phone's viewport (no sideways scrolling).
    pub async fn assert_no_horizontal_overflow(&self, what: &str) {
        let v = self
            .c
            .execute(
                "const vw = document.documentElement.clientWidth; \
                 const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > vw + 1).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')); \
                 return { scroll: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 5) };",
                vec![],
            )
            .await
            .expect("overflow script");
        assert!(v["scroll"].as_u64() <= v["vw"].as_u64(), "{what}: the page scrolls sideways at {}px: {v}", PHONE.0);
        assert!(v["wide"].as_array().is_some_and(|a| a.is_empty()), "{what}: elements stick out of the viewport: {v}");
    }
}

pub fn six_digits(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(6).enumerate().find_map(|(i, w)| {
        let bounded = (i == 0 || !chars[i - 1].is_ascii_digit()) && chars.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
        (bounded && w.iter().all(|c| c.is_ascii_digit())).then(|| w.iter().collect())
    })
}


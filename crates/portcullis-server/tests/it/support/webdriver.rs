//! A small W3C WebDriver client for Debian's `chromedriver` + `chromium`, headless.
//!
//! Browser tests run when both are installed (`.ci/run` installs them and sets
//! `TEST_REQUIRE_BROWSER=1`, which turns their absence into a failure).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one headless Chromium session.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// Whether the browser tests can run here; panics when they must but cannot.
pub(crate) fn available() -> bool {
    let present = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .all(|p| std::path::Path::new(p).exists());
    if !present && std::env::var("TEST_REQUIRE_BROWSER").is_ok() {
        panic!(
            "TEST_REQUIRE_BROWSER is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
    }
    if !present {
        eprintln!(
            "browser test skipped: chromium and chromedriver are not installed (.ci/run installs them)"
        );
    }
    present
}

impl Browser {
    pub(crate) async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=430,932",
                         "--hide-scrollbars",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let session: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_owned();
        Self {
            driver,
            base: format!("{base}/session/{id}"),
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let value: Value = request.send().await.unwrap().json().await.unwrap();
        if value["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", value["value"]);
        }
        value["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub(crate) async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub(crate) async fn has(&self, css: &str) -> bool {
        let response = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .unwrap();
        let value: Value = response.json().await.unwrap();
        value["value"].get(ELEMENT).is_some()
    }

    /// Waits up to five seconds for an element to appear.
    pub(crate) async fn wait_for(&self, css: &str) -> bool {
        for _ in 0..50 {
            if self.has(css).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A property of an element (`value` of an input or textarea).
    pub(crate) async fn property(&self, css: &str, name: &str) -> String {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{id}/property/{name}"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// POSTs `body` to the element command `command` of the element at `css`.
    async fn act(&self, css: &str, command: &str, body: Value) {
        let id = self.element(css).await;
        let path = format!("/element/{id}/{command}");
        self.call(reqwest::Method::POST, &path, Some(body)).await;
    }

    /// Empties an input or textarea.
    pub(crate) async fn clear(&self, css: &str) {
        self.act(css, "clear", json!({})).await;
    }

    /// The cookies the browser holds for the current page, as WebDriver reports them
    /// (`name`, `value`, `path`, `secure`, `httpOnly`, `sameSite`).
    pub(crate) async fn cookies(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Resizes the window (CSS pixels).
    pub(crate) async fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Types `text` into the element at `css`.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        self.act(css, "value", json!({ "text": text })).await;
    }

    /// Clicks the element at `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.act(css, "click", json!({})).await;
    }

    /// Waits until the page at `prefix` has loaded.
    pub(crate) async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {prefix}: at {}", self.url().await);
    }

    /// Saves a PNG screenshot when `TEST_SCREENSHOTS` names a directory.
    pub(crate) async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("TEST_SCREENSHOTS") else {
            return;
        };
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.png")),
            bytes,
        )
        .unwrap();
    }

    /// Saves a PNG of the whole page (not only the viewport), at most `max_height` CSS pixels
    /// tall, when `TEST_SCREENSHOTS` names a directory. Uses the DevTools protocol through
    /// chromedriver, so nothing runs in the page.
    pub(crate) async fn screenshot_page(&self, name: &str, max_height: f64) {
        let Ok(dir) = std::env::var("TEST_SCREENSHOTS") else {
            return;
        };
        let cdp = |cmd: &str, params: Value| {
            self.call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({ "cmd": cmd, "params": params })),
            )
        };
        let metrics = cdp("Page.getLayoutMetrics", json!({})).await;
        let width = metrics["cssLayoutViewport"]["clientWidth"]
            .as_f64()
            .unwrap();
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap()
            .min(max_height);
        // A viewport as tall as the page: nothing scrolls, so a sticky header stays on top.
        cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        let shot = cdp("Page.captureScreenshot", json!({ "format": "png" })).await;
        cdp("Emulation.clearDeviceMetricsOverride", json!({})).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.png")),
            bytes,
        )
        .unwrap();
    }

    pub(crate) async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! Headless Chromium through Debian's chromedriver, one driver per browser session, against
//! the real app in this process; with what every page must pass: no console error, no
//! request to another origin, no serious or critical axe-core violation.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The vendored axe-core (see `vendor/README.md`).
const AXE: &str = include_str!("vendor/axe.min.js");

/// At most this many browsers at once: the machine has two cores.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// Whether this machine can run browser tests. Without Chromium the test is reported as
/// skipped by name (past the harness's output capture); in CI (`CI=true`) it fails instead.
pub fn chromium_or_skip(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{test} needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver) and CI=true"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs Chromium (apt-get install chromium chromium-driver)"
    );
    false
}

/// Prints why a test did not run (past the output capture) and lets it pass.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// One browser session: its own chromedriver and Chromium profile.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: tokio::process::Child,
    driver_url: String,
    session: String,
    closed: bool,
    /// The app's origin, `http://127.0.0.1:PORT`.
    pub origin: String,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium `width` pixels wide.
    pub async fn start(origin: &str, width: u32) -> Browser {
        let permit = BROWSERS.acquire().await.expect("semaphore open");
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{driver_url}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--lang=zh-CN",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},900"),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let mut caps = caps.as_object().expect("object").clone();
        if width < 500 {
            // Chromium's windows are never narrower than 500 px: a phone is emulated.
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": 812, "pixelRatio": 1.0, "touch": true },
            });
        }
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("a Chromium session");
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Browser {
            client,
            driver,
            driver_url,
            session,
            closed: false,
            origin: origin.to_owned(),
            _permit: permit,
        }
    }

    /// Opens `path` of the app.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.origin))
            .await
            .expect("navigate");
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// Polls `script` (returning a boolean) until true or `within` passes; panics with `what`.
    pub async fn until(&self, what: &str, within: Duration, script: &str) {
        let deadline = Instant::now() + within;
        loop {
            if self.js(script, vec![]).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!("{what}: not within {within:?}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 15 s) until an element matching `css` exists and returns it.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.until(
            &format!("`{css}` appears"),
            Duration::from_secs(15),
            &script,
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .expect("element found")
    }

    /// The text of the element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.expect("text")
    }

    /// Clicks the element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    /// Types into the element matching `css` (waiting for it).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait(css).await.send_keys(text).await.expect("typing");
    }

    /// Sends keys to whatever has the focus.
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .expect("keys sent");
    }

    /// Presses Tab until the focused element matches `css` (at most 120 times).
    pub async fn tab_to(&self, css: &str) {
        let script = format!(
            "return document.activeElement !== null && document.activeElement.matches({})",
            json!(css)
        );
        for _ in 0..120 {
            if self.js(&script, vec![]).await == Value::Bool(true) {
                return;
            }
            self.keys("\u{E004}").await;
        }
        panic!("Tab never reached `{css}`");
    }

    /// The browser's console messages of level SEVERE so far (errors, CSP violations,
    /// failed loads), from chromedriver's log.
    pub async fn console_errors(&self) -> Vec<String> {
        let response: Value = reqwest::Client::new()
            .post(format!(
                "{}/session/{}/se/log",
                self.driver_url, self.session
            ))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("log asked")
            .json()
            .await
            .expect("log read");
        response["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every resource the page loaded, as URLs.
    pub async fn resources(&self) -> Vec<String> {
        let value = self
            .js(
                "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => e.name)",
                vec![],
            )
            .await;
        value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts the page so far: no console error, nothing loaded from another origin, and no
    /// serious or critical axe-core violation.
    pub async fn assert_clean(&self, page: &str) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "{page}: console errors: {errors:#?}");
        for url in self.resources().await {
            assert!(
                url.starts_with(&self.origin),
                "{page}: a request to another origin: {url}"
            );
        }
        let violations = self.axe().await;
        assert!(
            violations.is_empty(),
            "{page}: serious or critical accessibility violations: {:#}",
            Value::Array(violations.clone())
        );
    }

    /// axe-core's serious and critical violations on the page as it is now.
    pub async fn axe(&self) -> Vec<Value> {
        if self.js("return typeof window.axe", vec![]).await != "object" {
            self.js(&format!("{AXE}\n;return true;"), vec![]).await;
        }
        let result = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ['violations'] })
                  .then(r => done(r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
                  .catch(e => done([{ id: 'axe-failed', impact: String(e) }]));"#,
                vec![],
            )
            .await
            .expect("axe runs");
        result.as_array().cloned().unwrap_or_default()
    }

    /// Writes a PNG of the page to `docs/screenshots/NAME.png` when `ZOUQIN_SCREENSHOTS=1`.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("ZOUQIN_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Ends the session and its driver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        self.closed = true;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that failed midway still ends its Chromium: chromedriver is asked to close
    /// the session (a plain blocking request: no runtime is at hand while unwinding) before
    /// the driver itself is killed.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        use std::io::{Read, Write};
        let address = self.driver_url.trim_start_matches("http://").to_owned();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
            }
        }
        let _ = self.driver.start_kill();
    }
}

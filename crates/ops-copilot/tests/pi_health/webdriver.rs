//! A minimal W3C WebDriver client for Debian's `chromedriver` + headless
//! `chromium`: enough to sign in, type, click and read a page like a person,
//! and to save screenshots.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{Process, wait_for};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    _driver: Process,
}

fn find_program(names: &[&str]) -> PathBuf {
    for name in names {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "{} not found: install Debian's chromium and chromium-driver (scripts/test.sh does)",
        names.join(" or ")
    );
}

impl Browser {
    pub async fn start(log_dir: &Path) -> Self {
        let driver = find_program(&["chromedriver"]);
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let (process, base) = Process::start_http(
            "chromedriver",
            log_dir,
            "/status",
            |s| s == StatusCode::OK,
            |port| {
                let mut command = Command::new(&driver);
                command.arg(format!("--port={port}"));
                command
            },
        )
        .await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1100",
                         "--user-data-dir=".to_owned() + &log_dir.join("chromium-profile").display().to_string()]
            }
        }}});
        let reply: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {reply}"))
            .to_owned();
        Self {
            http,
            session,
            base,
            _driver: process,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
            .json()
            .await
            .unwrap_or(Value::Null);
        reply["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page (WebDriver's, not subject to the page's CSP).
    pub async fn eval(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// The element matching `css`, or `None`.
    pub async fn find(&self, css: &str) -> Option<String> {
        let value = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        value[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits for `css` to exist; its element id.
    pub async fn wait_element(&self, css: &str) -> String {
        wait_for(
            &format!("element {css}"),
            Duration::from_secs(30),
            || async { self.find(css).await.ok_or_else(|| "not there".to_owned()) },
        )
        .await
    }

    pub async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            Value::String(css.to_owned())
        );
        self.eval(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the text of `css` contains `needle`; the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        wait_for(
            &format!("{css} to show {needle:?}"),
            Duration::from_secs(40),
            || async {
                let text = self.text(css).await;
                if text.contains(needle) {
                    Ok(text)
                } else {
                    Err(text)
                }
            },
        )
        .await
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_element(css).await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.wait_element(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// Runs `script` in the page and waits for it to call its last argument
    /// (WebDriver's asynchronous script); what it passed.
    pub async fn eval_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": [] }))
            .await
    }

    /// A Chrome DevTools command through chromedriver (`goog/cdp/execute`).
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let value = self
            .post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await;
        assert!(
            value.get("error").is_none(),
            "DevTools {cmd} failed: {value}"
        );
        value
    }

    /// The page's viewport as a device of `width` x `height` CSS pixels
    /// (a phone: `mobile`, with touch-style viewport handling).
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
        // A phone's layout viewport (innerWidth) widens to overflowing content:
        // there the device's screen says the override took (whether anything
        // overflows is the pages test's own check).
        let seen = if mobile {
            "return window.screen.width;"
        } else {
            "return window.innerWidth;"
        };
        let seen = self.eval(seen).await;
        assert_eq!(seen, json!(width), "the viewport is {width} px wide");
    }

    /// What the page sees as the system's colour scheme (`prefers-color-scheme`).
    pub async fn set_color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
    }

    /// Runs axe-core (`axe_js`, the text of axe.min.js) in the page; its
    /// violations of impact serious or critical, one line each.
    pub async fn axe_serious(&self, axe_js: &str) -> Vec<String> {
        // WebDriver's scripts are not subject to the page's CSP.
        self.eval(&format!("{axe_js}\n;return typeof window.axe;"))
            .await;
        let script = r#"
            const done = arguments[arguments.length - 1];
            window.axe.run(document).then(function (results) {
                done(results.violations
                    .filter(function (v) { return v.impact === "serious" || v.impact === "critical"; })
                    .map(function (v) {
                        return v.impact + " " + v.id + ": " + v.help + " at " +
                            v.nodes.slice(0, 4).map(function (n) { return n.target.join(" ") + " " + n.html.slice(0, 120); }).join(" | ");
                    }));
            }).catch(function (error) { done(["axe failed: " + error]); });
        "#;
        let value = self.eval_async(script).await;
        value
            .as_array()
            .unwrap_or_else(|| panic!("axe gave no list: {value}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Saves a PNG screenshot of the page as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let value = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64_decode(value.as_str().expect("a base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close the session (and Chromium) before chromedriver is killed.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                });
            }
        })
        .join();
    }
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

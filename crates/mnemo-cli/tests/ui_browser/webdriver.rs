//! A small W3C WebDriver client over `ureq`, enough to drive Debian's chromium through
//! `chromedriver`: sessions, navigation, elements, scripts, screenshots and the browser's
//! console log. Written here rather than pulled in (`fantoccini`/`thirtyfour` bring an async
//! HTTP stack) because the protocol is plain JSON over HTTP and the test client already
//! speaks that.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one headless chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the browser with `scripts/setup-browser.sh` when it is missing; fails loudly
/// (never skips) when that does not work.
fn ensure_browser() {
    if installed("chromium") && installed("chromedriver") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup-browser.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success() && installed("chromium") && installed("chromedriver"),
        "scripts/setup-browser.sh failed, so the web UI cannot be tested in a real browser \
         (needs apt-get and root, or chromium and chromedriver installed):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Browser {
    /// Starts chromedriver and a headless chromium window of `width`x`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        ensure_browser();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b.raw("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run",
                         format!("--window-size={width},{height}")]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let v = b.call("POST", "/session", Some(caps));
        let id = v["sessionId"].as_str().expect("a session id").to_owned();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        };
        let mut res = res.map_err(|e| e.to_string())?;
        let text = res.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if v["value"]["error"].is_string() {
            return Err(format!(
                "{}: {}",
                v["value"]["error"], v["value"]["message"]
            ));
        }
        Ok(v["value"].clone())
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Emulates `prefers-color-scheme: dark` (or light) through chromedriver's CDP bridge.
    pub fn color_scheme(&self, scheme: &str) {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{"name": "prefers-color-scheme", "value": scheme}]}})),
        );
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.raw(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            ) {
                Ok(v) => match v[ELEMENT].as_str() {
                    Some(id) => return id.to_owned(),
                    None => last = format!("unexpected answer {v}"),
                },
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no element {css}: {last}");
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/click"), None);
    }

    /// Clears a field and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/clear"), None);
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.call("GET", &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page and returns its value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits up to `secs` for the text of `css` to contain `want`; returns that text.
    pub fn wait_text(&self, css: &str, want: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self
                .exec(
                    "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                    json!([css]),
                )
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if t.contains(want) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {want:?}; it shows {t:?}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Console messages logged since the last call (chromedriver's `browser` log).
    pub fn console(&self) -> Vec<Value> {
        self.call("POST", "/se/log", Some(json!({"type": "browser"})))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.raw("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromium_binary() -> String {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return p.to_owned();
        }
    }
    "chromium".to_owned()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let take = data.len().saturating_sub(1);
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

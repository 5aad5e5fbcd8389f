//! A real `mnemo serve` process on a free port, and a small HTTP client for it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::Value;

use super::Mnemo;

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    agent: ureq::Agent,
}

impl Server {
    /// Starts `mnemo serve --listen 127.0.0.1:0 EXTRA...` and waits for its start-up line.
    pub fn start(m: &Mnemo, extra: &[&str]) -> Server {
        Self::start_with(m, extra, &[])
    }

    /// The same with extra environment variables (a model to use, ...).
    pub fn start_with(m: &Mnemo, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = m
            .cmd(&args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("MNEMO_TEST_SERVER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no start-up line: {line:?}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            child,
            url: format!("http://{url}"),
            agent,
        }
    }

    /// Sends a request; returns the status and the body parsed as JSON (Null if not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, text) = self.call_text(method, path, key, &[], body);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The same with extra headers, returning the raw text.
    pub fn call_text(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.url);
        let auth = key.map(|k| format!("Bearer {k}"));
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r
            }};
        }
        let res = match method {
            "GET" => with_headers!(self.agent.get(&url)).call(),
            "DELETE" => with_headers!(self.agent.delete(&url)).call(),
            "POST" | "PATCH" => {
                let req = if method == "POST" {
                    self.agent.post(&url)
                } else {
                    self.agent.patch(&url)
                };
                // A body the handler does not read would make the server close the
                // connection, so requests without one send none.
                match body {
                    Some(b) => with_headers!(req)
                        .header("Content-Type", "application/json")
                        .send(b.to_string()),
                    None => with_headers!(req).send_empty(),
                }
            }
            _ => panic!("method {method}"),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// Load for backup tests: records one user turn after another in session `c{client}`
    /// until `writing` is cleared, noting each acknowledged text with when it was.
    pub fn write_turns(
        &self,
        key: &str,
        client: usize,
        writing: &std::sync::atomic::AtomicBool,
        acked: &std::sync::Mutex<Vec<(std::time::Instant, String)>>,
    ) {
        let mut i = 0;
        while writing.load(std::sync::atomic::Ordering::SeqCst) {
            let text = format!("client {client} writes line {i}");
            let body = serde_json::json!({ "session_id": format!("c{client}"), "turns": [
                { "role": "user", "content": text }
            ]});
            if self.call("POST", "/v1/turns", Some(key), Some(&body)).0 == 202 {
                acked
                    .lock()
                    .unwrap()
                    .push((std::time::Instant::now(), text));
            }
            i += 1;
        }
    }

    /// The text of a GET to any URL (another local server, such as the fake model's log).
    pub fn agent_get(&self, url: &str) -> String {
        let mut res = self.agent.get(url).call().unwrap();
        res.body_mut().read_to_string().unwrap()
    }

    /// A POST that may fail at the transport (the server is being killed): `None` then.
    pub fn try_post(&self, path: &str, key: &str, body: &Value) -> Option<(u16, Value)> {
        let mut res = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .ok()?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and waits for it.
    pub fn kill9(&self) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Sends SIGTERM and waits; returns whether the process exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a key with `mnemo keys create` and returns its text.
pub fn create_key(m: &Mnemo, user: &str, extra: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--user", user];
    args.extend_from_slice(extra);
    m.ok(&args).trim().to_owned()
}

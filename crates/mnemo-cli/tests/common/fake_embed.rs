//! A fake embedding server on 127.0.0.1 speaking OpenAI's `POST /v1/embeddings` and
//! Ollama's `POST /api/embed` wire formats, with deterministic bag-of-words vectors (texts
//! sharing words are close). It can be told to be down (it then closes every connection
//! unanswered, as a dead server behind a proxy does) and to come back; every request's path
//! is recorded so tests can assert which server was called.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// Vector length the fake returns.
pub const DIMS: usize = 16;

pub struct FakeEmbed {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    up: Arc<AtomicBool>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakeEmbed {
    /// A server that answers at once.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// A server that is down until [`FakeEmbed::set_up`].
    pub fn start_down() -> Self {
        Self::start_with(false)
    }

    fn start_with(up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(up));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (u, p) = (up.clone(), paths.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if !u.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let p = p.clone();
                std::thread::spawn(move || serve(stream, &p));
            }
        });
        FakeEmbed { url, up, paths }
    }

    /// Brings the server up (or down).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Paths of the requests answered so far.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

/// A port nothing listens on.
pub fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

fn vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIMS];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = w.to_lowercase().bytes().fold(2166136261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16777619)
        });
        v[(h as usize) % DIMS] += 1.0;
    }
    v[DIMS - 1] += 0.01;
    v
}

fn serve(stream: TcpStream, paths: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    paths.lock().unwrap().push(path.clone());
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let texts: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|t| t.as_str().unwrap_or("").to_string())
            .collect(),
        _ => Vec::new(),
    };
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector(t)).collect();
    let (status, payload) = if path.ends_with("/embeddings") {
        let data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        (
            "200 OK",
            json!({"object": "list", "data": data, "model": req["model"]}),
        )
    } else if path == "/api/embed" {
        (
            "200 OK",
            json!({"model": req["model"], "embeddings": vectors}),
        )
    } else {
        ("404 Not Found", json!({"error": "page not found"}))
    };
    let payload = payload.to_string();
    let mut s = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|_| s.write_all(payload.as_bytes()));
    let _ = s.flush();
}

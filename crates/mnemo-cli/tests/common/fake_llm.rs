//! A fake Ollama server on 127.0.0.1 speaking the real `/api/chat` wire format (NDJSON
//! chunks when streaming, one JSON object otherwise). Replies come from a closure that sees
//! each request body, so a test can script a whole conversation; every request is recorded
//! so tests can assert on what the model was actually sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

type Responder = dyn Fn(&Value) -> Reply + Send + Sync;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal reply (streamed when asked to stream).
    Text(String),
    /// Streams this text, then drops the connection without the final chunk.
    Broken(String),
    /// Streams this text and ends it with `done_reason: "length"` (the output limit).
    Cut(String),
    /// An HTTP error status with Ollama's `{"error": ...}` body.
    Status(u16, String),
}

pub struct FakeOllama {
    pub url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeOllama {
    pub fn start(reply: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        Self::start_paced(Duration::ZERO, reply)
    }

    /// Like `start`, but streamed pieces are sent `pace` apart (to test cancelling).
    pub fn start_paced(
        pace: Duration,
        reply: impl Fn(&Value) -> String + Send + Sync + 'static,
    ) -> Self {
        Self::start_replies(pace, move |req| Reply::Text(reply(req)))
    }

    /// A server that can also misbehave: break a stream, cut a reply, return an error.
    pub fn start_replies(
        pace: Duration,
        reply: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let reply: Arc<Responder> = Arc::new(reply);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (recorded, reply) = (recorded.clone(), reply.clone());
                std::thread::spawn(move || serve(stream, &recorded, reply.as_ref(), pace));
            }
        });
        FakeOllama { url, requests }
    }

    /// Bodies of the requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// Chat requests (streamed), leaving out the memory pipeline's requests.
    pub fn chat_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["stream"] == true)
            .collect()
    }

    /// The system prompts of every chat request received.
    pub fn system_prompts(&self) -> Vec<String> {
        self.chat_requests()
            .iter()
            .filter_map(|r| r["messages"][0]["content"].as_str().map(String::from))
            .collect()
    }
}

/// The last user message of a request.
pub fn last_user_message(req: &Value) -> String {
    req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<Value>>, reply: &Responder, pace: Duration) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
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
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    recorded.lock().unwrap().push(req.clone());
    let (text, done_reason, broken) = match reply(&req) {
        Reply::Text(t) => (t, "stop", false),
        Reply::Cut(t) => (t, "length", false),
        Reply::Broken(t) => (t, "stop", true),
        Reply::Status(code, message) => {
            let body = json!({ "error": message }).to_string();
            let head = format!("HTTP/1.1 {code} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let mut s = stream;
            let _ = s
                .write_all(head.as_bytes())
                .and_then(|_| s.write_all(body.as_bytes()));
            return;
        }
    };
    let model = req["model"].as_str().unwrap_or("fake").to_string();
    let payload = if req["stream"] == true {
        let mut out = String::new();
        for piece in pieces(&text) {
            out.push_str(&json!({"model": model, "message": {"role": "assistant", "content": piece}, "done": false}).to_string());
            out.push('\n');
        }
        if !broken {
            out.push_str(&json!({"model": model, "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": done_reason, "prompt_eval_count": 42, "eval_count": 7}).to_string());
            out.push('\n');
        }
        out
    } else {
        json!({"model": model, "message": {"role": "assistant", "content": text}, "done": true, "done_reason": done_reason, "prompt_eval_count": 42, "eval_count": 7}).to_string()
    };
    let ctype = if req["stream"] == true {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let mut s = stream;
    if (pace.is_zero() && !broken) || req["stream"] != true {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len());
        let _ = s
            .write_all(head.as_bytes())
            .and_then(|_| s.write_all(payload.as_bytes()));
        let _ = s.flush();
        return;
    }
    // Chunked transfer, one NDJSON line per chunk, `pace` apart.
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(head.as_bytes());
    for line in payload.split_inclusive('\n') {
        let chunk = format!("{:x}\r\n{line}\r\n", line.len());
        if s.write_all(chunk.as_bytes())
            .and_then(|_| s.flush())
            .is_err()
        {
            return;
        }
        std::thread::sleep(pace);
    }
    if broken {
        // The connection goes away mid-reply: no final chunk, no terminating chunk.
        let _ = s.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let _ = s.flush();
}

/// Splits a reply into small pieces, as a model streams tokens.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(5).map(|c| c.iter().collect()).collect()
}

/// Replies for the memory pipeline's requests (extraction, reconciliation, topic and session
/// summaries); `None` for a chat request. `summary` is what a session summary says.
pub fn pipeline_reply(req: &Value, summary: &str) -> Option<String> {
    let all_text = req["messages"].to_string();
    if req.get("format").is_some_and(|f| !f.is_null()) {
        if all_text.contains("ADD") && all_text.contains("NOOP") {
            return Some(r#"{"event": "ADD", "id": null, "text": "", "reason": "new"}"#.into());
        }
        return Some(r#"{"memories": []}"#.into());
    }
    if all_text.contains("Summarize this part of a conversation") {
        return Some(summary.into());
    }
    if all_text.to_lowercase().contains("topic") && req["stream"] != true {
        return Some("Topic summary.".into());
    }
    None
}

//! A scripted HTTP/1.1 server on 127.0.0.1:0 for the wire tests. It answers one request
//! per connection with the next scripted reply, records what it received, and can stream
//! a body in chunks with pauses (so lines arrive split across reads), stall, or hang up
//! mid-body. The real provider clients talk to it over real sockets.
//!
//! Two modes: [`FakeServer::start`] replays a fixed script, one reply per connection;
//! [`FakeServer::respond_with`] computes each reply from the request, for tests that
//! script a whole conversation (the pipeline asks for extraction, reconciliation and
//! summaries in an order that depends on the data).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the body goes out.
#[derive(Debug, Clone)]
pub enum Body {
    /// With a content-length.
    Full(String),
    /// Chunked transfer encoding, one piece per chunk with a pause after each.
    Chunked {
        pieces: Vec<String>,
        pause: Duration,
        /// Close the connection without the final empty chunk.
        abort: bool,
        /// Keep the connection open this long after the last piece, before ending.
        hold: Duration,
    },
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Wait this long before answering at all (timeout tests).
    pub stall: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(body.to_string()),
            stall: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Body::Full(body.into()),
            stall: Duration::ZERO,
        }
    }

    /// A streamed body cut into `piece_len`-byte pieces, so lines split mid-way.
    pub fn stream(content_type: &str, text: &str, piece_len: usize) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: Body::Chunked {
                pieces: split(text, piece_len),
                pause: Duration::from_millis(2),
                abort: false,
                hold: Duration::ZERO,
            },
            stall: Duration::ZERO,
        }
    }

    /// A streamed body sent as the given pieces.
    pub fn stream_pieces(content_type: &str, pieces: Vec<String>, pause: Duration) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: Body::Chunked {
                pieces,
                pause,
                abort: false,
                hold: Duration::ZERO,
            },
            stall: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn stalled(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// For chunked bodies: hang up after the pieces instead of ending properly.
    pub fn aborted(mut self) -> Self {
        if let Body::Chunked { abort, .. } = &mut self.body {
            *abort = true;
        }
        self
    }

    /// For chunked bodies: keep the connection open after the pieces.
    pub fn held(mut self, d: Duration) -> Self {
        if let Body::Chunked { hold, .. } = &mut self.body {
            *hold = d;
        }
        self
    }
}

/// Splits at char boundaries into pieces of about `len` bytes.
pub fn split(text: &str, len: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if current.len() >= len {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The running server.
pub struct FakeServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    /// Starts a server that answers with `script`, in order, one reply per connection,
    /// and stops listening once the last connection is accepted.
    pub fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for reply in script {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                // One thread per connection, so a stalled reply does not hold up the next.
                let seen = Arc::clone(&seen);
                thread::spawn(move || serve(stream, &reply, &seen));
            }
        });
        FakeServer { url, requests }
    }

    /// Starts a server that answers every request with `handler(request)`, for as long
    /// as the test process runs.
    pub fn respond_with(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = Arc::clone(&seen);
                let handler = Arc::clone(&handler);
                thread::spawn(move || serve_with(stream, handler.as_ref(), &seen));
            }
        });
        FakeServer { url, requests }
    }

    /// What was received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    /// The only request received (panics unless there was exactly one).
    pub fn single(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected one request, got {all:#?}");
        all.into_iter().next().expect("one")
    }
}

/// A URL where nothing listens.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

fn serve(stream: TcpStream, reply: &Reply, seen: &Mutex<Vec<Recorded>>) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    if let Some(request) = read_request(&mut reader) {
        seen.lock().expect("lock").push(request);
    }
    thread::sleep(reply.stall);
    let _ = respond(stream, reply);
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

fn serve_with(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Recorded>>) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let reply = handler(&request);
    seen.lock().expect("lock").push(request);
    thread::sleep(reply.stall);
    let _ = respond(stream, &reply);
}

fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let (name, value) = text.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(reader)?
    } else {
        let len: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf).ok()?;
        buf
    };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk).ok()?;
        if n == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn respond(mut stream: TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nconnection: close\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match &reply.body {
        Body::Full(text) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", text.len()));
            stream.write_all(head.as_bytes())?;
            stream.write_all(text.as_bytes())?;
        }
        Body::Chunked {
            pieces,
            pause,
            abort,
            hold,
        } => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes())?;
            stream.flush()?;
            for piece in pieces {
                write!(stream, "{:x}\r\n{piece}\r\n", piece.len())?;
                stream.flush()?;
                thread::sleep(*pause);
            }
            thread::sleep(*hold);
            if !abort {
                stream.write_all(b"0\r\n\r\n")?;
            }
        }
    }
    stream.flush()
}

//! The HTTP embedders against a fake server on 127.0.0.1 that speaks Ollama's and OpenAI's
//! JSON and records every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mnemo_embed::{
    dot, EmbedError, Embedder, OllamaConfig, OllamaEmbedder, OpenAiConfig, OpenAiEmbedder,
};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn inputs(&self) -> Vec<String> {
        self.body["input"]
            .as_array()
            .expect("input is a list")
            .iter()
            .map(|v| v.as_str().expect("string input").to_string())
            .collect()
    }
}

type Responder = dyn Fn(&Recorded) -> (u16, String) + Send + Sync;

struct FakeServer {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeServer {
    fn start(responder: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let responder: Arc<Responder> = Arc::new(responder);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, responder) = (Arc::clone(&log), Arc::clone(&responder));
                std::thread::spawn(move || handle(stream, &log, &*responder));
            }
        });
        FakeServer { base, requests }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn handle(stream: TcpStream, log: &Mutex<Vec<Recorded>>, responder: &Responder) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let rec = Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    log.lock().unwrap().push(rec.clone());
    let (status, text) = responder(&rec);
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// A deterministic, unnormalised 3-d "embedding" that encodes the text's length.
fn fake_vector(text: &str) -> Vec<f32> {
    vec![text.len() as f32, 1.0, 2.0]
}

fn ollama_responder(r: &Recorded) -> (u16, String) {
    let model = r.body["model"].as_str().unwrap_or("");
    if model != "nomic-embed-text" {
        let msg = format!("model \"{model}\" not found, try pulling it first");
        return (404, json!({ "error": msg }).to_string());
    }
    let embeddings: Vec<Vec<f32>> = r.inputs().iter().map(|t| fake_vector(t)).collect();
    (
        200,
        json!({ "model": model, "embeddings": embeddings }).to_string(),
    )
}

fn openai_responder(r: &Recorded) -> (u16, String) {
    if r.header("authorization") != Some("Bearer sk-test") {
        let err = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
        return (401, err.to_string());
    }
    let model = r.body["model"].as_str().unwrap_or("");
    if model != "text-embedding-3-small" {
        let err = json!({"error": {"message": format!("The model `{model}` does not exist"), "code": "model_not_found"}});
        return (404, err.to_string());
    }
    // Answer in reverse order: the client must use `index`.
    let data: Vec<Value> = r
        .inputs()
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t)}))
        .collect();
    let body = json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 3, "total_tokens": 3}});
    (200, body.to_string())
}

fn ollama(base: &str, model: &str, batch: usize) -> Result<OllamaEmbedder, EmbedError> {
    let mut c = OllamaConfig::new(model);
    c.host = base.to_string();
    c.batch_size = batch;
    c.timeout = Duration::from_secs(5);
    OllamaEmbedder::new(c)
}

fn openai(base: &str, key: Option<&str>, model: &str) -> Result<OpenAiEmbedder, EmbedError> {
    let mut c = OpenAiConfig::new(model);
    c.base_url = format!("{base}/v1/");
    c.api_key = key.map(str::to_string);
    c.batch_size = 2;
    c.timeout = Duration::from_secs(5);
    OpenAiEmbedder::new(c)
}

fn assert_outputs(texts: &[&str], vectors: &[Vec<f32>]) {
    assert_eq!(vectors.len(), texts.len());
    for (t, v) in texts.iter().zip(vectors) {
        let want = fake_vector(t);
        let norm = dot(&want, &want).sqrt();
        assert!((dot(v, v) - 1.0).abs() < 1e-5, "normalised");
        assert!((v[0] - want[0] / norm).abs() < 1e-6, "{t}: in order");
    }
}

#[test]
fn ollama_request_shape_batching_and_output() {
    let server = FakeServer::start(ollama_responder);
    let emb = ollama(&server.base, "nomic-embed-text", 2).unwrap();
    assert_eq!(emb.model_id(), "ollama:nomic-embed-text");
    assert_eq!(emb.dims(), 3, "learned from the probe");
    let texts = ["a", "bb", "ccc", "dddd", "eeeee"];
    let out = emb.embed(&texts).unwrap();
    assert_outputs(&texts, &out);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "one probe + 3 batches of at most 2");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/embed");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("authorization").is_none());
        assert_eq!(r.body["model"], "nomic-embed-text");
        assert_eq!(r.body.as_object().unwrap().len(), 2, "only model and input");
    }
    let batches: Vec<Vec<String>> = reqs[1..].iter().map(Recorded::inputs).collect();
    assert_eq!(
        batches,
        [vec!["a", "bb"], vec!["ccc", "dddd"], vec!["eeeee"]]
    );
    assert!(emb.embed(&[]).unwrap().is_empty());
    assert_eq!(server.requests().len(), 4, "no request for no texts");
}

#[test]
fn ollama_unknown_model_says_to_pull_it() {
    let server = FakeServer::start(ollama_responder);
    let err = ollama(&server.base, "mxbai-embed-large", 8).unwrap_err();
    assert!(matches!(err, EmbedError::UnknownModel { .. }), "{err:?}");
    assert!(
        err.to_string().contains("ollama pull mxbai-embed-large"),
        "{err}"
    );
}

#[test]
fn ollama_server_errors_carry_the_message() {
    let server = FakeServer::start(|_| (500, json!({"error": "out of memory"}).to_string()));
    let err = ollama(&server.base, "nomic-embed-text", 8).unwrap_err();
    assert!(
        matches!(err, EmbedError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("out of memory"), "{err}");
    // A 404 from something that is not Ollama is not "unknown model".
    let server = FakeServer::start(|_| (404, "404 page not found".to_string()));
    let err = ollama(&server.base, "nomic-embed-text", 8).unwrap_err();
    assert!(
        matches!(err, EmbedError::Http { status: 404, .. }),
        "{err:?}"
    );
}

#[test]
fn connection_refused_names_the_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let err = ollama(&format!("127.0.0.1:{port}"), "nomic-embed-text", 8).unwrap_err();
    assert!(matches!(err, EmbedError::Unreachable { .. }), "{err:?}");
    let want = format!("http://127.0.0.1:{port}/api/embed");
    assert!(err.to_string().contains(&want), "{err}");

    let err = openai(&format!("http://127.0.0.1:{port}"), Some("k"), "m").unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{port}/v1/embeddings")),
        "{err}"
    );
}

#[test]
fn timeout_is_reported_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().take(1).flatten().collect();
        std::thread::sleep(Duration::from_secs(5));
        drop(held);
    });
    let mut c = OllamaConfig::new("nomic-embed-text");
    c.host = base;
    c.timeout = Duration::from_millis(300);
    let err = OllamaEmbedder::new(c).unwrap_err();
    assert!(matches!(err, EmbedError::Timeout { .. }), "{err:?}");
}

#[test]
fn openai_request_shape_order_and_batching() {
    let server = FakeServer::start(openai_responder);
    let emb = openai(&server.base, Some("sk-test"), "text-embedding-3-small").unwrap();
    assert_eq!(emb.model_id(), "openai:text-embedding-3-small");
    assert_eq!(emb.dims(), 3);
    let texts = ["one", "three", "five5"];
    let out = emb.embed(&texts).unwrap();
    assert_outputs(&texts, &out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "probe + batches of 2 and 1");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/embeddings");
        assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(r.body["model"], "text-embedding-3-small");
    }
    assert_eq!(reqs[1].inputs(), ["one", "three"]);
    assert_eq!(reqs[2].inputs(), ["five5"]);
}

#[test]
fn openai_auth_and_model_errors_say_what_to_do() {
    let server = FakeServer::start(openai_responder);
    let err = openai(&server.base, None, "text-embedding-3-small").unwrap_err();
    assert!(
        matches!(err, EmbedError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("set OPENAI_API_KEY"), "{err}");

    let err = openai(&server.base, Some("sk-wrong"), "text-embedding-3-small").unwrap_err();
    assert!(err.to_string().contains("check OPENAI_API_KEY"), "{err}");
    assert!(err.to_string().contains("incorrect api key"), "{err}");

    let err = openai(&server.base, Some("sk-test"), "text-embedding-9").unwrap_err();
    assert!(matches!(err, EmbedError::UnknownModel { .. }), "{err:?}");
    assert!(err.to_string().contains("text-embedding-9"), "{err}");
}

#[test]
fn wrong_dimensions_and_bad_json_are_caught() {
    let server = FakeServer::start(ollama_responder);
    let mut c = OllamaConfig::new("nomic-embed-text");
    c.host = server.base.clone();
    c.dims = Some(768);
    let emb = OllamaEmbedder::new(c).unwrap();
    assert!(server.requests().is_empty(), "known dims: no probe");
    let err = emb.embed(&["x"]).unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::DimensionMismatch {
                expected: 768,
                got: 3,
                ..
            }
        ),
        "{err:?}"
    );

    let server = FakeServer::start(|_| (200, r#"{"embedding": [1, 2]}"#.to_string()));
    let err = ollama(&server.base, "nomic-embed-text", 8).unwrap_err();
    assert!(matches!(err, EmbedError::BadResponse { .. }), "{err:?}");

    let server = FakeServer::start(|_| (200, json!({"embeddings": []}).to_string()));
    let err = ollama(&server.base, "nomic-embed-text", 8).unwrap_err();
    assert!(
        err.to_string().contains("sent 1 texts, got 0 vectors"),
        "{err}"
    );
}

#[test]
fn bad_configuration_is_rejected_before_any_request() {
    let mut c = OllamaConfig::new("nomic-embed-text");
    c.batch_size = 0;
    assert!(matches!(OllamaEmbedder::new(c), Err(EmbedError::Config(_))));
    let c = OpenAiConfig::new("  ");
    assert!(matches!(OpenAiEmbedder::new(c), Err(EmbedError::Config(_))));
}

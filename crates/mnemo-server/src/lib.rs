//! mnemo's HTTP face: a multi-tenant REST API over the engine's tools layer
//! ([`mnemo_engine::tools`]), with API keys, Prometheus metrics, an OpenAPI 3.1 document
//! generated from the tools' own types, and a readable API reference page.
//!
//! The engine is synchronous; every handler runs its tool call under
//! [`tokio::task::spawn_blocking`], bounded by the request timeout. Each handler is a few
//! lines: authenticate (a [`Caller`](mnemo_engine::tools::Caller) from the key), parse,
//! call one tool, render. Errors become RFC 9457 `application/problem+json` in one place
//! ([`error`]). [`serve`] takes a bound listener, so tests start it on port 0.

pub mod auth;
mod docs;
pub mod error;
mod limits;
pub mod mcp;
mod metrics;
mod middleware;
pub mod openapi;
mod ops;
pub mod proxy;
mod rest;
mod settings;
mod ui;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mnemo_engine::Engine;
use tokio::net::TcpListener;

pub use auth::{AuthMode, NewKey};
pub use settings::ServerSettings;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<AuthMode>,
    pub settings: Arc<ServerSettings>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// USD per million tokens `[input, output]` by model name (`[pricing]`), for the web
    /// UI's cost figures; empty: no costs shown.
    pub pricing: Arc<BTreeMap<String, [f64; 2]>>,
    /// The model server the OpenAI-compatible proxy forwards to ([`AppState::with_upstream`]).
    pub upstream: Option<Arc<proxy::Upstream>>,
    /// Per-key rate and concurrency limits.
    pub(crate) limiter: Arc<limits::Limiter>,
}

impl AppState {
    /// State for a server over `engine`, authenticating with `auth`.
    pub fn new(engine: Engine, auth: AuthMode, settings: ServerSettings) -> Self {
        AppState {
            engine,
            auth: Arc::new(auth),
            limiter: Arc::new(limits::Limiter::new(&settings)),
            settings: Arc::new(settings),
            metrics: Arc::default(),
            pricing: Arc::default(),
            upstream: None,
        }
    }

    /// The same state with model prices (`[pricing]` of the config).
    pub fn with_pricing(mut self, pricing: BTreeMap<String, [f64; 2]>) -> Self {
        self.pricing = Arc::new(pricing);
        self
    }

    /// Serves the OpenAI-compatible proxy, forwarding to `upstream`.
    pub fn with_upstream(mut self, upstream: proxy::Upstream) -> Self {
        self.upstream = Some(Arc::new(upstream));
        self
    }

    /// The request timeout.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.request_timeout_secs.max(1))
    }
}

/// Every route: the registry's operations, health, metrics, the OpenAPI document and its
/// page, the UI, MCP and the proxy, each recorded as it is added.
fn routes(state: &AppState) -> rest::Routes {
    let r = rest::routes(rest::Routes::new());
    let r = proxy::routes(ui::routes(docs::routes(r)));
    r.merge(mcp::routes(state), &[("post", "/mcp")])
}

/// The whole application: `/v1` REST, health, metrics, the OpenAPI document and its page.
pub fn app(state: AppState) -> Router {
    let limit = state.settings.body_limit_bytes;
    rest::fallbacks(routes(&state).router)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::admit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight finish, and returns. Queued pipeline jobs stay queued in the
/// database for the next start. Batched recall accesses
/// ([`Engine::with_batched_touches`]) are written every second and once more at the end.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small writes (SSE events of the proxy, short JSON answers) go out at once instead of
    // waiting for the peer's delayed ACK (Nagle), which costs ~40 ms per exchange.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let engine = state.engine.clone();
    let flusher = tokio::spawn(flush_touches_every_second(engine.clone()));
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    flusher.abort();
    let _ = tokio::task::spawn_blocking(move || engine.flush_touches()).await;
    served
}

async fn flush_touches_every_second(engine: Engine) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let e = engine.clone();
        if let Ok(Err(err)) = tokio::task::spawn_blocking(move || e.flush_touches()).await {
            tracing::warn!(error = %err, "writing recall accesses failed; retried next second");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AppState {
        let store = mnemo_store_sqlite::SqliteStore::open_in_memory().unwrap();
        let engine = Engine::new(
            Arc::new(store),
            mnemo_engine::EngineSettings::default(),
            Arc::new(mnemo_core::SystemClock),
        );
        let open = AuthMode::Open {
            default_user: "alex".into(),
        };
        AppState::new(engine, open, ServerSettings::default())
    }

    /// Every route the router serves is an operation of `/openapi.json`, and every
    /// operation of the document is a route the router serves.
    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let mut served: Vec<(String, String)> = routes(&state())
            .served
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        served.sort();
        let doc = openapi::document();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        documented.sort();
        assert_eq!(served, documented);
        assert!(served.contains(&("post".into(), "/v1/chat/completions".into())));
        assert!(served.contains(&("post".into(), "/mcp".into())));
        assert!(!served.iter().any(|(_, p)| p.starts_with("/ui/api")));
    }

    /// A former path answers as its successor does, and says that it is deprecated.
    #[tokio::test]
    async fn a_former_path_answers_with_a_deprecation_header() {
        use tower::ServiceExt;
        let request = |path: &str| {
            axum::http::Request::post(path)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    r#"{"session_id": "s", "messages": [{"role": "user", "content": "hi"}]}"#,
                ))
                .unwrap()
        };
        let app = app(state());
        let old = app.clone().oneshot(request("/v1/messages")).await.unwrap();
        assert_eq!(old.status(), 202);
        assert_eq!(old.headers()["deprecation"], "true");
        assert_eq!(
            old.headers()["link"],
            "</v1/turns>; rel=\"successor-version\""
        );
        let new = app.oneshot(request("/v1/turns")).await.unwrap();
        assert_eq!(new.status(), 202);
        assert!(new.headers().get("deprecation").is_none());
    }

    /// Each MCP tool is an operation of the document, under the same name.
    #[test]
    fn every_mcp_tool_is_an_operation_of_the_document() {
        let doc = openapi::document();
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|m| m.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let tools = mcp::tool_names();
        assert!(tools.len() >= 10, "{tools:?}");
        for name in tools {
            assert!(
                ids.contains(&name.as_str()),
                "MCP tool {name} is no operation"
            );
        }
    }
}

//! The web UI at `/`: one static page (HTML, CSS and plain JavaScript, no build step, no
//! framework) compiled into the binary with `include_str!`, that calls the `/v1` REST API
//! with the API key the person signs in with (kept in `sessionStorage`).
//!
//! Why a static single page rather than server-rendered pages: every operation already
//! exists as a typed JSON endpoint, so the page is a thin view over the same API that other
//! clients use (nothing the UI can do that a client cannot); it needs no template engine
//! and no JavaScript toolchain, so `cargo build` alone builds it on a fresh machine; and it
//! works offline — nothing is fetched from anywhere but this server.
//!
//! Everything the page calls is an operation of `/v1` in the OpenAPI document, like any
//! client's: who the key is (`/v1/me`), key management for admin keys (`/v1/keys`), usage
//! by day in one request (`/v1/usage?group=day`), and the streaming chat over the
//! configured model (`/v1/chat`, [`chat`]).

mod chat;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::rest::Routes;
pub(crate) use chat::ChatIn;

const INDEX: &str = include_str!("../../assets/ui/index.html");
const APP_JS: &str = include_str!("../../assets/ui/app.js");
const APP_CSS: &str = include_str!("../../assets/ui/app.css");

/// The page, its assets, and the chat stream.
pub(crate) fn routes(r: Routes) -> Routes {
    r.add("get", "/", get(index))
        .add("get", "/ui", get(index))
        .add("get", "/ui/app.js", get(app_js))
        .add("get", "/ui/app.css", get(app_css))
        .add("post", "/v1/chat", post(chat::chat))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    let mut res = asset("text/html; charset=utf-8", INDEX);
    // Only this server's own script and style; no inline script, no third party.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

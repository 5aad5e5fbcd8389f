//! mnemo as an MCP (Model Context Protocol) server, so MCP clients (coding assistants,
//! desktop chat apps, agent frameworks) get memory tools without code.
//!
//! One handler, [`MnemoMcp`], serves two transports with the `rmcp` crate:
//! - stdio for one user ([`serve_stdio`], the `mnemo mcp` command): the caller is fixed
//!   when the process starts;
//! - streamable HTTP at `/mcp` of `mnemo serve` ([`routes`]): each request is
//!   authenticated by the same API keys as the REST API (one tenant per key) before rmcp
//!   sees it, and the handler reads the [`Caller`] the key resolved to from the request.
//!   The HTTP face runs stateless (no MCP session to hijack; every POST carries its key)
//!   and answers plain JSON.
//!
//! Tools are the engine's tools layer ([`tools`]); memories and session summaries are also
//! resources, and the `memory_context` prompt injects the user's memory context
//! ([`resources`]). Engine calls are synchronous and run under `spawn_blocking`.

mod resources;
mod tools;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use mnemo_engine::tools::{Caller, ErrorKind, ToolError};
use mnemo_engine::Engine;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};

use crate::auth::Authed;
use crate::{AppState, AuthMode};

/// What the server tells a client about itself at initialisation.
const INSTRUCTIONS: &str = "mnemo is the user's long-term memory. Before answering anything that may \
depend on earlier conversations, call get_context (or search_memories) with the user's message. When \
the user states a lasting fact, preference, plan or decision, store it with add_memory; when they \
correct one, update_memory; when they ask you to forget, forget_memory. Record the conversation with \
record_messages so mnemo can learn from it in the background.";

/// The MCP handler. Its caller is fixed (stdio) or comes with each HTTP request.
#[derive(Clone)]
pub struct MnemoMcp {
    engine: Engine,
    fixed: Option<Caller>,
}

impl MnemoMcp {
    /// A handler that acts for `caller` on every call (stdio: one user per process).
    pub fn for_caller(engine: Engine, caller: Caller) -> Self {
        MnemoMcp {
            engine,
            fixed: Some(caller),
        }
    }

    /// A handler that acts for the caller each HTTP request was authenticated as.
    fn per_request(engine: Engine) -> Self {
        MnemoMcp {
            engine,
            fixed: None,
        }
    }

    /// Who this request acts for.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
        if let Some(c) = &self.fixed {
            return Ok(c.clone());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| McpError::internal_error("the request was not authenticated", None))
    }

    /// Runs `f` with the engine and the caller off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        ctx: &RequestContext<RoleServer>,
        f: impl FnOnce(&Engine, &Caller) -> T + Send + 'static,
    ) -> Result<T, McpError> {
        let caller = self.caller(ctx)?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine, &caller))
            .await
            .map_err(|e| McpError::internal_error(format!("the call failed: {e}"), None))
    }
}

impl ServerHandler for MnemoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("mnemo", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let tool = name.clone();
        let result = self
            .blocking(&ctx, move |e, c| tools::call(e, c, &tool, args))
            .await?;
        match result {
            Ok(value) => {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                r.structured_content = Some(value);
                Ok(r.into())
            }
            Err(tools::CallError::UnknownTool(n)) => Err(McpError::invalid_params(
                format!("no tool named `{n}`; list the tools with tools/list"),
                None,
            )),
            Err(tools::CallError::BadArguments(msg)) => {
                Ok(tool_error("invalid_arguments", &msg).into())
            }
            Err(tools::CallError::Api(e)) => {
                if e.status.is_server_error() {
                    tracing::error!(tool = %name, error = %e.detail, "MCP tool call failed");
                }
                Ok(tool_error(e.code, &api_hint(&e)).into())
            }
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let cursor = request.and_then(|r| r.cursor);
        self.blocking(&ctx, move |e, c| resources::list(e, c, cursor))
            .await?
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        self.blocking(&ctx, move |e, c| resources::read(e, c, &uri))
            .await?
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(resources::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.blocking(&ctx, move |e, c| resources::prompt(e, c, request))
            .await?
            .map(Into::into)
    }
}

/// A tool's failure as a result the model reads (`isError: true`), with its stable code.
fn tool_error(code: &str, message: &str) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("{code}: {message}"))]);
    r.structured_content = Some(serde_json::json!({"code": code, "message": message}));
    r
}

/// The tool error's message, with what a model can do about it.
fn hint(e: &ToolError) -> String {
    match e.kind {
        ErrorKind::NotFound => format!(
            "{}; find ids with search_memories, list_memories or list_sessions",
            e.message
        ),
        ErrorKind::Busy | ErrorKind::ModelUnavailable | ErrorKind::RateLimited => {
            format!("{}; try again in a moment", e.message)
        }
        ErrorKind::ModelMisconfigured => format!(
            "{}; the memory server's model settings need fixing by its operator",
            e.message
        ),
        _ => e.message.clone(),
    }
}

/// An operation's error message, with what a model can do about it.
fn api_hint(e: &crate::error::ApiError) -> String {
    use axum::http::StatusCode;
    match e.status {
        StatusCode::NOT_FOUND => format!(
            "{}; find ids with search_memories, list_memories or list_sessions",
            e.detail
        ),
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::BAD_GATEWAY
            if e.code != "model_auth" && e.code != "model_config" =>
        {
            format!("{}; try again in a moment", e.detail)
        }
        StatusCode::BAD_GATEWAY => format!(
            "{}; the memory server's model settings need fixing by its operator",
            e.detail
        ),
        _ => e.detail.clone(),
    }
}

/// A tool error as a JSON-RPC error (resources and prompts have no `isError` result).
pub(crate) fn rpc_error(e: ToolError) -> McpError {
    match e.kind {
        ErrorKind::NotFound => McpError::resource_not_found(hint(&e), None),
        ErrorKind::Invalid | ErrorKind::Conflict => McpError::invalid_params(e.message, None),
        _ => McpError::internal_error(e.message, None),
    }
}

/// The names of the tools listed to clients.
pub fn tool_names() -> Vec<String> {
    tools::list()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// Serves MCP over stdin/stdout until the client closes stdin. Nothing else may write to
/// stdout while this runs.
pub async fn serve_stdio(engine: Engine, caller: Caller) -> std::io::Result<()> {
    let running = MnemoMcp::for_caller(engine, caller)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

/// `/mcp`: MCP over streamable HTTP, behind the API keys.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(state.settings.body_limit_bytes);
    if matches!(state.auth.as_ref(), AuthMode::Keys(_)) {
        // Host checks guard unauthenticated loopback servers against DNS rebinding; with
        // keys, a page a browser was tricked into loading has no key to send.
        config = config.disable_allowed_hosts();
    }
    let engine = state.engine.clone();
    let service = StreamableHttpService::new(
        move || Ok(MnemoMcp::per_request(engine.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
}

/// Resolves the API key of an MCP request to its caller before rmcp handles it.
async fn authenticate(Authed(caller): Authed, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(caller);
    next.run(req).await
}

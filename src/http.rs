//! The HTTP surface: `/graphql` over GraphQL-over-HTTP (content negotiation, status codes),
//! GraphiQL with locally served assets, `/graphql/ws`, `/healthz`, `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::replica::Route;
use crate::domain::accounts::Origin;
use crate::error::AppError;
use crate::graphql;
use crate::public_cache;

/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Which media type the client wants the response in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Media {
    GraphqlResponse,
    Json,
}

fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let mut best: Option<(f32, Media)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let kind = match media.as_str() {
            GRAPHQL_RESPONSE => Media::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => Media::Json,
            _ => continue,
        };
        if q > 0.0
            && best.is_none_or(|(bq, bk)| {
                q > bq || (q == bq && kind == Media::GraphqlResponse && bk != kind)
            })
        {
            best = Some((q, kind));
        }
    }
    best.map(|(_, kind)| kind)
}

/// A JSON body `{"errors": [{message, extensions: {code}}]}` with `status`.
pub(crate) fn error_body(status: StatusCode, message: &str, code: &str) -> Response {
    errors_body(
        status,
        json!({ "message": message, "extensions": { "code": code } }),
    )
}

/// A JSON body of one GraphQL error, with `status`.
fn errors_body(status: StatusCode, error: serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json!({ "errors": [error] }).to_string(),
    )
        .into_response()
}

/// The body of a request refused before GraphQL ran, for an [`AppError`]: the same message
/// and `extensions` (its `code` and e.g. `retryAfterSeconds` of `UNAVAILABLE`) that the
/// error carries inside a GraphQL answer, so a client reads both the same way.
pub(crate) fn app_error_body(status: StatusCode, err: &AppError) -> Response {
    use async_graphql::ErrorExtensions;
    let error = err.extend();
    let mut response = errors_body(
        status,
        json!({ "message": error.message, "extensions": error.extensions }),
    );
    if let AppError::Unavailable(_) = err {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    response
}

/// The identity in the `Authorization` header: none is anonymous, a bad one is an error.
/// A token that verifies is still refused when its account was deactivated or its
/// session ended since ([`crate::auth::revocation`]); anonymous requests skip all of this.
pub(crate) async fn caller_from(state: &AppState, value: Option<&str>) -> Result<Caller, AppError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Caller::Anonymous);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "the Authorization header must be `Bearer <access token>`".to_owned(),
            )
        })?;
    let refused = || AppError::Unauthenticated("invalid or expired access token".to_owned());
    let identity = state
        .services
        .keys
        .verify(token.trim())
        .map_err(|_| refused())?;
    if state.services.revocations.admits(&identity).await? {
        Ok(Caller::Account(identity))
    } else {
        Err(refused())
    }
}

fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    if state.services.settings.trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return forwarded.to_owned();
    }
    peer.ip().to_string()
}

fn request_data(
    state: &AppState,
    caller: Caller,
    ip: String,
    route: Route,
    clock: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Data {
    let origin = Origin {
        ip,
        ip_limit: state.services.settings.ip_rate_limit,
    };
    let (caller, origin, route, loader) = graphql::request_data(caller, origin, route, clock);
    let mut data = Data::default();
    data.insert(caller);
    data.insert(origin);
    data.insert(route);
    data.insert(loader);
    data
}

/// Gives every operation of `batch` its request data, all on one `route`.
fn with_data(
    state: &AppState,
    batch: BatchRequest,
    caller: &Caller,
    ip: &str,
    route: &Route,
    clock: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> BatchRequest {
    let attach = |mut request: async_graphql::Request| {
        request.data = request_data(
            state,
            caller.clone(),
            ip.to_owned(),
            route.clone(),
            clock.clone(),
        );
        request
    };
    match batch {
        BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(attach).collect())
        }
    }
}

/// A copy of what the client sent (not the request data), to run again on the primary.
fn copy_batch(batch: &BatchRequest) -> BatchRequest {
    let copy = |r: &async_graphql::Request| {
        let mut copy = async_graphql::Request::new(r.query.clone()).variables(r.variables.clone());
        copy.operation_name.clone_from(&r.operation_name);
        copy.extensions = r.extensions.clone();
        copy.introspection_mode = r.introspection_mode;
        copy
    };
    match batch {
        BatchRequest::Single(request) => BatchRequest::Single(copy(request)),
        BatchRequest::Batch(requests) => BatchRequest::Batch(requests.iter().map(copy).collect()),
    }
}

/// How a request that read the replica failed, if it did: `Some(true)` when a database
/// could not be reached (`UNAVAILABLE`), `Some(false)` for an `INTERNAL` error (such as a
/// query the standby cancelled for a conflict with recovery), `None` otherwise.
fn replica_failure(response: &BatchResponse) -> Option<bool> {
    let code_of = |e: &async_graphql::ServerError| match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.clone()),
        _ => None,
    };
    let codes: Vec<String> = match response {
        BatchResponse::Single(r) => r.errors.iter().filter_map(code_of).collect(),
        BatchResponse::Batch(rs) => rs
            .iter()
            .flat_map(|r| r.errors.iter().filter_map(code_of))
            .collect(),
    };
    if codes.iter().any(|c| c == "UNAVAILABLE") {
        Some(true)
    } else if codes.iter().any(|c| c == "INTERNAL") {
        Some(false)
    } else {
        None
    }
}

/// True when every error happened before execution (the request itself is bad).
fn is_request_error(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|code| {
                matches!(
                    code,
                    async_graphql::Value::String(c)
                        if c == "GRAPHQL_PARSE_FAILED" || c == "GRAPHQL_VALIDATION_FAILED" || c == "QUERY_TOO_COMPLEX"
                )
            })
        })
}

/// The response for an answer written in `media`.
fn reply(media: Media, status: StatusCode, body: Bytes) -> Response {
    let content_type = match media {
        Media::GraphqlResponse => GRAPHQL_RESPONSE,
        Media::Json => "application/json",
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The status and body of an answer.
fn answer(media: Media, response: &BatchResponse) -> (StatusCode, Bytes) {
    let request_error = match response {
        BatchResponse::Single(r) => is_request_error(r),
        BatchResponse::Batch(rs) => !rs.is_empty() && rs.iter().all(is_request_error),
    };
    let status = if media == Media::GraphqlResponse && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let internal = || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(
                br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#,
            ),
        )
    };
    if !request_error {
        // The common case, written straight from the response.
        return match serde_json::to_vec(response) {
            Ok(body) => (status, Bytes::from(body)),
            Err(_) => internal(),
        };
    }
    let mut value = match serde_json::to_value(response) {
        Ok(value) => value,
        Err(_) => return internal(),
    };
    // A request that never executed has no `data` entry at all (GraphQL over HTTP).
    let strip = |v: &mut serde_json::Value| {
        if let Some(map) = v.as_object_mut()
            && map.get("data").is_some_and(serde_json::Value::is_null)
            && map.get("errors").is_some()
        {
            map.remove("data");
        }
    };
    match &mut value {
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        item => strip(item),
    }
    (status, Bytes::from(value.to_string()))
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: Media,
    mut batch: BatchRequest,
) -> Response {
    let caller = match caller_from(
        state,
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
    .await
    {
        Ok(caller) => caller,
        Err(err) => {
            let status = match (media, &err) {
                (Media::Json, _) => StatusCode::OK,
                (Media::GraphqlResponse, AppError::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
                (Media::GraphqlResponse, _) => StatusCode::SERVICE_UNAVAILABLE,
            };
            // An `INTERNAL` detail is logged by `app_error_body`, never sent.
            let mut response = app_error_body(status, &err);
            if media == Media::GraphqlResponse {
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(GRAPHQL_RESPONSE),
                );
            }
            return response;
        }
    };
    let ip = client_ip(state, headers, peer);
    let operation = match &mut batch {
        BatchRequest::Single(r) => operation_name(r),
        BatchRequest::Batch(_) => "batch".to_owned(),
    };
    let span = tracing::info_span!("graphql", operation = %operation);
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let label = if operation.is_empty() {
        "anonymous".to_owned()
    } else {
        operation
    };
    let route = Route::new(
        state.services.db.clone(),
        state.services.replica.clone(),
        matches!(caller, Caller::Anonymous),
    );
    // The public answer cache (see `crate::public_cache`): an anonymous single query may be
    // answered from memory, or its answer kept. Its snapshots are read on the server that
    // answers the query (the standby, when the route reads it).
    let query = match &mut batch {
        BatchRequest::Single(request) => {
            matches!(
                graphql::routing::operation_type(request),
                Some(OperationType::Query)
            )
        }
        BatchRequest::Batch(_) => false,
    };
    let public = match (&caller, &batch) {
        (Caller::Anonymous, BatchRequest::Single(request))
            if query
                && state.public_cache.enabled()
                && state.db.pg_pool.is_some()
                && request.extensions.is_empty() =>
        {
            Some(public_cache::Key {
                media: media as u8,
                query: request.query.clone(),
                operation_name: request.operation_name.clone(),
                variables: serde_json::to_string(&request.variables).unwrap_or_default(),
            })
        }
        _ => None,
    };
    let mut before = None;
    if let Some(key) = &public {
        let kept = state.public_cache.candidate(key);
        before = public_cache::snapshot(route.reads()).await;
        if let (Some((body, at)), Some(now)) = (kept, &before)
            && at == *now
        {
            drop(_entered);
            route.record();
            metrics::counter!("zouqin_public_cache_total", "outcome" => "hit").increment(1);
            metrics::histogram!("zouqin_graphql_seconds", "operation" => label.clone())
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("zouqin_graphql_requests_total", "operation" => label).increment(1);
            return reply(media, StatusCode::OK, body);
        }
    }
    let clock = public.as_ref().map(|_| public_cache::clock_flag());
    // Kept only while a replica is configured: a read-only request that met a dead standby
    // runs again, whole, on the primary ("degrade, never error").
    let again = route.may_use_replica().then(|| copy_batch(&batch));
    let batch = with_data(state, batch, &caller, &ip, &route, clock.clone());
    drop(_entered);
    let mut response = match &clock {
        Some(read) => {
            crate::domain::watching_clock(read.clone(), state.schema.execute_batch(batch)).await
        }
        None => state.schema.execute_batch(batch).await,
    };
    let mut fell_back = false;
    if route.used_replica()
        && !route.is_write()
        && let Some(unreachable) = replica_failure(&response)
        && let (Some(replica), Some(again)) = (route.replica(), again)
    {
        tracing::warn!(
            unreachable,
            "a request failed on the read replica; running it again on the primary"
        );
        // Unreachable: stop using it until the watcher finds it fresh. A cancelled query
        // (a conflict with recovery) says nothing about the next one.
        if unreachable {
            replica.mark_stale();
        }
        crate::db::replica::record_fallback();
        fell_back = true;
        let primary = Route::primary(state.services.db.clone());
        response = state
            .schema
            .execute_batch(with_data(state, again, &caller, &ip, &primary, None))
            .await;
    }
    route.record();
    metrics::histogram!("zouqin_graphql_seconds", "operation" => label.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("zouqin_graphql_requests_total", "operation" => label).increment(1);
    let (status, body) = answer(media, &response);
    if let (Some(key), Some(before), Some(read)) = (public, before, clock) {
        let clean = matches!(&response, BatchResponse::Single(r) if r.errors.is_empty());
        let kept = clean
            && !fell_back
            && status == StatusCode::OK
            && !public_cache::read_clock(&read)
            && public_cache::snapshot(route.reads()).await.as_deref() == Some(&*before);
        if kept {
            state.public_cache.store(key, body.clone(), before);
        }
        let outcome = if kept { "stored" } else { "passed" };
        metrics::counter!("zouqin_public_cache_total", "outcome" => outcome).increment(1);
    }
    reply(media, status, body)
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if media_type != "application/json" && media_type != GRAPHQL_RESPONSE {
        return error_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json",
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
    let Some(media) = negotiate(&headers) else {
        return error_body(
            StatusCode::NOT_ACCEPTABLE,
            "this server answers application/json or application/graphql-response+json",
            "NOT_ACCEPTABLE",
        );
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a GraphQL request: {e}"),
                "BAD_REQUEST",
            );
        }
    };
    let missing_query = match &batch {
        BatchRequest::Single(r) => r.query.trim().is_empty(),
        BatchRequest::Batch(rs) => rs.iter().any(|r| r.query.trim().is_empty()),
    };
    if missing_query {
        return error_body(
            StatusCode::BAD_REQUEST,
            "the request has no `query`",
            "BAD_REQUEST",
        );
    }
    if let BatchRequest::Batch(items) = &batch
        && (items.is_empty() || items.len() > MAX_BATCH)
    {
        return error_body(
            StatusCode::BAD_REQUEST,
            &format!("a batch holds 1 to {MAX_BATCH} operations"),
            "QUERY_TOO_COMPLEX",
        );
    }
    execute(&state, &headers, peer, media, batch).await
}

/// The operation's name for logs and metrics: as sent, else the document's only operation's.
/// The document is parsed here once and kept in the request, which the schema then executes
/// without parsing it again.
fn operation_name(request: &mut async_graphql::Request) -> String {
    if let Some(name) = &request.operation_name {
        return name.chars().take(64).collect();
    }
    request
        .parsed_query()
        .ok()
        .and_then(|doc| {
            let mut names = doc
                .operations
                .iter()
                .map(|(name, _)| name.map(|n| n.to_string()));
            match (names.next(), names.next()) {
                (Some(Some(name)), None) => Some(name),
                _ => None,
            }
        })
        .unwrap_or_default()
}

/// `GET /graphql`: GraphiQL for browsers, queries (never mutations) for everyone else.
pub async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let raw = raw.unwrap_or_default();
    if wants_html && !raw.contains("query=") {
        return graphiql();
    }
    let Some(media) = negotiate(&headers) else {
        return error_body(
            StatusCode::NOT_ACCEPTABLE,
            "unsupported Accept",
            "NOT_ACCEPTABLE",
        );
    };
    let mut request = match async_graphql::http::parse_query_string(&raw) {
        Ok(request) => request,
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                &format!("bad query string: {e}"),
                "BAD_REQUEST",
            );
        }
    };
    if request.query.trim().is_empty() {
        return error_body(
            StatusCode::BAD_REQUEST,
            "the `query` parameter is missing",
            "BAD_REQUEST",
        );
    }
    if matches!(
        graphql::routing::operation_type(&mut request),
        Some(OperationType::Mutation)
    ) {
        let mut response = error_body(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
            "METHOD_NOT_ALLOWED",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, peer, media, BatchRequest::Single(request)).await
}

/// `GET /graphql/ws`: subscriptions over `graphql-transport-ws` (and legacy `graphql-ws`).
/// The `connection_init` payload's `Authorization` is checked like the HTTP header; a bad
/// token closes the connection.
pub async fn graphql_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ip = client_ip(&state, &headers, peer);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let schema = state.schema.clone();
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let auth = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|k| payload.get(k).and_then(|v| v.as_str()).map(str::to_owned));
                    let caller = caller_from(&state, auth.as_deref())
                        .await
                        .map_err(|err| async_graphql::Error::new(err.message()))?;
                    // Subscriptions read the primary, like mutations.
                    let route = Route::primary(state.services.db.clone());
                    Ok(request_data(&state, caller, ip, route, None))
                })
                .keepalive_timeout(Some(Duration::from_secs(60)))
                .serve()
        })
}

/// `GET /healthz`: the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only when the database answers within two seconds.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), crate::db::ping(&state.db)).await;
    if matches!(ping, Ok(true)) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// Where the test-only spin route is mounted (only with the test hooks on).
pub const TEST_SPIN_PATH: &str = "/__test/spin";

/// `GET /__test/spin?secs=N`, mounted only when `ZOUQIN_TEST_HOOKS` has its exact value
/// (see `config::TEST_HOOKS_VALUE`) and answered only to loopback clients: pins the worker
/// thread that runs it in a loop that never yields, for `N` seconds (default and at most
/// 600), as a request stuck in CPU-bound work would. Tests use it to prove that shutdown
/// still ends in an exit when every worker is stuck.
pub async fn test_spin(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !peer.ip().is_loopback() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let secs = raw
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("secs=")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(600)
        .min(600);
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
    (StatusCode::OK, "spun").into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("zouqin_subscribers").set(state.services.realtime.subscribers() as f64);
    if let Some(pool) = &state.db.pg_pool {
        metrics::gauge!("zouqin_db_pool_connections").set(f64::from(pool.size()));
        metrics::gauge!("zouqin_db_pool_idle").set(pool.num_idle() as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

const GRAPHIQL_HTML: &str = include_str!("../assets/graphiql/index.html");

fn graphiql() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        GRAPHIQL_HTML,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`: GraphiQL's own files, embedded in the binary.
pub async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql/graphiql.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql/graphiql.min.css"),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

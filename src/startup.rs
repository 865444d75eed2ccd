//! Builds the application from a configuration: state, router and a bound listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::accounts::oauth::OAuthClients;
use crate::auth::password::Passwords;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::redis_link::RedisLink;
use crate::auth::session_cache::SessionCache;
use crate::auth::sessions::SessionRegistry;
use crate::auth::tokens::AccessTokens;
use crate::bus::{Bus, Follower, Followers};
use crate::catalog::cache::{CatalogCache, invalidate_on_write, spawn_maintenance};
use crate::config::Config;
use crate::db::read::Reader;
use crate::db::write::Writer;
use crate::error::{PROBLEM_JSON, problem_response};
use crate::file_grants::AnyGrant;
use crate::files::sniff::AllowedTypes;
use crate::mail::Mailer;
use crate::openapi::ApiDoc;
use crate::state::{App, AppState};
use crate::storage::Storage;
use crate::{
    accounts, catalog, chat, db, files, janitor, openapi, ops, telemetry, unread_body, web,
};

/// JSON bodies larger than this are refused; uploads have their own limits.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to every backing service, prepares the schema and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let mut config = config;
        if config.public_url.is_none() {
            // links carry the port actually bound, also when port 0 was asked for
            config.public_url = Some(format!("http://{}", listener.local_addr()?));
        }
        let state = build_state(config).await?;
        spawn_maintenance(&state);
        let router = router(state.clone());
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish. The
    /// janitor runs alongside.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let janitor = janitor::spawn(self.state.clone());
        let backups = crate::backup::schedule::spawn(self.state.clone());
        let served = axum::serve(
            self.listener.tap_io(limit_unsent),
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        if let Some(janitor) = janitor {
            janitor.abort();
        }
        if let Some(backups) = backups {
            backups.abort();
        }
        served
    }
}

/// Bytes a connection may hold written but not yet sent (see `limit_unsent`).
const UNSENT_LIMIT: u32 = 128 * 1024;

/// Caps what the kernel holds unsent for a connection. Without it a peer that stops
/// reading lets the kernel take megabytes (its send buffer grows to `tcp_wmem`'s
/// maximum) before a write blocks, so a live socket's bounded queue and send deadline
/// never notice it. Unlike a smaller `SO_SNDBUF`, this leaves the bytes in flight
/// free, so a fast reader far away (files, history) keeps its full throughput.
fn limit_unsent(stream: &mut TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(err) = socket2::SockRef::from(&*stream).set_tcp_notsent_lowat(UNSENT_LIMIT) {
        tracing::warn!(error = %err, "could not limit a connection's unsent bytes");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    // a SQLite file of its own gets a writer (below), which the pool's writes share it with
    let sqlite_file = db::sqlite_file(&config);
    let pool_waits = sqlite_file
        .as_ref()
        .map(|_| db::PoolWaits::for_the_process());
    let db = match pool_waits {
        Some(waits) => db::connect_beside_writer(&config, waits).await?,
        None => db::connect(&config).await?,
    };
    db::prepare_schema(&db, config.env).await?;
    let session_ttl = Duration::from_secs(config.access_token_ttl_secs);
    let redis = match &config.redis_url {
        Some(url) => {
            Some(RedisLink::connect(url, config.redis_timeout(), Duration::from_secs(10)).await?)
        }
        None => None,
    };
    // other processes' changes reach both caches through the bus
    let session_cache = Arc::new(SessionCache::new(config.session_cache, session_ttl));
    let catalog_cache = Arc::new(CatalogCache::new(
        Duration::from_secs(config.catalog_cache_ttl_secs),
        config.catalog_cache_max_mb.saturating_mul(1024 * 1024),
    ));
    let (sessions, rate_limiter) = match &redis {
        Some(link) => (
            SessionRegistry::redis(
                link.clone(),
                &config.redis_key_prefix,
                config.access_token_ttl_secs,
                session_cache.clone(),
            ),
            RateLimiter::redis(link.clone(), &config.redis_key_prefix),
        ),
        None => (
            SessionRegistry::database(session_cache.clone()),
            RateLimiter::in_process(config.rate_limit_max_keys),
        ),
    };
    let followers: Vec<Arc<dyn Follower>> = vec![session_cache, catalog_cache.clone()];
    let followers = Followers::new(followers);
    let (bus, deliveries) = Bus::new(&config, &db, redis, followers)?;
    tracing::info!(bus = bus.kind(), "chat events bus");
    let app = App {
        reader: Reader::new(&db, &config)?,
        writer: Writer::new(
            &db,
            sqlite_file.zip(pool_waits),
            config.sqlite_log_limit_mb.saturating_mul(1024 * 1024),
        ),
        access_tokens: AccessTokens::new(config.jwt_secret(), config.access_token_ttl_secs),
        passwords: Passwords::new()?,
        mailer: Mailer::from_config(&config)?,
        oauth: OAuthClients::new(&config)?,
        metrics: telemetry::metrics_handle()?,
        storage: Storage::from_config(&config).await?,
        allowed_types: AllowedTypes::parse(&config.allowed_types),
        catalog_cache,
        chat_hub: Default::default(),
        file_read_grants: Arc::new(AnyGrant(vec![
            Arc::new(chat::attachments::ChatFileGrants::new(db.clone())),
            Arc::new(catalog::drafts::photos::DraftPhotoGrants::new(db.clone())),
        ])),
        online: Arc::new(chat::live::presence::Presence),
        file_references: Arc::new(accounts::avatars::AvatarFiles),
        bus,
        sessions,
        rate_limiter,
        db,
        config,
    };
    let state = AppState(Arc::new(app));
    tokio::spawn(chat::live::relay::run(state.clone(), deliveries));
    state.bus.listen();
    tokio::spawn(chat::live::presence::keep_leases(state.clone()));
    tokio::spawn(chat::live::presence_fanout::run(state.clone()));
    state
        .writer
        .spawn_checkpoints(Duration::from_millis(state.config.sqlite_checkpoint_ms));
    Ok(state)
}

/// Every route, the OpenAPI document and docs, and the middleware around them.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        // the domains' paths are written whole: a nested router strips its prefix from
        // every request's URI and wraps each route once more
        .merge(accounts::router())
        .merge(files::router())
        .merge(catalog::router())
        .merge(chat::router())
        .merge(ops::router())
        .split_for_parts();

    let routes = api
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::with_error_responses(openapi)))
        .merge(web::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            invalidate_on_write,
        ))
        .with_state(state.clone());
    with_middleware(routes, &state.config)
}

/// Wraps routes in the handling of unread bodies, request ids, logging, panic and
/// timeout handling, CORS, compression and the body limit, and answers unknown routes
/// and methods with problems.
pub fn with_middleware(routes: Router, config: &Config) -> Router {
    let middleware = ServiceBuilder::new()
        // outermost: it sees every answer, whoever made it
        .layer(middleware::from_fn(unread_body::settle_unread_body))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(telemetry::record_request))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(config.request_timeout_secs),
            time_limit,
        ))
        .option_layer(cors(config))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(not_ranged)))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    routes
        // app paths get the web app's page, other unknown paths a problem
        .fallback(web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware)
}

/// Files served with byte ranges are sent as stored: compressing them would break ranges
/// and cost CPU on content that is mostly compressed already.
fn not_ranged(
    _: StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    !headers.contains_key(header::ACCEPT_RANGES)
}

/// CORS for the origins configured; none without them. With no origin allowed, the layer
/// only added `Vary` to every answer, and cloning it for each request was a fifth of the
/// instructions of `/healthz`.
fn cors(config: &Config) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .filter_map(|origin| origin.parse().ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    Some(layer)
}

async fn method_not_allowed() -> Response {
    problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server could not complete the request",
    )
}

/// Answers 408 when a request takes longer than the limit. Uploads are exempt: a large
/// file over a slow link takes as long as it takes, and its size limit bounds it instead.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if is_upload(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => problem_response(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long",
        ),
    }
}

/// A body that is not JSON sent with POST or PUT: only upload routes accept those.
fn is_upload(request: &axum::extract::Request) -> bool {
    let sends_body = matches!(*request.method(), Method::POST | Method::PUT);
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    sends_body && !json
}

/// Turns error answers made outside the handlers (timeouts, body limits) into problems.
async fn problem_for_bare_errors(request: axum::extract::Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let code = match status {
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        status if status.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let detail = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut problem = problem_response(status, code, detail);
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = response.headers().get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem.into_response()
}

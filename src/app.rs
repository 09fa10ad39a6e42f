//! Builds the application (state + router) and serves it with graceful shutdown. Tests
//! build it on port 0 and talk to the real thing over HTTP.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::token::TokenKeys;
use crate::config::{DbArgs, Settings};
use crate::db::replica::Replica;
use crate::db::{self, Database};
use crate::graphql::{self, AppSchema, Services};
use crate::http;
use crate::realtime::Realtime;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The schema, with the services in its data.
    pub schema: AppSchema,
    /// The services (database, realtime, keys, settings).
    pub services: Services,
    /// The database handle (for readiness and pool metrics).
    pub db: Database,
    /// The Prometheus recorder's handle.
    pub metrics: PrometheusHandle,
    /// Anonymous answers kept while the database has not changed.
    pub public_cache: crate::public_cache::PublicCache,
}

/// The process-wide metrics recorder (installed once, shared by every app in a process).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .expect("BUG: constant buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    /// The shared state (tests use it to reach the database).
    pub state: AppState,
}

/// A start-up failure, with a message for the operator.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl Application {
    /// Connects, migrates, and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(db_args: &DbArgs, settings: Settings) -> Result<Self, StartError> {
        let database = db::connect(
            &db_args.database_url,
            db_args.db_max_connections,
            db_args.acquire_timeout(),
        )
        .await
        .map_err(|e| StartError(format!("cannot open the database: {e}")))?;
        db::migrate(&database)
            .await
            .map_err(|e| StartError(format!("migrations failed: {e}")))?;
        Self::with_database(database, settings).await
    }

    /// Builds on an open, migrated database.
    pub async fn with_database(database: Database, settings: Settings) -> Result<Self, StartError> {
        let key = settings.jwt_key().map_err(StartError)?;
        let replica = open_replica(&database, &settings)?;
        crate::auth::password::warm_up();
        let realtime = Realtime::start(&database).await;
        if let Some(replica) = &replica {
            tokio::spawn(replica.clone().watch(realtime.closing()));
        }
        let bookings = crate::domain::booking::Booker::new(
            database.pg_pool.clone(),
            settings.waitlist.policy(),
        );
        bookings.follow(&realtime);
        tokio::spawn(crate::domain::waitlist::sweep(
            database.conn.clone(),
            realtime.clone(),
            bookings.clone(),
            settings.waitlist.sweep_every(),
            realtime.closing(),
        ));
        tokio::spawn(crate::domain::no_shows::sweep(
            database.conn.clone(),
            settings.no_shows.policy(),
            settings.no_shows.sweep_every(),
            realtime.clone(),
        ));
        tokio::spawn(crate::domain::shares::sweep(
            database.conn.clone(),
            realtime.clone(),
            crate::domain::shares::SWEEP_EVERY,
            realtime.closing(),
        ));
        let services = Services {
            db: database.conn.clone(),
            replica,
            realtime,
            keys: TokenKeys::new(&key),
            settings: settings.clone(),
            bookings,
            revocations: crate::auth::revocation::Revocations::start(database.conn.clone()),
        };
        let state = AppState {
            schema: graphql::build(Some(services.clone())),
            services,
            db: database,
            metrics: metrics_handle(),
            public_cache: crate::public_cache::PublicCache::new(Duration::from_millis(
                settings.public_cache_ms,
            )),
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", settings.bind)))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError(e.to_string()))?
            .port();
        let router = router(state.clone(), &settings);
        Ok(Self {
            listener,
            router,
            port,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves; then stops accepting, completes every
    /// subscription, and lets in-flight requests finish for up to the grace period.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.services.settings.shutdown_grace();
        let realtime = self.state.services.realtime.clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .into_future();
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return result,
            () = shutdown => {}
        }
        realtime.close();
        stop.send_replace(true);
        match tokio::time::timeout(grace, server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "grace period over; dropping the connections still open"
                );
                Ok(())
            }
        }
    }
}

/// The read replica of `ZOUQIN_READ_DATABASE_URL`, if set: refused unless both it and the
/// primary are PostgreSQL; otherwise opened without connecting (a standby that is down at
/// start leaves reads on the primary until its watcher finds it fresh).
fn open_replica(database: &Database, settings: &Settings) -> Result<Option<Replica>, StartError> {
    let Some(url) = &settings.replica.read_database_url else {
        return Ok(None);
    };
    let primary_url = if database.pg_pool.is_some() {
        "postgres:"
    } else {
        "sqlite:"
    };
    settings.replica.check(primary_url).map_err(StartError)?;
    Replica::open(url, database, settings.replica.max_lag())
        .map(Some)
        .map_err(StartError)
}

/// The router with every route and layer.
pub fn router(state: AppState, settings: &Settings) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/graphql/ws", get(http::graphql_ws))
        .route("/graphql/assets/{file}", get(http::graphiql_asset))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .route("/reports/exchange.csv", get(crate::reports::exchange_csv))
        .merge(crate::web::routes());
    if settings.test_hooks {
        router = router.route(http::TEST_SPIN_PATH, get(http::test_spin));
    }
    let mut router = router
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout(),
        ));
    let origins: Vec<_> = settings
        .cors_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .filter_map(|o| o.parse().ok())
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// How long after the grace period the watchdog waits before ending the process itself:
/// enough for [`Application::run_until`]'s own grace timer to win when the runtime is
/// healthy, so the watchdog only fires when it is not.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(250);

/// Watches for SIGTERM or Ctrl-C on a thread of its own, with a small runtime of its own,
/// and returns the future that tells [`Application::run_until`] to shut down gracefully.
///
/// The grace period always ends in an exit: a request stuck in a CPU loop can pin every
/// worker of the server's runtime, and then nothing on that runtime runs — not the signal
/// handler, not the grace timer, and dropping the runtime would wait for the stuck worker
/// for ever. So once the signal arrives this thread waits out the grace period (plus
/// [`WATCHDOG_MARGIN`]) and, if the process is still there, ends it with
/// `std::process::exit(1)` (1: requests were abandoned). A second signal during the grace
/// period exits at once.
pub fn exit_after_grace_on_signal(
    grace: Duration,
) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let (begin, begun) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("zouqin-shutdown".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                shutdown_signal().await;
                tracing::info!(
                    grace_secs = grace.as_secs_f64(),
                    "shutting down: finishing in-flight requests"
                );
                let _ = begin.send(());
                tokio::select! {
                    () = tokio::time::sleep(grace + WATCHDOG_MARGIN) => {
                        tracing::warn!("grace period over and the server has not stopped; exiting");
                    }
                    () = shutdown_signal() => {
                        tracing::warn!("second signal; exiting now");
                    }
                }
            });
            std::process::exit(1)
        })?;
    Ok(async move {
        let _ = begun.await;
    })
}

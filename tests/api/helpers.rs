//! Test helpers: start apps, speak GraphQL, act as users.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use zouqin::app::Application;
use zouqin::config::{DbArgs, Settings};
use zouqin::db::{self, Database};

/// The password of every account the helpers create.
pub const PASSWORD: &str = "correct-horse-battery";
/// The JWT key every test instance shares (so tokens work across instances).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[derive(Parser)]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

/// Settings for a test instance: port 0, no per-IP limit unless a test asks for one.
pub fn settings() -> Settings {
    let mut settings = SettingsOnly::parse_from(["zouqin", "--bind", "127.0.0.1:0"]).settings;
    settings.jwt_secret = Some(zouqin::config::Secret::new(JWT_SECRET));
    settings.ip_rate_limit = 0;
    settings.cors_origins = vec![];
    settings
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    )
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}

/// Whether this run uses PostgreSQL.
pub fn postgres_base() -> Option<String> {
    std::env::var("ZOUQIN_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
}

/// For a test that only PostgreSQL can run (row locks held by another transaction, LISTEN/
/// NOTIFY across instances, a network between server and database): the server's base URL.
/// Without one, the test is reported as skipped by name on stderr (written past the test
/// harness's capture, so it shows in every run) and `None` comes back; in CI (`CI=true`) it
/// fails instead, so a CI run without PostgreSQL can never pass it silently. Such tests are
/// named `…_on_postgres`, and `.ci/run`'s SQLite pass leaves them out by that name.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    if let Some(base) = postgres_base() {
        return Some(base);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{test} needs PostgreSQL and CI=true: set ZOUQIN_TEST_POSTGRES"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs PostgreSQL (set ZOUQIN_TEST_POSTGRES)"
    );
    None
}

/// A fresh, migrated database URL (and its PostgreSQL name, to drop later).
pub async fn fresh_database() -> String {
    match postgres_base() {
        Some(base) => {
            let name = unique("zq_test");
            let admin = db::connect(
                &format!("{base}/postgres"),
                1,
                std::time::Duration::from_secs(5),
            )
            .await
            .expect("ZOUQIN_TEST_POSTGRES is set but PostgreSQL is not reachable");
            use sea_orm::ConnectionTrait;
            admin
                .conn
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.conn.close().await.ok();
            format!("{base}/{name}")
        }
        None => {
            let dir = std::env::temp_dir().join("zouqin-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{}.db", unique("t"))).display()
            )
        }
    }
}

/// The argon2 hash of [`PASSWORD`], computed once per test process.
pub async fn password_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        zouqin::auth::password::hash(PASSWORD.to_owned())
            .await
            .expect("hash")
    })
    .await
    .clone()
}

/// A running instance.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The port.
    pub port: u16,
    /// The database URL it uses.
    pub database_url: String,
    /// Its database handle.
    pub db: Database,
    /// Its shared state (in-process instances only; see [`TestApp::state`]).
    state: Option<zouqin::app::AppState>,
    /// HTTP client.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task.
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The server process, for an instance that runs as its own `zouqin` process.
    pub process: Option<tokio::process::Child>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Centers and their admins, as created for every test.
pub struct World {
    /// Center global ids by code.
    pub pinghu: String,
    /// Jinshan.
    pub jinshan: String,
    /// Jiashan.
    pub jiashan: String,
}

/// Starts an instance on a fresh database with the three centers and one admin each
/// (`admin@<code>.example`, password [`PASSWORD`]).
pub async fn spawn() -> TestApp {
    let url = fresh_database().await;
    let app = spawn_on(&url, settings()).await;
    app.seed_world().await;
    app
}

/// Like [`spawn`], with these settings.
pub async fn spawn_with_settings(settings: Settings) -> TestApp {
    let url = fresh_database().await;
    let app = spawn_on(&url, settings).await;
    app.seed_world().await;
    app
}

/// Starts an instance on an existing database.
pub async fn spawn_on(url: &str, settings: Settings) -> TestApp {
    spawn_with(
        DbArgs {
            database_url: url.to_owned(),
            db_max_connections: 16,
            // The default of ZOUQIN_DB_ACQUIRE_TIMEOUT_MS.
            db_acquire_timeout_ms: 2_000,
        },
        settings,
    )
    .await
}

/// Starts an instance with the given database settings.
pub async fn spawn_with(args: DbArgs, settings: Settings) -> TestApp {
    let url = args.database_url.clone();
    let url = url.as_str();
    let application = Application::build(&args, settings)
        .await
        .expect("app starts");
    serve(application, url)
}

/// Serves an application built by the test (e.g. on a database handle it prepared).
pub fn serve(application: Application, url: &str) -> TestApp {
    let port = application.port();
    let state = application.state.clone();
    let db = state.db.clone();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(application.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url: url.to_owned(),
        db,
        state: Some(state),
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        server: Some(server),
        process: None,
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a real `zouqin serve` process (the binary the Dockerfile builds) on an existing
/// database, with the test settings, and waits until it answers. `env` adds or overrides
/// environment variables.
pub async fn spawn_process_with(url: &str, env: &[(&str, &str)]) -> TestApp {
    for _attempt in 0..3 {
        let (mut command, port) = serve_command(url);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start zouqin");
        let client = reqwest::Client::new();
        let address = format!("http://127.0.0.1:{port}");
        for _ in 0..400 {
            if client
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                let db = db::connect(url, 4, std::time::Duration::from_secs(5))
                    .await
                    .expect("test connection");
                return TestApp {
                    address,
                    port,
                    database_url: url.to_owned(),
                    db,
                    state: None,
                    client,
                    shutdown: None,
                    server: None,
                    process: Some(child),
                };
            }
            if let Ok(Some(_)) = child.try_wait() {
                break; // it exited: most likely the port was taken meanwhile
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill().await;
    }
    panic!("a zouqin process did not start");
}

/// Starts a real `zouqin serve` process on an existing database.
pub async fn spawn_process(url: &str) -> TestApp {
    spawn_process_with(url, &[]).await
}

/// Two instances sharing one fresh database (the world seeded once): two real `zouqin`
/// processes, so that nothing one process keeps in memory (a lock, a gate, a cache) can make
/// a cross-instance test pass.
pub async fn spawn_pair() -> (TestApp, TestApp) {
    let url = fresh_database().await;
    let a = spawn_process(&url).await; // runs the migrations
    a.seed_world().await;
    let b = spawn_process(&url).await;
    (a, b)
}

/// Three real `zouqin` processes on one fresh database.
pub async fn spawn_three() -> (TestApp, TestApp, TestApp) {
    let (a, b) = spawn_pair().await;
    let c = spawn_process(&a.database_url).await;
    (a, b, c)
}

/// A GraphQL answer.
#[derive(Debug, Clone)]
pub struct Gql {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Gql {
    /// `data`, panicking with the errors when there are any.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The first error.
    pub fn error(&self) -> &Value {
        &self.body["errors"][0]
    }
}

impl TestApp {
    /// Schedules a performance from `input` with the fields of `extra` (an object) set over
    /// it, publishes it as `admin` (asserting it is then `PUBLISHED`), and returns its id.
    pub async fn published_performance(
        &self,
        admin: &str,
        mut input: Value,
        extra: &Value,
    ) -> String {
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                input.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .gql(
                Some(admin),
                "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        let id = r.data()["schedulePerformance"]["id"]
            .as_str()
            .expect("performance id")
            .to_owned();
        let r = self
            .gql(
                Some(admin),
                "mutation($id: ID!) { publishPerformance(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
        id
    }

    /// Sends the shutdown signal (as SIGTERM would) and returns the server task.
    pub fn stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("the server is running")
    }

    /// Another handle on the same running instance, for requests from spawned tasks; dropping
    /// it leaves the instance running.
    pub fn clone_client(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            port: self.port,
            database_url: self.database_url.clone(),
            db: self.db.clone(),
            state: self.state.clone(),
            client: self.client.clone(),
            shutdown: None,
            server: None,
            process: None,
        }
    }

    /// Keys that sign access tokens every test instance accepts.
    pub fn keys(&self) -> zouqin::auth::token::TokenKeys {
        match &self.state {
            Some(state) => state.services.keys.clone(),
            None => zouqin::auth::token::TokenKeys::new(&zouqin::config::Secret::new(JWT_SECRET)),
        }
    }

    /// How many subscriptions listen for availability events on this instance: read from its
    /// state in this process, or from its `/metrics` when it runs as its own process.
    pub async fn subscribers(&self) -> usize {
        if let Some(state) = &self.state {
            return state.services.realtime.subscribers();
        }
        self.metric("zouqin_subscriptions").await as usize
    }

    /// A series' value in the instance's `/metrics` (`name` or `name{label="value"}`), 0 when
    /// it is not there (yet).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// The in-process instance's state (for tests about one instance).
    pub fn state(&self) -> &zouqin::app::AppState {
        self.state
            .as_ref()
            .expect("this instance runs as its own process: its state is not in this one")
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs a GraphQL request with an optional bearer token.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .header("content-type", "application/json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    /// Anonymous GraphQL.
    pub async fn anon(&self, query: &str, variables: Value) -> Gql {
        self.gql(None, query, variables).await
    }

    /// Creates the three centers and one admin each (what [`spawn`] does on a fresh database).
    pub async fn seed_world(&self) {
        use sea_orm::{ActiveModelTrait, Set};
        let centers = zouqin::demo::seed_centers(&self.db.conn)
            .await
            .expect("centers");
        let hash = password_hash().await;
        for ((code, _, _), center_id) in zouqin::demo::CENTERS.iter().zip(centers) {
            entity::account::ActiveModel {
                email: Set(format!("admin@{code}.example")),
                password_hash: Set(hash.clone()),
                display_name: Set(format!("{code} admin")),
                role: Set(entity::enums::Role::CenterAdmin),
                center_id: Set(Some(center_id)),
                home_center_id: Set(None),
                active: Set(true),
                created_at: Set(zouqin::domain::now()),
                ..Default::default()
            }
            .insert(&self.db.conn)
            .await
            .expect("admin");
        }
    }

    /// Global ids of the centers by code.
    pub async fn world(&self) -> World {
        let data = self.anon("{ centers { id code } }", json!({})).await;
        let find = |code: &str| {
            data.data()["centers"]
                .as_array()
                .expect("centers")
                .iter()
                .find(|c| c["code"] == code)
                .map(|c| c["id"].as_str().expect("id").to_owned())
                .expect("center")
        };
        World {
            pinghu: find("pinghu"),
            jinshan: find("jinshan"),
            jiashan: find("jiashan"),
        }
    }

    /// Logs in; returns the whole payload.
    pub async fn login(&self, email: &str, password: &str) -> Gql {
        self.anon(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken expiresAt account { id email role } } }",
            json!({ "e": email, "p": password }),
        )
        .await
    }

    /// Logs in and returns the access token (panics on failure).
    pub async fn token(&self, email: &str) -> String {
        let r = self.login(email, PASSWORD).await;
        r.data()["login"]["accessToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// The access token of a center's admin.
    pub async fn admin(&self, code: &str) -> String {
        self.token(&format!("admin@{code}.example")).await
    }

    /// Creates a staff member of the admin's center with `role`; returns its token.
    pub async fn staff(&self, admin_token: &str, email: &str, role: &str) -> String {
        let r = self
            .gql(
                Some(admin_token),
                "mutation($i: CreateStaffInput!) { createStaffAccount(input: $i) { id } }",
                json!({ "i": { "email": email, "password": PASSWORD, "displayName": email, "role": role } }),
            )
            .await;
        r.data();
        self.token(email).await
    }

    /// Registers a resident of a center; returns its token.
    pub async fn resident(&self, email: &str, home_center_id: &str) -> String {
        let r = self
            .anon(
                "mutation($i: RegisterResidentInput!) { registerResident(input: $i) { accessToken } }",
                json!({ "i": { "email": email, "password": PASSWORD, "displayName": email, "homeCenterId": home_center_id } }),
            )
            .await;
        r.data()["registerResident"]["accessToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Many residents at once, created straight in the database with one shared password
    /// hash and tokens minted by the app's keys (so argon2 does not dominate a rush test).
    pub async fn residents_fast(&self, count: usize, home_center_code: &str) -> Vec<String> {
        use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
        let home = entity::center::Entity::find()
            .filter(entity::center::Column::Code.eq(home_center_code))
            .one(&self.db.conn)
            .await
            .expect("query")
            .expect("center");
        let hash = password_hash().await;
        let tag = unique("r");
        let mut tokens = Vec::with_capacity(count);
        for i in 0..count {
            let account = entity::account::ActiveModel {
                email: Set(format!("{tag}-{i}@residents.example")),
                password_hash: Set(hash.clone()),
                display_name: Set(format!("Resident {i}")),
                role: Set(entity::enums::Role::Resident),
                center_id: Set(None),
                home_center_id: Set(Some(home.id)),
                active: Set(true),
                created_at: Set(zouqin::domain::now()),
                ..Default::default()
            }
            .insert(&self.db.conn)
            .await
            .expect("insert resident");
            let identity = zouqin::domain::accounts::identity_of(&account);
            let (token, _) = self
                .keys()
                .issue(&identity, zouqin::domain::now())
                .expect("token");
            tokens.push(token);
        }
        tokens
    }
}

/// A `zouqin serve` child process (the real binary), for what only a process can show:
/// signals, exit codes, the command line and the environment.
pub struct ChildServer {
    /// The process (killed when dropped).
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// A `zouqin serve` command on `database_url` and a free port, with the test JWT key, quiet
/// logs and no per-IP limit; add to it, then [`ChildServer::start`] it.
pub fn serve_command(database_url: &str) -> (tokio::process::Command, u16) {
    let port = free_port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zouqin"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("ZOUQIN_BIND", format!("127.0.0.1:{port}"))
        .env("ZOUQIN_JWT_SECRET", JWT_SECRET)
        .env_remove("ZOUQIN_JWT_SECRET_FILE")
        .env_remove("ZOUQIN_TEST_HOOKS")
        .env("ZOUQIN_IP_RATE_LIMIT", "0")
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    (command, port)
}

impl ChildServer {
    /// Starts the command and waits (up to 60 s) until `/healthz` answers.
    pub async fn start(mut command: tokio::process::Command, port: u16) -> Self {
        let child = command.spawn().expect("start zouqin");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the child server never started");
    }

    /// Sends the process SIGTERM.
    #[cfg(unix)]
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the child is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }
}

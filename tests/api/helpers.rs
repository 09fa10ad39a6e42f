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
    settings.jwt_secret = Some(JWT_SECRET.to_owned());
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

/// A fresh, migrated database URL (and its PostgreSQL name, to drop later).
pub async fn fresh_database() -> String {
    match postgres_base() {
        Some(base) => {
            let name = unique("zq_test");
            let admin = db::connect(&format!("{base}/postgres"), 1)
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
    /// Its shared state.
    pub state: zouqin::app::AppState,
    /// HTTP client.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task.
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
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
pub async fn spawn_with(settings: Settings) -> TestApp {
    let url = fresh_database().await;
    let app = spawn_on(&url, settings).await;
    app.seed_world().await;
    app
}

/// Starts an instance on an existing database.
pub async fn spawn_on(url: &str, settings: Settings) -> TestApp {
    let args = DbArgs {
        database_url: url.to_owned(),
        db_max_connections: 16,
    };
    let application = Application::build(&args, settings)
        .await
        .expect("app starts");
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
        state,
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// Two instances sharing one fresh database (the world seeded once).
pub async fn spawn_pair() -> (TestApp, TestApp) {
    let a = spawn().await;
    let b = spawn_on(&a.database_url, settings()).await;
    (a, b)
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
        }
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

    async fn seed_world(&self) {
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
                .state
                .services
                .keys
                .issue(&identity, zouqin::domain::now())
                .expect("token");
            tokens.push(token);
        }
        tokens
    }
}

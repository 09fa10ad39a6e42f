//! Load benchmarks: `cargo bench --bench load -- all` (or `login`, `browse`, `storm`, `rush`).
//!
//! The bench starts its own zouqin (the release binary cargo builds for benches) on a
//! throwaway PostgreSQL database on 127.0.0.1:5432, seeds it (demo data, venues and
//! performances through GraphQL, residents straight into `account` with one precomputed
//! argon2 hash and access tokens minted here), drives it with reqwest over loopback, compares
//! it with the shared pgbench baselines (`../shared/baselines/browse.sh` and `rush.sh`, run as
//! they are, on their own databases), and writes the figures to stdout and into the generated
//! blocks of BENCHMARKS.md. It reports figures and ratios; it never fails on them.
//!
//! Knobs (environment): `ZQ_BENCH_LOGIN_SECS` (10), `ZQ_BENCH_BROWSE_SECS` (20),
//! `ZQ_BENCH_STORM_SECS` (12, per phase), `ZQ_BENCH_RUSH_SECS` (cap per rush run, 60),
//! `ZQ_BENCH_PGBENCH_SECS` (10, the browse baseline's duration), `ZQ_BENCH_RESIDENTS` (10,500),
//! `ZQ_BENCH_BASELINES` (the baseline scripts' directory, default `<project>/../shared/baselines`),
//! `ZQ_BENCH_KEEP_DB=1` (keep the database for inspection).

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sqlx::{self, PgPool, Row};
use serde_json::{Value, json};

type BoxError = Box<dyn Error + Send + Sync>;
type BoxResult<T> = Result<T, BoxError>;

/// The server under test, built by cargo for this bench with the release profile.
const BIN: &str = env!("CARGO_BIN_EXE_zouqin");
const PG_HOST: &str = "127.0.0.1";
const PG_PORT: u16 = 5432;
const PG_USER: &str = "postgres";

const BROWSE_QUERY: &str = "{ performances(first: 20) { edges { node { title startsAt venue { name center { name } } seatsAvailable } } } }";
const CHEAP_QUERY: &str = "{ centers { code } }";
const LOGIN_MUTATION: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
#[path = "load/big.rs"]
mod big;
#[path = "load/cancellations.rs"]
mod cancellations;
#[path = "../tests/api/standby.rs"]
mod standby;

const BOOK_MUTATION: &str =
    "mutation($input: BookSeatsInput!) { bookSeats(input: $input) { id status seatsTogether } }";

const DEMO_PASSWORD: &str = "bench-demo-admin-2019";
const RESIDENT_PASSWORD: &str = "bench-resident-2019";
const ADMIN_EMAIL: &str = "admin@pinghu.example";

/// The rush venue: 100 rows of 200 seats.
const ARENA_ROWS: usize = 100;
const ARENA_ROW_SEATS: usize = 200;
/// The small venue the browse list's extra performances play at.
const HALL_ROWS: usize = 10;
const HALL_ROW_SEATS: usize = 20;
/// Extra published performances, so the first page of `performances` is always full.
const BROWSE_EXTRA_PERFORMANCES: usize = 24;
const RUSH_LEVELS: [usize; 3] = [8, 32, 128];
const STORM_LOGINS: usize = 20;
/// Clients of the rush on a performance split into two seat shares.
const SHARES_RUSH_CLIENTS: usize = 32;

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Login,
    Browse,
    Storm,
    Rush,
    Cancellations,
    /// Not part of `all`: it generates a database of up to 14 GB and runs for minutes.
    Big,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Login,
        Scenario::Browse,
        Scenario::Storm,
        Scenario::Rush,
        Scenario::Cancellations,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::Browse => "browse",
            Scenario::Storm => "storm",
            Scenario::Rush => "rush",
            Scenario::Cancellations => "cancellations",
            Scenario::Big => "big",
        }
    }
}

fn main() -> ExitCode {
    // cargo appends `--bench`; flags are not ours.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut chosen = Vec::new();
    for word in words.iter().map(String::as_str) {
        match word {
            "all" => chosen.extend(Scenario::ALL),
            "big" => chosen.push(Scenario::Big),
            other => match Scenario::ALL.iter().find(|s| s.name() == other) {
                Some(s) => chosen.push(*s),
                None => {
                    eprintln!(
                        "unknown scenario `{other}`; use: cargo bench --bench load -- all|login|browse|storm|rush|cancellations|big"
                    );
                    return ExitCode::from(2);
                }
            },
        }
    }
    if chosen.is_empty() {
        chosen.extend(Scenario::ALL);
    }
    chosen.sort();
    chosen.dedup();
    let all = Scenario::ALL.iter().all(|s| chosen.contains(s));
    // The knobs set for this run belong to its command line: a short run must say it is one.
    let mut knobs: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("ZQ_BENCH_"))
        .map(|(k, v)| format!("{k}={}", shell_word(&v)))
        .collect();
    knobs.sort();
    knobs.push("cargo bench --bench load --".to_owned());
    knobs.push(if words.is_empty() {
        "all".to_owned()
    } else {
        words.join(" ")
    });
    let command = knobs.join(" ");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(chosen, all, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zouqin load bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(scenarios: Vec<Scenario>, all: bool, command: String) -> BoxResult<()> {
    let settings = Settings::from_env();
    match &settings.baselines.missing {
        None => log(&format!(
            "baselines: {} (sha256 {})",
            settings.baselines.dir.display(),
            settings.baselines.fingerprint
        )),
        Some(why) => log(&format!(
            "NO BASELINES: {why}; browse and rush run without a baseline and without a ratio"
        )),
    }
    let started = Instant::now();
    let machine_before = Machine::probe();
    let pg = Postgres::connect().await?;
    let mut results = Results::default();
    // The big scenario brings its own databases; the seeded one is for the others.
    let mut seeded = None;
    if scenarios.iter().any(|s| *s != Scenario::Big) {
        let db = TempDb::create(&pg).await?;
        log(&format!("database {} created", db.name));
        let fixture = Arc::new(Fixture::setup(&pg, &db, &settings).await?);
        log(&format!(
            "seeded: {} residents, setup took {:.0} s",
            fixture.residents.len(),
            started.elapsed().as_secs_f64()
        ));
        if scenarios.contains(&Scenario::Browse) || scenarios.contains(&Scenario::Rush) {
            results.profile = Some(statement_profile(&fixture).await?);
        }
        seeded = Some((db, fixture));
    }
    for scenario in &scenarios {
        let t = Instant::now();
        log(&format!("scenario {} …", scenario.name()));
        if *scenario == Scenario::Big {
            results.big = Some(big::big_scenario(&pg, &settings).await?);
            log(&format!(
                "scenario big done in {:.0} s",
                t.elapsed().as_secs_f64()
            ));
            continue;
        }
        let Some((_, fixture)) = &seeded else {
            continue;
        };
        match scenario {
            Scenario::Login => results.login = Some(login_scenario(fixture, &settings).await?),
            Scenario::Browse => {
                results.browse = Some(browse_scenario(fixture, &pg, &settings).await?)
            }
            Scenario::Storm => results.storm = Some(storm_scenario(fixture, &settings).await?),
            Scenario::Rush => results.rush = Some(rush_scenario(fixture, &pg, &settings).await?),
            Scenario::Cancellations => {
                results.cancellations = Some(cancellations::cancellation_scenario(fixture).await?)
            }
            Scenario::Big => {}
        }
        log(&format!(
            "scenario {} done in {:.0} s",
            scenario.name(),
            t.elapsed().as_secs_f64()
        ));
    }
    let total = started.elapsed();
    let machine = MachineReport {
        before: machine_before,
        load_after: loadavg(),
        command,
        pg_version: pg.version().await.unwrap_or_default(),
        pg_settings: pg.settings_line().await.unwrap_or_default(),
        baselines: settings.baselines.clone(),
        server_env: std::env::var("ZQ_BENCH_SERVER_ENV").unwrap_or_default(),
        total,
    };
    let mut blocks = render(&machine, &results, all);
    if seeded.is_none() {
        // Only the big scenario ran: the machine block describes the run of the other
        // blocks and stays; the big block carries its own machine line.
        blocks.retain(|(name, _)| *name != "machine");
    }
    let mut stdout = String::new();
    for (_, text) in &blocks {
        stdout.push_str(text);
        stdout.push('\n');
    }
    println!("\n{stdout}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    write_benchmarks_md(&path, &blocks)?;
    log(&format!(
        "wrote {} (whole run {:.0} s)",
        path.display(),
        total.as_secs_f64()
    ));
    if let Some((db, fixture)) = seeded {
        let work_dir = fixture.work_dir.clone();
        drop(fixture);
        if settings.keep_db {
            db.keep();
        } else {
            // Server logs; kept only when the run fails or with ZQ_BENCH_KEEP_DB=1.
            let _ = std::fs::remove_dir_all(work_dir);
        }
    }
    Ok(())
}

/// `value` as one shell word (single-quoted unless it is plain).
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

fn log(message: &str) {
    eprintln!(
        "[zq-bench {}] {message}",
        chrono::Utc::now().format("%H:%M:%S")
    );
}

/// Durations and sizes, overridable from the environment.
#[derive(Clone, Debug)]
struct Settings {
    login_secs: u64,
    browse_secs: u64,
    storm_secs: u64,
    rush_cap_secs: u64,
    residents: usize,
    /// How long the browse baseline (`browse.sh`) runs.
    pgbench_secs: u64,
    baselines: Baselines,
    keep_db: bool,
    /// Extra `KEY=VALUE` pairs (`;`-separated) for the server's environment, for experiments.
    server_env: Vec<(String, String)>,
}

impl Settings {
    fn from_env() -> Self {
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            login_secs: num("ZQ_BENCH_LOGIN_SECS", 10),
            browse_secs: num("ZQ_BENCH_BROWSE_SECS", 20),
            storm_secs: num("ZQ_BENCH_STORM_SECS", 12),
            rush_cap_secs: num("ZQ_BENCH_RUSH_SECS", 60),
            residents: num("ZQ_BENCH_RESIDENTS", 10_500).max(10_001) as usize,
            pgbench_secs: num("ZQ_BENCH_PGBENCH_SECS", 10),
            baselines: Baselines::locate(),
            keep_db: std::env::var("ZQ_BENCH_KEEP_DB").is_ok_and(|v| v == "1"),
            server_env: std::env::var("ZQ_BENCH_SERVER_ENV")
                .unwrap_or_default()
                .split(';')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: the admin connection, the throwaway database
// ---------------------------------------------------------------------------------------

/// A connection to the `postgres` maintenance database.
struct Postgres {
    admin: PgPool,
}

fn pg_url(db: &str) -> String {
    format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}")
}

impl Postgres {
    /// Connects, starting the local cluster first if it is down.
    async fn connect() -> BoxResult<Self> {
        let url = pg_url("postgres");
        if let Ok(pool) = pool(&url, 2).await {
            return Ok(Self { admin: pool });
        }
        log("PostgreSQL is not answering; starting the local cluster");
        let version = std::fs::read_dir("/etc/postgresql")?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .max()
            .ok_or("no cluster under /etc/postgresql")?;
        let status = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status()?;
        if !status.success() {
            return Err(format!("pg_ctlcluster {version} main start failed").into());
        }
        for _ in 0..60 {
            if let Ok(pool) = pool(&url, 2).await {
                return Ok(Self { admin: pool });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err("PostgreSQL did not come up on 127.0.0.1:5432".into())
    }

    async fn version(&self) -> BoxResult<String> {
        Ok(sqlx::query_scalar::<_, String>("SHOW server_version")
            .fetch_one(&self.admin)
            .await?)
    }

    async fn settings_line(&self) -> BoxResult<String> {
        let mut parts = Vec::new();
        for name in [
            "max_connections",
            "shared_buffers",
            "synchronous_commit",
            "fsync",
        ] {
            let value: String = sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(&self.admin)
                .await?;
            parts.push(format!("{name}={value}"));
        }
        Ok(parts.join(", "))
    }

    /// Connections a baseline's pgbench may open without starving everyone else on the
    /// shared server.
    async fn free_connections(&self) -> BoxResult<usize> {
        let row = sqlx::query(
            "SELECT current_setting('max_connections')::int AS max, \
             (SELECT count(*) FROM pg_stat_activity)::int AS used",
        )
        .fetch_one(&self.admin)
        .await?;
        let max: i32 = row.try_get("max")?;
        let used: i32 = row.try_get("used")?;
        Ok((max - used - 8).max(1) as usize)
    }
}

async fn pool(url: &str, max: u32) -> BoxResult<PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// `zq_bench_<pid>`, dropped (with psql, so it also works while unwinding) at the end.
struct TempDb {
    name: String,
    keep: AtomicBool,
}

impl TempDb {
    async fn create(pg: &Postgres) -> BoxResult<Self> {
        Self::named(pg, &format!("zq_bench_{}", std::process::id())).await
    }

    /// A fresh database `name` (an existing one of that name is dropped first).
    async fn named(pg: &Postgres, name: &str) -> BoxResult<Self> {
        let name = name.to_owned();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pg.admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pg.admin)
            .await?;
        Ok(Self {
            name,
            keep: AtomicBool::new(false),
        })
    }

    /// A database this run did not create (its caller keeps it with [`TempDb::keep`]).
    fn existing(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            keep: AtomicBool::new(false),
        }
    }

    fn url(&self) -> String {
        pg_url(&self.name)
    }

    fn keep(&self) {
        self.keep.store(true, Ordering::SeqCst);
        log(&format!("kept database {} (drop it yourself)", self.name));
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if self.keep.load(Ordering::SeqCst) {
            return;
        }
        let result = Command::new("psql")
            .args([
                "-h",
                PG_HOST,
                "-p",
                &PG_PORT.to_string(),
                "-U",
                PG_USER,
                "-d",
                "postgres",
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .status();
        match result {
            Ok(s) if s.success() => log(&format!("database {} dropped", self.name)),
            _ => log(&format!("could not drop database {}", self.name)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

/// A running zouqin child process; killed when dropped.
struct Server {
    child: Child,
    pid: u32,
    base: String,
    stderr_path: PathBuf,
}

/// What a server runs against: its database, its signing secret, where its log goes.
struct ServerTarget {
    db_url: String,
    secret: String,
    work_dir: PathBuf,
    server_env: Vec<(String, String)>,
}

impl Server {
    async fn start(fx: &Fixture, tag: &str, rust_log: &str) -> BoxResult<Self> {
        Self::start_with(fx, tag, rust_log, &[]).await
    }

    /// Like [`Server::start`], with extra environment for this server only.
    async fn start_with(
        fx: &Fixture,
        tag: &str,
        rust_log: &str,
        env: &[(&str, &str)],
    ) -> BoxResult<Self> {
        let mut server_env = fx.server_env.clone();
        server_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let target = ServerTarget {
            db_url: fx.db_url.clone(),
            secret: fx.secret.clone(),
            work_dir: fx.work_dir.clone(),
            server_env,
        };
        Self::start_on(&target, tag, rust_log).await
    }

    async fn start_on(fx: &ServerTarget, tag: &str, rust_log: &str) -> BoxResult<Self> {
        let port = free_port()?;
        let stderr_path = fx.work_dir.join(format!("server-{tag}.log"));
        let stderr = std::fs::File::create(&stderr_path)?;
        let child = Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", &fx.db_url)
            .env("ZOUQIN_BIND", format!("127.0.0.1:{port}"))
            .env("ZOUQIN_JWT_SECRET", &fx.secret)
            .env("ZOUQIN_IP_RATE_LIMIT", "0")
            .env("RUST_LOG", rust_log)
            .envs(fx.server_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // tracing's fmt subscriber writes to stdout; errors go to stderr.
            .stdout(stderr.try_clone()?)
            .stderr(stderr)
            .spawn()?;
        let pid = child.id();
        let mut server = Self {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            stderr_path,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "zouqin exited ({status}) before it was ready; see {}",
                    server.stderr_path.display()
                )
                .into());
            }
            let ready = client
                .get(format!("{}/readyz", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("zouqin did not become ready within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base)
    }

    /// Peak resident set size so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid, "VmHWM:") as f64 / 1024.0
    }

    fn cpu_ticks(&self) -> u64 {
        proc_cpu_ticks(self.pid).unwrap_or(0)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it lingers.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> BoxResult<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU ticks of the PostgreSQL backends serving one database, by pid.
async fn backend_ticks(pool: &PgPool, db: &str) -> HashMap<u32, u64> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(db)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    pids.into_iter()
        .filter_map(|p| {
            let pid = p as u32;
            proc_cpu_ticks(pid).map(|t| (pid, t))
        })
        .collect()
}

fn ticks_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(*before.get(pid).unwrap_or(&0)))
        .sum()
}

// ---------------------------------------------------------------------------------------
// GraphQL over HTTP
// ---------------------------------------------------------------------------------------

/// A GraphQL client for one server.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    fn new(server: &Server) -> BoxResult<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(60))
                .build()?,
            url: server.graphql_url(),
        })
    }

    /// One request: `Ok(data)`, or `Err(code)` (the first error's `extensions.code`,
    /// `HTTP_<status>` or `TRANSPORT`).
    async fn call(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<Value, String> {
        let mut request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|_| "TRANSPORT".to_owned())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|_| "TRANSPORT".to_owned())?;
        let mut value: Value =
            serde_json::from_slice(&body).map_err(|_| format!("HTTP_{}", status.as_u16()))?;
        if let Some(error) = value.get("errors").and_then(|e| e.get(0)) {
            let code = error
                .pointer("/extensions/code")
                .and_then(Value::as_str)
                .unwrap_or("NO_CODE");
            // Sold out for this resident's center while other centers' shares have seats:
            // not the end of a rush.
            if code == "SOLD_OUT" && error.pointer("/extensions/sharesReleaseAt").is_some() {
                return Err("SOLD_OUT_FOR_CENTER".to_owned());
            }
            return Err(code.to_owned());
        }
        if !status.is_success() {
            return Err(format!("HTTP_{}", status.as_u16()));
        }
        Ok(value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// Like `call`, for setup steps: any error stops the bench, with the message.
    async fn must(&self, token: Option<&str>, query: &str, variables: Value) -> BoxResult<Value> {
        let mut request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut value: Value = request.send().await?.json().await?;
        if let Some(errors) = value.get("errors") {
            return Err(format!("GraphQL error in setup: {errors}").into());
        }
        Ok(value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }
}

/// The row id inside a global id (`base64url("Type:123")`).
fn raw_id(global: &str) -> BoxResult<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(global)?)?;
    let (_, id) = text.split_once(':').ok_or("not a global id")?;
    Ok(id.parse()?)
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> BoxResult<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {pointer} in {value}").into())
}

// ---------------------------------------------------------------------------------------
// Fixture: the seeded database every scenario shares
// ---------------------------------------------------------------------------------------

struct Resident {
    email: String,
    token: String,
}

struct Fixture {
    db_name: String,
    db_url: String,
    secret: String,
    work_dir: PathBuf,
    server_env: Vec<(String, String)>,
    pool: PgPool,
    residents: Arc<Vec<Resident>>,
    arena_id: String,
    hall_id: String,
    /// A small performance the statement profile books on.
    profile_perf: String,
    /// Days ahead for the next performance at the arena (one per day: no overlaps).
    next_arena_day: AtomicI64,
    /// Pinghu and Jinshan: residents alternate between them (the shares run splits the
    /// arena 50/50 between them).
    share_centers: [String; 2],
}

impl Fixture {
    async fn setup(_pg: &Postgres, db: &TempDb, settings: &Settings) -> BoxResult<Self> {
        let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("zq-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work_dir)?;
        let secret = format!(
            "zq-bench-secret-{}-{:016x}{:016x}",
            std::process::id(),
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        // Demo centers, admins and performances (also runs the migrations).
        let out = Command::new(BIN)
            .arg("seed-demo")
            .env("DATABASE_URL", db.url())
            .env("ZOUQIN_DEMO_PASSWORD", DEMO_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "zouqin seed-demo failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let pool = pool(&db.url(), 4).await?;
        let mut fx = Self {
            db_name: db.name.clone(),
            db_url: db.url(),
            secret,
            work_dir,
            server_env: settings.server_env.clone(),
            pool,
            residents: Arc::new(Vec::new()),
            arena_id: String::new(),
            hall_id: String::new(),
            profile_perf: String::new(),
            next_arena_day: AtomicI64::new(200),
            share_centers: Default::default(),
        };
        let server = Server::start(&fx, "setup", "warn").await?;
        let api = Api::new(&server)?;
        let admin = fx.admin_token(&api).await?;
        let centers = api.must(None, "{ centers { id code } }", json!({})).await?;
        let center = |code: &str| {
            centers["centers"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["code"] == code))
                .and_then(|c| c["id"].as_str())
                .map(str::to_owned)
                .ok_or(format!("no {code} center after seed-demo"))
        };
        let home_center = center("pinghu")?;
        fx.share_centers = [home_center.clone(), center("jinshan")?];
        fx.arena_id =
            create_venue(&api, &admin, "Bench Arena", ARENA_ROWS, ARENA_ROW_SEATS).await?;
        fx.hall_id = create_venue(&api, &admin, "Bench Hall", HALL_ROWS, HALL_ROW_SEATS).await?;
        for n in 0..BROWSE_EXTRA_PERFORMANCES {
            let title = format!("Bench concert {n:02}");
            schedule_and_publish(&api, &admin, &fx.hall_id, &title, 30 + n as i64, json!({}))
                .await?;
        }
        fx.profile_perf =
            schedule_and_publish(&api, &admin, &fx.hall_id, "Profile", 29, json!({})).await?;
        // One resident through the API: its argon2 hash is copied to all the others, and its
        // token shows the claims the server issues (so minted tokens have the same shape).
        let first_email = resident_email(0);
        let registered = api
            .must(
                None,
                "mutation($input: RegisterResidentInput!) { registerResident(input: $input) { accessToken account { id } } }",
                json!({ "input": {
                    "email": first_email,
                    "password": RESIDENT_PASSWORD,
                    "displayName": "Bench resident 0",
                    "homeCenterId": home_center,
                }}),
            )
            .await?;
        let template = claims_of(str_at(&registered, "/registerResident/accessToken")?)?;
        let first_id = raw_id(str_at(&registered, "/registerResident/account/id")?)?;
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM account WHERE id = $1")
            .bind(first_id)
            .fetch_one(&fx.pool)
            .await?;
        sqlx::query(
            "INSERT INTO account (email, password_hash, display_name, role, home_center_id, active, created_at) \
             SELECT 'bench-r' || lpad(g::text, 6, '0') || '@bench.example', $1, 'Bench resident ' || g, \
                    'RESIDENT', CASE WHEN g % 2 = 0 THEN $2 ELSE $4 END, TRUE, now() \
             FROM generate_series(1, $3) AS g",
        )
        .bind(&hash)
        .bind(raw_id(&home_center)?)
        .bind(settings.residents as i64 - 1)
        .bind(raw_id(&fx.share_centers[1])?)
        .execute(&fx.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT id, email FROM account WHERE email LIKE 'bench-r%@bench.example' ORDER BY email",
        )
        .fetch_all(&fx.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("email")?)))
            .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
        let residents = mint(&fx.secret, &template, rows)?;
        // A minted token must be accepted as that resident.
        let probe = residents.get(1).ok_or("no residents")?;
        let me = api
            .must(Some(&probe.token), "{ me { email } }", json!({}))
            .await?;
        if me.pointer("/me/email").and_then(Value::as_str) != Some(probe.email.as_str()) {
            return Err(format!("a minted token was not accepted: {me}").into());
        }
        fx.residents = Arc::new(residents);
        server.stop();
        Ok(fx)
    }

    async fn admin_token(&self, api: &Api) -> BoxResult<String> {
        let data = api
            .must(
                None,
                LOGIN_MUTATION,
                json!({ "e": ADMIN_EMAIL, "p": DEMO_PASSWORD }),
            )
            .await?;
        Ok(str_at(&data, "/login/accessToken")?.to_owned())
    }

    /// A fresh published performance at the 20,000-seat arena: (global id, row id).
    async fn arena_performance(
        &self,
        api: &Api,
        admin: &str,
        title: &str,
        extra: Value,
    ) -> BoxResult<(String, i64)> {
        let day = self.next_arena_day.fetch_add(1, Ordering::SeqCst);
        let id = schedule_and_publish(api, admin, &self.arena_id, title, day, extra).await?;
        let raw = raw_id(&id)?;
        Ok((id, raw))
    }
}

/// `base` with `extra`'s fields added (objects only).
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

fn resident_email(n: usize) -> String {
    format!("bench-r{n:06}@bench.example")
}

/// Access tokens for `rows` (id, email): `template`'s claims (a real token's) with `sub`,
/// `iat`, `exp` and `jti` replaced, signed with the server's secret, so no argon2 runs in
/// the setup.
fn mint(secret: &str, template: &Value, rows: Vec<(i64, String)>) -> BoxResult<Vec<Resident>> {
    let now = chrono::Utc::now().timestamp();
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?;
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let mut residents = Vec::with_capacity(rows.len());
    for (id, email) in rows {
        let mut claims = template.clone();
        claims["sub"] = json!(id.to_string());
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 3 * 3600);
        claims["jti"] = json!(format!("{:032x}", rand::random::<u128>()));
        residents.push(Resident {
            email,
            token: jsonwebtoken::encode(&header, &claims, &key)?,
        });
    }
    Ok(residents)
}

/// The JSON claims of a JWT (not verified: it is ours).
fn claims_of(token: &str) -> BoxResult<Value> {
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

async fn create_venue(
    api: &Api,
    admin: &str,
    name: &str,
    rows: usize,
    seats: usize,
) -> BoxResult<String> {
    let rows: Vec<Value> = (1..=rows)
        .map(|r| json!({ "label": format!("R{r:03}"), "seats": seats }))
        .collect();
    let data = api
        .must(
            Some(admin),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id capacity } }",
            json!({ "input": {
                "name": name,
                "address": "1 Benchmark Road, Pinghu",
                "kind": "THEATER",
                "seating": "RESERVED",
                "sections": [{ "name": "Stalls", "rows": rows }],
            }}),
        )
        .await?;
    Ok(str_at(&data, "/createVenue/id")?.to_owned())
}

async fn schedule_and_publish(
    api: &Api,
    admin: &str,
    venue: &str,
    title: &str,
    days_ahead: i64,
    extra: Value,
) -> BoxResult<String> {
    let day = (chrono::Utc::now() + chrono::Duration::days(days_ahead)).date_naive();
    let data = api
        .must(
            Some(admin),
            "mutation($input: SchedulePerformanceInput!) { schedulePerformance(input: $input) { id } }",
            json!({ "input": merged(json!({
                "venueId": venue,
                "title": title,
                "category": "CONCERT",
                "startsAt": format!("{day}T11:00:00Z"),
                "endsAt": format!("{day}T13:00:00Z"),
                "perResidentLimit": 4,
            }), extra) }),
        )
        .await?;
    let id = str_at(&data, "/schedulePerformance/id")?.to_owned();
    api.must(
        Some(admin),
        "mutation($id: ID!) { publishPerformance(id: $id) { id status } }",
        json!({ "id": id }),
    )
    .await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------
// Load loops and latency statistics
// ---------------------------------------------------------------------------------------

/// Latencies of successful requests and counts of every outcome.
#[derive(Default, Clone, Debug)]
struct Sample {
    latencies_us: Vec<u64>,
    ok: u64,
    codes: BTreeMap<String, u64>,
    elapsed: Duration,
}

impl Sample {
    fn absorb(&mut self, other: Sample) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
    }

    fn finish(mut self, elapsed: Duration) -> Self {
        self.latencies_us.sort_unstable();
        self.elapsed = elapsed;
        self
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the successful requests' latency, in ms.
    fn ms(&self, q: f64) -> f64 {
        percentile_ms(&self.latencies_us, q)
    }

    /// The mean latency of the successful requests, in ms (what pgbench's
    /// `latency average` is for the baselines).
    fn mean_ms(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.iter().sum::<u64>() as f64 / self.latencies_us.len() as f64 / 1000.0
    }

    fn codes_text(&self) -> String {
        if self.codes.is_empty() {
            return "none".to_owned();
        }
        self.codes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// Runs `concurrency` workers that each send one request after another until `duration`
/// passes or `stop` is set (closed loop: latency includes no queueing in the generator).
async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    stop: Arc<AtomicBool>,
    request: F,
) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let request = request.clone();
        let counter = counter.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match request(n).await {
                    Ok(()) => {
                        sample.ok += 1;
                        sample.latencies_us.push(t.elapsed().as_micros() as u64);
                    }
                    Err(code) => *sample.codes.entry(code).or_default() += 1,
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for worker in workers {
        if let Ok(sample) = worker.await {
            total.absorb(sample);
        }
    }
    total.finish(started.elapsed())
}

fn browse_request(
    api: &Api,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    move |_| {
        let api = api.clone();
        Box::pin(async move {
            let data = api.call(None, BROWSE_QUERY, json!({})).await?;
            match data
                .pointer("/performances/edges")
                .and_then(Value::as_array)
            {
                Some(edges) if edges.len() == 20 => Ok(()),
                _ => Err("SHORT_PAGE".to_owned()),
            }
        })
    }
}

/// The browse query with a resident's token (request `i` uses resident `i` mod their number).
fn signed_in_browse_request(
    api: &Api,
    residents: &Arc<Vec<Resident>>,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    let residents = residents.clone();
    move |i| {
        let api = api.clone();
        let residents = residents.clone();
        Box::pin(async move {
            let token = &residents[i % residents.len().max(1)].token;
            let data = api.call(Some(token), BROWSE_QUERY, json!({})).await?;
            match data
                .pointer("/performances/edges")
                .and_then(Value::as_array)
            {
                Some(edges) if edges.len() == 20 => Ok(()),
                _ => Err("SHORT_PAGE".to_owned()),
            }
        })
    }
}

fn cheap_request(
    api: &Api,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    move |_| {
        let api = api.clone();
        Box::pin(async move { api.call(None, CHEAP_QUERY, json!({})).await.map(|_| ()) })
    }
}

fn login_request(
    api: &Api,
    residents: &Arc<Vec<Resident>>,
    offset: usize,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    let residents = residents.clone();
    move |n| {
        let api = api.clone();
        let email = residents[(offset + n) % residents.len()].email.clone();
        Box::pin(async move {
            api.call(
                None,
                LOGIN_MUTATION,
                json!({ "e": email, "p": RESIDENT_PASSWORD }),
            )
            .await
            .map(|_| ())
        })
    }
}

/// A short unmeasured run, so pool connections and keep-alive sockets exist before timing.
async fn warm_up(api: &Api) {
    let _ = closed_loop(
        8,
        Duration::from_millis(1500),
        Arc::new(AtomicBool::new(false)),
        browse_request(api),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------------------

struct LoginResult {
    concurrency: usize,
    sample: Sample,
    rss_mib: f64,
    cpu_ms_per_login: f64,
}

async fn login_scenario(fx: &Arc<Fixture>, settings: &Settings) -> BoxResult<LoginResult> {
    let server = Server::start(fx, "login", "warn").await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let concurrency = 8;
    let cpu_before = server.cpu_ticks();
    let sample = closed_loop(
        concurrency,
        Duration::from_secs(settings.login_secs),
        Arc::new(AtomicBool::new(false)),
        login_request(&api, &fx.residents, 0),
    )
    .await;
    let cpu = server.cpu_ticks().saturating_sub(cpu_before);
    let rss_mib = server.peak_rss_mib();
    server.stop();
    Ok(LoginResult {
        concurrency,
        cpu_ms_per_login: cpu as f64 * 1000.0 / clock_ticks_per_sec() / sample.ok.max(1) as f64,
        sample,
        rss_mib,
    })
}

// ---------------------------------------------------------------------------------------
// browse (+ the shared baseline `browse.sh`)
// ---------------------------------------------------------------------------------------

struct BrowseResult {
    concurrency: usize,
    sample: Sample,
    rss_mib: f64,
    cpu_ms_per_request: f64,
    pg_cpu_ms_per_request: f64,
    gen_cpu_ms_per_request: f64,
    /// `browse.sh CLIENTS SECONDS`, or why it did not run.
    baseline: Baseline,
    baseline_secs: u64,
    /// The same query with a resident's access token on every request: what verifying the
    /// token and checking it against the revocation snapshot costs (anonymous requests skip
    /// both).
    signed_in: Sample,
    /// Anonymous again, on a server with the public answer cache off.
    uncached: Sample,
    uncached_cpu_ms_per_request: f64,
    /// Anonymous, cache off, reads on a hot standby (or why that did not run).
    replica: Result<Sample, String>,
}

async fn browse_scenario(
    fx: &Arc<Fixture>,
    pg: &Postgres,
    settings: &Settings,
) -> BoxResult<BrowseResult> {
    let server = Server::start(fx, "browse", "warn").await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let concurrency = 32;
    let cpu_before = server.cpu_ticks();
    let gen_before = proc_cpu_ticks(std::process::id()).unwrap_or(0);
    let pg_before = backend_ticks(&fx.pool, &fx.db_name).await;
    let sample = anonymous_browse(&api, concurrency, settings).await;
    let pg_after = backend_ticks(&fx.pool, &fx.db_name).await;
    let cpu = server.cpu_ticks().saturating_sub(cpu_before);
    let gen_cpu = proc_cpu_ticks(std::process::id())
        .unwrap_or(0)
        .saturating_sub(gen_before);
    // Then signed in, on the same server right after (the tokens are the residents').
    let signed_in = closed_loop(
        concurrency,
        Duration::from_secs(settings.browse_secs),
        Arc::new(AtomicBool::new(false)),
        signed_in_browse_request(&api, &fx.residents),
    )
    .await;
    let rss_mib = server.peak_rss_mib();
    server.stop();
    // Then anonymous again on a server without the public answer cache: every request
    // executes the query.
    let uncached_server = Server::start_with(
        fx,
        "browse-uncached",
        "warn",
        &[("ZOUQIN_PUBLIC_CACHE_MS", "0")],
    )
    .await?;
    let uncached_api = Api::new(&uncached_server)?;
    warm_up(&uncached_api).await;
    let uncached_before = uncached_server.cpu_ticks();
    let uncached = anonymous_browse(&uncached_api, concurrency, settings).await;
    let uncached_cpu = uncached_server.cpu_ticks().saturating_sub(uncached_before);
    uncached_server.stop();
    let replica = replica_browse(fx, concurrency, settings).await;
    let per = |ticks: u64| ticks as f64 * 1000.0 / clock_ticks_per_sec() / sample.ok.max(1) as f64;
    // The shared baseline, as it is, with zouqin's concurrency (capped by the free connections).
    let clients = concurrency.min(pg.free_connections().await?);
    let baseline = run_baseline(
        &settings.baselines,
        "browse.sh",
        clients,
        &[clients.to_string(), settings.pgbench_secs.to_string()],
        &[],
    )
    .await;
    Ok(BrowseResult {
        concurrency,
        cpu_ms_per_request: per(cpu),
        pg_cpu_ms_per_request: per(ticks_between(&pg_before, &pg_after)),
        gen_cpu_ms_per_request: per(gen_cpu),
        sample,
        rss_mib,
        baseline,
        baseline_secs: settings.pgbench_secs,
        signed_in,
        uncached_cpu_ms_per_request: uncached_cpu as f64 * 1000.0
            / clock_ticks_per_sec()
            / uncached.ok.max(1) as f64,
        uncached,
        replica,
    })
}

/// The browse query, anonymous, `concurrency` clients for the browse phase's time.
async fn anonymous_browse(api: &Api, concurrency: usize, settings: &Settings) -> Sample {
    closed_loop(
        concurrency,
        Duration::from_secs(settings.browse_secs),
        Arc::new(AtomicBool::new(false)),
        browse_request(api),
    )
    .await
}

/// Anonymous browse, public cache off, on a server whose anonymous reads go to a hot
/// standby of the bench's PostgreSQL (a base backup on this machine, another port): what the
/// replica takes off the primary. Or why it could not run.
async fn replica_browse(
    fx: &Arc<Fixture>,
    concurrency: usize,
    settings: &Settings,
) -> Result<Sample, String> {
    let primary = format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres");
    let standby = tokio::task::spawn_blocking(move || standby::Standby::start_from(&primary))
        .await
        .map_err(|e| e.to_string())??;
    let read_url = standby.url(&fx.db_name);
    let server = Server::start_with(
        fx,
        "browse-replica",
        "warn",
        &[
            ("ZOUQIN_PUBLIC_CACHE_MS", "0"),
            ("ZOUQIN_READ_DATABASE_URL", read_url.as_str()),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let api = Api::new(&server).map_err(|e| e.to_string())?;
    // Wait until the server finds the standby fresh (it polls every 100 ms).
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if metrics
            .lines()
            .any(|l| l.trim() == "zouqin_replica_fresh 1")
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the standby never became fresh".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    warm_up(&api).await;
    let sample = anonymous_browse(&api, concurrency, settings).await;
    server.stop();
    drop(standby);
    Ok(sample)
}

// ---------------------------------------------------------------------------------------
// storm: browse and a cheap query, idle and during continuous logins
// ---------------------------------------------------------------------------------------

struct StormResult {
    cheap_idle: Sample,
    browse_idle: Sample,
    browse_storm: Sample,
    cheap_storm: Sample,
    logins: Sample,
    rss_mib: f64,
}

async fn storm_scenario(fx: &Arc<Fixture>, settings: &Settings) -> BoxResult<StormResult> {
    // The storm asks whether logins starve the requests that run beside them, so every
    // request here executes: with the public answer cache on, idle browsing is served from
    // memory and each login's commit turns hits back into executions, and the ratio would
    // measure the cache's hit rate instead.
    let server =
        Server::start_with(fx, "storm", "warn", &[("ZOUQIN_PUBLIC_CACHE_MS", "0")]).await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let phase = Duration::from_secs(settings.storm_secs);
    let cheap_phase = Duration::from_secs(settings.storm_secs.div_ceil(2).max(4));
    let never = || Arc::new(AtomicBool::new(false));
    let cheap_idle = closed_loop(8, cheap_phase, never(), cheap_request(&api)).await;
    let browse_idle = closed_loop(32, phase, never(), browse_request(&api)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let storm = tokio::spawn(closed_loop(
        STORM_LOGINS,
        Duration::from_secs(3600),
        stop.clone(),
        // Other accounts than the login scenario used, so no account sees a burst twice.
        login_request(&api, &fx.residents, 5_000),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let browse_storm = closed_loop(32, phase, never(), browse_request(&api)).await;
    let cheap_storm = closed_loop(8, cheap_phase, never(), cheap_request(&api)).await;
    stop.store(true, Ordering::SeqCst);
    let logins = storm.await.map_err(|e| format!("login storm task: {e}"))?;
    let rss_mib = server.peak_rss_mib();
    server.stop();
    Ok(StormResult {
        cheap_idle,
        browse_idle,
        browse_storm,
        cheap_storm,
        logins,
        rss_mib,
    })
}

// ---------------------------------------------------------------------------------------
// rush: sell out a 20,000-seat performance, 2 seats per resident
// ---------------------------------------------------------------------------------------

struct RushRun {
    concurrency: usize,
    /// The performance's seats are all in two 50/50 seat shares.
    shares: bool,
    sample: Sample,
    sold_out: bool,
    split: u64,
    check: Inventory,
    rss_mib: f64,
    cpu_ms: f64,
    pg_cpu_ms: f64,
    gen_cpu_ms: f64,
    /// `SEATS=<capacity> rush.sh CLIENTS`, or why it did not run.
    baseline: Baseline,
}

impl RushRun {
    fn label(&self) -> String {
        if self.shares {
            format!("{} (shares 50/50)", self.concurrency)
        } else {
            self.concurrency.to_string()
        }
    }
}

struct RushResult {
    runs: Vec<RushRun>,
    free_seat_reads: Vec<ReadCost>,
    capacity: usize,
    residents: usize,
    cap_secs: u64,
}

/// What one booking and one browse request cost in SQL, read from sqlx's statement log.
#[derive(Default)]
struct Profile {
    browse_statements: Vec<String>,
    cheap_statements: Vec<String>,
    /// The first booking of a performance on a fresh server (its caches empty).
    first_booking_statements: Vec<String>,
    /// The next booking of the same performance.
    booking_statements: Vec<String>,
}

impl Profile {
    /// Round trips of one booking: the logged statements, plus BEGIN (sqlx does not log it).
    fn booking_round_trips(&self) -> usize {
        let begin_logged = self
            .booking_statements
            .iter()
            .any(|s| s.starts_with("BEGIN"));
        let committed = self
            .booking_statements
            .iter()
            .any(|s| s.starts_with("COMMIT"));
        self.booking_statements.len() + usize::from(committed && !begin_logged)
    }
}

async fn rush_scenario(
    fx: &Arc<Fixture>,
    pg: &Postgres,
    settings: &Settings,
) -> BoxResult<RushResult> {
    let capacity = ARENA_ROWS * ARENA_ROW_SEATS;
    // Every performance first (publication writes its 20,000 inventory rows), then the runs.
    let server = Server::start(fx, "rush-setup", "warn").await?;
    let api = Api::new(&server)?;
    let admin = fx.admin_token(&api).await?;
    let mut performances = Vec::new();
    for c in RUSH_LEVELS {
        let zouqin = fx
            .arena_performance(&api, &admin, &format!("Rush c={c}"), json!({}))
            .await?;
        performances.push((c, false, zouqin));
    }
    // The same rush on a performance whose seats are all kept in two shares, half for
    // Pinghu's residents and half for Jinshan's (the residents alternate between the two).
    let half = capacity / 2;
    let shares = json!({ "seatShares": [
        { "centerId": fx.share_centers[0], "seats": half },
        { "centerId": fx.share_centers[1], "seats": capacity - half },
    ]});
    let shared = fx
        .arena_performance(&api, &admin, "Rush c=32 shares 50/50", shares)
        .await?;
    performances.push((SHARES_RUSH_CLIENTS, true, shared));
    server.stop();
    // The one read the booking transaction does on every booking, at 20,000 free seats.
    let first = performances
        .first()
        .map(|p| p.2.1)
        .ok_or("no rush performance")?;
    let free_seat_reads = free_seat_reads(&fx.pool, first).await?;

    let mut runs = Vec::new();
    for (c, shares, (perf_gid, perf_id)) in performances {
        log(&format!(
            "rush at concurrency {c}{} …",
            if shares { " with shares" } else { "" }
        ));
        let server = Server::start(fx, &format!("rush-{c}"), "warn").await?;
        let api = Api::new(&server)?;
        let _ = closed_loop(
            c.min(16),
            Duration::from_millis(500),
            Arc::new(AtomicBool::new(false)),
            cheap_request(&api),
        )
        .await;
        let cpu_before = server.cpu_ticks();
        let gen_before = proc_cpu_ticks(std::process::id()).unwrap_or(0);
        let pg_before = backend_ticks(&fx.pool, &fx.db_name).await;
        let (sample, sold_out, split) = rush_run(
            &api,
            &fx.residents,
            &perf_gid,
            c,
            Duration::from_secs(settings.rush_cap_secs),
        )
        .await;
        let pg_after = backend_ticks(&fx.pool, &fx.db_name).await;
        let tick_ms = 1000.0 / clock_ticks_per_sec() / sample.ok.max(1) as f64;
        let cpu_ms = server.cpu_ticks().saturating_sub(cpu_before) as f64 * tick_ms;
        let gen_cpu_ms = proc_cpu_ticks(std::process::id())
            .unwrap_or(0)
            .saturating_sub(gen_before) as f64
            * tick_ms;
        let pg_cpu_ms = ticks_between(&pg_before, &pg_after) as f64 * tick_ms;
        let rss_mib = server.peak_rss_mib();
        server.stop();
        let check = Inventory::of(&fx.pool, perf_id).await?;
        log(&format!(
            "rush c={c}: {} bookings in {:.1} s ({:.0}/s), codes: {}",
            sample.ok,
            sample.elapsed.as_secs_f64(),
            sample.rate(),
            sample.codes_text()
        ));
        // The shared baseline, as it is: a hall of the same size sold by one statement a
        // booking, at the same client count (capped by the free connections).
        let clients = c.min(pg.free_connections().await?);
        let baseline = run_baseline(
            &settings.baselines,
            "rush.sh",
            clients,
            &[clients.to_string()],
            &[("SEATS", capacity.to_string())],
        )
        .await;
        runs.push(RushRun {
            concurrency: c,
            shares,
            sample,
            sold_out,
            split,
            check,
            rss_mib,
            cpu_ms,
            pg_cpu_ms,
            gen_cpu_ms,
            baseline,
        });
    }
    Ok(RushResult {
        runs,
        free_seat_reads,
        capacity,
        residents: fx.residents.len(),
        cap_secs: settings.rush_cap_secs,
    })
}

/// Residents book 2 seats each, `concurrency` at a time, until SOLD_OUT or the time cap.
async fn rush_run(
    api: &Api,
    residents: &Arc<Vec<Resident>>,
    perf: &str,
    concurrency: usize,
    cap: Duration,
) -> (Sample, bool, u64) {
    let next = Arc::new(AtomicUsize::new(0));
    let sold_out = Arc::new(AtomicBool::new(false));
    let split = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + cap;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (api, residents, next, sold_out, split) = (
            api.clone(),
            residents.clone(),
            next.clone(),
            sold_out.clone(),
            split.clone(),
        );
        let perf = perf.to_owned();
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            while !sold_out.load(Ordering::Relaxed) && Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(resident) = residents.get(i) else { break };
                let t = Instant::now();
                let outcome = api
                    .call(
                        Some(&resident.token),
                        BOOK_MUTATION,
                        json!({ "input": { "performanceId": perf, "quantity": 2, "idempotencyKey": format!("rush-{perf}-{i}") } }),
                    )
                    .await;
                match outcome {
                    Ok(data) => {
                        sample.ok += 1;
                        sample.latencies_us.push(t.elapsed().as_micros() as u64);
                        if data.pointer("/bookSeats/seatsTogether") == Some(&Value::Bool(false)) {
                            split.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(code) => {
                        if code == "SOLD_OUT" {
                            sold_out.store(true, Ordering::Relaxed);
                        }
                        *sample.codes.entry(code).or_default() += 1;
                    }
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for worker in workers {
        if let Ok(sample) = worker.await {
            total.absorb(sample);
        }
    }
    let sample = total.finish(started.elapsed());
    (
        sample,
        sold_out.load(Ordering::SeqCst),
        split.load(Ordering::SeqCst) as u64,
    )
}

/// The state of one performance's inventory, checked in SQL after a run.
#[derive(Debug, Default, Clone)]
struct Inventory {
    capacity: i64,
    free: i64,
    confirmed: i64,
    live_tickets: i64,
    double_sold_inventory: i64,
    double_sold_seats: i64,
    mismatched: i64,
    partial_bookings: i64,
    /// Seats the seat-pool counters say are sold.
    pool_booked: i64,
}

impl Inventory {
    async fn of(pool: &PgPool, perf: i64) -> BoxResult<Self> {
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM inventory WHERE performance_id = $1) AS capacity, \
               (SELECT count(*) FROM inventory WHERE performance_id = $1 AND booking_id IS NULL) AS free, \
               (SELECT count(*) FROM booking WHERE performance_id = $1 AND status = 'CONFIRMED') AS confirmed, \
               (SELECT count(*) FROM ticket WHERE performance_id = $1 AND status <> 'CANCELLED') AS live_tickets, \
               (SELECT count(*) FROM (SELECT inventory_id FROM ticket WHERE performance_id = $1 AND status <> 'CANCELLED' \
                  GROUP BY inventory_id HAVING count(*) > 1) d) AS double_inv, \
               (SELECT count(*) FROM (SELECT seat_id FROM ticket WHERE performance_id = $1 AND status <> 'CANCELLED' \
                  AND seat_id IS NOT NULL GROUP BY seat_id HAVING count(*) > 1) d) AS double_seat, \
               (SELECT count(*) FROM ticket t JOIN inventory i ON i.id = t.inventory_id \
                  WHERE t.performance_id = $1 AND t.status <> 'CANCELLED' AND i.booking_id IS DISTINCT FROM t.booking_id) AS mismatched, \
               (SELECT count(*) FROM booking b WHERE b.performance_id = $1 AND b.status = 'CONFIRMED' AND b.quantity <> \
                  (SELECT count(*) FROM ticket t WHERE t.booking_id = b.id AND t.status <> 'CANCELLED')) AS partial, \
               (SELECT COALESCE(SUM(booked), 0)::int8 FROM seat_pool WHERE performance_id = $1) AS pool_booked",
        )
        .bind(perf)
        .fetch_one(pool)
        .await?;
        Ok(Self {
            capacity: row.try_get("capacity")?,
            free: row.try_get("free")?,
            confirmed: row.try_get("confirmed")?,
            live_tickets: row.try_get("live_tickets")?,
            double_sold_inventory: row.try_get("double_inv")?,
            double_sold_seats: row.try_get("double_seat")?,
            mismatched: row.try_get("mismatched")?,
            partial_bookings: row.try_get("partial")?,
            pool_booked: row.try_get("pool_booked")?,
        })
    }

    /// No seat in two live tickets, tickets and claims agree, bookings whole; when sold out,
    /// exactly capacity / 2 confirmed bookings.
    fn sound(&self, sold_out: bool) -> bool {
        self.double_sold_inventory == 0
            && self.double_sold_seats == 0
            && self.mismatched == 0
            && self.partial_bookings == 0
            && self.live_tickets == self.capacity - self.free
            && self.pool_booked == self.live_tickets
            && (!sold_out || self.confirmed == self.capacity / 2)
    }
}

/// Counts the SQL statements of one browse, one cheap query and one booking, from the
/// server's own statement log (`sqlx::query=debug`).
async fn statement_profile(fx: &Arc<Fixture>) -> BoxResult<Profile> {
    let perf = fx.profile_perf.as_str();
    let server = Server::start(fx, "profile", "warn,sqlx::query=debug").await?;
    let api = Api::new(&server)?;
    // Let the pool settle, then mark the log between requests.
    let _ = api.call(None, CHEAP_QUERY, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut marks = vec![log_len(&server.stderr_path)];
    let _ = api.call(None, BROWSE_QUERY, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    marks.push(log_len(&server.stderr_path));
    let _ = api.call(None, CHEAP_QUERY, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    marks.push(log_len(&server.stderr_path));
    let two = fx.residents.len().saturating_sub(2);
    for (i, resident) in fx.residents[two..].iter().enumerate() {
        api.call(
            Some(&resident.token),
            BOOK_MUTATION,
            json!({ "input": { "performanceId": perf, "quantity": 2, "idempotencyKey": format!("profile-{i}") } }),
        )
        .await
        .map_err(|code| format!("profile booking failed: {code}"))?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        marks.push(log_len(&server.stderr_path));
    }
    let text = std::fs::read_to_string(&server.stderr_path)?;
    server.stop();
    let between = |a: usize, b: usize| statements(&text[marks[a]..marks[b]]);
    Ok(Profile {
        browse_statements: between(0, 1),
        cheap_statements: between(1, 2),
        first_booking_statements: between(2, 3),
        booking_statements: between(3, 4),
    })
}

fn log_len(path: &Path) -> usize {
    std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// The statements in a stretch of sqlx's log, each shortened to its first words.
fn statements(log: &str) -> Vec<String> {
    strip_ansi(log)
        .lines()
        .filter(|l| l.contains("sqlx::query"))
        .map(|l| {
            let summary = l
                .split("summary=\"")
                .nth(1)
                .map(|rest| {
                    // The value ends at the first quote that is not escaped.
                    let mut out = String::new();
                    let mut chars = rest.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            other => out.push(other),
                        }
                    }
                    out
                })
                .unwrap_or_else(|| l.to_owned());
            summary
                .trim_end_matches('…')
                .trim()
                .chars()
                .take(70)
                .collect()
        })
        .collect()
}

/// Removes terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What one read of free seats costs on a fresh 20,000-seat performance.
struct ReadCost {
    what: &'static str,
    rows: usize,
    /// Inside PostgreSQL (EXPLAIN ANALYZE), median of 5.
    query_ms: f64,
    /// For a client to run it and receive every row, median of 5.
    fetch_ms: f64,
}

/// The two shapes of the best-available search's free-seat read (domain/booking.rs
/// `claim_best`): the whole hall in seat order (before commit 789bb1c) and one window of
/// 600 seats through the free-inventory index (since), on a performance nobody has booked.
async fn free_seat_reads(pool: &PgPool, perf: i64) -> BoxResult<Vec<ReadCost>> {
    const SHAPES: [(&str, &str); 2] = [
        (
            "whole hall, in seat order (before 789bb1c)",
            "SELECT i.id, i.seat_id, s.section_order, s.row_rank, s.number, s.row_size \
             FROM inventory i JOIN seat s ON s.id = i.seat_id \
             WHERE i.performance_id = $1 AND i.booking_id IS NULL \
             ORDER BY s.section_order, s.row_rank, s.number",
        ),
        (
            "one 600-seat window through `inventory_free_idx` (since 789bb1c)",
            "SELECT i.id, i.seat_id, i.place_no, s.section_order, s.row_rank, s.number, s.row_size \
             FROM inventory i JOIN seat s ON s.id = i.seat_id \
             WHERE i.performance_id = $1 AND i.booking_id IS NULL AND i.place_no > 0 \
             ORDER BY i.place_no LIMIT 600",
        ),
    ];
    let mut costs = Vec::new();
    for (what, sql) in SHAPES {
        let mut query_ms = Vec::new();
        let mut fetch_ms = Vec::new();
        let mut rows = 0;
        for _ in 0..5 {
            let plan: Value = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, FORMAT JSON) {sql}"
            )))
            .bind(perf)
            .fetch_one(pool)
            .await?;
            query_ms.push(
                plan.pointer("/0/Execution Time")
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::NAN),
            );
            let t = Instant::now();
            rows = sqlx::query(sql).bind(perf).fetch_all(pool).await?.len();
            fetch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        costs.push(ReadCost {
            what,
            rows,
            query_ms: median(&mut query_ms),
            fetch_ms: median(&mut fetch_ms),
        });
    }
    Ok(costs)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------------------------------
// Baselines: the shared pgbench scripts (`../shared/baselines`), run as they are
// ---------------------------------------------------------------------------------------

/// The files of the shared baselines the bench runs (the scripts and the SQL they feed pgbench).
const BASELINE_FILES: [&str; 4] = ["browse.sh", "browse.sql", "rush.sh", "booking.sql"];

/// Where the shared baseline scripts are: `ZQ_BENCH_BASELINES`, else
/// `<project root>/../shared/baselines`.
#[derive(Clone, Debug)]
struct Baselines {
    dir: PathBuf,
    /// How the directory was given, for the report.
    shown: String,
    /// Why the scripts cannot run, when they cannot (then no baseline and no ratio).
    missing: Option<String>,
    /// The first 12 hex digits of a sha256 over the files, so runs can tell whether the
    /// baselines they compare against changed.
    fingerprint: String,
}

impl Baselines {
    fn locate() -> Self {
        let (dir, shown) = match std::env::var("ZQ_BENCH_BASELINES") {
            Ok(d) if !d.is_empty() => (PathBuf::from(&d), format!("`{d}` (`ZQ_BENCH_BASELINES`)")),
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/baselines"),
                "`../shared/baselines` (the default)".to_owned(),
            ),
        };
        let absent: Vec<&str> = BASELINE_FILES
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        let missing = if !dir.is_dir() {
            Some(format!(
                "the baseline directory {} does not exist (set `ZQ_BENCH_BASELINES=<dir>`)",
                dir.display()
            ))
        } else if !absent.is_empty() {
            Some(format!(
                "{} missing in {} (set `ZQ_BENCH_BASELINES=<dir>`)",
                absent.join(", "),
                dir.display()
            ))
        } else {
            None
        };
        let fingerprint = match missing {
            Some(_) => String::new(),
            None => {
                use sha2::{Digest, Sha256};
                let mut hash = Sha256::new();
                for file in BASELINE_FILES {
                    hash.update(file.as_bytes());
                    hash.update(std::fs::read(dir.join(file)).unwrap_or_default());
                }
                let hex = format!("{:x}", hash.finalize());
                hex[..12].to_owned()
            }
        };
        Self {
            dir,
            shown,
            missing,
            fingerprint,
        }
    }
}

/// What one run of a baseline script printed. The scripts print pgbench's summary lines
/// (no per-transaction log), so there is an average latency and no percentiles.
struct BaselineRun {
    clients: usize,
    tps: f64,
    transactions: Option<u64>,
    latency_avg_ms: f64,
    /// `rush.sh`'s oversell check, when it printed one.
    check: Option<SoldCheck>,
}

/// A baseline run, or why there is none (directory missing, script failed, output not
/// understood): reported in place of the figures, never replaced by something else.
type Baseline = Result<BaselineRun, String>;

impl BaselineRun {
    /// Bookings per second: transactions that found no 2 free seats write nothing and do
    /// not count.
    fn bookings_rate(&self) -> f64 {
        match (&self.check, self.transactions) {
            (Some(check), Some(t)) if t > 0 => {
                self.tps * (check.bookings as f64 / t as f64).min(1.0)
            }
            _ => self.tps,
        }
    }
}

/// `rush.sh`'s last line: `bookings=… tickets=… seats_sold=… double_sold=…`.
struct SoldCheck {
    line: String,
    bookings: i64,
    tickets: i64,
    seats_sold: i64,
    double_sold: i64,
}

impl SoldCheck {
    fn parse(line: &str) -> Option<Self> {
        let mut fields = HashMap::new();
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=')?;
            fields.insert(k, v.parse::<i64>().ok()?);
        }
        Some(Self {
            line: line.trim().to_owned(),
            bookings: *fields.get("bookings")?,
            tickets: *fields.get("tickets")?,
            seats_sold: *fields.get("seats_sold")?,
            double_sold: *fields.get("double_sold")?,
        })
    }

    /// No seat in two tickets, 2 tickets a booking, every ticket's seat marked sold.
    fn sound(&self) -> bool {
        self.double_sold == 0
            && self.tickets == 2 * self.bookings
            && self.seats_sold == self.tickets
    }
}

/// Runs `<baselines>/<script> ARGS…` with `env` added, as it is, and reads what it prints.
async fn run_baseline(
    baselines: &Baselines,
    script: &str,
    clients: usize,
    args: &[String],
    env: &[(&str, String)],
) -> Baseline {
    if let Some(why) = &baselines.missing {
        log(&format!("no baseline for {script}: {why}"));
        return Err(why.clone());
    }
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain([script.to_owned()])
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    log(&format!("baseline: {shown} …"));
    let mut cmd = Command::new("bash");
    cmd.arg(baselines.dir.join(script))
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("`{script}` could not be started: {e}")),
        Err(e) => return Err(format!("`{script}`: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for line in stdout.lines() {
        log(&format!("{script}: {line}"));
    }
    if !output.status.success() {
        let tail: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        log(&format!("{script} failed ({}): {tail}", output.status));
        return Err(format!("`{shown}` failed ({}): {tail}", output.status));
    }
    parse_baseline(&stdout, clients).map_err(|why| {
        log(&format!("{script}: {why}"));
        format!("`{shown}`: {why}")
    })
}

/// pgbench's `tps = …` (the last one: older pgbench printed the figure with connection time
/// first), `latency average = … ms`, `number of transactions actually processed: N[/M]` and,
/// from `rush.sh`, the oversell check.
fn parse_baseline(stdout: &str, clients: usize) -> Result<BaselineRun, String> {
    let value_after = |prefix: &str| {
        stdout
            .lines()
            .rfind(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    let tps = value_after("tps = ")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or("printed no `tps = …` line")?;
    let latency_avg_ms = value_after("latency average = ")
        .and_then(|v| v.strip_suffix("ms")?.trim().parse::<f64>().ok())
        .ok_or("printed no `latency average = … ms` line")?;
    let transactions = value_after("number of transactions actually processed:")
        .and_then(|v| v.split('/').next()?.trim().parse::<u64>().ok());
    let check = stdout
        .lines()
        .rfind(|l| l.starts_with("bookings="))
        .and_then(SoldCheck::parse);
    Ok(BaselineRun {
        clients,
        tps,
        transactions,
        latency_avg_ms,
        check,
    })
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Results {
    profile: Option<Profile>,
    login: Option<LoginResult>,
    browse: Option<BrowseResult>,
    storm: Option<StormResult>,
    rush: Option<RushResult>,
    cancellations: Option<cancellations::CancellationResult>,
    big: Option<big::BigResult>,
}

struct Machine {
    nproc: usize,
    cpu: String,
    memory: String,
    date: String,
    load_before: String,
    git: String,
}

impl Machine {
    fn probe() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let run = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let commit = run("git", &["rev-parse", "--short", "HEAD"]);
        let changed: Vec<String> = run("git", &["status", "--porcelain", "--untracked-files=no"])
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect();
        Self {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            memory: run("free", &["-h"]),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            load_before: loadavg(),
            git: match changed.len() {
                0 => commit,
                1..=4 => format!("{commit} + uncommitted changes to {}", changed.join(", ")),
                n => format!("{commit} + {n} uncommitted files"),
            },
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct MachineReport {
    before: Machine,
    load_after: String,
    command: String,
    pg_version: String,
    pg_settings: String,
    baselines: Baselines,
    server_env: String,
    total: Duration,
}

fn f0(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.0}")
    }
}

fn f1(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.1}")
    }
}

fn f2(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.2}")
    }
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{:.0}%", v * 100.0)
    }
}

fn stamp(m: &MachineReport) -> String {
    format!("_{} · `{}` · {}_\n", m.before.date, m.command, m.before.git)
}

/// The generated blocks of BENCHMARKS.md, by name, in order.
fn render(m: &MachineReport, r: &Results, all: bool) -> Vec<(&'static str, String)> {
    let mut blocks = Vec::new();
    let mut s = String::new();
    let _ = writeln!(s, "### Machine and run\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| date | {} |", m.before.date);
    let _ = writeln!(s, "| command | `{}` |", m.command);
    let _ = writeln!(s, "| code | {} |", m.before.git);
    let _ = writeln!(s, "| `nproc` | {} |", m.before.nproc);
    let _ = writeln!(s, "| CPU | {} |", m.before.cpu);
    let _ = writeln!(
        s,
        "| PostgreSQL | {} on 127.0.0.1 ({}) |",
        m.pg_version, m.pg_settings
    );
    let _ = writeln!(
        s,
        "| zouqin | release binary, default settings (DB pool 16), `ZOUQIN_IP_RATE_LIMIT=0`, `RUST_LOG=warn`; restarted for every scenario and rush run |"
    );
    let _ = match &m.baselines.missing {
        None => writeln!(
            s,
            "| baselines | {}: `browse.sh`, `rush.sh` (pgbench), run as they are; files sha256 {} |",
            m.baselines.shown, m.baselines.fingerprint
        ),
        Some(why) => writeln!(
            s,
            "| baselines | **none: {}**; browse and rush have no baseline and no ratio in this run |",
            cell(why)
        ),
    };
    let _ = writeln!(
        s,
        "| load average (1/5/15 min) | {} at the start, {} at the end (the 2 cores are shared with other work) |",
        m.before.load_before, m.load_after
    );
    if !m.server_env.is_empty() {
        let _ = writeln!(
            s,
            "| extra server environment (`ZQ_BENCH_SERVER_ENV`) | `{}` |",
            m.server_env
        );
    }
    let _ = writeln!(s, "| whole run | {:.0} s |", m.total.as_secs_f64());
    let _ = writeln!(s, "\n`free -h`:\n\n```\n{}\n```", m.before.memory);
    blocks.push(("machine", s));

    if let Some(l) = &r.login {
        let mut s = String::new();
        let _ = writeln!(s, "### login\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "| concurrency | duration | logins/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/login | peak RSS |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        let _ = writeln!(
            s,
            "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} MiB |",
            l.concurrency,
            l.sample.elapsed.as_secs_f64(),
            f1(l.sample.rate()),
            f1(l.sample.ms(0.5)),
            f1(l.sample.ms(0.95)),
            f1(l.sample.ms(0.99)),
            l.sample.codes_text(),
            f1(l.cpu_ms_per_login),
            f1(l.rss_mib)
        );
        blocks.push(("login", s));
    }

    if let Some(b) = &r.browse {
        let mut s = String::new();
        let _ = writeln!(s, "### browse\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "`{BROWSE_QUERY}`, anonymous; then the same with a resident's access token on every request (signature, claims and the revocation snapshot checked: the cost of signing in).\n"
        );
        let _ = writeln!(
            s,
            "| | clients | req/s | latency avg ms | p50 ms | p95 ms | p99 ms | errors |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
        let mut row = |label: String, sample: &Sample| {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} | {} | {} | {} |",
                b.concurrency,
                f0(sample.rate()),
                f1(sample.mean_ms()),
                f1(sample.ms(0.5)),
                f1(sample.ms(0.95)),
                f1(sample.ms(0.99)),
                sample.codes_text()
            );
        };
        row("zouqin".to_owned(), &b.sample);
        row(
            format!(
                "zouqin, signed in (÷ anonymous: {})",
                pct(b.signed_in.rate() / b.sample.rate())
            ),
            &b.signed_in,
        );
        row(
            format!(
                "zouqin, anonymous, public cache off (÷ anonymous: {})",
                pct(b.uncached.rate() / b.sample.rate())
            ),
            &b.uncached,
        );
        match &b.replica {
            Ok(replica) => row(
                format!(
                    "zouqin, anonymous, public cache off, reads on a hot standby (÷ cache off on the primary: {})",
                    pct(replica.rate() / b.uncached.rate())
                ),
                replica,
            ),
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| zouqin with a hot standby | **not run**: {} | | | | | | |",
                    cell(why)
                );
            }
        }
        match &b.baseline {
            Ok(p) => {
                let _ = writeln!(
                    s,
                    "| baseline `browse.sh {} {}` | {} | {} | {} | – | – | – | – |",
                    p.clients,
                    b.baseline_secs,
                    p.clients,
                    f0(p.tps),
                    f1(p.latency_avg_ms),
                );
                let _ = writeln!(
                    s,
                    "| **zouqin / baseline** | | **{}** | | | | | |",
                    pct(b.sample.rate() / p.tps)
                );
                let _ = writeln!(
                    s,
                    "| zouqin with the public cache off / baseline | | {} | | | | | |",
                    pct(b.uncached.rate() / p.tps)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| baseline `browse.sh` | **none**: {} | | | | | | |",
                    cell(why)
                );
            }
        }
        let _ = writeln!(
            s,
            "\nBaseline: the shared `browse.sh`, as it is, on its own database (`zouqin_limit_browse`): pgbench runs one indexed join over 3 small tables (20 upcoming published performances with venue, center and a *stored* seat count; simple protocol), for {} s. It leaves out what zouqin's request does beyond that: HTTP, GraphQL parsing and validation, the auth layer, and summing the counting slots of each performance on the page. With the public answer cache (on by default) a repeated anonymous request is served from memory after one `pg_current_snapshot()` shows no commit since the answer was computed; the cache-off row executes every request. It prints tps and the average latency, no percentiles.",
            b.baseline_secs
        );
        if let Err(why) = &b.baseline {
            let _ = writeln!(
                s,
                "\n**No baseline in this run** ({}), so no ratio.",
                cell(why)
            );
        }
        if let Some(p) = &r.profile {
            let _ = writeln!(
                s,
                "\nStatements zouqin runs per browse request (its sqlx statement log): {} — {}; `{{ centers {{ code }} }}`: {}.",
                p.browse_statements.len(),
                p.browse_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                p.cheap_statements.len()
            );
        }
        let _ = writeln!(
            s,
            "\nCPU per browse request: zouqin {} ms (public cache off: {} ms), PostgreSQL backends {} ms, load generator {} ms. Server peak RSS {} MiB.",
            f2(b.cpu_ms_per_request),
            f2(b.uncached_cpu_ms_per_request),
            f2(b.pg_cpu_ms_per_request),
            f2(b.gen_cpu_ms_per_request),
            f1(b.rss_mib)
        );
        blocks.push(("browse", s));
    }

    if let Some(st) = &r.storm {
        let mut s = String::new();
        let _ = writeln!(s, "### storm\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "On a server with the public answer cache off (`ZOUQIN_PUBLIC_CACHE_MS=0`): every request executes, so the ratios measure whether logins starve the requests beside them.\n"
        );
        let _ = writeln!(
            s,
            "| phase | query | clients | req/s | p50 ms | p95 ms | p99 ms | errors |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
        for (phase, query, c, x) in [
            ("idle", "`{ centers { code } }`", 8, &st.cheap_idle),
            ("idle", "browse", 32, &st.browse_idle),
            ("20 logins running", "browse", 32, &st.browse_storm),
            (
                "20 logins running",
                "`{ centers { code } }`",
                8,
                &st.cheap_storm,
            ),
            ("(the storm itself)", "`login`", STORM_LOGINS, &st.logins),
        ] {
            let _ = writeln!(
                s,
                "| {phase} | {query} | {c} | {} | {} | {} | {} | {} |",
                f1(x.rate()),
                f1(x.ms(0.5)),
                f1(x.ms(0.95)),
                f1(x.ms(0.99)),
                x.codes_text()
            );
        }
        let _ = writeln!(
            s,
            "\n**browse p99 during logins / idle: {:.2}×** (p50 {:.2}×, throughput {}); cheap query p99 during logins / idle: **{:.2}×**. Server peak RSS {} MiB.",
            st.browse_storm.ms(0.99) / st.browse_idle.ms(0.99),
            st.browse_storm.ms(0.5) / st.browse_idle.ms(0.5),
            pct(st.browse_storm.rate() / st.browse_idle.rate()),
            st.cheap_storm.ms(0.99) / st.cheap_idle.ms(0.99),
            f1(st.rss_mib)
        );
        blocks.push(("storm", s));
    }

    if let Some(rush) = &r.rush {
        let mut s = String::new();
        let _ = writeln!(s, "### rush\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "One RESERVED performance of {} seats (100 rows × 200) per run, {} residents, each `bookSeats(quantity: 2, idempotencyKey)` once, until SOLD_OUT or {} s.\n\nBaseline: the shared `SEATS={} rush.sh CLIENTS`, as it is, on its own database (`zouqin_limit`), at the same client count (capped by the free connections of the shared server): pgbench books 2 seats per transaction in one statement (pick 2 free seats `FOR UPDATE SKIP LOCKED`, insert the booking, mark the seats, insert 2 tickets), {} / 2 / CLIENTS transactions per client, so {} or a few less bookings. It leaves out the performance's status and booking-window check, the per-resident limit, idempotency, the performance row lock and the writers' advisory lock, the NOTIFY of availability, and HTTP/GraphQL/JWT. It prints tps, the transactions, the average latency and its oversell check (`bookings=… tickets=… seats_sold=… double_sold=…`), no percentiles.\n",
            rush.capacity,
            rush.residents,
            rush.cap_secs,
            rush.capacity,
            rush.capacity,
            rush.capacity / 2
        );
        if let Some(Err(why)) = rush.runs.first().map(|r| &r.baseline) {
            let _ = writeln!(
                s,
                "**No baseline in this run** ({}), so no ratio.\n",
                cell(why)
            );
        }
        let _ = writeln!(
            s,
            "| clients | sold out | bookings | wall | bookings/s | p50 ms | p95 ms | p99 ms | other outcomes | split pairs | peak RSS |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        for run in &rush.runs {
            let x = &run.sample;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} MiB |",
                run.label(),
                if run.sold_out { "yes" } else { "no (time cap)" },
                x.ok,
                x.elapsed.as_secs_f64(),
                f1(x.rate()),
                f1(x.ms(0.5)),
                f1(x.ms(0.95)),
                f1(x.ms(0.99)),
                x.codes_text(),
                run.split,
                f1(run.rss_mib)
            );
        }
        let _ = writeln!(
            s,
            "\n| clients | baseline clients | baseline transactions | baseline bookings/s | latency avg ms: zouqin / baseline | **zouqin / baseline** | oversell check (zouqin run) | oversell check (`rush.sh`) | CPU ms per booking: zouqin / PostgreSQL / load generator |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---|---:|---|---|---|");
        for run in &rush.runs {
            let (clients, transactions, rate, baseline_avg, ratio, check) = match &run.baseline {
                Ok(p) => (
                    p.clients.to_string(),
                    p.transactions.map_or("–".to_owned(), |t| t.to_string()),
                    f0(p.bookings_rate()),
                    f1(p.latency_avg_ms),
                    format!("**{}**", pct(run.sample.rate() / p.bookings_rate())),
                    match &p.check {
                        Some(c) => format!(
                            "{}: `{}`",
                            if c.sound() { "ok" } else { "**FAILED**" },
                            c.line
                        ),
                        None => "**printed no check**".to_owned(),
                    },
                ),
                Err(why) => {
                    let none = "–".to_owned();
                    let why = format!("none: {}", cell(why));
                    (
                        none.clone(),
                        none.clone(),
                        none.clone(),
                        none.clone(),
                        none,
                        why,
                    )
                }
            };
            let _ = writeln!(
                s,
                "| {} | {clients} | {transactions} | {rate} | {} / {baseline_avg} | {ratio} | {} | {check} | {} / {} / {} |",
                run.label(),
                f1(run.sample.mean_ms()),
                check_text(&run.check, run.sold_out, run.sample.ok),
                f1(run.cpu_ms),
                f1(run.pg_cpu_ms),
                f1(run.gen_cpu_ms)
            );
        }
        if let Some(p) = &r.profile {
            let _ = writeln!(
                s,
                "\nOne `bookSeats` costs **{} SQL round trips** (the server's own sqlx statement log, the second booking of a performance on an idle server; a BEGIN that sqlx does not log is counted): {}. The first booking after a start also reads what the server keeps for a second or more (performance, venue's seating, the free front rows): {}.\n",
                p.booking_round_trips(),
                p.booking_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                p.first_booking_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
        }
        let _ = writeln!(
            s,
            "The best-available search's free-seat read (the parallel path's seat picture reads it about once per 300 bookings or 2 s; the exact path's `claim_best` once per booking) on a fresh {}-seat performance:\n\n| read | rows | inside PostgreSQL (EXPLAIN ANALYZE) | a client's fetch |\n|---|---:|---:|---:|",
            rush.capacity
        );
        for cost in &rush.free_seat_reads {
            let _ = writeln!(
                s,
                "| {} | {} | {} ms | {} ms |",
                cost.what,
                cost.rows,
                f1(cost.query_ms),
                f1(cost.fetch_ms)
            );
        }
        blocks.push(("rush", s));
    }
    if let Some(c) = &r.cancellations {
        blocks.push(("cancellations", cancellations::render(m, c)));
    }
    if let Some(b) = &r.big {
        blocks.push(("big", big::render(m, b)));
    }

    if all {
        blocks.push(("targets", targets(m, r)));
    }
    blocks
}

/// Text for a table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn check_text(inv: &Inventory, sold_out: bool, responses: u64) -> String {
    let agrees = responses as i64 == inv.confirmed;
    let ok = inv.sound(sold_out) && agrees;
    format!(
        "{}: {} confirmed, {} live tickets, {} free; double-sold seats {}, partial bookings {}{}",
        if ok { "ok" } else { "**FAILED**" },
        inv.confirmed,
        inv.live_tickets,
        inv.free,
        inv.double_sold_inventory.max(inv.double_sold_seats),
        inv.partial_bookings,
        if agrees {
            String::new()
        } else {
            format!(", but {responses} OK responses")
        }
    )
}

fn targets(m: &MachineReport, r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### Targets\n\n{}", stamp(m));
    let _ = writeln!(s, "| target | measured | |\n|---|---|---|");
    let mark = |ok: bool| if ok { "met" } else { "**missed**" };
    if let Some(rush) = &r.rush {
        let plain = rush
            .runs
            .iter()
            .find(|x| x.concurrency == SHARES_RUSH_CLIENTS && !x.shares);
        if let (Some(plain), Some(shared)) = (plain, rush.runs.iter().find(|x| x.shares)) {
            let ratio = shared.sample.rate() / plain.sample.rate();
            let _ = writeln!(
                s,
                "| rush with 50/50 seat shares ≥ 90% of the rush without shares (32 clients, same run) | {} ({} vs {} bookings/s) | {} |",
                pct(ratio),
                f1(shared.sample.rate()),
                f1(plain.sample.rate()),
                mark(ratio >= 0.9)
            );
        }
        if let Some(run) = rush.runs.iter().find(|x| x.concurrency == 32 && !x.shares) {
            match &run.baseline {
                Ok(p) => {
                    let ceiling = p.bookings_rate();
                    let ratio = run.sample.rate() / ceiling;
                    let _ = writeln!(
                        s,
                        "| rush at 32 clients ≥ 50% of the `rush.sh` baseline | {} ({} vs {} bookings/s, baseline at {} clients) | {} |",
                        pct(ratio),
                        f1(run.sample.rate()),
                        f0(ceiling),
                        p.clients,
                        mark(ratio >= 0.5)
                    );
                }
                Err(why) => {
                    let _ = writeln!(
                        s,
                        "| rush at 32 clients ≥ 50% of the `rush.sh` baseline | no baseline: {} | not measured |",
                        cell(why)
                    );
                }
            }
            let p99 = run.sample.ms(0.99);
            let _ = writeln!(
                s,
                "| rush at 32 clients p99 < 100 ms | {} ms | {} |",
                f1(p99),
                mark(p99 < 100.0)
            );
        }
        let oversold: i64 = rush
            .runs
            .iter()
            .map(|x| x.check.double_sold_inventory + x.check.double_sold_seats)
            .sum();
        let sound = rush
            .runs
            .iter()
            .all(|x| x.check.sound(x.sold_out) && x.check.confirmed == x.sample.ok as i64);
        let _ = writeln!(
            s,
            "| zero oversell | {} double-sold seats; every run's SQL check {} | {} |",
            oversold,
            if sound { "ok" } else { "FAILED" },
            mark(oversold == 0 && sound)
        );
        let internal: u64 = rush
            .runs
            .iter()
            .map(|x| x.sample.codes.get("INTERNAL").copied().unwrap_or(0))
            .sum();
        let _ = writeln!(
            s,
            "| zero INTERNAL | {internal} | {} |",
            mark(internal == 0)
        );
    }
    if let Some(b) = &r.browse {
        match &b.baseline {
            Ok(p) => {
                let ratio = b.sample.rate() / p.tps;
                let _ = writeln!(
                    s,
                    "| browse ≥ 40% of the `browse.sh` baseline | {} ({} vs {} req/s) | {} |",
                    pct(ratio),
                    f0(b.sample.rate()),
                    f0(p.tps),
                    mark(ratio >= 0.4)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| browse ≥ 40% of the `browse.sh` baseline | no baseline: {} | not measured |",
                    cell(why)
                );
            }
        }
    }
    if let Some(st) = &r.storm {
        let ratio = st.browse_storm.ms(0.99) / st.browse_idle.ms(0.99);
        let _ = writeln!(
            s,
            "| storm: browse p99 ≤ 2× idle | {:.2}× ({} vs {} ms) | {} |",
            ratio,
            f1(st.browse_storm.ms(0.99)),
            f1(st.browse_idle.ms(0.99)),
            mark(ratio <= 2.0)
        );
    }
    let mut peaks: Vec<(String, f64)> = Vec::new();
    if let Some(l) = &r.login {
        peaks.push(("login".into(), l.rss_mib));
    }
    if let Some(b) = &r.browse {
        peaks.push(("browse".into(), b.rss_mib));
    }
    if let Some(st) = &r.storm {
        peaks.push(("storm".into(), st.rss_mib));
    }
    if let Some(rush) = &r.rush {
        for run in &rush.runs {
            peaks.push((format!("rush {}", run.label()), run.rss_mib));
        }
    }
    let max = peaks.iter().map(|p| p.1).fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "| peak RSS < 150 MiB | {} MiB at most ({}) | {} |",
        f1(max),
        peaks
            .iter()
            .map(|(n, v)| format!("{n} {}", f1(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        mark(max < 150.0)
    );
    s
}

const BEGIN: &str = "<!-- zq-bench:begin ";
const END: &str = "<!-- zq-bench:end ";

/// Replaces the generated blocks of BENCHMARKS.md that this run produced, keeping the
/// others and everything written by hand around them.
fn write_benchmarks_md(path: &Path, blocks: &[(&str, String)]) -> BoxResult<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| {
        let mut t = String::from(
            "# Benchmarks\n\n`cargo bench --bench load -- all` (or `login`, `browse`, `storm`, `rush`). The blocks below are written by `benches/load.rs`; each carries the date and command of the run that produced it.\n\n",
        );
        for name in ["machine", "targets", "login", "browse", "storm", "rush", "cancellations"] {
            let _ = write!(t, "{BEGIN}{name} -->\n_not run yet_\n{END}{name} -->\n\n");
        }
        t.push_str("## What we found\n\n_to be written_\n");
        t
    });
    for (name, body) in blocks {
        let open = format!("{BEGIN}{name} -->");
        let close = format!("{END}{name} -->");
        let replacement = format!("{open}\n{body}\n{close}");
        match (text.find(&open), text.find(&close)) {
            (Some(a), Some(b)) if b > a => {
                text.replace_range(a..b + close.len(), &replacement);
            }
            _ => {
                let at = text.find("## What we found").unwrap_or(text.len());
                text.insert_str(at, &format!("{replacement}\n\n"));
            }
        }
    }
    std::fs::write(path, text)?;
    Ok(())
}

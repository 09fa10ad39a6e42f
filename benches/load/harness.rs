//! The harness: the PostgreSQL admin connection and the throwaway database, the server
//! under test (with its process and CPU statistics), and GraphQL over HTTP.

use super::*;

// ---------------------------------------------------------------------------------------
// PostgreSQL: the admin connection, the throwaway database
// ---------------------------------------------------------------------------------------

/// A connection to the `postgres` maintenance database.
pub(super) struct Postgres {
    pub(super) admin: PgPool,
}

fn pg_url(db: &str) -> String {
    format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}")
}

impl Postgres {
    /// Connects, starting the local cluster first if it is down.
    pub(super) async fn connect() -> BoxResult<Self> {
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

    pub(super) async fn version(&self) -> BoxResult<String> {
        Ok(sqlx::query_scalar::<_, String>("SHOW server_version")
            .fetch_one(&self.admin)
            .await?)
    }

    pub(super) async fn settings_line(&self) -> BoxResult<String> {
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
    pub(super) async fn free_connections(&self) -> BoxResult<usize> {
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

pub(super) async fn pool(url: &str, max: u32) -> BoxResult<PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// `zq_bench_<pid>`, dropped (with psql, so it also works while unwinding) at the end.
pub(super) struct TempDb {
    pub(super) name: String,
    keep: AtomicBool,
}

impl TempDb {
    pub(super) async fn create(pg: &Postgres) -> BoxResult<Self> {
        Self::named(pg, &format!("zq_bench_{}", std::process::id())).await
    }

    /// A fresh database `name` (an existing one of that name is dropped first).
    pub(super) async fn named(pg: &Postgres, name: &str) -> BoxResult<Self> {
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
    pub(super) fn existing(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            keep: AtomicBool::new(false),
        }
    }

    pub(super) fn url(&self) -> String {
        pg_url(&self.name)
    }

    pub(super) fn keep(&self) {
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
pub(super) struct Server {
    child: Child,
    pid: u32,
    pub(super) base: String,
    pub(super) stderr_path: PathBuf,
}

/// What a server runs against: its database, its signing secret, where its log goes.
pub(super) struct ServerTarget {
    pub(super) db_url: String,
    pub(super) secret: String,
    pub(super) work_dir: PathBuf,
    pub(super) server_env: Vec<(String, String)>,
}

impl Server {
    pub(super) async fn start(fx: &Fixture, tag: &str, rust_log: &str) -> BoxResult<Self> {
        Self::start_with(fx, tag, rust_log, &[]).await
    }

    /// Like [`Server::start`], with extra environment for this server only.
    pub(super) async fn start_with(
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

    pub(super) async fn start_on(fx: &ServerTarget, tag: &str, rust_log: &str) -> BoxResult<Self> {
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
    pub(super) fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid, "VmHWM:") as f64 / 1024.0
    }

    pub(super) fn cpu_ticks(&self) -> u64 {
        proc_cpu_ticks(self.pid).unwrap_or(0)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it lingers.
    pub(super) fn stop(mut self) {
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
pub(super) fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(super) fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU ticks of the PostgreSQL backends serving one database, by pid.
pub(super) async fn backend_ticks(pool: &PgPool, db: &str) -> HashMap<u32, u64> {
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

pub(super) fn ticks_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
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
pub(super) struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    pub(super) fn new(server: &Server) -> BoxResult<Self> {
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
    pub(super) async fn call(
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
    pub(super) async fn must(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> BoxResult<Value> {
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
pub(super) fn raw_id(global: &str) -> BoxResult<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(global)?)?;
    let (_, id) = text.split_once(':').ok_or("not a global id")?;
    Ok(id.parse()?)
}

pub(super) fn str_at<'a>(value: &'a Value, pointer: &str) -> BoxResult<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {pointer} in {value}").into())
}

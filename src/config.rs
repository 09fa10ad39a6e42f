//! Every setting, read from the command line or the environment by `clap` (so `--help`
//! documents each one), validated once at start-up. Secrets live in [`Secret`], which never
//! prints its value.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The `zouqin` command line.
#[derive(Debug, Parser)]
#[command(
    name = "zouqin",
    version,
    about = "Seat booking for the cultural-exchange events of the Pinghu, Jinshan and Jiashan cultural centers",
    long_about = "Zouqin (走亲) serves a GraphQL API for booking seats at cultural-exchange \
                  performances. With no command it runs `serve`."
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands of API.md.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve HTTP until SIGTERM or Ctrl-C.
    #[command(
        after_help = "The JWT key is never a flag: set ZOUQIN_JWT_SECRET (at least 32 bytes), \
                      or ZOUQIN_JWT_SECRET_FILE to a file that holds it."
    )]
    Serve(ServeArgs),
    /// Run pending migrations and exit.
    Migrate(DbArgs),
    /// Idempotently load the demo data (centers, venues, allocations, performances, one
    /// CENTER_ADMIN per center with the password from ZOUQIN_DEMO_PASSWORD).
    SeedDemo(SeedArgs),
    /// Create an account (for bootstrapping production). The password is read from
    /// ZOUQIN_PASSWORD or, when unset, from the first line of standard input — never argv.
    CreateAccount(CreateAccountArgs),
    /// Set an account's password, to recover a center whose last admin is locked out. Ends
    /// every session of the account and its login lockout; `--reactivate` also reactivates
    /// a deactivated account. The password is read from ZOUQIN_PASSWORD or, when unset,
    /// from the first line of standard input — never argv. Audited (no actor, via "cli").
    ResetPassword(ResetPasswordArgs),
    /// Print the GraphQL schema (SDL) to standard output.
    ExportSchema,
    /// Fill an empty PostgreSQL database with a synthetic load (scale 1.0: 5 M residents,
    /// 4,000 venues, 200,000 performances over five years, about 10 M tickets) by set-based
    /// SQL, then VACUUM (ANALYZE) it. Every account gets the password from ZOUQIN_PASSWORD or, when
    /// unset, the first line of standard input.
    Generate(GenerateArgs),
}

/// `zouqin generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Database settings (PostgreSQL; an empty database).
    #[command(flatten)]
    pub db: DbArgs,
    /// The fraction of the full size: 1.0 is Shanghai's size, 0.01 what the plan test uses.
    #[arg(long, default_value_t = 0.01)]
    pub scale: f64,
    /// Afterwards, check the invariants on every row (reads every table whole).
    #[arg(long)]
    pub check: bool,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `sqlite:PATH` or `postgres://…`. Default: the SQLite file `zouqin.db` in the working
    /// directory, created on first run.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://zouqin.db?mode=rwc"
    )]
    pub database_url: String,
    /// Most connections this process keeps open to the database.
    #[arg(long, env = "ZOUQIN_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection, in milliseconds; past it the
    /// request is answered UNAVAILABLE (the database is away, or every connection is busy).
    #[arg(long, env = "ZOUQIN_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000)]
    pub db_acquire_timeout_ms: u64,
}

impl DbArgs {
    /// The pool's acquire timeout as a duration.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }
}

/// A streaming read replica of the PostgreSQL primary (see [`crate::db::replica`] for the
/// routing rule). Server settings, not [`DbArgs`]: only `serve` reads through a replica.
#[derive(Debug, Clone, Args)]
pub struct ReplicaSettings {
    /// `postgres://…` of a hot standby of `DATABASE_URL` (streaming replication). Unset: every
    /// read goes to the primary. Anonymous queries and reports read here while it is fresh.
    #[arg(long, env = "ZOUQIN_READ_DATABASE_URL")]
    pub read_database_url: Option<String>,
    /// The most staleness an anonymous read may see, in milliseconds: the standby is used
    /// only while it has replayed everything the primary had written this long ago.
    #[arg(long, env = "ZOUQIN_READ_MAX_LAG_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub read_max_lag_ms: u64,
}

impl ReplicaSettings {
    /// The staleness bound as a duration.
    pub fn max_lag(&self) -> Duration {
        Duration::from_millis(self.read_max_lag_ms)
    }

    /// Refuses a read URL that cannot be a standby of `database_url`: replication is
    /// PostgreSQL's (SQLite has no standby), so both must be PostgreSQL URLs.
    pub fn check(&self, database_url: &str) -> Result<(), String> {
        let Some(read_url) = &self.read_database_url else {
            return Ok(());
        };
        if !is_postgres_url(read_url) {
            return Err(
                "ZOUQIN_READ_DATABASE_URL (--read-database-url) must be a postgres:// URL"
                    .to_owned(),
            );
        }
        if !is_postgres_url(database_url) {
            return Err(
                "ZOUQIN_READ_DATABASE_URL (--read-database-url) needs a PostgreSQL primary: DATABASE_URL is not postgres://".to_owned(),
            );
        }
        Ok(())
    }
}

/// Whether `url` names a PostgreSQL server.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// `zouqin serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Database settings.
    #[command(flatten)]
    pub db: DbArgs,
    /// Server settings.
    #[command(flatten)]
    pub settings: Settings,
    /// Load the demo data before serving (same as `seed-demo`; ZOUQIN_DEMO_PASSWORD defaults
    /// to `zouqin-demo-2019` when unset, and the admins' password is logged).
    #[arg(long)]
    pub demo: bool,
}

/// `zouqin seed-demo`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Database settings.
    #[command(flatten)]
    pub db: DbArgs,
    /// Password of the demo CENTER_ADMIN accounts (at least 10 characters).
    #[arg(long, env = "ZOUQIN_DEMO_PASSWORD", hide_env_values = true)]
    pub demo_password: Option<String>,
}

/// `zouqin create-account`.
#[derive(Debug, Clone, Args)]
pub struct CreateAccountArgs {
    /// Database settings.
    #[command(flatten)]
    pub db: DbArgs,
    /// The login email.
    #[arg(long)]
    pub email: String,
    /// RESIDENT, CENTER_ADMIN, SCHEDULER or USHER.
    #[arg(long)]
    pub role: String,
    /// Center code (`pinghu`, `jinshan`, `jiashan`, …): the staff member's center, or a
    /// resident's home center.
    #[arg(long)]
    pub center: Option<String>,
    /// Display name (defaults to the part of the email before `@`).
    #[arg(long)]
    pub display_name: Option<String>,
}

/// `zouqin reset-password`.
#[derive(Debug, Clone, Args)]
pub struct ResetPasswordArgs {
    /// Database settings.
    #[command(flatten)]
    pub db: DbArgs,
    /// The account's login email.
    #[arg(long)]
    pub email: String,
    /// Also reactivate the account if it was deactivated.
    #[arg(long)]
    pub reactivate: bool,
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "ZOUQIN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// HS256 key for access tokens, at least 32 bytes. Never a flag (the command line is
    /// visible to every user in `ps`): [`Settings::read_environment`] takes it from
    /// `ZOUQIN_JWT_SECRET` or from the file named by `ZOUQIN_JWT_SECRET_FILE`. When unset a
    /// random one is made: tokens then do not survive a restart or work across instances.
    #[arg(skip)]
    pub jwt_secret: Option<Secret>,
    /// Origins allowed to call /graphql from a browser (comma-separated; none by default).
    #[arg(
        long,
        env = "ZOUQIN_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,
    /// Login and registration attempts allowed per client IP per minute (0 turns it off).
    #[arg(long, env = "ZOUQIN_IP_RATE_LIMIT", default_value_t = 60)]
    pub ip_rate_limit: u32,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a proxy you run).
    #[arg(long, env = "ZOUQIN_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "ZOUQIN_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Longest time one HTTP request may take, in seconds.
    #[arg(long, env = "ZOUQIN_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ZOUQIN_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// After SIGTERM, how long in-flight requests may take before the server exits.
    #[arg(long, env = "ZOUQIN_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// How many minutes before a performance starts its tickets may be checked in.
    #[arg(long, env = "ZOUQIN_CHECKIN_OPENS_MINUTES", default_value_t = 180)]
    pub checkin_opens_minutes: i64,
    /// How long, in milliseconds, an anonymous query's answer may be served again from
    /// memory while the database provably has not changed since (PostgreSQL only; see
    /// `public_cache`). 0 turns the cache off.
    #[arg(long, env = "ZOUQIN_PUBLIC_CACHE_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub public_cache_ms: u64,
    /// Whether schema introspection is answered.
    #[arg(long, env = "ZOUQIN_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Whether the test-only HTTP routes are mounted (see [`TEST_HOOKS_VALUE`]); never a flag,
    /// not in `--help`, off unless [`Settings::read_environment`] finds the exact value.
    #[arg(skip)]
    pub test_hooks: bool,
    /// No-shows and the booking suspensions they bring.
    #[command(flatten)]
    pub no_shows: NoShowSettings,
    /// The waiting list's offers.
    #[command(flatten)]
    pub waitlist: WaitlistSettings,
    /// The read replica.
    #[command(flatten)]
    pub replica: ReplicaSettings,
}

/// The waiting list of API.md: how long an offer holds its seats, how often a large party
/// may be passed over before freed seats gather for it, and how often this instance looks
/// for offers that ran out.
#[derive(Debug, Clone, Args)]
pub struct WaitlistSettings {
    /// How long a waiting-list offer holds its seats, in minutes.
    #[arg(long = "waitlist-offer-minutes", env = "ZOUQIN_WAITLIST_OFFER_MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub offer_minutes: u32,
    /// Offers to entries behind a WAITING entry that it could not take, after which freed
    /// seats gather for it instead of going to later, smaller parties.
    #[arg(long = "waitlist-max-passes", env = "ZOUQIN_WAITLIST_MAX_PASSES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_passes: u32,
    /// How often, in seconds, this instance expires offers that ran out and passes their
    /// seats on (any instance may; each offer expires once).
    #[arg(long = "waitlist-sweep-secs", env = "ZOUQIN_WAITLIST_SWEEP_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub expiry_sweep_secs: u64,
}

impl WaitlistSettings {
    /// The rule, for the domain.
    pub fn policy(&self) -> crate::domain::waitlist::Policy {
        crate::domain::waitlist::Policy {
            offer_minutes: i64::from(self.offer_minutes),
            max_passes: self.max_passes as i32,
        }
    }

    /// The time between two sweeps.
    pub fn sweep_every(&self) -> Duration {
        Duration::from_secs(self.expiry_sweep_secs)
    }
}

/// The no-show rule of API.md: `strikes` no-shows within `window_days` suspend a resident's
/// bookings and waiting-list joins for `suspension_days` from the last one.
#[derive(Debug, Clone, Args)]
pub struct NoShowSettings {
    /// No-shows within the window that suspend a resident's bookings.
    #[arg(long = "no-show-strikes", env = "ZOUQIN_NO_SHOW_STRIKES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub strikes: u32,
    /// The window, in days, the strikes must fall within.
    #[arg(long = "no-show-window-days", env = "ZOUQIN_NO_SHOW_WINDOW_DAYS", default_value_t = 180,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub window_days: u32,
    /// How many days a suspension lasts, from the last no-show.
    #[arg(long = "no-show-suspension-days", env = "ZOUQIN_NO_SHOW_SUSPENSION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub suspension_days: u32,
    /// How often, in seconds, this instance looks for performances that ended and marks
    /// their no-shows (any instance may; each performance is settled once).
    #[arg(long = "no-show-sweep-secs", env = "ZOUQIN_NO_SHOW_SWEEP_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub sweep_secs: u64,
}

impl NoShowSettings {
    /// The rule, for the domain.
    pub fn policy(&self) -> crate::domain::no_shows::Policy {
        crate::domain::no_shows::Policy::new(self.strikes, self.window_days, self.suspension_days)
    }

    /// The time between two sweeps.
    pub fn sweep_every(&self) -> Duration {
        Duration::from_secs(self.sweep_secs)
    }
}

/// The variable that holds the JWT key.
pub const JWT_SECRET_VAR: &str = "ZOUQIN_JWT_SECRET";
/// The variable that names a file holding the JWT key (e.g. a mounted container secret).
pub const JWT_SECRET_FILE_VAR: &str = "ZOUQIN_JWT_SECRET_FILE";
/// The variable that turns on the test-only routes.
pub const TEST_HOOKS_VAR: &str = "ZOUQIN_TEST_HOOKS";
/// The one value of [`TEST_HOOKS_VAR`] that turns them on. They let a request pin a worker
/// thread in a CPU loop (to test that shutdown still ends in an exit), so a stray `1` or
/// `true` left in an environment must not enable them: only this spelled-out value does.
pub const TEST_HOOKS_VALUE: &str = "pin-workers-i-am-a-test";

impl Settings {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The shutdown grace period as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Fills in what only the environment may say: the JWT key (`ZOUQIN_JWT_SECRET`, or the
    /// contents of the file `ZOUQIN_JWT_SECRET_FILE` names, without its trailing newline;
    /// setting both is an error) and whether the test hooks are on.
    pub fn read_environment(&mut self) -> Result<(), String> {
        let inline = non_empty_var(JWT_SECRET_VAR)?;
        let file = non_empty_var(JWT_SECRET_FILE_VAR)?;
        self.jwt_secret = match (inline, file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "set {JWT_SECRET_VAR} or {JWT_SECRET_FILE_VAR}, not both"
                ));
            }
            (Some(secret), None) => Some(Secret(secret)),
            (None, Some(path)) => {
                let contents = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {JWT_SECRET_FILE_VAR} ({path}): {e}"))?;
                Some(Secret(contents.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (None, None) => None,
        };
        self.test_hooks = std::env::var(TEST_HOOKS_VAR).is_ok_and(|v| v == TEST_HOOKS_VALUE);
        if self.test_hooks {
            tracing::warn!(
                "{TEST_HOOKS_VAR} is set: test-only routes are mounted; never run like this in production"
            );
        }
        Ok(())
    }

    /// The JWT key, checked: a configured key shorter than 32 bytes is refused.
    pub fn jwt_key(&self) -> Result<Secret, String> {
        match &self.jwt_secret {
            Some(secret) if secret.0.len() >= 32 => Ok(secret.clone()),
            Some(secret) => Err(format!(
                "the JWT key ({JWT_SECRET_VAR} or {JWT_SECRET_FILE_VAR}) is {} bytes; it must be at least 32 bytes (e.g. `openssl rand -base64 48`)",
                secret.0.len()
            )),
            None => {
                tracing::warn!(
                    "ZOUQIN_JWT_SECRET is not set: using a random key; tokens will not survive a restart or work across instances"
                );
                Ok(Secret(crate::auth::random_token(48)))
            }
        }
    }
}

/// An environment variable's value; unset and empty are both `None`.
fn non_empty_var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// Whether log lines should be JSON (`ZOUQIN_LOG_FORMAT=json`), known before the command
/// line's settings are, so that logging is set up first.
pub fn log_format_is_json() -> bool {
    std::env::var("ZOUQIN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

/// The demo admins' password for `serve --demo`: `ZOUQIN_DEMO_PASSWORD`, if set.
pub fn demo_password() -> Option<Secret> {
    non_empty_var("ZOUQIN_DEMO_PASSWORD")
        .ok()
        .flatten()
        .map(Secret)
}

/// The password for `create-account` from `ZOUQIN_PASSWORD`, if set (else stdin is read).
pub fn account_password() -> Option<Secret> {
    std::env::var("ZOUQIN_PASSWORD").ok().map(Secret)
}

/// A secret value that never appears in `Debug` output or logs (it has no `Display`).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    const KEY: &str = "a-key-of-more-than-thirty-two-bytes-0123456789";

    fn serve_settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let cli = Cli::try_parse_from(args.iter().copied())?;
        match cli.command {
            Some(Command::Serve(serve)) => Ok(serve.settings),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn debug_output_of_the_settings_never_shows_the_jwt_key() {
        let mut settings = serve_settings(&["zouqin", "serve"]).expect("parses");
        settings.jwt_secret = Some(Secret::new(KEY));
        for shown in [
            format!("{settings:?}"),
            format!("{settings:#?}"),
            format!("{:?}", settings.jwt_key().expect("long enough")),
        ] {
            assert!(!shown.contains(KEY), "{shown}");
            assert!(!shown.contains("0123456789"), "{shown}");
        }
        assert!(format!("{settings:?}").contains("[redacted]"));
    }

    #[test]
    fn the_jwt_key_is_not_a_command_line_flag() {
        let err = serve_settings(&["zouqin", "serve", "--jwt-secret", KEY]).expect_err("refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        let err = serve_settings(&["zouqin", "serve", &format!("--jwt-secret={KEY}")])
            .expect_err("refused");
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn a_key_shorter_than_32_bytes_is_refused_naming_the_variable() {
        let mut settings = serve_settings(&["zouqin", "serve"]).expect("parses");
        settings.jwt_secret = Some(Secret::new("short"));
        let message = settings.jwt_key().expect_err("too short");
        assert!(message.contains(JWT_SECRET_VAR), "{message}");
        assert!(
            !message.contains("short"),
            "the key itself is not echoed: {message}"
        );
    }
}

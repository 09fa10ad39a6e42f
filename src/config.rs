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
    Serve(ServeArgs),
    /// Run pending migrations and exit.
    Migrate(DbArgs),
    /// Idempotently load the demo data (centers, venues, allocations, performances, one
    /// CENTER_ADMIN per center with the password from ZOUQIN_DEMO_PASSWORD).
    SeedDemo(SeedArgs),
    /// Create an account (for bootstrapping production). The password is read from
    /// ZOUQIN_PASSWORD or, when unset, from the first line of standard input — never argv.
    CreateAccount(CreateAccountArgs),
    /// Print the GraphQL schema (SDL) to standard output.
    ExportSchema,
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

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "ZOUQIN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// HS256 key for access tokens, at least 32 bytes. When unset a random one is made:
    /// tokens then do not survive a restart or work across instances.
    #[arg(long, env = "ZOUQIN_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
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
    /// Whether schema introspection is answered.
    #[arg(long, env = "ZOUQIN_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// No-shows and the booking suspensions they bring.
    #[command(flatten)]
    pub no_shows: NoShowSettings,
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

impl Settings {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The shutdown grace period as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The JWT key, checked: a configured key shorter than 32 bytes is refused.
    pub fn jwt_key(&self) -> Result<Secret, String> {
        match &self.jwt_secret {
            Some(secret) if secret.len() >= 32 => Ok(Secret(secret.clone())),
            Some(secret) => Err(format!(
                "ZOUQIN_JWT_SECRET is {} bytes; it must be at least 32 bytes (e.g. `openssl rand -base64 48`)",
                secret.len()
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

/// A secret value that never appears in `Debug` output or logs.
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
        f.write_str("Secret([redacted])")
    }
}

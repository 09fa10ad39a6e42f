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

#[path = "load/baselines.rs"]
mod baselines;
#[path = "load/big.rs"]
mod big;
#[path = "load/cancellations.rs"]
mod cancellations;
#[path = "load/fixture.rs"]
mod fixture;
#[path = "load/harness.rs"]
mod harness;
#[path = "load/report.rs"]
mod report;
#[path = "load/rush.rs"]
mod rush;
#[path = "load/sample.rs"]
mod sample;
#[path = "load/scenarios.rs"]
mod scenarios;
#[path = "../tests/api/standby.rs"]
mod standby;

use baselines::*;
use fixture::*;
use harness::*;
use report::*;
use rush::*;
use sample::*;
use scenarios::*;

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

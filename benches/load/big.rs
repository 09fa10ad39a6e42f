//! The full-size scenario: a database made by `zouqin generate` at `ZQ_BENCH_BIG_SCALE`
//! (default 1.0: 5 M residents, 200,000 performances, about 10 M tickets), and the same
//! requests on a small one (scale 0.01) generated in the same run. Per database: browse,
//! the first page of `myBookings` of residents with 500 bookings, of `performanceBookings`
//! of a sold-out 3,000-seat session, the exchange report of a year, the first page of
//! `auditLog`, and a sold-out rush on a fresh 20,000-seat performance; each against a
//! pgbench baseline run on that database in the same run, in `ZQ_BENCH_BIG_ROUNDS` (3)
//! interleaved rounds of the request and its baseline, each side's median round reported
//! (a single pair of runs on this shared machine swung the shared `rush.sh` by half between
//! two phases). What is compared is the ratio
//! zouqin ÷ baseline on the big database to the same ratio on the small one: the cost of
//! size the server adds beyond what the database itself pays.
//!
//! The four reads have no shared baseline: `benches/baselines/*.sql` are the least SQL that
//! answers the same page (one indexed statement each; the report's two aggregates), run by
//! pgbench at the same client count against the same database. `browse.sh` and `rush.sh`
//! are the shared ones, as they are: they build their own small database, so their figures
//! do not depend on the size of ours (the block says so).

use super::*;

#[path = "big_render.rs"]
mod render;
pub(super) use render::render;

/// The password of every generated account (the generator's `ZOUQIN_PASSWORD`).
const GEN_PASSWORD: &str = "bench-generated-2019";
/// Closed-loop clients of every request and baseline.
const CLIENTS: usize = 32;
/// The scale of the small database the big one is compared with.
const SMALL_SCALE: f64 = 0.01;
/// Residents minted for the rush: 10,000 bookings of 2 sell the 20,000 seats out.
const RUSH_RESIDENTS: i64 = 10_500;

const MY_BOOKINGS_QUERY: &str = "{ myBookings(first: 20) { edges { node { id status createdAt performance { title startsAt } } } } }";
const PERFORMANCE_BOOKINGS_QUERY: &str = "query($p: ID!) { performanceBookings(performanceId: $p, first: 20) { edges { node { id status createdAt holder { displayName } } } } }";
const EXCHANGE_REPORT_QUERY: &str = "query($y: Int!) { exchangeReport(year: $y) { season { year quarter } providerCenter { name } hostCenter { name } sessionsScheduled sessionsHeld sessionsCancelled seatsOffered ticketsSold attendances noShows byHomeCenter { center { name } tickets attendances } } }";
const AUDIT_LOG_QUERY: &str =
    "{ auditLog(first: 20) { edges { node { at action subjectId details } } } }";

/// The knobs of this scenario.
struct Knobs {
    scale: f64,
    /// A database to reuse (and keep), generated into first when it is empty or absent.
    reuse: Option<String>,
    secs: u64,
    /// Interleaved rounds of every request and its baseline (medians reported).
    rounds: usize,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            scale: std::env::var("ZQ_BENCH_BIG_SCALE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1.0),
            reuse: std::env::var("ZQ_BENCH_BIG_DB")
                .ok()
                .filter(|v| !v.is_empty()),
            secs: std::env::var("ZQ_BENCH_BIG_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
            rounds: std::env::var("ZQ_BENCH_BIG_ROUNDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|r| *r > 0)
                .unwrap_or(3),
        }
    }
}

/// One request (or booking rush) measured on one database, with its baseline.
pub(super) struct Measured {
    name: &'static str,
    sample: Sample,
    /// zouqin's rate: requests/s, or bookings/s for the rush.
    rate: f64,
    baseline: Baseline,
    /// The baseline's rate in the same unit.
    baseline_rate: Option<f64>,
    /// Anything to say about the run (a check, a short page).
    note: String,
}

/// Everything measured on one database.
pub(super) struct Phase {
    label: &'static str,
    db_name: String,
    /// `Some(scale)` when this run generated it.
    scale: Option<f64>,
    generated: Option<Duration>,
    bytes: i64,
    counts: String,
    subjects: String,
    measured: Vec<Measured>,
}

pub(super) struct BigResult {
    phases: Vec<Phase>,
    secs: u64,
    rounds: usize,
}

pub(super) async fn big_scenario(pg: &Postgres, settings: &Settings) -> BoxResult<BigResult> {
    let knobs = Knobs::from_env();
    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("zq-bench-big-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let mut phases = Vec::new();
    for (label, scale, reuse) in [
        ("big", knobs.scale, knobs.reuse.clone()),
        ("small", SMALL_SCALE, None),
    ] {
        let (db, generated) = open_database(pg, label, scale, reuse.as_deref(), &work_dir).await?;
        let phase = measure(pg, settings, &knobs, &db, label, generated, &work_dir).await;
        // The database goes now (unless reused): the next phase and the other users of the
        // shared cluster should not pay for its 14 GB.
        drop(db);
        phases.push(phase?);
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(BigResult {
        phases,
        secs: knobs.secs,
        rounds: knobs.rounds,
    })
}

/// The generated database of a phase: reused (`ZQ_BENCH_BIG_DB`, kept, generated into when
/// it holds no center) or made for this run (dropped when the returned handle goes), with
/// the generator's wall time when this run generated it.
async fn open_database(
    pg: &Postgres,
    label: &str,
    scale: f64,
    reuse: Option<&str>,
    work_dir: &Path,
) -> BoxResult<(TempDb, Option<(f64, Duration)>)> {
    let db = match reuse {
        Some(name) => {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("ZQ_BENCH_BIG_DB={name}: letters, digits and _ only").into());
            }
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(name)
                    .fetch_one(&pg.admin)
                    .await?;
            if !exists {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pg.admin)
                    .await?;
            }
            let db = TempDb::existing(name);
            db.keep();
            db
        }
        None => TempDb::named(pg, &format!("zq_bench_{label}_{}", std::process::id())).await?,
    };
    let filled = {
        let pool = pool(&db.url(), 1).await?;
        let has_table: bool = sqlx::query_scalar("SELECT to_regclass('center') IS NOT NULL")
            .fetch_one(&pool)
            .await?;
        let filled = has_table
            && sqlx::query_scalar::<_, i64>("SELECT count(*) FROM center")
                .fetch_one(&pool)
                .await?
                > 0;
        pool.close().await;
        filled
    };
    if filled {
        log(&format!(
            "{label}: reusing the generated database {}",
            db.name
        ));
        return Ok((db, None));
    }
    log(&format!(
        "{label}: generating {} at scale {scale} …",
        db.name
    ));
    let log_path = work_dir.join(format!("generate-{label}.log"));
    let out = std::fs::File::create(&log_path)?;
    let mut cmd = Command::new(BIN);
    cmd.args(["generate", "--scale", &scale.to_string()])
        .env("DATABASE_URL", db.url())
        .env("ZOUQIN_PASSWORD", GEN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || cmd.status()).await??;
    let took = started.elapsed();
    if !status.success() {
        return Err(format!(
            "zouqin generate failed ({status}); see {}",
            log_path.display()
        )
        .into());
    }
    log(&format!(
        "{label}: generated in {:.0} s",
        took.as_secs_f64()
    ));
    Ok((db, Some((scale, took))))
}

/// What the requests of a phase are about: found in the generated database.
struct Subjects {
    /// The regulars (500 bookings each).
    regulars: Vec<(i64, String)>,
    regular_bookings: (i64, i64),
    /// The sold-out 3,000-seat session with the most bookings, its bookings, its host's code.
    arena_perf: i64,
    arena_bookings: i64,
    arena_center: String,
    /// Pinghu (center 1): its admin reads the audit log and the exchange report.
    audit_center: i64,
    audit_entries: i64,
    year: i32,
}

impl Subjects {
    async fn find(pool: &PgPool) -> BoxResult<Self> {
        let regulars: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, email FROM account WHERE email LIKE 'regular%@big.zouqin.example' ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        if regulars.is_empty() {
            return Err("the generated database has no regulars".into());
        }
        let regular_bookings: (i64, i64) = sqlx::query_as(
            "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM booking \
             WHERE account_id = ANY($1) GROUP BY account_id) c",
        )
        .bind(regulars.iter().map(|r| r.0).collect::<Vec<_>>())
        .fetch_one(pool)
        .await?;
        let (arena_perf, arena_bookings, arena_center): (i64, i64, String) = sqlx::query_as(
            "SELECT p.id, (SELECT count(*) FROM booking b WHERE b.performance_id = p.id), c.code \
             FROM performance p JOIN center c ON c.id = p.host_center_id \
             WHERE p.venue_id = $1 AND p.capacity = 3000 AND p.status = 'PUBLISHED' \
             ORDER BY 2 DESC, p.starts_at DESC LIMIT 1",
        )
        .bind(zouqin::generate::ARENA_VENUE)
        .fetch_one(pool)
        .await?;
        let audit_entries: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_entry WHERE center_id = 1")
                .fetch_one(pool)
                .await?;
        Ok(Self {
            regulars,
            regular_bookings,
            arena_perf,
            arena_bookings,
            arena_center,
            audit_center: 1,
            audit_entries,
            year: chrono::Datelike::year(&chrono::Utc::now()) - 1,
        })
    }
}

async fn measure(
    pg: &Postgres,
    settings: &Settings,
    knobs: &Knobs,
    db: &TempDb,
    label: &'static str,
    generated: Option<(f64, Duration)>,
    work_dir: &Path,
) -> BoxResult<Phase> {
    let pool = pool(&db.url(), 4).await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;
    let counts: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM performance), \
                (SELECT count(*) FROM ticket), (SELECT count(*) FROM waitlist_entry)",
    )
    .fetch_one(&pool)
    .await?;
    let subjects = Subjects::find(&pool).await?;
    let secret = format!(
        "zq-bench-secret-{}-{:016x}{:016x}",
        std::process::id(),
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let target = ServerTarget {
        db_url: db.url(),
        secret: secret.clone(),
        work_dir: work_dir.to_path_buf(),
        server_env: settings.server_env.clone(),
    };
    let secs = Duration::from_secs(knobs.secs);
    let clients = CLIENTS.min(pg.free_connections().await?);
    let mut measured = Vec::new();

    // The reads, on one server.
    let server = Server::start_on(&target, &format!("{label}-reads"), "warn").await?;
    let api = Api::new(&server)?;
    let login = |email: String| {
        let api = api.clone();
        async move {
            let data = api
                .must(
                    None,
                    LOGIN_MUTATION,
                    json!({ "e": email, "p": GEN_PASSWORD }),
                )
                .await?;
            BoxResult::Ok(str_at(&data, "/login/accessToken")?.to_owned())
        }
    };
    let mut regular_tokens = Vec::new();
    for (_, email) in &subjects.regulars {
        regular_tokens.push(login(email.clone()).await?);
    }
    let scheduler = login(format!("scheduler@{}.example", subjects.arena_center)).await?;
    let admin = login("admin@pinghu.example".to_owned()).await?;
    let arena_gid = zouqin::ids::encode(zouqin::ids::Kind::Performance, subjects.arena_perf);
    let first_regular = subjects.regulars[0].0;
    let last_regular = subjects.regulars[subjects.regulars.len() - 1].0;
    let year = subjects.year;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baselines");
    let reads: [Read; 5] = [
        (
            "browse (anonymous)",
            read(
                &api,
                vec![None],
                BROWSE_QUERY,
                json!({}),
                "/performances/edges",
                20,
            ),
            "",
            vec![],
        ),
        (
            "myBookings, first page, residents with 500 bookings",
            read(
                &api,
                regular_tokens.into_iter().map(Some).collect(),
                MY_BOOKINGS_QUERY,
                json!({}),
                "/myBookings/edges",
                20,
            ),
            "my_bookings.sql",
            vec![
                ("first_regular", first_regular.to_string()),
                ("last_regular", last_regular.to_string()),
            ],
        ),
        (
            "performanceBookings, first page, sold-out 3,000-seat session (its scheduler)",
            read(
                &api,
                vec![Some(scheduler.clone())],
                PERFORMANCE_BOOKINGS_QUERY,
                json!({ "p": arena_gid }),
                "/performanceBookings/edges",
                20,
            ),
            "performance_bookings.sql",
            vec![("performance", subjects.arena_perf.to_string())],
        ),
        (
            "exchangeReport of a year (Pinghu's admin)",
            read(
                &api,
                vec![Some(admin.clone())],
                EXCHANGE_REPORT_QUERY,
                json!({ "y": year }),
                "/exchangeReport",
                1,
            ),
            "exchange_report.sql",
            vec![
                ("center", subjects.audit_center.to_string()),
                ("year", year.to_string()),
            ],
        ),
        (
            "auditLog, first page (Pinghu's admin)",
            read(
                &api,
                vec![Some(admin.clone())],
                AUDIT_LOG_QUERY,
                json!({}),
                "/auditLog/edges",
                20,
            ),
            "audit_log.sql",
            vec![("center", subjects.audit_center.to_string())],
        ),
    ];
    // Rounds of (zouqin, then its baseline) per request, interleaved, so a drift of the
    // shared machine's load hits both sides alike; each side's median round is reported.
    let mut rounds: Vec<Vec<Measured>> = reads.iter().map(|_| Vec::new()).collect();
    for round in 1..=knobs.rounds {
        for ((name, request, script, vars), done) in reads.iter().zip(rounds.iter_mut()) {
            log(&format!("{label}: {name} (round {round}) …"));
            let request = request.clone();
            // One second to warm the caches and the connections, then the measured run.
            let warm = request.clone();
            let _ = closed_loop(
                clients,
                Duration::from_secs(1),
                Arc::new(AtomicBool::new(false)),
                move |n| (warm)(n),
            )
            .await;
            let sample = closed_loop(clients, secs, Arc::new(AtomicBool::new(false)), move |n| {
                (request)(n)
            })
            .await;
            log(&format!(
                "{label}: {name}: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, errors: {}",
                sample.rate(),
                sample.ms(0.5),
                sample.ms(0.99),
                sample.codes_text()
            ));
            // The server idles while its baseline runs.
            let baseline = if script.is_empty() {
                // The shared browse baseline, as it is (its own database).
                run_baseline(
                    &settings.baselines,
                    "browse.sh",
                    clients,
                    &[clients.to_string(), knobs.secs.to_string()],
                    &[],
                )
                .await
            } else {
                pgbench(&dir, script, &db.name, clients, knobs.secs, vars).await
            };
            done.push(Measured {
                name,
                rate: sample.rate(),
                baseline_rate: baseline.as_ref().ok().map(|b| b.tps),
                sample,
                baseline,
                note: String::new(),
            });
        }
    }
    server.stop();
    measured.extend(rounds.into_iter().map(median_round));

    // The sold-out rush, each round on a fresh 20,000-seat performance, then `rush.sh`.
    let mut rushes = Vec::new();
    for _ in 0..knobs.rounds {
        rushes.push(rush(settings, &target, &pool, label, &admin_email(), clients).await?);
    }
    measured.push(median_round(rushes));
    pool.close().await;
    let mut phase = Phase {
        label,
        db_name: db.name.clone(),
        scale: generated.map(|g| g.0),
        generated: generated.map(|g| g.1),
        bytes,
        counts: format!(
            "{} accounts, {} performances, {} tickets, {} waiting-list entries",
            counts.0, counts.1, counts.2, counts.3
        ),
        subjects: format!(
            "{} regulars with {}–{} bookings; session {} ({} bookings, host {}); \
             Pinghu's audit log {} entries; exchange report of {}",
            subjects.regulars.len(),
            subjects.regular_bookings.0,
            subjects.regular_bookings.1,
            subjects.arena_perf,
            subjects.arena_bookings,
            subjects.arena_center,
            subjects.audit_entries,
            subjects.year
        ),
        measured,
    };
    if phase.measured.iter().any(|m| m.sample.ok == 0) {
        phase
            .subjects
            .push_str("; a request never succeeded (see its errors)");
    }
    Ok(phase)
}

fn admin_email() -> String {
    "admin@pinghu.example".to_owned()
}

/// A read: its name, the request, its baseline script (empty: the shared `browse.sh`) and
/// the script's pgbench variables.
type Read = (
    &'static str,
    Request,
    &'static str,
    Vec<(&'static str, String)>,
);

type Request = Arc<
    dyn Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// A read with request `n` signed in as `tokens[n % len]`, successful when the array at
/// `pointer` has at least `min` elements (`SHORT_PAGE` otherwise).
fn read(
    api: &Api,
    tokens: Vec<Option<String>>,
    query: &'static str,
    variables: Value,
    pointer: &'static str,
    min: usize,
) -> Request {
    let api = api.clone();
    let tokens = Arc::new(tokens);
    Arc::new(move |n| {
        let (api, tokens, variables) = (api.clone(), tokens.clone(), variables.clone());
        Box::pin(async move {
            let token = tokens[n % tokens.len()].as_deref();
            let data = api.call(token, query, variables).await?;
            match data.pointer(pointer).and_then(Value::as_array) {
                Some(items) if items.len() >= min => Ok(()),
                _ => Err("SHORT_PAGE".to_owned()),
            }
        })
    })
}

/// pgbench with `benches/baselines/<script>` against `db`, `-D` for each variable.
async fn pgbench(
    dir: &Path,
    script: &str,
    db: &str,
    clients: usize,
    secs: u64,
    vars: &[(&str, String)],
) -> Baseline {
    let mut cmd = Command::new("pgbench");
    cmd.args([
        "-h",
        PG_HOST,
        "-p",
        &PG_PORT.to_string(),
        "-U",
        PG_USER,
        "-n",
    ])
    .args([
        "-c",
        &clients.to_string(),
        "-j",
        "2",
        "-T",
        &secs.to_string(),
    ])
    .arg("-f")
    .arg(dir.join(script));
    for (k, v) in vars {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    cmd.arg(db).stdin(Stdio::null());
    log(&format!(
        "baseline: pgbench -c {clients} -T {secs} -f {script} {db} …"
    ));
    let output = match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("pgbench could not be started: {e}")),
        Err(e) => return Err(format!("pgbench: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!("pgbench {script} failed: {}", tail.join(" / ")));
    }
    let run = parse_baseline(&stdout, clients);
    if let Ok(b) = &run {
        log(&format!(
            "baseline {script}: {:.0} tps, {:.1} ms average",
            b.tps, b.latency_avg_ms
        ));
    }
    run
}

/// The rush of the rush scenario on the generated database: a fresh 20,000-seat venue and
/// performance of Pinghu's, residents with minted tokens (the suspended ones left out) each
/// booking 2 seats until `SOLD_OUT`; then `SEATS=20000 rush.sh CLIENTS` as it is.
async fn rush(
    settings: &Settings,
    target: &ServerTarget,
    pool: &PgPool,
    label: &str,
    admin_email: &str,
    clients: usize,
) -> BoxResult<Measured> {
    let server = Server::start_on(target, &format!("{label}-rush"), "warn").await?;
    let api = Api::new(&server)?;
    let data = api
        .must(
            None,
            LOGIN_MUTATION,
            json!({ "e": admin_email, "p": GEN_PASSWORD }),
        )
        .await?;
    let admin = str_at(&data, "/login/accessToken")?.to_owned();
    // Named per run and round: a reused database keeps the arenas of earlier ones.
    static ARENAS: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "Bench Arena {}-{}",
        std::process::id(),
        ARENAS.fetch_add(1, Ordering::Relaxed)
    );
    let venue = create_venue(&api, &admin, &name, ARENA_ROWS, ARENA_ROW_SEATS).await?;
    let perf_gid = schedule_and_publish(&api, &admin, &venue, "Big rush", 3, json!({})).await?;
    let perf_id = raw_id(&perf_gid)?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT a.id, a.email FROM account a WHERE a.role = 'RESIDENT' \
           AND a.email LIKE 'resident%@big.zouqin.example' \
           AND NOT EXISTS (SELECT 1 FROM booking_suspension s WHERE s.account_id = a.id \
                           AND s.suspended_until > now()) \
         ORDER BY a.id LIMIT $1",
    )
    .bind(RUSH_RESIDENTS)
    .fetch_all(pool)
    .await?;
    // A real resident token shows the claims the server issues; minted ones copy them.
    let data = api
        .must(
            None,
            LOGIN_MUTATION,
            json!({ "e": rows[0].1, "p": GEN_PASSWORD }),
        )
        .await?;
    let template = claims_of(str_at(&data, "/login/accessToken")?)?;
    let residents = Arc::new(mint(&target.secret, &template, rows)?);
    let _ = closed_loop(
        16,
        Duration::from_millis(500),
        Arc::new(AtomicBool::new(false)),
        cheap_request(&api),
    )
    .await;
    log(&format!("{label}: rush at {clients} clients …"));
    let (sample, sold_out, _) = rush_run(
        &api,
        &residents,
        &perf_gid,
        clients,
        Duration::from_secs(settings.rush_cap_secs),
    )
    .await;
    server.stop();
    let check = Inventory::of(pool, perf_id).await?;
    log(&format!(
        "{label}: rush: {} bookings in {:.1} s ({:.0}/s), codes: {}",
        sample.ok,
        sample.elapsed.as_secs_f64(),
        sample.rate(),
        sample.codes_text()
    ));
    let baseline = run_baseline(
        &settings.baselines,
        "rush.sh",
        clients,
        &[clients.to_string()],
        &[("SEATS", (ARENA_ROWS * ARENA_ROW_SEATS).to_string())],
    )
    .await;
    Ok(Measured {
        name: "rush: 2 seats a booking until sold out (20,000 seats)",
        rate: sample.rate(),
        baseline_rate: baseline.as_ref().ok().map(BaselineRun::bookings_rate),
        note: check_text(&check, sold_out, sample.ok),
        sample,
        baseline,
    })
}

/// The median of a request's rounds, each side on its own: zouqin's figures (rate,
/// latencies, errors, note) from its median-rate round, the baseline's from the round with
/// the median baseline rate; the note lists every round's two rates.
fn median_round(rounds: Vec<Measured>) -> Measured {
    let rates =
        |f: &dyn Fn(&Measured) -> String| rounds.iter().map(f).collect::<Vec<_>>().join(" / ");
    let summary = format!(
        "rounds: zouqin {} /s, baseline {} /s",
        rates(&|m| format!("{:.0}", m.rate)),
        rates(&|m| m
            .baseline_rate
            .map_or("—".to_owned(), |b| format!("{b:.0}")))
    );
    let middle = |mut order: Vec<usize>, key: &dyn Fn(usize) -> f64| {
        order.sort_by(|a, b| key(*a).total_cmp(&key(*b)));
        order.get(order.len().saturating_sub(1) / 2).copied()
    };
    let ours = middle((0..rounds.len()).collect(), &|i| rounds[i].rate).unwrap_or(0);
    let theirs = middle(
        (0..rounds.len())
            .filter(|i| rounds[*i].baseline_rate.is_some())
            .collect(),
        &|i| rounds[i].baseline_rate.unwrap_or(0.0),
    )
    .unwrap_or(ours);
    let mut rounds: Vec<Option<Measured>> = rounds.into_iter().map(Some).collect();
    let Some(mut m) = rounds.get_mut(ours).and_then(Option::take) else {
        unreachable!("a request has at least one round")
    };
    if let Some(other) = rounds.get_mut(theirs).and_then(Option::take) {
        m.baseline = other.baseline;
        m.baseline_rate = other.baseline_rate;
    }
    m.note = if m.note.is_empty() {
        summary
    } else {
        format!("{}; {summary}", m.note)
    };
    m
}

//! rush: sell out a 20,000-seat performance, 2 seats per resident (with the inventory
//! checks, the statement profile and the cost of the free-seat reads).

use super::*;

pub(super) struct RushRun {
    pub(super) concurrency: usize,
    /// The performance's seats are all in two 50/50 seat shares.
    pub(super) shares: bool,
    pub(super) sample: Sample,
    pub(super) sold_out: bool,
    pub(super) split: u64,
    pub(super) check: Inventory,
    pub(super) rss_mib: f64,
    pub(super) cpu_ms: f64,
    pub(super) pg_cpu_ms: f64,
    pub(super) gen_cpu_ms: f64,
    /// `SEATS=<capacity> rush.sh CLIENTS`, or why it did not run.
    pub(super) baseline: Baseline,
}

impl RushRun {
    pub(super) fn label(&self) -> String {
        if self.shares {
            format!("{} (shares 50/50)", self.concurrency)
        } else {
            self.concurrency.to_string()
        }
    }
}

pub(super) struct RushResult {
    pub(super) runs: Vec<RushRun>,
    pub(super) free_seat_reads: Vec<ReadCost>,
    pub(super) capacity: usize,
    pub(super) residents: usize,
    pub(super) cap_secs: u64,
}

/// What one booking and one browse request cost in SQL, read from sqlx's statement log.
#[derive(Default)]
pub(super) struct Profile {
    pub(super) browse_statements: Vec<String>,
    pub(super) cheap_statements: Vec<String>,
    /// The first booking of a performance on a fresh server (its caches empty).
    pub(super) first_booking_statements: Vec<String>,
    /// The next booking of the same performance.
    pub(super) booking_statements: Vec<String>,
}

impl Profile {
    /// Round trips of one booking: the logged statements, plus BEGIN (sqlx does not log it).
    pub(super) fn booking_round_trips(&self) -> usize {
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

pub(super) async fn rush_scenario(
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
pub(super) async fn rush_run(
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
pub(super) struct Inventory {
    capacity: i64,
    pub(super) free: i64,
    pub(super) confirmed: i64,
    pub(super) live_tickets: i64,
    pub(super) double_sold_inventory: i64,
    pub(super) double_sold_seats: i64,
    mismatched: i64,
    pub(super) partial_bookings: i64,
    /// Seats the seat-pool counters say are sold.
    pool_booked: i64,
}

impl Inventory {
    pub(super) async fn of(pool: &PgPool, perf: i64) -> BoxResult<Self> {
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
    pub(super) fn sound(&self, sold_out: bool) -> bool {
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
pub(super) async fn statement_profile(fx: &Arc<Fixture>) -> BoxResult<Profile> {
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
pub(super) struct ReadCost {
    pub(super) what: &'static str,
    pub(super) rows: usize,
    /// Inside PostgreSQL (EXPLAIN ANALYZE), median of 5.
    pub(super) query_ms: f64,
    /// For a client to run it and receive every row, median of 5.
    pub(super) fetch_ms: f64,
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

//! The cancellation storm: a sold-out 20,000-seat performance with 5,000 residents waiting
//! for 2 seats each, then 2,000 bookings cancelled at once. Every cancellation offers its
//! freed pair to the head of the waiting list in its own transaction, so the time from a
//! cancellation to its offer is at most the cancellation's own latency (the offer is
//! committed before the cancellation answers); the bench reports both that latency and the
//! offers made per second, and checks the invariants in SQL afterwards.

use super::*;

/// Waiting entries and cancellations of the storm.
const WAITING: usize = 5_000;
const CANCELLATIONS: usize = 2_000;
/// Clients that cancel at once.
const CANCEL_CLIENTS: usize = 64;

const JOIN_MUTATION: &str =
    "mutation($p: ID!) { joinWaitlist(input: { performanceId: $p, quantity: 2 }) { id status } }";
const CANCEL_MUTATION: &str = "mutation($id: ID!) { cancelBooking(id: $id) { id status } }";

pub(super) struct CancellationResult {
    pub(super) sell_out: Sample,
    pub(super) joins: Sample,
    pub(super) cancels: Sample,
    pub(super) check: Holds,
    pub(super) rss_mib: f64,
}

/// The state of the waiting list after the storm, checked in SQL.
#[derive(Debug, Default)]
pub(super) struct Holds {
    offered: i64,
    held_seats: i64,
    held_and_sold: i64,
    wrong_size_offers: i64,
    pool_booked: i64,
    live_tickets: i64,
    free_seats: i64,
    waiting: i64,
}

impl Holds {
    async fn of(pool: &PgPool, perf: i64) -> BoxResult<Self> {
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM waitlist_entry WHERE performance_id = $1 AND status = 'OFFERED') AS offered, \
               (SELECT count(*) FROM waitlist_entry WHERE performance_id = $1 AND status = 'WAITING') AS waiting, \
               (SELECT count(*) FROM inventory WHERE performance_id = $1 AND held_by IS NOT NULL) AS held, \
               (SELECT count(*) FROM inventory WHERE performance_id = $1 AND held_by IS NOT NULL \
                  AND booking_id IS NOT NULL) AS held_and_sold, \
               (SELECT count(*) FROM waitlist_entry w WHERE w.performance_id = $1 AND w.status = 'OFFERED' \
                  AND w.quantity <> (SELECT count(*) FROM inventory i WHERE i.held_by = w.id)) AS wrong, \
               (SELECT COALESCE(SUM(booked), 0)::int8 FROM seat_pool WHERE performance_id = $1) AS pool_booked, \
               (SELECT count(*) FROM ticket WHERE performance_id = $1 AND status <> 'CANCELLED') AS live, \
               (SELECT count(*) FROM inventory WHERE performance_id = $1 AND booking_id IS NULL \
                  AND held_by IS NULL) AS free",
        )
        .bind(perf)
        .fetch_one(pool)
        .await?;
        Ok(Self {
            offered: row.try_get("offered")?,
            held_seats: row.try_get("held")?,
            held_and_sold: row.try_get("held_and_sold")?,
            wrong_size_offers: row.try_get("wrong")?,
            pool_booked: row.try_get("pool_booked")?,
            live_tickets: row.try_get("live")?,
            free_seats: row.try_get("free")?,
            waiting: row.try_get("waiting")?,
        })
    }

    /// Exactly one offer per cancelled pair, each holding its pair, no seat held and sold,
    /// nothing free while entries wait, and the counters equal to tickets plus holds.
    pub(super) fn sound(&self) -> bool {
        self.offered == CANCELLATIONS as i64
            && self.held_seats == 2 * CANCELLATIONS as i64
            && self.held_and_sold == 0
            && self.wrong_size_offers == 0
            && self.free_seats == 0
            && self.waiting == (WAITING - CANCELLATIONS) as i64
            && self.pool_booked == self.live_tickets + self.held_seats
    }

    pub(super) fn line(&self) -> String {
        format!(
            "offers={} held_seats={} held_and_sold={} wrong_size_offers={} free={} waiting={} pool_booked={} live_tickets={}",
            self.offered,
            self.held_seats,
            self.held_and_sold,
            self.wrong_size_offers,
            self.free_seats,
            self.waiting,
            self.pool_booked,
            self.live_tickets
        )
    }
}

/// Runs `request(i)` once for every `i` in `0..n`, `concurrency` at a time.
async fn each<F, Fut>(concurrency: usize, n: usize, request: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (request, next) = (request.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match request(i).await {
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

pub(super) async fn cancellation_scenario(fx: &Arc<Fixture>) -> BoxResult<CancellationResult> {
    let server = Server::start(fx, "cancellations", "warn").await?;
    let api = Arc::new(Api::new(&server)?);
    let admin = fx.admin_token(&api).await?;
    let (perf, perf_id) = fx
        .arena_performance(&api, &admin, "Cancellation storm", json!({}))
        .await?;
    let capacity = ARENA_ROWS * ARENA_ROW_SEATS;
    let bookers = capacity / 2;
    if fx.residents.len() < bookers {
        return Err("not enough residents to sell the arena out".into());
    }
    // Sell out: resident i books a pair.
    let sell_out = {
        let (api, residents, perf) = (api.clone(), fx.residents.clone(), perf.clone());
        each(32, bookers, move |i| {
            let (api, residents, perf) = (api.clone(), residents.clone(), perf.clone());
            async move {
                api.call(
                    Some(&residents[i].token),
                    BOOK_MUTATION,
                    json!({ "input": { "performanceId": perf, "quantity": 2 } }),
                )
                .await
                .map(|_| ())
            }
        })
        .await
    };
    log(&format!(
        "cancellation storm: sold out with {} bookings",
        sell_out.ok
    ));
    // The waiting list: the last WAITING bookers (each holds 2 of a limit of 4) join for 2.
    let joins = {
        let (api, residents, perf) = (api.clone(), fx.residents.clone(), perf.clone());
        each(32, WAITING, move |i| {
            let (api, residents, perf) = (api.clone(), residents.clone(), perf.clone());
            async move {
                api.call(
                    Some(&residents[bookers - 1 - i].token),
                    JOIN_MUTATION,
                    json!({ "p": perf }),
                )
                .await
                .map(|_| ())
            }
        })
        .await
    };
    log(&format!("cancellation storm: {} waiting", joins.ok));
    // The first CANCELLATIONS bookers cancel their pairs, CANCEL_CLIENTS at a time.
    let rows = sqlx::query(
        "SELECT b.id, a.email FROM booking b JOIN account a ON a.id = b.account_id \
         WHERE b.performance_id = $1 AND b.status = 'CONFIRMED'",
    )
    .bind(perf_id)
    .fetch_all(&fx.pool)
    .await?;
    let by_email: HashMap<String, i64> = rows
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("email")?, r.try_get::<i64, _>("id")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut cancellations = Vec::with_capacity(CANCELLATIONS);
    for resident in fx.residents.iter().take(CANCELLATIONS) {
        let id = by_email
            .get(&resident.email)
            .ok_or("a booker has no booking")?;
        let global = URL_SAFE_NO_PAD.encode(format!("Booking:{id}"));
        cancellations.push((resident.token.clone(), global));
    }
    let cancellations = Arc::new(cancellations);
    let cancels = {
        let (api, cancellations) = (api.clone(), cancellations.clone());
        each(CANCEL_CLIENTS, CANCELLATIONS, move |i| {
            let (api, cancellations) = (api.clone(), cancellations.clone());
            async move {
                let (token, id) = &cancellations[i];
                api.call(Some(token), CANCEL_MUTATION, json!({ "id": id }))
                    .await
                    .map(|_| ())
            }
        })
        .await
    };
    let rss_mib = server.peak_rss_mib();
    server.stop();
    let check = Holds::of(&fx.pool, perf_id).await?;
    log(&format!(
        "cancellation storm: {} cancellations in {:.1} s, {}",
        cancels.ok,
        cancels.elapsed.as_secs_f64(),
        check.line()
    ));
    Ok(CancellationResult {
        sell_out,
        joins,
        cancels,
        check,
        rss_mib,
    })
}

/// The report block.
pub(super) fn render(m: &MachineReport, c: &CancellationResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Cancellation storm (the waiting list)\n\n{}",
        stamp(m)
    );
    let _ = writeln!(
        s,
        "A sold-out performance of {} seats (sold in pairs through the API), {WAITING} residents waiting for 2 seats each (`joinWaitlist`), then {CANCELLATIONS} bookings cancelled by {CANCEL_CLIENTS} clients at once. Each cancellation offers its pair to the head of the list in its own transaction, so the time from a cancellation to its offer is at most the cancellation's latency below (the offer is committed before the answer).\n",
        ARENA_ROWS * ARENA_ROW_SEATS
    );
    let _ = writeln!(
        s,
        "| step | requests ok | wall | per second | p50 ms | p99 ms | other outcomes |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---|");
    for (name, x) in [
        ("sell out (bookSeats)", &c.sell_out),
        ("join the list", &c.joins),
        ("cancel → offer", &c.cancels),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {} | {:.1} s | {} | {} | {} | {} |",
            x.ok,
            x.elapsed.as_secs_f64(),
            f1(x.rate()),
            f1(x.ms(0.5)),
            f1(x.ms(0.99)),
            x.codes_text()
        );
    }
    let _ = writeln!(
        s,
        "\nOffers made: {} ({} offers/s over the storm). Invariants after the run (SQL): {} — `{}`. Peak RSS {} MiB.",
        c.check.offered,
        f1(c.check.offered as f64 / c.cancels.elapsed.as_secs_f64().max(1e-9)),
        if c.check.sound() { "ok" } else { "**FAILED**" },
        c.check.line(),
        f1(c.rss_mib)
    );
    s
}

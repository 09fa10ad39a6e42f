//! Booking seats: explicit seats or a quantity (best seats together), all or nothing,
//! idempotent, and correct with any number of server instances on one database.
//!
//! There are two paths. On PostgreSQL a booking first takes the **parallel path**
//! ([`parallel`]): one statement that shares the performance's row lock with the other
//! bookings in flight and claims seats nobody else is claiming (`FOR UPDATE SKIP LOCKED`).
//! Whatever it cannot settle goes to the **exact path** below (and on SQLite everything does):
//!
//! 1. The transaction first reads the performance row `FOR UPDATE`. On PostgreSQL that lock waits for the parallel bookings in flight and
//!    queues exact bookings of the same performance one behind the other (other performances
//!    run in parallel); on SQLite `BEGIN IMMEDIATE` already makes writers take turns. So its answer (best seats, `SOLD_OUT`, `SEAT_UNAVAILABLE`, `LIMIT_EXCEEDED`)
//!    is decided with every committed booking in view, and an idempotent retry that races
//!    its original waits for it and then finds its booking.
//! 2. Seats are claimed with `UPDATE inventory SET booking_id = … WHERE booking_id IS NULL`
//!    and the number of rows changed must equal the number asked for; the partial unique
//!    index `ticket_live_inventory_key` backs this up: a seat can never carry two live
//!    tickets, whatever the code above does.
//! 3. The per-resident limit is a conditional upsert on `resident_hold`.
//! 4. The booking row, its inventory claims and its tickets commit together or not at all.

mod parallel;
mod seatmap;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{BookingStatus, PerformanceStatus, SeatingMode, TicketStatus};
use entity::{booking, performance, seat, ticket};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

use super::now;
use crate::auth::Caller;
use crate::db::{self, violates};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, encode};
use crate::realtime::{AvailabilityEvent, Realtime};
pub use parallel::{Booker, statements as parallel_statements};

/// What a resident asks for.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These seats, all or nothing.
    Seats(Vec<i64>),
    /// This many seats or places, chosen by the system.
    Quantity(i32),
}

/// A validated `bookSeats` input.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    /// The performance.
    pub performance_id: i64,
    /// What to book.
    pub selection: Selection,
    /// Makes retries safe: the same key returns the same booking.
    pub idempotency_key: Option<String>,
}

impl BookingRequest {
    /// Checks the shape of a request: exactly one of seat ids / quantity, sane sizes.
    pub fn new(
        performance_id: i64,
        seat_ids: Option<Vec<i64>>,
        quantity: Option<i32>,
        idempotency_key: Option<String>,
    ) -> AppResult<Self> {
        let selection = match (seat_ids, quantity) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(AppError::bad_input(
                    "seatIds",
                    "give exactly one of seatIds and quantity",
                ));
            }
            (Some(mut ids), None) => {
                if ids.is_empty() || ids.len() > 100 {
                    return Err(AppError::bad_input(
                        "seatIds",
                        "give between 1 and 100 seats",
                    ));
                }
                let before = ids.len();
                ids.sort_unstable();
                ids.dedup();
                if ids.len() != before {
                    return Err(AppError::bad_input("seatIds", "a seat is listed twice"));
                }
                Selection::Seats(ids)
            }
            (None, Some(quantity)) => {
                if !(1..=100).contains(&quantity) {
                    return Err(AppError::bad_input(
                        "quantity",
                        "quantity must be between 1 and 100",
                    ));
                }
                Selection::Quantity(quantity)
            }
        };
        let idempotency_key = match idempotency_key {
            Some(key) => {
                let key = key.trim().to_owned();
                if key.is_empty() || key.len() > 200 {
                    return Err(AppError::bad_input(
                        "idempotencyKey",
                        "an idempotency key has 1 to 200 characters",
                    ));
                }
                Some(key)
            }
            None => None,
        };
        Ok(Self {
            performance_id,
            selection,
            idempotency_key,
        })
    }

    fn size(&self) -> i32 {
        match &self.selection {
            Selection::Seats(ids) => ids.len() as i32,
            Selection::Quantity(n) => *n,
        }
    }

    /// A digest of what was asked, to tell a retry from a different request with the same key.
    fn fingerprint(&self) -> String {
        let text = match &self.selection {
            Selection::Seats(ids) => format!("{}:seats:{ids:?}", self.performance_id),
            Selection::Quantity(n) => format!("{}:quantity:{n}", self.performance_id),
        };
        crate::auth::token_hash(&text)
    }
}

/// Whether the performance takes bookings at `now`.
pub fn check_window(perf: &performance::Model, now: DateTime<Utc>) -> AppResult<()> {
    if perf.status != PerformanceStatus::Published {
        return Err(AppError::BookingClosed(
            "the performance is not open for booking".to_owned(),
        ));
    }
    let opens = perf
        .booking_opens_at
        .or(perf.published_at)
        .unwrap_or(perf.starts_at);
    let closes = perf.booking_closes_at.unwrap_or(perf.starts_at);
    if now < opens {
        return Err(AppError::BookingClosed(format!(
            "booking opens at {}",
            opens.to_rfc3339()
        )));
    }
    if now >= closes {
        return Err(AppError::BookingClosed("booking has closed".to_owned()));
    }
    Ok(())
}

enum Outcome {
    Booked(booking::Model, Vec<i64>),
    Existing(booking::Model),
}

/// `bookSeats`.
///
/// On PostgreSQL a booking first takes the parallel path ([`Booker::try_parallel`]): one
/// statement that shares the performance row with other bookings and claims seats nobody
/// else is claiming. Whatever that path cannot settle by itself (a refusal of any kind, a
/// nearly sold-out hall, seats others hold) goes to the exact path below, which queues
/// behind the performance's row lock and decides with every committed booking in view. So
/// every refusal (`SOLD_OUT`, `SEAT_UNAVAILABLE`, `LIMIT_EXCEEDED`, `BOOKING_CLOSED`) is
/// decided by the exact path, and SQLite (one writer at a time) always takes it.
///
/// A resident suspended after repeated no-shows is `BOOKING_SUSPENDED` (see
/// [`super::no_shows`]): the parallel statement books nothing for it (one more primary-key
/// probe of `booking_suspension` inside the statement it runs anyway), and the exact path
/// reads the suspension inside its transaction and answers.
pub async fn book(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    request: BookingRequest,
) -> AppResult<booking::Model> {
    let resident = caller.resident()?;
    // A recent copy is enough for the parallel path, which checks status, window and limit
    // again under its lock; the exact path reads the row afresh.
    let (perf, recent) = match booker.recent_performance(request.performance_id) {
        Some(perf) => (perf, true),
        None => {
            let perf = super::catalog::performance(conn, caller, request.performance_id)
                .await?
                .ok_or(AppError::NotFound("performance"))?;
            booker.remember_performance(&perf);
            (perf, false)
        }
    };
    let seating = booker.seating(conn, perf.venue_id).await?;
    let fingerprint = request.fingerprint();
    // Queue here, in memory, rather than on the database with a pooled connection held:
    // a rush on one performance then cannot starve the pool for others.
    let _turn = admission(perf.id)
        .acquire()
        .await
        .map_err(|e| AppError::Internal(format!("admission semaphore closed: {e}")))?;
    if let Some(booking) = booker
        .try_parallel(
            conn,
            realtime,
            &perf,
            seating,
            resident,
            &request,
            &fingerprint,
        )
        .await?
    {
        return Ok(booking);
    }
    let perf = if recent {
        let fresh = super::catalog::performance(conn, caller, perf.id)
            .await?
            .ok_or(AppError::NotFound("performance"))?;
        booker.remember_performance(&fresh);
        fresh
    } else {
        perf
    };
    let perf_id = perf.id;
    let booked = book_exactly(
        conn,
        realtime,
        perf,
        seating,
        resident,
        request,
        fingerprint,
    )
    .await;
    if booked.is_ok() {
        // The seat picture of the parallel path does not know this sale.
        booker.forget(perf_id);
    }
    booked
}

/// The exact path: one booking of the performance at a time, seeing every committed one.
async fn book_exactly(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    perf: performance::Model,
    seating: SeatingMode,
    resident: i64,
    request: BookingRequest,
    fingerprint: String,
) -> AppResult<booking::Model> {
    metrics::counter!("zouqin_booking_path_total", "path" => "exact").increment(1);
    // A retry returns the first booking whenever it comes, even after the window closed.
    if let Some(key) = &request.idempotency_key
        && let Some(existing) = find_by_key(conn, resident, key).await?
    {
        return replay(existing, &fingerprint);
    }
    check_window(&perf, now())?;
    let result = crate::write_txn!(conn, |txn| {
        // Lock and re-read in one statement: the window and limit may have changed since.
        let perf = super::scheduling::exclude_bookings(txn, perf.id).await?;
        if let Some(key) = &request.idempotency_key
            && let Some(existing) = find_by_key(txn, resident, key).await?
        {
            return Ok(Outcome::Existing(existing));
        }
        super::no_shows::refuse_if_suspended(txn, resident, now()).await?;
        check_window(&perf, now())?;
        hold(
            txn,
            perf.id,
            resident,
            request.size(),
            perf.per_resident_limit,
        )
        .await?;
        let booking = booking::ActiveModel {
            performance_id: Set(perf.id),
            account_id: Set(resident),
            status: Set(BookingStatus::Confirmed),
            quantity: Set(request.size()),
            seats_together: Set(true),
            idempotency_key: Set(request.idempotency_key.clone()),
            request_fingerprint: Set(fingerprint.clone()),
            created_at: Set(now()),
            cancelled_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        let (claimed, together) = match &request.selection {
            Selection::Seats(seat_ids) => (
                claim_seats(txn, &perf, seating, booking.id, seat_ids).await?,
                true,
            ),
            Selection::Quantity(n) => claim_best(txn, &perf, seating, booking.id, *n).await?,
        };
        let booking = if together {
            booking
        } else {
            let mut model: booking::ActiveModel = booking.into();
            model.seats_together = Set(false);
            model.update(txn).await?
        };
        // The seats are counted against the pools the resident may use (its home share,
        // the open pool): SOLD_OUT, with the release time, when those have too few.
        let home = entity::account::Entity::find_by_id(resident)
            .one(txn)
            .await?
            .and_then(|a| a.home_center_id);
        let pools = super::shares::take(txn, &perf, home, request.size(), now()).await?;
        issue_tickets(txn, &booking, &claimed, &pools).await?;
        let seat_ids = claimed.iter().filter_map(|c| c.seat_id).collect();
        Ok(Outcome::Booked(booking, seat_ids))
    });
    let outcome = match result {
        Err(AppError::Internal(detail))
            if detail.contains("booking_idempotency_key")
                || detail.contains("booking.idempotency_key") =>
        {
            // A concurrent twin committed first; fall through to reading it.
            let key = request.idempotency_key.as_deref().unwrap_or_default();
            Outcome::Existing(db::found(
                find_by_key(conn, resident, key).await?,
                "booking",
            )?)
        }
        other => other?,
    };
    match outcome {
        Outcome::Existing(existing) => replay(existing, &fingerprint),
        Outcome::Booked(booking, seat_ids) => {
            realtime
                .publish(AvailabilityEvent::seats(booking.performance_id, seat_ids))
                .await;
            Ok(booking)
        }
    }
}

/// The answer to a repeated idempotency key: the first booking, if the request is the same.
fn replay(existing: booking::Model, fingerprint: &str) -> AppResult<booking::Model> {
    if existing.request_fingerprint == fingerprint {
        Ok(existing)
    } else {
        Err(AppError::conflict(
            "this idempotency key was used for a different booking request",
        ))
    }
}

/// Bookings of one performance that may be in the database at once from this instance:
/// enough to keep the parallel path busy, half the default pool so other work still gets
/// connections during a rush.
const PER_PERFORMANCE_IN_FLIGHT: usize = 8;
/// Stripes of the admission table (performances share a stripe only by id modulo this).
const ADMISSION_STRIPES: usize = 64;

/// This instance's admission gate for a performance. It only shapes load: correctness
/// comes from the database, whatever the number of instances.
fn admission(performance_id: i64) -> &'static tokio::sync::Semaphore {
    static STRIPES: std::sync::LazyLock<Vec<tokio::sync::Semaphore>> =
        std::sync::LazyLock::new(|| {
            (0..ADMISSION_STRIPES)
                .map(|_| tokio::sync::Semaphore::new(PER_PERFORMANCE_IN_FLIGHT))
                .collect()
        });
    &STRIPES[performance_id.rem_euclid(ADMISSION_STRIPES as i64) as usize]
}

async fn find_by_key(
    conn: &impl ConnectionTrait,
    account_id: i64,
    key: &str,
) -> AppResult<Option<booking::Model>> {
    Ok(booking::Entity::find()
        .filter(booking::Column::AccountId.eq(account_id))
        .filter(booking::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await?)
}

/// Raises the resident's holding by `n`, refusing to pass `limit` (a conditional upsert).
async fn hold(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    account_id: i64,
    n: i32,
    limit: i32,
) -> AppResult<()> {
    let exceeded = || {
        AppError::LimitExceeded(format!(
            "at most {limit} tickets per resident for this performance"
        ))
    };
    if n > limit {
        return Err(exceeded());
    }
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "INSERT INTO resident_hold (performance_id, account_id, tickets) VALUES ($1, $2, $3) \
             ON CONFLICT (performance_id, account_id) DO UPDATE \
             SET tickets = resident_hold.tickets + excluded.tickets \
             WHERE resident_hold.tickets + excluded.tickets <= $4",
            [
                performance_id.into(),
                account_id.into(),
                n.into(),
                limit.into(),
            ],
        ))
        .await?;
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(exceeded())
    }
}

/// An inventory row claimed for a booking.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Claimed {
    /// The inventory row.
    pub id: i64,
    /// The seat (None for general admission).
    pub seat_id: Option<i64>,
}

async fn claim(
    conn: &impl ConnectionTrait,
    booking_id: i64,
    inventory_ids: &[i64],
) -> AppResult<u64> {
    let placeholders: Vec<String> = (2..inventory_ids.len() + 2)
        .map(|i| format!("${i}"))
        .collect();
    let sql = format!(
        "UPDATE inventory SET booking_id = $1 WHERE booking_id IS NULL AND id IN ({})",
        placeholders.join(", ")
    );
    let mut values: Vec<sea_orm::Value> = vec![booking_id.into()];
    values.extend(inventory_ids.iter().map(|id| sea_orm::Value::from(*id)));
    Ok(conn
        .execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            values,
        ))
        .await?
        .rows_affected())
}

async fn claim_seats(
    conn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: SeatingMode,
    booking_id: i64,
    seat_ids: &[i64],
) -> AppResult<Vec<Claimed>> {
    if seating != SeatingMode::Reserved {
        return Err(AppError::bad_input(
            "seatIds",
            "this performance has general admission; ask for a quantity",
        ));
    }
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::Id)
        .column(entity::inventory::Column::SeatId)
        .column(entity::inventory::Column::BookingId)
        .filter(entity::inventory::Column::PerformanceId.eq(perf.id))
        .filter(entity::inventory::Column::SeatId.is_in(seat_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    if rows.len() != seat_ids.len() {
        return Err(AppError::bad_input(
            "seatIds",
            "a seat does not belong to this performance's venue",
        ));
    }
    let taken: Vec<String> = rows
        .iter()
        .filter(|(_, _, booking)| booking.is_some())
        .filter_map(|(_, seat, _)| seat.map(|s| encode(Kind::Seat, s)))
        .collect();
    if !taken.is_empty() {
        return Err(AppError::SeatUnavailable { seat_ids: taken });
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
    if claim(conn, booking_id, &ids).await? != ids.len() as u64 {
        return Err(AppError::SeatUnavailable {
            seat_ids: seat_ids.iter().map(|s| encode(Kind::Seat, *s)).collect(),
        });
    }
    Ok(rows
        .into_iter()
        .map(|(id, seat_id, _)| Claimed { id, seat_id })
        .collect())
}

/// A free seat as the best-available search sees it.
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct FreeSeat {
    pub(crate) id: i64,
    pub(crate) seat_id: Option<i64>,
    pub(crate) place_no: i32,
    pub(crate) section_order: i32,
    pub(crate) row_rank: i32,
    pub(crate) number: i32,
    pub(crate) row_size: i32,
}

impl FreeSeat {
    fn row(&self) -> (i32, i32) {
        (self.section_order, self.row_rank)
    }

    fn claimed(&self) -> Claimed {
        Claimed {
            id: self.id,
            seat_id: self.seat_id,
        }
    }
}

/// Up to [`FREE_SEAT_WINDOW`] free seats of a performance after `place_no`, in preference
/// order (`place_no` numbers the seats by section, row from the stage, seat), read through
/// the partial index of free inventory. The flag tells whether the inventory ends here.
pub(crate) async fn free_window(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    after: i32,
) -> AppResult<(Vec<FreeSeat>, bool)> {
    let window = FreeSeat::find_by_statement(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "SELECT i.id, i.seat_id, i.place_no, s.section_order, s.row_rank, s.number, s.row_size \
         FROM inventory i JOIN seat s ON s.id = i.seat_id \
         WHERE i.performance_id = $1 AND i.booking_id IS NULL AND i.place_no > $2 \
         ORDER BY i.place_no LIMIT $3",
        [performance_id.into(), after.into(), FREE_SEAT_WINDOW.into()],
    ))
    .all(conn)
    .await?;
    let exhausted = (window.len() as i64) < FREE_SEAT_WINDOW;
    Ok((window, exhausted))
}

/// How many seats at the front of `seats` (in place order) form whole rows: all of them
/// when the inventory ends there, else all but those of the last row, which may go on.
pub(crate) fn whole_rows(seats: &[FreeSeat], exhausted: bool) -> usize {
    if exhausted {
        return seats.len();
    }
    let last = seats.last().map(FreeSeat::row);
    seats
        .iter()
        .position(|s| Some(s.row()) == last)
        .unwrap_or(0)
}

/// Picks and claims `n` seats: the best contiguous block in one row (rows nearest the stage
/// first, then seats nearest the row's middle); when no row has `n` adjacent free seats,
/// the `n` best free seats one by one. Never refuses while `n` seats remain.
async fn claim_best(
    conn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: SeatingMode,
    booking_id: i64,
    n: i32,
) -> AppResult<(Vec<Claimed>, bool)> {
    let backend = conn.get_database_backend();
    if seating == SeatingMode::GeneralAdmission {
        let rows = Claimed::find_by_statement(Statement::from_sql_and_values(
            backend,
            "SELECT id, seat_id FROM inventory WHERE performance_id = $1 AND booking_id IS NULL \
             ORDER BY place_no LIMIT $2",
            [perf.id.into(), i64::from(n).into()],
        ))
        .all(conn)
        .await?;
        return finish_claim(conn, booking_id, rows, n, true).await;
    }
    // Free seats are read in windows. The first row that holds a block of `n` has the best
    // block, so a booking usually reads one window however large the hall; only a
    // fragmented, nearly sold-out hall is read to the end (and then it is small).
    let mut after = 0;
    let mut pending: Vec<FreeSeat> = Vec::new();
    let mut fallback: Vec<FreeSeat> = Vec::new();
    let mut free_seen = 0usize;
    loop {
        let (window, exhausted) = free_window(conn, perf.id, after).await?;
        if let Some(last) = window.last() {
            after = last.place_no;
        }
        free_seen += window.len();
        pending.extend(window);
        let rows: Vec<FreeSeat> = pending.drain(..whole_rows(&pending, exhausted)).collect();
        let (picked, together) = pick(&rows, n as usize);
        if together {
            let claimed = picked.into_iter().map(|i| rows[i].claimed()).collect();
            return finish_claim(conn, booking_id, claimed, n, true).await;
        }
        if fallback.len() < n as usize {
            fallback.extend(rows);
        }
        if exhausted {
            break;
        }
    }
    if free_seen < n as usize {
        return Err(sold_out(free_seen));
    }
    // No row has `n` adjacent seats: the best seats one by one (they lie in the first rows).
    let (picked, together) = pick(&fallback, n as usize);
    let claimed = picked.into_iter().map(|i| fallback[i].claimed()).collect();
    finish_claim(conn, booking_id, claimed, n, together).await
}

/// How many free seats one read of the best-available search returns (a row has at most
/// 500 seats, so a window holds at least one whole row after the first).
const FREE_SEAT_WINDOW: i64 = 600;

fn sold_out(left: usize) -> AppError {
    super::shares::sold_out(left as i64, None)
}

async fn finish_claim(
    conn: &impl ConnectionTrait,
    booking_id: i64,
    rows: Vec<Claimed>,
    n: i32,
    together: bool,
) -> AppResult<(Vec<Claimed>, bool)> {
    if (rows.len() as i32) < n {
        return Err(sold_out(rows.len()));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    if claim(conn, booking_id, &ids).await? != ids.len() as u64 {
        // Only reachable if another writer bypassed the performance lock: start over.
        return Err(AppError::Internal(
            "transient: inventory changed during claim".to_owned(),
        ));
    }
    Ok((rows, together))
}

/// Twice the distance of a seat from its row's middle (integers, no rounding).
fn off_middle(seat: &FreeSeat) -> i32 {
    (2 * seat.number - (seat.row_size + 1)).abs()
}

/// Chooses `n` of the free seats (sorted by section, row, number): indices into `free`,
/// and whether they sit together.
///
/// The best block of `n` adjacent seats is in the row nearest the stage that has one; in
/// that row, the block that strands the fewest seats (a block that leaves runs of free seats
/// whose lengths are not multiples of `n` leaves seats that a party of the same size cannot
/// use: selling a 200-seat row in pairs from its exact middle strands seats 1 and 200),
/// then the block nearest the middle of the row. Without any block: the best seats one by one.
fn pick(free: &[FreeSeat], n: usize) -> (Vec<usize>, bool) {
    if n == 0 || free.len() < n {
        return ((0..free.len()).collect(), false);
    }
    let adjacent =
        |i: usize| free[i].row() == free[i - 1].row() && free[i].number == free[i - 1].number + 1;
    let mut best: Option<((i32, i32, usize, i32), usize)> = None;
    let mut run_start = 0;
    while run_start < free.len() {
        let mut run_end = run_start + 1;
        while run_end < free.len() && adjacent(run_end) {
            run_end += 1;
        }
        if run_end - run_start >= n {
            let (section, row) = free[run_start].row();
            for start in run_start..=run_end - n {
                let stranded = (start - run_start) % n + (run_end - start - n) % n;
                let cost: i32 = free[start..start + n].iter().map(off_middle).sum();
                let key = (section, row, stranded, cost);
                if best.is_none_or(|(k, _)| key < k) {
                    best = Some((key, start));
                }
            }
        }
        run_start = run_end;
    }
    if let Some((_, start)) = best {
        return ((start..start + n).collect(), true);
    }
    let mut order: Vec<usize> = (0..free.len()).collect();
    order.sort_by_key(|&i| {
        (
            free[i].section_order,
            free[i].row_rank,
            off_middle(&free[i]),
            free[i].number,
        )
    });
    order.truncate(n);
    (order, false)
}

async fn issue_tickets(
    conn: &impl ConnectionTrait,
    booking: &booking::Model,
    claimed: &[Claimed],
    pools: &[i64],
) -> AppResult<()> {
    let tickets: Vec<ticket::ActiveModel> = claimed
        .iter()
        .zip(pools)
        .map(|(c, pool)| ticket::ActiveModel {
            booking_id: Set(booking.id),
            performance_id: Set(booking.performance_id),
            inventory_id: Set(c.id),
            seat_id: Set(c.seat_id),
            code: Set(ticket_code()),
            status: Set(TicketStatus::Valid),
            checked_in_at: Set(None),
            checked_in_by: Set(None),
            pool_center_id: Set(*pool),
            ..Default::default()
        })
        .collect();
    ticket::Entity::insert_many(tickets)
        .exec(conn)
        .await
        .map_err(|err| {
            if violates(&err, "ticket_live_inventory_key") {
                AppError::SeatUnavailable {
                    seat_ids: claimed
                        .iter()
                        .filter_map(|c| c.seat_id.map(|s| encode(Kind::Seat, s)))
                        .collect(),
                }
            } else {
                err.into()
            }
        })?;
    Ok(())
}

/// A ticket code: 160 random bits in Crockford base32 (no I, L, O, U: easy to read aloud
/// and type), in groups of four, e.g. `7K3M-Q9XD-…`. Fits a QR code in alphanumeric mode.
pub fn ticket_code() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    let mut bits: u64 = 0;
    let mut held = 0;
    let mut out = String::with_capacity(40);
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u64::from(byte);
        held += 8;
        while held >= 5 {
            held -= 5;
            if count > 0 && count % 4 == 0 {
                out.push('-');
            }
            out.push(ALPHABET[((bits >> held) & 31) as usize] as char);
            count += 1;
        }
    }
    out
}

/// Normalises a typed ticket code (case, spaces, look-alike letters).
pub fn normalise_code(raw: &str) -> String {
    let mut out = String::new();
    for (count, c) in raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .enumerate()
    {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        };
        if count > 0 && count % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// `cancelBooking`: the holder cancels until the booking window closes; seats are free at once.
pub async fn cancel(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    id: i64,
) -> AppResult<booking::Model> {
    let resident = caller.resident()?;
    let current = booking::Entity::find_by_id(id)
        .filter(booking::Column::AccountId.eq(resident))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("booking"))?;
    let (booking, seat_ids) = crate::write_txn!(conn, |txn| {
        let perf = super::scheduling::exclude_bookings(txn, current.performance_id).await?;
        let booking = db::found(booking::Entity::find_by_id(id).one(txn).await?, "booking")?;
        if booking.status == BookingStatus::Cancelled {
            return Err(AppError::conflict("the booking is already cancelled"));
        }
        if perf.status == PerformanceStatus::Published
            && now() >= perf.booking_closes_at.unwrap_or(perf.starts_at)
        {
            return Err(AppError::BookingClosed(
                "bookings can no longer be cancelled: booking has closed".to_owned(),
            ));
        }
        let tickets = ticket::Entity::find()
            .filter(ticket::Column::BookingId.eq(id))
            .all(txn)
            .await?;
        if tickets.iter().any(|t| t.status == TicketStatus::CheckedIn) {
            return Err(AppError::conflict(
                "a ticket of this booking was already used",
            ));
        }
        // Conditional: a ticket checked in since it was read above is not cancelled, and
        // then nothing is (the check-in does not wait for the performance's lock).
        let cancelled = ticket::Entity::update_many()
            .col_expr(ticket::Column::Status, Expr::value(TicketStatus::Cancelled))
            .filter(ticket::Column::BookingId.eq(id))
            .filter(ticket::Column::Status.eq(TicketStatus::Valid))
            .exec(txn)
            .await?;
        if cancelled.rows_affected != tickets.len() as u64 {
            return Err(AppError::conflict(
                "a ticket of this booking was already used",
            ));
        }
        entity::inventory::Entity::update_many()
            .col_expr(
                entity::inventory::Column::BookingId,
                Expr::value(Option::<i64>::None),
            )
            .filter(entity::inventory::Column::BookingId.eq(id))
            .exec(txn)
            .await?;
        let pools: Vec<i64> = tickets.iter().map(|t| t.pool_center_id).collect();
        super::shares::give_back(txn, booking.performance_id, &pools).await?;
        entity::resident_hold::Entity::update_many()
            .col_expr(
                entity::resident_hold::Column::Tickets,
                Expr::col(entity::resident_hold::Column::Tickets).sub(tickets.len() as i32),
            )
            .filter(entity::resident_hold::Column::PerformanceId.eq(booking.performance_id))
            .filter(entity::resident_hold::Column::AccountId.eq(resident))
            .exec(txn)
            .await?;
        let mut model: booking::ActiveModel = booking.into();
        model.status = Set(BookingStatus::Cancelled);
        model.cancelled_at = Set(Some(now()));
        let booking = model.update(txn).await?;
        let seat_ids: Vec<i64> = tickets.iter().filter_map(|t| t.seat_id).collect();
        Ok((booking, seat_ids))
    })?;
    // This instance's seat picture learns at once; the others from the event.
    booker.forget(booking.performance_id);
    realtime
        .publish(AvailabilityEvent::freed(booking.performance_id, seat_ids))
        .await;
    Ok(booking)
}

/// A booking the caller may see: its holder, or staff of the host center (SCHEDULER+).
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<booking::Model> {
    caller.identity()?;
    let booking = booking::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("booking"))?;
    if caller.account_id() == Some(booking.account_id) {
        return Ok(booking);
    }
    if let Ok(staff) = caller.staff(entity::enums::Role::Scheduler) {
        let perf = performance::Entity::find_by_id(booking.performance_id)
            .one(conn)
            .await?;
        if perf.is_some_and(|p| p.host_center_id == staff.center_id) {
            return Ok(booking);
        }
    }
    Err(AppError::NotFound("booking"))
}

/// A page of bookings by id (for `myBookings` and `performanceBookings`).
pub async fn page(
    conn: &impl ConnectionTrait,
    account_id: Option<i64>,
    performance_id: Option<i64>,
    after_id: Option<i64>,
    first: u64,
) -> AppResult<(Vec<booking::Model>, bool, u64)> {
    use sea_orm::PaginatorTrait;
    let mut query = booking::Entity::find();
    if let Some(account) = account_id {
        query = query.filter(booking::Column::AccountId.eq(account));
    }
    if let Some(perf) = performance_id {
        query = query.filter(booking::Column::PerformanceId.eq(perf));
    }
    let total = query.clone().count(conn).await?;
    if let Some(after) = after_id {
        query = query.filter(booking::Column::Id.lt(after));
    }
    let (items, has_next) =
        super::catalog::page_of(conn, query.order_by_desc(booking::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// `performanceBookings`: SCHEDULER+ of the host center.
pub async fn for_performance(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    performance_id: i64,
) -> AppResult<performance::Model> {
    let staff = caller.staff(entity::enums::Role::Scheduler)?;
    let perf = super::catalog::performance(conn, caller, performance_id)
        .await?
        .ok_or(AppError::NotFound("performance"))?;
    staff.require_center(perf.host_center_id)?;
    Ok(perf)
}

/// Tickets of bookings, grouped by booking id.
pub async fn tickets_of(
    conn: &impl ConnectionTrait,
    booking_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<ticket::Model>>> {
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::BookingId.is_in(booking_ids.iter().copied()))
        .order_by_asc(ticket::Column::Id)
        .all(conn)
        .await?;
    let mut grouped: HashMap<i64, Vec<ticket::Model>> = HashMap::new();
    for t in tickets {
        grouped.entry(t.booking_id).or_default().push(t);
    }
    Ok(grouped)
}

/// Seats by id.
pub async fn seats_by_id(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, seat::Model>> {
    Ok(seat::Entity::find()
        .filter(seat::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect())
}

/// The taken seat ids of a performance.
pub async fn taken_seats(conn: &impl ConnectionTrait, performance_id: i64) -> AppResult<Vec<i64>> {
    let rows: Vec<Option<i64>> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::SeatId)
        .filter(entity::inventory::Column::PerformanceId.eq(performance_id))
        .filter(entity::inventory::Column::BookingId.is_not_null())
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(section_order: i32, row_rank: i32, number: i32, row_size: i32) -> FreeSeat {
        FreeSeat {
            id: i64::from(section_order * 10_000 + row_rank * 100 + number),
            seat_id: None,
            place_no: section_order * 10_000 + row_rank * 100 + number,
            section_order,
            row_rank,
            number,
            row_size,
        }
    }

    #[test]
    fn picks_the_middle_of_the_front_row() {
        let free: Vec<FreeSeat> = (1..=10).map(|n| seat(0, 0, n, 10)).collect();
        let (picked, together) = pick(&free, 2);
        assert!(together);
        let numbers: Vec<i32> = picked.iter().map(|&i| free[i].number).collect();
        assert_eq!(numbers, vec![5, 6]);
    }

    #[test]
    fn prefers_a_block_in_a_later_row_over_split_seats() {
        let mut free = vec![seat(0, 0, 1, 10), seat(0, 0, 3, 10)];
        free.extend((4..=6).map(|n| seat(0, 1, n, 10)));
        let (picked, together) = pick(&free, 2);
        assert!(together);
        assert!(picked.iter().all(|&i| free[i].row_rank == 1));
    }

    #[test]
    fn falls_back_to_the_best_single_seats() {
        let free = vec![seat(0, 0, 1, 10), seat(0, 0, 3, 10), seat(0, 1, 5, 10)];
        let (picked, together) = pick(&free, 2);
        assert!(!together);
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn selling_a_row_in_pairs_strands_no_seat() {
        let mut free: Vec<FreeSeat> = (1..=200).map(|n| seat(0, 0, n, 200)).collect();
        let mut first = None;
        while !free.is_empty() {
            let (picked, together) = pick(&free, 2);
            assert!(together, "{} seats left, none of them together", free.len());
            first.get_or_insert_with(|| free[picked[0]].number);
            for i in picked.into_iter().rev() {
                free.remove(i);
            }
        }
        // The first pair is one seat off the exact middle (99-100, leaving 98 and 100 seats).
        assert_eq!(first, Some(99));
    }

    #[test]
    fn ticket_codes_are_long_random_and_normalise_back() {
        let a = ticket_code();
        assert_eq!(a.len(), 32 + 7);
        assert_ne!(a, ticket_code());
        assert_eq!(normalise_code(&a.to_lowercase().replace('-', " ")), a);
    }
}

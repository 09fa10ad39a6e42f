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

mod claim;
mod parallel;
mod reads;
mod seatmap;

use chrono::{DateTime, Utc};
use entity::enums::{BookingStatus, PerformanceStatus, SeatingMode, TicketStatus};
use entity::{booking, performance, ticket};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, Statement,
};

use super::now;
use crate::auth::Caller;
use crate::db::{self, violates};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, encode};
use crate::realtime::{AvailabilityEvent, Realtime};
pub(crate) use claim::{ClaimFor, book_held, claim_best_for, lower_hold};
use claim::{Claimed, claim_seats};
pub(crate) use claim::{FreeSeat, pick};
pub(crate) use claim::{free_window, whole_rows};
pub use parallel::{Booker, statements as parallel_statements};
pub use reads::{for_performance, page, seats_by_id, tickets_of, unavailable_seats, visible};

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
        booker.waitlist_policy(),
    )
    .await;
    if booked.is_ok() {
        // The seat picture of the parallel path does not know this sale.
        booker.forget(perf_id);
    }
    booked
}

/// The exact path: one booking of the performance at a time, seeing every committed one.
#[allow(clippy::too_many_arguments)]
async fn book_exactly(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    perf: performance::Model,
    seating: SeatingMode,
    resident: i64,
    request: BookingRequest,
    fingerprint: String,
    policy: super::waitlist::Policy,
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
        let own_entry = super::waitlist::before_booking(txn, perf.id, resident).await?;
        hold_limit(
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
            Selection::Quantity(n) => {
                claim_best_for(txn, &perf, seating, ClaimFor::Booking(booking.id), *n).await?
            }
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
        issue_tickets(txn, &booking, &claimed, &pools, home).await?;
        let mut seat_ids: Vec<i64> = claimed.iter().filter_map(|c| c.seat_id).collect();
        // A resident who books directly leaves its own entry of the waiting list (an open
        // offer's seats pass on).
        if let Some(entry) = own_entry {
            let passed =
                super::waitlist::withdraw(txn, &perf, seating, &policy, &entry, now()).await?;
            seat_ids.extend(passed);
        }
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
pub(crate) async fn hold_limit(
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

pub(super) async fn issue_tickets(
    conn: &impl ConnectionTrait,
    booking: &booking::Model,
    claimed: &[Claimed],
    pools: &[i64],
    home: Option<i64>,
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
            home_center_id: Set(home),
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
    let (booking, seat_ids, offered) = crate::write_txn!(conn, |txn| {
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
        lower_hold(txn, booking.performance_id, resident, tickets.len() as i32).await?;
        let mut model: booking::ActiveModel = booking.into();
        model.status = Set(BookingStatus::Cancelled);
        model.cancelled_at = Set(Some(now()));
        let booking = model.update(txn).await?;
        let seat_ids: Vec<i64> = tickets.iter().filter_map(|t| t.seat_id).collect();
        // The freed seats go to the waiting list first, in this transaction: the public
        // never sees them free while an entry they can fill waits.
        let seating = booker.seating(txn, perf.venue_id).await?;
        let offered =
            super::waitlist::offer_freed(txn, &perf, seating, &booker.waitlist_policy(), now())
                .await?;
        Ok((booking, seat_ids, offered))
    })?;
    realtime.notified(&offered.notified.0);
    let mut seat_ids = seat_ids;
    seat_ids.extend(offered.seat_ids);
    // This instance's seat picture learns at once; the others from the event.
    booker.forget(booking.performance_id);
    realtime
        .publish(AvailabilityEvent::freed(booking.performance_id, seat_ids))
        .await;
    Ok(booking)
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

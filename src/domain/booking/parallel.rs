//! The parallel booking path (PostgreSQL).
//!
//! A booking here is **one SQL statement**, run on its own (autocommit), that
//! 1. takes the performance row `FOR KEY SHARE` after checking, in the same statement, that
//!    it is PUBLISHED, inside its booking window and still has the per-resident limit this
//!    request was checked against, and that the resident's bookings are not suspended after
//!    repeated no-shows (a primary-key probe of `booking_suspension`: no extra round trip;
//!    a suspended resident books nothing here and the exact path answers `BOOKING_SUSPENDED`) (after waiting for a lock, PostgreSQL checks the newest
//!    version of the row again). Any number of bookings share that lock, the same one their
//!    foreign keys take; `cancelPerformance`, `updatePerformance`, `cancelBooking` and the
//!    exact path take the row `FOR UPDATE` first
//!    ([`exclude_bookings`](crate::domain::scheduling::exclude_bookings)), so they wait for
//!    the bookings in flight and bookings wait for them: a cancelled or closed performance
//!    takes no booking. A writer waiting for the row also holds back new bookings (they
//!    fail to take a shared advisory lock and go to the exact path, behind the writer), so
//!    a rush cannot keep it waiting;
//! 2. locks the chosen inventory rows `FOR UPDATE SKIP LOCKED` (explicit seats: `FOR
//!    UPDATE`, waiting, in id order so two such bookings cannot deadlock) and keeps those
//!    that are still free; a row another booking is claiming is skipped, not waited for;
//! 3. only if it locked all `n`: raises the resident's holding with the same conditional
//!    upsert as the exact path, inserts the booking, claims the rows and issues the tickets.
//!
//! Every write depends on the previous one's `RETURNING` rows, so a statement that could not
//! lock `n` seats, or hit the limit, writes nothing; its locks end with it. The database
//! guards hold as on the exact path (conditional claim, `ticket_live_inventory_key`, the
//! limit's upsert, the unique idempotency key).
//!
//! Which seats to try comes from the instance's picture of the front rows
//! ([`super::seatmap`]), so the usual booking is two round trips: read the performance, run
//! the statement. Bookings of one instance never choose the same seats; bookings of
//! different instances may, and the loser tries its next-best block. The path gives up
//! (and the caller takes the exact path) on any refusal, when the picture cannot offer `n`
//! seats, or after a few misses: it never answers `SOLD_OUT` or any other refusal itself.
//!
//! What "best" means changes under contention: the exact path gives the best seats among
//! all seats not sold; this path the best among those nobody is claiming at that instant.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::booking;
use entity::enums::{BookingStatus, PerformanceStatus, SeatingMode};
use entity::performance;
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};

use super::seatmap::{Choice, SeatMaps, lock};
use super::{BookingRequest, Selection, check_window, ticket_code};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::realtime::{AvailabilityEvent, EVERY_PERFORMANCE, Realtime};
use tokio::sync::broadcast::error::RecvError;

/// Statements one booking may run on the parallel path before it takes the exact one.
const MAX_ATTEMPTS: usize = 4;
/// Reads of the seat picture one booking may do.
const MAX_READS: usize = 2;
/// Times one statement waits for writers of the performance before the booking takes the
/// exact path.
const MAX_WAITS: usize = 3;

/// The booking service's state on one instance: the parallel path's pool, the picture of
/// each performance's free seats and the seating mode of each venue (fixed at creation).
#[derive(Clone, Debug, Default)]
pub struct Booker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pg: Option<sqlx::PgPool>,
    waitlist: crate::domain::waitlist::Policy,
    seating: Mutex<HashMap<i64, SeatingMode>>,
    performances: Mutex<HashMap<i64, (Instant, performance::Model)>>,
    maps: SeatMaps,
}

/// How long a performance read by a booking serves the next bookings of this instance (the
/// parallel path checks status, window and limit again in its statement).
const RECENT: Duration = Duration::from_secs(1);

/// How the statement chooses the rows it locks.
enum Pick<'a> {
    /// These inventory rows, skipping those another booking holds.
    Inventory(&'a [i64]),
    /// The inventory rows of these seats, waiting for those another booking holds.
    Seats(&'a [i64]),
    /// The first free general-admission places.
    FirstFree,
}

/// How one statement ended.
enum Attempt {
    Booked(booking::Model, Vec<i64>),
    /// Fewer than `n` rows could be locked; these were.
    Missed(Vec<i64>),
    /// Closed, limit reached, a twin already booked, or a transient failure.
    Refused,
}

impl Booker {
    /// The booking service; the parallel path runs when `pg` is given.
    pub fn new(pg: Option<sqlx::PgPool>, waitlist: crate::domain::waitlist::Policy) -> Self {
        Self {
            inner: Arc::new(Inner {
                pg,
                waitlist,
                ..Default::default()
            }),
        }
    }

    /// The waiting list's settings.
    pub fn waitlist_policy(&self) -> crate::domain::waitlist::Policy {
        self.inner.waitlist
    }

    /// A performance read less than [`RECENT`] ago (PostgreSQL only, never a draft).
    pub(super) fn recent_performance(&self, id: i64) -> Option<performance::Model> {
        self.inner.pg.as_ref()?;
        let performances = lock(&self.inner.performances);
        let (at, perf) = performances.get(&id)?;
        (at.elapsed() < RECENT).then(|| perf.clone())
    }

    /// Keeps a published or cancelled performance for [`Booker::recent_performance`].
    pub(super) fn remember_performance(&self, perf: &performance::Model) {
        if self.inner.pg.is_none() || perf.status == PerformanceStatus::Draft {
            return;
        }
        let mut performances = lock(&self.inner.performances);
        if performances.len() >= 1_000 {
            performances.retain(|_, (at, _)| at.elapsed() < RECENT);
        }
        performances.insert(perf.id, (Instant::now(), perf.clone()));
    }

    /// A venue's seating mode (read once: it never changes).
    pub(crate) async fn seating(
        &self,
        conn: &impl ConnectionTrait,
        venue_id: i64,
    ) -> AppResult<SeatingMode> {
        if let Some(mode) = self.cached_seating(venue_id) {
            return Ok(mode);
        }
        let venue = db::found(
            entity::venue::Entity::find_by_id(venue_id)
                .one(conn)
                .await?,
            "venue",
        )?;
        let mut cache = lock(&self.inner.seating);
        if cache.len() >= 100_000 {
            cache.clear();
        }
        cache.insert(venue_id, venue.seating);
        Ok(venue.seating)
    }

    /// Best available: blocks chosen from the seat picture, a few attempts.
    async fn best_available(
        &self,
        conn: &DatabaseConnection,
        pool: &sqlx::PgPool,
        realtime: &Realtime,
        draft: Draft<'_>,
    ) -> AppResult<Option<booking::Model>> {
        let (perf, n) = (draft.perf, draft.request.size());
        let map = self.inner.maps.of(perf.id);
        let mut reads = 0;
        let mut attempts = 0;
        while attempts < MAX_ATTEMPTS {
            let (hold, together) = match map.choose(n as usize) {
                Choice::Seats(hold, together) => (hold, together),
                Choice::Stale if reads < MAX_READS => {
                    reads += 1;
                    map.read(conn, perf.id).await?;
                    continue;
                }
                Choice::Stale | Choice::Undecided => break,
            };
            attempts += 1;
            let ids = hold.ids();
            // On an error the hold is dropped: counted as sold until the next read.
            let draft = Draft { together, ..draft };
            match run(
                pool,
                realtime,
                draft,
                Pick::Inventory(&ids),
                hold.seat_ids(),
            )
            .await?
            {
                Attempt::Booked(booking, _) => {
                    hold.sold();
                    return Ok(Some(booking));
                }
                Attempt::Missed(locked) => {
                    metrics::counter!("zouqin_booking_misses_total").increment(1);
                    let missed: Vec<i64> =
                        ids.into_iter().filter(|id| !locked.contains(id)).collect();
                    hold.missed(&missed);
                    if attempts >= 2 {
                        map.invalidate();
                    }
                }
                Attempt::Refused => {
                    hold.released();
                    break;
                }
            }
        }
        Ok(None)
    }

    /// Drops the seat picture of a performance (a sale or release it did not see).
    pub(crate) fn forget(&self, performance_id: i64) {
        self.inner.maps.invalidate(performance_id);
    }

    /// Keeps the seat pictures honest about what other instances do: a cancelled booking
    /// or performance anywhere drops the picture here (sales elsewhere show up as misses).
    pub fn follow(&self, realtime: &Realtime) {
        if self.inner.pg.is_none() {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        let mut events = realtime.subscribe();
        let mut closing = realtime.closing();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = closing.changed() => break,
                };
                let Some(inner) = inner.upgrade() else { break };
                match event {
                    Ok(event) if event.performance_id == EVERY_PERFORMANCE => {
                        inner.maps.invalidate_all();
                    }
                    Ok(event) if event.whole || event.freed => {
                        inner.maps.invalidate(event.performance_id);
                        lock(&inner.performances).remove(&event.performance_id);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => inner.maps.invalidate_all(),
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }

    fn cached_seating(&self, venue_id: i64) -> Option<SeatingMode> {
        lock(&self.inner.seating).get(&venue_id).copied()
    }

    /// Tries the booking on the parallel path: `Some` when booked, `None` when the exact
    /// path must take it (see the module documentation).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn try_parallel(
        &self,
        conn: &DatabaseConnection,
        realtime: &Realtime,
        perf: &performance::Model,
        seating: SeatingMode,
        resident: i64,
        request: &BookingRequest,
        fingerprint: &str,
    ) -> AppResult<Option<booking::Model>> {
        let Some(pool) = &self.inner.pg else {
            return Ok(None);
        };
        let n = request.size();
        if check_window(perf, super::now()).is_err() || n > perf.per_resident_limit {
            return Ok(None);
        }
        let draft = Draft {
            perf,
            resident,
            request,
            fingerprint,
            together: true,
        };
        let booked = match (&request.selection, seating) {
            (Selection::Seats(_), SeatingMode::GeneralAdmission) => None,
            (Selection::Seats(seat_ids), SeatingMode::Reserved) => {
                match run(
                    pool,
                    realtime,
                    draft,
                    Pick::Seats(seat_ids),
                    seat_ids.clone(),
                )
                .await?
                {
                    Attempt::Booked(booking, claimed) => {
                        self.inner.maps.of(perf.id).mark_sold(&claimed);
                        Some(booking)
                    }
                    Attempt::Missed(_) | Attempt::Refused => None,
                }
            }
            (Selection::Quantity(_), SeatingMode::GeneralAdmission) => {
                match run(pool, realtime, draft, Pick::FirstFree, Vec::new()).await? {
                    Attempt::Booked(booking, _) => Some(booking),
                    Attempt::Missed(_) | Attempt::Refused => None,
                }
            }
            (Selection::Quantity(_), SeatingMode::Reserved) => {
                self.best_available(conn, pool, realtime, draft).await?
            }
        };
        if booked.is_some() {
            booking_path("parallel");
        }
        Ok(booked)
    }
}

/// A sqlx error as the rest of the server reports database errors.
fn db_error(err: sqlx::Error) -> AppError {
    sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(err))).into()
}

fn booking_path(path: &'static str) {
    metrics::counter!("zouqin_booking_path_total", "path" => path).increment(1);
}

/// The booking a statement would write.
#[derive(Clone, Copy)]
struct Draft<'a> {
    perf: &'a performance::Model,
    resident: i64,
    request: &'a BookingRequest,
    fingerprint: &'a str,
    together: bool,
}

/// Runs one booking statement.
/// Runs one booking statement; while a writer of the performance holds it back, waits for
/// that writer (in the lock's queue, so fairly) and runs it again.
async fn run(
    pool: &sqlx::PgPool,
    realtime: &Realtime,
    draft: Draft<'_>,
    pick: Pick<'_>,
    seat_ids: Vec<i64>,
) -> AppResult<Attempt> {
    for _ in 0..MAX_WAITS {
        match run_once(pool, realtime, draft, &pick, seat_ids.clone()).await? {
            // A writer of the performance is waiting or at work.
            None => {
                metrics::counter!("zouqin_booking_waits_total").increment(1);
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1, ($2 % 2147483648)::int4)")
                    .bind(crate::domain::scheduling::PERFORMANCE_WRITERS)
                    .bind(draft.perf.id)
                    .execute(pool)
                    .await
                    .map_err(db_error)?;
            }
            Some(attempt) => return Ok(attempt),
        }
    }
    Ok(Attempt::Refused)
}

/// Runs one booking statement: `None` when a writer of the performance held it back.
async fn run_once(
    pool: &sqlx::PgPool,
    realtime: &Realtime,
    draft: Draft<'_>,
    pick: &Pick<'_>,
    seat_ids: Vec<i64>,
) -> AppResult<Option<Attempt>> {
    let n = draft.request.size();
    let now: DateTime<Utc> = super::now();
    let codes: Vec<String> = (0..n).map(|_| ticket_code()).collect();
    let statements: &'static [String; 3] = &STATEMENTS;
    let (sql, ids) = match *pick {
        Pick::Inventory(ids) => (statements[0].as_str(), Some(ids)),
        Pick::Seats(ids) => (statements[1].as_str(), Some(ids)),
        Pick::FirstFree => (statements[2].as_str(), None),
    };
    let mut query = sqlx::query(sql)
        .bind(draft.perf.id)
        .bind(draft.perf.per_resident_limit)
        .bind(now)
        .bind(draft.resident)
        .bind(n)
        .bind(draft.together)
        .bind(draft.request.idempotency_key.as_deref())
        .bind(draft.fingerprint)
        .bind(&codes);
    // $10 is bound only by the picks that name rows; $11 (where to start among a pool's
    // counting slots) is numbered after it, so the first-free statement skips $10.
    query = query.bind(ids.unwrap_or(&[]));
    query = query.bind(rand::random_range(0..16_i32));
    let row = match query.fetch_one(pool).await {
        Ok(row) => row,
        Err(err) => {
            let constraint = err.as_database_error().and_then(|e| e.constraint());
            let transient = err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "40001" || code == "40P01");
            // A twin committed first (the exact path replays it), or a deadlock with a
            // writer of the performance (the exact path retries): not errors here.
            if constraint == Some("booking_idempotency_key") || transient {
                return Ok(Some(Attempt::Refused));
            }
            return Err(db_error(err));
        }
    };
    let decode = |e: sqlx::Error| AppError::Internal(format!("decoding a booking: {e}"));
    if !row.try_get::<bool, _>("gate").map_err(decode)? {
        return Ok(None);
    }
    let open: i64 = row.try_get("open").map_err(decode)?;
    let locked: Vec<i64> = row
        .try_get::<Option<Vec<i64>>, _>("locked")
        .map_err(decode)?
        .unwrap_or_default();
    let booking_id: Option<i64> = row.try_get("booking_id").map_err(decode)?;
    let issued: i64 = row.try_get("issued").map_err(decode)?;
    let Some(id) = booking_id else {
        if open == 1 && (locked.len() as i32) < n {
            return Ok(Some(Attempt::Missed(locked)));
        }
        return Ok(Some(Attempt::Refused));
    };
    if issued != i64::from(n) {
        // Cannot happen (every claimed row gets one code); said loudly if it ever does.
        tracing::error!(
            booking = id,
            issued,
            n,
            "a booking was issued the wrong number of tickets"
        );
    }
    realtime
        .publish(AvailabilityEvent::seats(draft.perf.id, seat_ids))
        .await;
    Ok(Some(Attempt::Booked(
        booking::Model {
            id,
            performance_id: draft.perf.id,
            account_id: draft.resident,
            status: BookingStatus::Confirmed,
            quantity: n,
            seats_together: draft.together,
            idempotency_key: draft.request.idempotency_key.clone(),
            request_fingerprint: draft.fingerprint.to_owned(),
            created_at: now,
            cancelled_at: None,
        },
        locked,
    )))
}

/// The statement, for each [`Pick`] (in its order). Parameters: $1 performance, $2 the
/// per-resident limit the request was checked against, $3 now, $4 resident, $5 n,
/// $6 seats together, $7 idempotency key, $8 request fingerprint, $9 ticket codes,
/// $10 inventory or seat ids (empty for the first-free pick), $11 the first counting slot
/// of a pool to try (random: bookings spread over the slots, see [`crate::domain::shares`]).
/// The three booking statements of the parallel path (inventory pick, explicit seats, first
/// free place), exactly as they run: for plan checks.
pub fn statements() -> &'static [String; 3] {
    &STATEMENTS
}

static STATEMENTS: LazyLock<[String; 3]> = LazyLock::new(|| {
    // The inventory and explicit-seat picks name no predicate that a free-inventory index
    // could serve (the free and performance checks are applied to the locked rows, in
    // `mine`): with the statistics of a performance published minutes ago, PostgreSQL
    // would otherwise walk the whole performance through `inventory_free_idx` (20,000 rows
    // for two seats) instead of fetching two rows by primary key.
    [
        statement("i.id = ANY($10::int8[]) ORDER BY i.id FOR UPDATE OF i SKIP LOCKED"),
        statement(
            "i.performance_id = $1::int8 AND i.seat_id = ANY($10::int8[]) \
             ORDER BY i.id FOR UPDATE OF i",
        ),
        statement(
            "i.performance_id = $1::int8 AND i.booking_id IS NULL AND i.held_by IS NULL \
             ORDER BY i.place_no LIMIT $5::int4 FOR UPDATE OF i SKIP LOCKED",
        ),
    ]
});

fn statement(pick: &str) -> String {
    let writers = crate::domain::scheduling::PERFORMANCE_WRITERS;
    format!(
        "WITH gate AS MATERIALIZED ( \
            SELECT pg_try_advisory_xact_lock_shared({writers}, ($1::int8 % 2147483648)::int4) \
                   AS open), \
         perf AS MATERIALIZED ( \
            SELECT id, (shares_release_at IS NULL OR shares_release_at <= $3::timestamptz) \
                   AS released FROM performance \
            WHERE id = $1::int8 AND status = 'PUBLISHED' AND per_resident_limit = $2::int4 \
              AND COALESCE(booking_opens_at, published_at, starts_at) <= $3::timestamptz \
              AND COALESCE(booking_closes_at, starts_at) > $3::timestamptz \
              AND (SELECT open FROM gate) \
              AND NOT EXISTS (SELECT 1 FROM booking_suspension s \
                              WHERE s.account_id = $4::int8 AND s.suspended_until > $3::timestamptz) \
              AND NOT EXISTS (SELECT 1 FROM waitlist_entry w WHERE w.performance_id = $1::int8 \
                              AND (w.status = 'WAITING' OR (w.status = 'OFFERED' \
                                   AND w.account_id = $4::int8))) \
            FOR KEY SHARE), \
         picked AS MATERIALIZED ( \
            SELECT i.id, i.seat_id, i.performance_id, i.booking_id, i.held_by FROM inventory i \
            WHERE EXISTS (SELECT 1 FROM perf) AND {pick}), \
         mine AS MATERIALIZED ( \
            SELECT id, seat_id FROM picked \
            WHERE performance_id = $1::int8 AND booking_id IS NULL AND held_by IS NULL), \
         home AS MATERIALIZED ( \
            SELECT COALESCE((SELECT home_center_id FROM account WHERE id = $4::int8), 0) \
                   AS center), \
         pool AS MATERIALIZED ( \
            SELECT p.center_id, p.slot FROM seat_pool p \
            WHERE p.performance_id = $1::int8 AND p.seats - p.booked >= $5::int4 \
              AND EXISTS (SELECT 1 FROM perf) AND (SELECT count(*) FROM mine) = $5::int4 \
              AND (p.center_id = (SELECT center FROM home) OR p.center_id = 0 \
                   OR (SELECT released FROM perf)) \
              AND (p.center_id = (SELECT center FROM home) OR NOT EXISTS ( \
                   SELECT 1 FROM seat_pool s WHERE s.performance_id = $1::int8 \
                     AND s.center_id = (SELECT center FROM home) AND s.center_id <> 0 \
                     AND s.booked < s.seats)) \
            ORDER BY p.center_id = (SELECT center FROM home) DESC, p.center_id = 0 DESC, \
                     (p.slot + $11::int4) % 16 \
            LIMIT 1 FOR UPDATE OF p SKIP LOCKED), \
         hold AS ( \
            INSERT INTO resident_hold AS h (performance_id, account_id, tickets) \
            SELECT $1::int8, $4::int8, $5::int4 FROM perf \
            WHERE EXISTS (SELECT 1 FROM pool) \
            ON CONFLICT (performance_id, account_id) DO UPDATE \
            SET tickets = h.tickets + excluded.tickets \
            WHERE h.tickets + excluded.tickets <= $2::int4 \
            RETURNING 1), \
         took AS ( \
            UPDATE seat_pool p SET booked = p.booked + $5::int4 FROM pool s, hold \
            WHERE p.performance_id = $1::int8 AND p.center_id = s.center_id AND p.slot = s.slot \
            RETURNING p.center_id), \
         b AS ( \
            INSERT INTO booking (performance_id, account_id, status, quantity, seats_together, \
                                 idempotency_key, request_fingerprint, created_at) \
            SELECT $1::int8, $4::int8, 'CONFIRMED', $5::int4, $6::bool, $7::text, $8::text, \
                   $3::timestamptz FROM took \
            RETURNING id), \
         c AS ( \
            UPDATE inventory i SET booking_id = b.id FROM b, mine m WHERE i.id = m.id \
            RETURNING i.id, i.seat_id), \
         t AS ( \
            INSERT INTO ticket (booking_id, performance_id, inventory_id, seat_id, code, status, \
                                pool_center_id, home_center_id) \
            SELECT b.id, $1::int8, c.id, c.seat_id, code.value, 'VALID', took.center_id, \
                   NULLIF((SELECT center FROM home), 0) \
            FROM b, took, (SELECT id, seat_id, row_number() OVER (ORDER BY id) AS n FROM c) c \
            JOIN unnest($9::text[]) WITH ORDINALITY AS code(value, n) ON code.n = c.n \
            RETURNING 1) \
         SELECT (SELECT open FROM gate) AS gate, \
                (SELECT count(*) FROM perf) AS open, \
                (SELECT array_agg(id) FROM mine) AS locked, \
                (SELECT id FROM b) AS booking_id, \
                (SELECT count(*) FROM t) AS issued"
    )
}

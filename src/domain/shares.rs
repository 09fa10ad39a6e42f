//! Seat shares by home center, and the counters behind `seatsAvailable`.
//!
//! A performance's seats are counted in **pools**: one per seat share (seats kept for the
//! residents of one home center until `sharesReleaseAt`) and the open pool (capacity minus
//! all shares). Shares are counts, not blocks of seats: which seats a booking gets is
//! chosen exactly as without shares; the pools only decide whether it may have that many.
//!
//! Each pool is split into a few **slots** (`seat_pool` rows), each counting the seats sold
//! from it. A booking raises the `booked` of the slots it takes from, in the transaction
//! (or the one statement) that claims its seats; the `seat_pool_within` CHECK makes a slot
//! refuse to pass its seats whatever the code does, so no share is sold to another center's
//! residents and the open pool is never oversold (DOMAIN.md, invariant 8). The slots exist
//! so that bookings on the parallel path ([`super::booking`]) each lock a different counter
//! (`FOR UPDATE SKIP LOCKED`) rather than queueing on one row; the exact path, which already
//! excludes every other booking of the performance, takes from as many slots as it needs.
//!
//! Before `sharesReleaseAt` a resident takes from its home center's share while it lasts,
//! then from the open pool; everybody else from the open pool only. From `sharesReleaseAt`
//! on every free seat is open to all (the booking statements compare the time themselves,
//! so the release needs no instance to act). A cancelled ticket gives its seat back to the
//! pool it came from (`ticket.pool_center_id`). The release step ([`release_due`]) marks
//! released performances and tells subscribers, whichever instance runs it; it is where
//! freed seats would be offered to a waiting list first.
//!
//! The free count of a performance is the sum of its slots: a handful of rows whatever the
//! size of the hall, so a page of performances costs the same for a 50-seat room and a
//! 20,000-seat stadium.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::enums::PerformanceStatus;
use entity::{performance, seat_pool};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Statement,
};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::realtime::{AvailabilityEvent, Realtime};

/// The `center_id` of the open pool.
pub const OPEN_POOL: i64 = 0;
/// How long before `startsAt` shares are released when staff do not say.
pub const DEFAULT_RELEASE_BEFORE: Duration = Duration::hours(48);
/// Seats per counting slot, and the most slots one pool has: a 20,000-seat pool has 16
/// slots (more than the bookings one performance has in flight on two instances), a
/// 100-seat share one.
const SEATS_PER_SLOT: i32 = 128;
const MAX_SLOTS: i32 = 16;
/// The most shares one performance may have.
pub const MAX_SHARES: usize = 100;

/// A share as staff set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareInput {
    /// The home center whose residents the seats are kept for.
    pub center_id: i64,
    /// How many seats.
    pub seats: i32,
}

/// One pool of a performance, its slots summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromQueryResult)]
pub struct PoolCount {
    /// The home center of a share; [`OPEN_POOL`] for the open pool.
    pub center_id: i64,
    /// Its seats.
    pub seats: i64,
    /// Seats sold from it.
    pub booked: i64,
}

impl PoolCount {
    fn free(&self) -> i64 {
        (self.seats - self.booked).max(0)
    }
}

/// The pools of one performance.
#[derive(Clone, Debug, Default)]
pub struct Pools(pub Vec<PoolCount>);

impl Pools {
    /// Free seats in all pools.
    pub fn free(&self) -> i64 {
        self.0.iter().map(PoolCount::free).sum()
    }

    /// The shares (not the open pool), by center id.
    pub fn shares(&self) -> Vec<PoolCount> {
        self.0
            .iter()
            .filter(|p| p.center_id != OPEN_POOL)
            .copied()
            .collect()
    }

    /// Free seats a resident of `home` may take now (`released`: shares are open to all).
    pub fn free_for(&self, home: Option<i64>, released: bool) -> i64 {
        self.0
            .iter()
            .filter(|p| released || p.center_id == OPEN_POOL || Some(p.center_id) == home)
            .map(PoolCount::free)
            .sum()
    }
}

/// Whether every free seat of `perf` is open to all at `now`.
pub fn released(perf: &performance::Model, now: DateTime<Utc>) -> bool {
    perf.shares_release_at.is_none_or(|at| now >= at)
}

/// The pools of many performances, in one query.
pub async fn counts(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<HashMap<i64, Pools>> {
    #[derive(FromQueryResult)]
    struct Row {
        performance_id: i64,
        center_id: i64,
        seats: i64,
        booked: i64,
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT performance_id, center_id, CAST(SUM(seats) AS BIGINT) AS seats, \
                CAST(SUM(booked) AS BIGINT) AS booked \
         FROM seat_pool WHERE performance_id IN ({}) \
         GROUP BY performance_id, center_id ORDER BY performance_id, center_id",
        placeholders.join(", ")
    );
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        ids.iter().map(|id| (*id).into()),
    ))
    .all(conn)
    .await?;
    let mut out: HashMap<i64, Pools> = HashMap::new();
    for row in rows {
        out.entry(row.performance_id)
            .or_default()
            .0
            .push(PoolCount {
                center_id: row.center_id,
                seats: row.seats,
                booked: row.booked,
            });
    }
    Ok(out)
}

/// The seats a slot layout gives each of a pool's slots: as few slots as
/// [`SEATS_PER_SLOT`] allows, at most [`MAX_SLOTS`], the seats spread evenly.
fn layout(seats: i32) -> Vec<i32> {
    let k = (seats / SEATS_PER_SLOT).clamp(1, MAX_SLOTS);
    (0..k)
        .map(|i| seats / k + i32::from(i < seats % k))
        .collect()
}

/// Writes one pool's slots afresh: `seats` laid out by [`layout`], `booked` spread the same
/// way (never more than a slot's seats, since `booked <= seats`).
async fn write_pool(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    center_id: i64,
    seats: i32,
    booked: i32,
) -> AppResult<()> {
    let seat_slots = layout(seats);
    let k = seat_slots.len() as i32;
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut rows = Vec::new();
    for (i, slot_seats) in seat_slots.into_iter().enumerate() {
        let i = i as i32;
        let slot_booked = booked / k + i32::from(i < booked % k);
        let base = values.len();
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${})",
            base + 1,
            base + 2,
            base + 3,
            base + 4,
            base + 5
        ));
        values.extend([
            performance_id.into(),
            center_id.into(),
            i.into(),
            slot_seats.into(),
            slot_booked.into(),
        ]);
    }
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        format!(
            "INSERT INTO seat_pool (performance_id, center_id, slot, seats, booked) VALUES {}",
            rows.join(", ")
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// Checks the shares staff asked for: known centers, each once, seats not negative, their
/// sum at most the capacity. An empty list means no shares.
pub async fn check_shares(
    conn: &impl ConnectionTrait,
    shares: &[ShareInput],
    capacity: i32,
) -> AppResult<Vec<ShareInput>> {
    let bad = |message: String| AppError::bad_input("seatShares", message);
    if shares.len() > MAX_SHARES {
        return Err(bad(format!("at most {MAX_SHARES} shares")));
    }
    let mut seen = std::collections::HashSet::new();
    let mut total: i64 = 0;
    for share in shares {
        if share.seats < 0 {
            return Err(bad("a share cannot have fewer than 0 seats".to_owned()));
        }
        if !seen.insert(share.center_id) {
            return Err(bad("a center is given two shares".to_owned()));
        }
        total += i64::from(share.seats);
    }
    if total > i64::from(capacity) {
        return Err(bad(format!(
            "the shares add up to {total} seats; the performance has {capacity}"
        )));
    }
    if !shares.is_empty() {
        let known = entity::center::Entity::find()
            .filter(entity::center::Column::Id.is_in(shares.iter().map(|s| s.center_id)))
            .all(conn)
            .await?
            .len();
        if known != shares.len() {
            return Err(bad("a share names a center that does not exist".to_owned()));
        }
    }
    // A share of 0 seats keeps nothing: it is no share.
    Ok(shares.iter().copied().filter(|s| s.seats > 0).collect())
}

/// When shares of a performance release: the time staff gave, or 48 hours before the
/// start; never after the booking window closes (`closes`). `None` without shares.
pub fn release_time(
    given: Option<DateTime<Utc>>,
    has_shares: bool,
    starts_at: DateTime<Utc>,
    closes: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    if let Some(at) = given
        && at > closes
    {
        return Err(AppError::bad_input(
            "sharesReleaseAt",
            "shares must be released no later than the booking window closes",
        ));
    }
    if !has_shares {
        return Ok(None);
    }
    Ok(Some(given.unwrap_or_else(|| {
        (starts_at - DEFAULT_RELEASE_BEFORE).min(closes)
    })))
}

/// Sets the pools of a performance: `shares` (already checked) and the open pool of what
/// is left of `capacity`. `None` keeps the shares as they are (a new capacity at
/// publication). A share (or the open pool) never goes below what it has already sold:
/// `BAD_USER_INPUT` naming `seatShares`. The caller holds the performance row exclusively.
pub(crate) async fn set_pools(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    capacity: i32,
    shares: Option<&[ShareInput]>,
) -> AppResult<()> {
    let current: HashMap<i64, (i64, i64)> = seat_pool::Entity::find()
        .filter(seat_pool::Column::PerformanceId.eq(performance_id))
        .all(conn)
        .await?
        .into_iter()
        .fold(HashMap::new(), |mut acc, slot| {
            let entry = acc.entry(slot.center_id).or_insert((0, 0));
            entry.0 += i64::from(slot.seats);
            entry.1 += i64::from(slot.booked);
            acc
        });
    let shares: Vec<ShareInput> = match shares {
        Some(shares) => shares.to_vec(),
        None => current
            .iter()
            .filter(|(center, _)| **center != OPEN_POOL)
            .map(|(center, (seats, _))| ShareInput {
                center_id: *center,
                seats: *seats as i32,
            })
            .collect(),
    };
    let booked = |center: i64| current.get(&center).map_or(0, |(_, b)| *b) as i32;
    for (center, (_, sold)) in &current {
        let kept = if *center == OPEN_POOL {
            None
        } else {
            shares
                .iter()
                .find(|s| s.center_id == *center)
                .map(|s| s.seats)
        };
        if *center != OPEN_POOL && i64::from(kept.unwrap_or(0)) < *sold {
            return Err(AppError::bad_input(
                "seatShares",
                format!("a share has already sold {sold} seats; it cannot have fewer"),
            ));
        }
    }
    let shared: i32 = shares.iter().map(|s| s.seats).sum();
    if shared > capacity {
        return Err(AppError::bad_input(
            "seatShares",
            format!("the shares add up to {shared} seats; the performance has {capacity}"),
        ));
    }
    let open = capacity - shared;
    if open < booked(OPEN_POOL) {
        return Err(AppError::bad_input(
            "seatShares",
            format!(
                "the open pool has already sold {} seats; the shares leave it {open}",
                booked(OPEN_POOL)
            ),
        ));
    }
    seat_pool::Entity::delete_many()
        .filter(seat_pool::Column::PerformanceId.eq(performance_id))
        .exec(conn)
        .await?;
    write_pool(conn, performance_id, OPEN_POOL, open, booked(OPEN_POOL)).await?;
    for share in &shares {
        write_pool(
            conn,
            performance_id,
            share.center_id,
            share.seats,
            booked(share.center_id),
        )
        .await?;
    }
    Ok(())
}

/// Makes the open pool of a performance without shares count `booked` of `capacity` seats
/// (for sessions whose tickets are written in bulk, like the demo's history).
pub(crate) async fn recount_open_pool(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    capacity: i32,
    booked: i32,
) -> AppResult<()> {
    seat_pool::Entity::delete_many()
        .filter(seat_pool::Column::PerformanceId.eq(performance_id))
        .exec(conn)
        .await?;
    write_pool(conn, performance_id, OPEN_POOL, capacity, booked).await
}

/// Takes `n` seats from the pools a resident of `home` may use at `now`, for a booking on
/// the exact path (the caller holds the performance row exclusively): its home share first,
/// then the open pool, then (once released) the other shares. Returns the pool of each of
/// the `n` tickets, in order. `SOLD_OUT` when the pools it may use have fewer than `n`
/// seats, with the release time when other shares still have seats that will open then.
pub(crate) async fn take(
    conn: &impl ConnectionTrait,
    perf: &performance::Model,
    home: Option<i64>,
    n: i32,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let released = released(perf, now);
    let rank = |center: i64| {
        if Some(center) == home && center != OPEN_POOL {
            0
        } else if center == OPEN_POOL {
            1
        } else if released {
            2
        } else {
            3
        }
    };
    let mut slots = seat_pool::Entity::find()
        .filter(seat_pool::Column::PerformanceId.eq(perf.id))
        .order_by_asc(seat_pool::Column::CenterId)
        .order_by_asc(seat_pool::Column::Slot)
        .all(conn)
        .await?;
    slots.sort_by_key(|s| (rank(s.center_id), s.center_id, s.slot));
    let usable: i64 = slots
        .iter()
        .filter(|s| rank(s.center_id) < 3)
        .map(|s| i64::from(s.seats - s.booked))
        .sum();
    if usable < i64::from(n) {
        let held_for_others: i64 = slots
            .iter()
            .filter(|s| rank(s.center_id) == 3)
            .map(|s| i64::from(s.seats - s.booked))
            .sum();
        let release = (held_for_others > 0)
            .then_some(perf.shares_release_at)
            .flatten();
        return Err(sold_out(usable, release));
    }
    let mut pools = Vec::with_capacity(n as usize);
    let mut left = n;
    for slot in slots.iter().filter(|s| rank(s.center_id) < 3) {
        if left == 0 {
            break;
        }
        let k = left.min(slot.seats - slot.booked);
        if k <= 0 {
            continue;
        }
        let changed = conn
            .execute_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                "UPDATE seat_pool SET booked = booked + $4 \
                 WHERE performance_id = $1 AND center_id = $2 AND slot = $3 \
                   AND booked + $4 <= seats",
                [
                    perf.id.into(),
                    slot.center_id.into(),
                    slot.slot.into(),
                    k.into(),
                ],
            ))
            .await?;
        if changed.rows_affected() != 1 {
            // Only reachable if a writer bypassed the performance lock: start over.
            return Err(AppError::Internal(
                "transient: a seat pool changed during a booking".to_owned(),
            ));
        }
        pools.extend(std::iter::repeat_n(slot.center_id, k as usize));
        left -= k;
    }
    Ok(pools)
}

/// `SOLD_OUT` for a request that `left` seats cannot fill; `release`: when seats now kept
/// for other centers open to all.
pub fn sold_out(left: i64, release: Option<DateTime<Utc>>) -> AppError {
    let message = match (left, release) {
        (0, None) => "the performance is sold out".to_owned(),
        (left, None) => format!("only {left} seats are left"),
        (0, Some(at)) => format!(
            "no seat is left for your center before {}; the remaining seats are kept for \
             residents of other centers until then",
            crate::domain::season::local_rfc3339(at)
        ),
        (left, Some(at)) => format!(
            "only {left} seats are left for your center before {}",
            crate::domain::season::local_rfc3339(at)
        ),
    };
    AppError::SoldOut {
        message,
        shares_release_at: release,
    }
}

/// `SOLD_OUT` while residents wait: free seats go to the waiting list first.
pub fn sold_out_to_waitlist() -> AppError {
    AppError::SoldOut {
        message: "the performance is sold out: seats that come free go to its waiting list"
            .to_owned(),
        shares_release_at: None,
    }
}

/// Gives the seats of cancelled tickets back to the pools they came from
/// (`pools`: a pool per ticket). The caller holds the performance row exclusively.
pub(crate) async fn give_back(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    pools: &[i64],
) -> AppResult<()> {
    let mut per_pool: HashMap<i64, i32> = HashMap::new();
    for pool in pools {
        *per_pool.entry(*pool).or_default() += 1;
    }
    for (center, mut count) in per_pool {
        let mut slots = seat_pool::Entity::find()
            .filter(seat_pool::Column::PerformanceId.eq(performance_id))
            .filter(seat_pool::Column::CenterId.eq(center))
            .filter(seat_pool::Column::Booked.gt(0))
            .all(conn)
            .await?;
        slots.sort_by_key(|s| std::cmp::Reverse(s.booked));
        for slot in slots {
            if count == 0 {
                break;
            }
            let k = count.min(slot.booked);
            conn.execute_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                "UPDATE seat_pool SET booked = booked - $4 \
                 WHERE performance_id = $1 AND center_id = $2 AND slot = $3",
                [
                    performance_id.into(),
                    center.into(),
                    slot.slot.into(),
                    k.into(),
                ],
            ))
            .await?;
            count -= k;
        }
        if count != 0 {
            tracing::error!(
                performance = performance_id,
                pool = center,
                count,
                "cancelled tickets came from a pool that had not counted them"
            );
        }
    }
    Ok(())
}

/// Empties every pool of a cancelled performance (its tickets are all cancelled).
pub(crate) async fn clear(conn: &impl ConnectionTrait, performance_id: i64) -> AppResult<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "UPDATE seat_pool SET booked = 0 WHERE performance_id = $1",
        [performance_id.into()],
    ))
    .await?;
    Ok(())
}

/// What the caller could book right now: nothing outside the booking window; for a
/// resident, the free seats of the pools it may use, at most what its per-resident limit
/// still allows; for anyone else (who cannot book), the seats open to every resident.
pub async fn available_to_viewer(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    perf: &performance::Model,
    pools: &Pools,
    now: DateTime<Utc>,
) -> AppResult<i32> {
    if perf.status != PerformanceStatus::Published
        || super::booking::check_window(perf, now).is_err()
    {
        return Ok(0);
    }
    let released = released(perf, now);
    let Ok(resident) = caller.resident() else {
        return Ok(pools.free_for(None, released) as i32);
    };
    let account = entity::account::Entity::find_by_id(resident)
        .one(conn)
        .await?;
    let home = account.and_then(|a| a.home_center_id);
    let held = entity::resident_hold::Entity::find_by_id((perf.id, resident))
        .one(conn)
        .await?
        .map_or(0, |h| h.tickets);
    let room = i64::from((perf.per_resident_limit - held).max(0));
    Ok(pools.free_for(home, released).min(room) as i32)
}

/// How often each instance runs the release step (subscribers hear of a release within
/// about this long; booking itself compares the time and needs no step).
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// How many performances one release step marks per transaction.
const RELEASE_BATCH: u64 = 100;

/// The release step: marks the published performances whose shares are due at `now` as
/// released and tells their subscribers (seats kept for other centers are now everyone's).
/// Any instance may run it; a batch is claimed with `FOR NO KEY UPDATE SKIP LOCKED` (which
/// does not wait for bookings in flight, whose `FOR KEY SHARE` it does not conflict with),
/// so two instances never mark the same performance and each mark is one transaction.
/// Booking does not wait for this step: it compares `sharesReleaseAt` with the time itself.
pub async fn release_due(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let marked: Vec<i64> = crate::write_txn!(conn, |txn| {
            let lock = if super::scheduling::is_postgres(txn) {
                " FOR NO KEY UPDATE SKIP LOCKED"
            } else {
                ""
            };
            #[derive(FromQueryResult)]
            struct Due {
                id: i64,
            }
            let due = Due::find_by_statement(Statement::from_sql_and_values(
                txn.get_database_backend(),
                format!(
                    "SELECT id FROM performance \
                     WHERE shares_release_at IS NOT NULL AND shares_released_at IS NULL \
                       AND shares_release_at <= $1 AND status = 'PUBLISHED' \
                     ORDER BY shares_release_at LIMIT {RELEASE_BATCH}{lock}"
                ),
                [now.into()],
            ))
            .all(txn)
            .await?;
            let ids: Vec<i64> = due.into_iter().map(|d| d.id).collect();
            if !ids.is_empty() {
                performance::Entity::update_many()
                    .col_expr(
                        performance::Column::SharesReleasedAt,
                        sea_orm::sea_query::Expr::value(now),
                    )
                    .filter(performance::Column::Id.is_in(ids.iter().copied()))
                    .filter(performance::Column::SharesReleasedAt.is_null())
                    .exec(txn)
                    .await?;
            }
            Ok(ids)
        })?;
        if marked.is_empty() {
            break;
        }
        total += marked.len();
        for id in marked {
            realtime.publish(AvailabilityEvent::whole(id)).await;
        }
    }
    Ok(total)
}

/// Runs [`release_due`] every `every` until the server closes (see [`super::repeat`]).
pub async fn sweep(
    conn: DatabaseConnection,
    realtime: Realtime,
    every: std::time::Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) {
    super::repeat("share release", every, closing, || {
        release_due(&conn, &realtime, super::now())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_spreads_seats_over_few_slots() {
        assert_eq!(layout(0), vec![0]);
        assert_eq!(layout(100), vec![100]);
        assert_eq!(layout(300), vec![150, 150]);
        let big = layout(20_000);
        assert_eq!(big.len(), 16);
        assert_eq!(big.iter().sum::<i32>(), 20_000);
        assert!(big.iter().all(|s| *s == 1250));
        let odd = layout(1_001);
        assert_eq!(odd.iter().sum::<i32>(), 1_001);
        let (max, min) = (odd.iter().max(), odd.iter().min());
        assert!(matches!((max, min), (Some(max), Some(min)) if max - min <= 1));
    }

    #[test]
    fn free_for_counts_home_share_and_open_pool_until_release() {
        let pools = Pools(vec![
            PoolCount {
                center_id: OPEN_POOL,
                seats: 100,
                booked: 40,
            },
            PoolCount {
                center_id: 1,
                seats: 150,
                booked: 150,
            },
            PoolCount {
                center_id: 2,
                seats: 150,
                booked: 10,
            },
        ]);
        assert_eq!(pools.free(), 200);
        assert_eq!(pools.free_for(Some(1), false), 60);
        assert_eq!(pools.free_for(Some(2), false), 200);
        assert_eq!(pools.free_for(Some(3), false), 60);
        assert_eq!(pools.free_for(None, true), 200);
    }
}

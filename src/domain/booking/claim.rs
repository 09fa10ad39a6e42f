//! Claiming inventory: choosing the best free seats, claiming rows for a booking or for a
//! waiting-list offer (a row is free only when neither booked nor held), and booking the
//! seats an offer holds.

use chrono::{DateTime, Utc};
use entity::enums::{BookingStatus, SeatingMode};
use entity::{booking, performance, seat};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::{issue_tickets, seats_by_id};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, encode};

/// Books the seats held for a waiting-list entry's offer, for its holder: a booking of
/// exactly those seats, whose tickets keep the pools the seats were counted against (the
/// pools and the holder's limit already count them). The caller holds the performance row
/// exclusively and has checked the offer, the window and the suspension.
pub(crate) async fn book_held(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    entry: &entity::waitlist_entry::Model,
    now: DateTime<Utc>,
) -> AppResult<booking::Model> {
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::Id)
        .column(entity::inventory::Column::SeatId)
        .column(entity::inventory::Column::HeldPool)
        .filter(entity::inventory::Column::HeldBy.eq(entry.id))
        .filter(entity::inventory::Column::BookingId.is_null())
        .order_by_asc(entity::inventory::Column::PlaceNo)
        .into_tuple()
        .all(txn)
        .await?;
    if rows.len() != entry.quantity as usize {
        return Err(AppError::Internal(format!(
            "an offer holds {} seats for a party of {}",
            rows.len(),
            entry.quantity
        )));
    }
    let seats = seats_by_id(txn, &rows.iter().filter_map(|r| r.1).collect::<Vec<_>>()).await?;
    let mut places: Vec<&seat::Model> = seats.values().collect();
    places.sort_by_key(|s| (s.section_order, s.row_rank, s.number));
    let together = places.windows(2).all(|w| {
        (w[0].section_order, w[0].row_rank) == (w[1].section_order, w[1].row_rank)
            && w[0].number + 1 == w[1].number
    });
    let booking = booking::ActiveModel {
        performance_id: Set(perf.id),
        account_id: Set(entry.account_id),
        status: Set(BookingStatus::Confirmed),
        quantity: Set(entry.quantity),
        seats_together: Set(together),
        idempotency_key: Set(None),
        request_fingerprint: Set(crate::auth::token_hash(&format!("waitlist:{}", entry.id))),
        created_at: Set(now),
        cancelled_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let changed = entity::inventory::Entity::update_many()
        .col_expr(
            entity::inventory::Column::BookingId,
            Expr::value(booking.id),
        )
        .col_expr(
            entity::inventory::Column::HeldBy,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            entity::inventory::Column::HeldPool,
            Expr::value(Option::<i64>::None),
        )
        .filter(entity::inventory::Column::HeldBy.eq(entry.id))
        .filter(entity::inventory::Column::BookingId.is_null())
        .exec(txn)
        .await?;
    if changed.rows_affected != rows.len() as u64 {
        return Err(AppError::Internal(
            "transient: held seats changed during acceptance".to_owned(),
        ));
    }
    let claimed: Vec<Claimed> = rows
        .iter()
        .map(|(id, seat_id, _)| Claimed {
            id: *id,
            seat_id: *seat_id,
        })
        .collect();
    let pools: Vec<i64> = rows
        .iter()
        .map(|(_, _, pool)| pool.unwrap_or(crate::domain::shares::OPEN_POOL))
        .collect();
    let home = entity::account::Entity::find_by_id(entry.account_id)
        .one(txn)
        .await?
        .and_then(|a| a.home_center_id);
    issue_tickets(txn, &booking, &claimed, &pools, home).await?;
    Ok(booking)
}

/// Lowers the resident's holding by `n` (a cancelled booking, a released offer).
pub(crate) async fn lower_hold(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    account_id: i64,
    n: i32,
) -> AppResult<()> {
    entity::resident_hold::Entity::update_many()
        .col_expr(
            entity::resident_hold::Column::Tickets,
            Expr::col(entity::resident_hold::Column::Tickets).sub(n),
        )
        .filter(entity::resident_hold::Column::PerformanceId.eq(performance_id))
        .filter(entity::resident_hold::Column::AccountId.eq(account_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// An inventory row claimed for a booking.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Claimed {
    /// The inventory row.
    pub id: i64,
    /// The seat (None for general admission).
    pub seat_id: Option<i64>,
}

/// What claimed inventory rows are for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ClaimFor {
    /// Sold to this booking.
    Booking(i64),
    /// Held for this waiting-list entry's offer.
    Offer(i64),
}

/// Claims free rows (neither booked nor held) for `target`; returns how many it claimed.
async fn claim(
    conn: &impl ConnectionTrait,
    target: ClaimFor,
    inventory_ids: &[i64],
) -> AppResult<u64> {
    let placeholders: Vec<String> = (2..inventory_ids.len() + 2)
        .map(|i| format!("${i}"))
        .collect();
    let (column, id) = match target {
        ClaimFor::Booking(id) => ("booking_id", id),
        ClaimFor::Offer(id) => ("held_by", id),
    };
    let sql = format!(
        "UPDATE inventory SET {column} = $1 \
         WHERE booking_id IS NULL AND held_by IS NULL AND id IN ({})",
        placeholders.join(", ")
    );
    let mut values: Vec<sea_orm::Value> = vec![id.into()];
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

pub(super) async fn claim_seats(
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
    // (inventory row, seat, booking, held for)
    type Row = (i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::Id)
        .column(entity::inventory::Column::SeatId)
        .column(entity::inventory::Column::BookingId)
        .column(entity::inventory::Column::HeldBy)
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
        .filter(|(_, _, booking, held)| booking.is_some() || held.is_some())
        .filter_map(|(_, seat, _, _)| seat.map(|s| encode(Kind::Seat, s)))
        .collect();
    if !taken.is_empty() {
        return Err(AppError::SeatUnavailable { seat_ids: taken });
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _, _, _)| *id).collect();
    if claim(conn, ClaimFor::Booking(booking_id), &ids).await? != ids.len() as u64 {
        return Err(AppError::SeatUnavailable {
            seat_ids: seat_ids.iter().map(|s| encode(Kind::Seat, *s)).collect(),
        });
    }
    Ok(rows
        .into_iter()
        .map(|(id, seat_id, _, _)| Claimed { id, seat_id })
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
    pub(super) fn row(&self) -> (i32, i32) {
        (self.section_order, self.row_rank)
    }

    pub(super) fn claimed(&self) -> Claimed {
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
         WHERE i.performance_id = $1 AND i.booking_id IS NULL AND i.held_by IS NULL \
           AND i.place_no > $2 \
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

/// Picks and claims `n` seats for `target`: the best contiguous block in one row (rows
/// nearest the stage first, then seats nearest the row's middle); when no row has `n`
/// adjacent free seats, the `n` best free seats one by one. Never refuses while `n` seats
/// remain.
pub(crate) async fn claim_best_for(
    conn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: SeatingMode,
    target: ClaimFor,
    n: i32,
) -> AppResult<(Vec<Claimed>, bool)> {
    let backend = conn.get_database_backend();
    if seating == SeatingMode::GeneralAdmission {
        let rows = Claimed::find_by_statement(Statement::from_sql_and_values(
            backend,
            "SELECT id, seat_id FROM inventory \
             WHERE performance_id = $1 AND booking_id IS NULL AND held_by IS NULL \
             ORDER BY place_no LIMIT $2",
            [perf.id.into(), i64::from(n).into()],
        ))
        .all(conn)
        .await?;
        return finish_claim(conn, target, rows, n, true).await;
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
            return finish_claim(conn, target, claimed, n, true).await;
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
    finish_claim(conn, target, claimed, n, together).await
}

/// How many free seats one read of the best-available search returns (a row has at most
/// 500 seats, so a window holds at least one whole row after the first).
const FREE_SEAT_WINDOW: i64 = 600;

fn sold_out(left: usize) -> AppError {
    crate::domain::shares::sold_out(left as i64, None)
}

async fn finish_claim(
    conn: &impl ConnectionTrait,
    target: ClaimFor,
    rows: Vec<Claimed>,
    n: i32,
    together: bool,
) -> AppResult<(Vec<Claimed>, bool)> {
    if (rows.len() as i32) < n {
        return Err(sold_out(rows.len()));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    if claim(conn, target, &ids).await? != ids.len() as u64 {
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
pub(crate) fn pick(free: &[FreeSeat], n: usize) -> (Vec<usize>, bool) {
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

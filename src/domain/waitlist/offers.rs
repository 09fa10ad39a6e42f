//! The offer step and what undoes an offer: every function here runs inside a transaction
//! that holds the performance row exclusively ([`crate::domain::scheduling::exclude_bookings`]),
//! so no booking, cancellation or other offer of that performance interleaves with it.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{PerformanceStatus, SeatingMode, WaitlistStatus};
use entity::{performance, waitlist_entry};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::Policy;
use crate::domain::notifications::{self, Note, Notified, Recipients};
use crate::domain::{booking, shares};
use crate::error::{AppError, AppResult};
use entity::enums::NotificationKind;

/// How many WAITING entries one pass of the offer step reads from the head of the queue.
const HEAD: u64 = 500;

/// What an offer step did: the seats it held (for availability updates) and the entries it
/// made offers to (for notifications).
#[derive(Debug, Default)]
pub struct Offered {
    /// Seat ids now HELD.
    pub seat_ids: Vec<i64>,
    /// Entries that got an offer.
    pub entries: Vec<waitlist_entry::Model>,
    /// Their holders, notified (`WAITLIST_OFFER`) in the same transaction.
    pub notified: Notified,
}

/// The offer step: while seats are free and a WAITING entry can take them, holds seats for
/// the first such entry in joining order (each freed seat goes to the first entry it can
/// fill). An entry too large for what is free keeps its place and counts a pass each time a
/// later entry is served instead; once it has been passed over `policy.max_passes` times,
/// freed seats gather for it (no entry behind it is served) until it can be filled. An entry
/// that no longer fits its holder's per-resident limit is resolved (`CANCELLED`). No offer is
/// made outside the booking window.
pub(crate) async fn offer_freed(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: SeatingMode,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<Offered> {
    let mut offered = Offered::default();
    if perf.status != PerformanceStatus::Published || booking::check_window(perf, now).is_err() {
        return Ok(offered);
    }
    let released = shares::released(perf, now);
    loop {
        let queue = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::PerformanceId.eq(perf.id))
            .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
            .order_by_asc(waitlist_entry::Column::Id)
            .limit(HEAD)
            .all(txn)
            .await?;
        if queue.is_empty() {
            break;
        }
        let pools = shares::counts(txn, &[perf.id])
            .await?
            .remove(&perf.id)
            .unwrap_or_default();
        if pools.free() == 0 {
            break;
        }
        let homes = super::homes(txn, &queue).await?;
        let holds = super::holdings(txn, perf.id, &queue).await?;
        let mut chosen = None;
        let mut skipped = Vec::new();
        for entry in &queue {
            let held = holds.get(&entry.account_id).copied().unwrap_or(0);
            if held + entry.quantity > perf.per_resident_limit {
                resolve(txn, entry.id, WaitlistStatus::Cancelled, now).await?;
                continue;
            }
            let free = pools.free_for(homes.get(&entry.account_id).copied().flatten(), released);
            if free >= i64::from(entry.quantity) {
                chosen = Some(entry.clone());
                break;
            }
            skipped.push(entry.id);
            if entry.passed_over >= policy.max_passes {
                break;
            }
        }
        let Some(entry) = chosen else { break };
        if !skipped.is_empty() {
            waitlist_entry::Entity::update_many()
                .col_expr(
                    waitlist_entry::Column::PassedOver,
                    Expr::col(waitlist_entry::Column::PassedOver).add(Expr::value(1)),
                )
                .filter(waitlist_entry::Column::Id.is_in(skipped))
                .exec(txn)
                .await?;
        }
        let home = homes.get(&entry.account_id).copied().flatten();
        let seats = hold_seats(txn, perf, seating, &entry, home, now).await?;
        let expires = std::cmp::min(
            now + Duration::minutes(policy.offer_minutes),
            perf.booking_closes_at.unwrap_or(perf.starts_at),
        );
        let changed = waitlist_entry::Entity::update_many()
            .col_expr(
                waitlist_entry::Column::Status,
                Expr::value(WaitlistStatus::Offered),
            )
            .col_expr(waitlist_entry::Column::OfferedAt, Expr::value(now))
            .col_expr(waitlist_entry::Column::OfferExpiresAt, Expr::value(expires))
            .filter(waitlist_entry::Column::Id.eq(entry.id))
            .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::Internal(
                "transient: a waiting-list entry changed during the offer step".to_owned(),
            ));
        }
        offered.seat_ids.extend(seats);
        offered.notified.extend(
            notify(
                txn,
                perf,
                &entry,
                NotificationKind::WaitlistOffer,
                notifications::waitlist_offer(&perf.title, perf.starts_at, entry.quantity, expires),
            )
            .await?,
        );
        offered.entries.push(waitlist_entry::Model {
            status: WaitlistStatus::Offered,
            offered_at: Some(now),
            offer_expires_at: Some(expires),
            ..entry
        });
    }
    Ok(offered)
}

/// Holds `entry.quantity` seats for the entry: chosen like a quantity booking (together
/// where possible), counted against the pools its holder may use, and against the holder's
/// per-resident limit (an open offer counts like a booking). Returns the seat ids held.
async fn hold_seats(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: SeatingMode,
    entry: &waitlist_entry::Model,
    home: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    booking::hold_limit(
        txn,
        perf.id,
        entry.account_id,
        entry.quantity,
        perf.per_resident_limit,
    )
    .await?;
    let pools = shares::take(txn, perf, home, entry.quantity, now).await?;
    let (claimed, _) = booking::claim_best_for(
        txn,
        perf,
        seating,
        booking::ClaimFor::Offer(entry.id),
        entry.quantity,
    )
    .await?;
    // Each held row remembers the pool it was counted against.
    for (row, pool) in claimed.iter().zip(&pools) {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE inventory SET held_pool = $2 WHERE id = $1",
            [row.id.into(), (*pool).into()],
        ))
        .await?;
    }
    Ok(claimed.iter().filter_map(|c| c.seat_id).collect())
}

/// Releases the seats held for an offer: back to the pools they were counted against, off
/// the holder's limit. Returns the seat ids released.
pub(crate) async fn release(
    txn: &impl ConnectionTrait,
    entry: &waitlist_entry::Model,
) -> AppResult<Vec<i64>> {
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::Id)
        .column(entity::inventory::Column::SeatId)
        .column(entity::inventory::Column::HeldPool)
        .filter(entity::inventory::Column::HeldBy.eq(entry.id))
        .into_tuple()
        .all(txn)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let pools: Vec<i64> = rows
        .iter()
        .map(|(_, _, pool)| pool.unwrap_or(shares::OPEN_POOL))
        .collect();
    shares::give_back(txn, entry.performance_id, &pools).await?;
    entity::inventory::Entity::update_many()
        .col_expr(
            entity::inventory::Column::HeldBy,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            entity::inventory::Column::HeldPool,
            Expr::value(Option::<i64>::None),
        )
        .filter(entity::inventory::Column::HeldBy.eq(entry.id))
        .exec(txn)
        .await?;
    booking::lower_hold(
        txn,
        entry.performance_id,
        entry.account_id,
        rows.len() as i32,
    )
    .await?;
    Ok(rows.into_iter().filter_map(|(_, seat, _)| seat).collect())
}

/// Marks an entry resolved with `status`.
pub(crate) async fn resolve(
    txn: &impl ConnectionTrait,
    id: i64,
    status: WaitlistStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::Status, Expr::value(status))
        .col_expr(waitlist_entry::Column::ResolvedAt, Expr::value(now))
        .filter(waitlist_entry::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Tells an entry's holder about it, in the caller's transaction.
pub(crate) async fn notify(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    entry: &waitlist_entry::Model,
    kind: NotificationKind,
    message: String,
) -> AppResult<Notified> {
    notifications::notify(
        txn,
        Recipients::Accounts(&[entry.account_id]),
        Note {
            kind,
            performance_id: Some(perf.id),
            production_id: Some(perf.production_id),
            message,
            waitlist_entry_id: Some(entry.id),
        },
    )
    .await
}

/// `cancelPerformance`: every live entry is cancelled and its held seats released (the
/// caller then empties the pools and the holdings anyway); holders of live entries who
/// hold no booking (those are told already) are told (`PERFORMANCE_CANCELLED`).
pub(crate) async fn cancel_all(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<Notified> {
    let performance_id = perf.id;
    let live = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(performance_id))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .all(txn)
        .await?;
    entity::inventory::Entity::update_many()
        .col_expr(
            entity::inventory::Column::HeldBy,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            entity::inventory::Column::HeldPool,
            Expr::value(Option::<i64>::None),
        )
        .filter(entity::inventory::Column::PerformanceId.eq(performance_id))
        .filter(entity::inventory::Column::HeldBy.is_not_null())
        .exec(txn)
        .await?;
    waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(WaitlistStatus::Cancelled),
        )
        .col_expr(waitlist_entry::Column::ResolvedAt, Expr::value(now))
        .filter(waitlist_entry::Column::PerformanceId.eq(performance_id))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .exec(txn)
        .await?;
    let booked: std::collections::HashSet<i64> = entity::booking::Entity::find()
        .filter(entity::booking::Column::PerformanceId.eq(performance_id))
        .filter(entity::booking::Column::Status.eq(entity::enums::BookingStatus::Confirmed))
        .all(txn)
        .await?
        .into_iter()
        .map(|b| b.account_id)
        .collect();
    let accounts: Vec<i64> = live
        .iter()
        .map(|e| e.account_id)
        .filter(|a| !booked.contains(a))
        .collect();
    notifications::notify(
        txn,
        Recipients::Accounts(&accounts),
        Note {
            kind: NotificationKind::PerformanceCancelled,
            performance_id: Some(perf.id),
            production_id: Some(perf.production_id),
            message: notifications::performance_cancelled(&perf.title, perf.starts_at, reason),
            waitlist_entry_id: None,
        },
    )
    .await
}

/// For a booking on the exact path: `SOLD_OUT` while other residents wait (free seats go
/// to the waiting list first), and the booker's own live entry, if any (resolved by the
/// caller once the booking is made).
pub(crate) async fn before_booking(
    txn: &impl ConnectionTrait,
    performance_id: i64,
    resident: i64,
) -> AppResult<Option<waitlist_entry::Model>> {
    let others = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(performance_id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .filter(waitlist_entry::Column::AccountId.ne(resident))
        .one(txn)
        .await?;
    if others.is_some() {
        return Err(shares::sold_out_to_waitlist());
    }
    Ok(waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(performance_id))
        .filter(waitlist_entry::Column::AccountId.eq(resident))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .one(txn)
        .await?)
}

//! The waiting list: residents who met `SOLD_OUT` wait for `quantity` seats, in joining
//! order; seats that come free are offered to them before anyone else can book them.
//!
//! **Where the rules are kept.** Everything that frees seats (a cancelled booking, a declined,
//! withdrawn or expired offer, a change of shares or limit) runs the offer step
//! ([`offer_freed`]) in its own transaction, after taking the performance row exclusively
//! ([`super::scheduling::exclude_bookings`]), which no booking of that performance can
//! pass. So a freed seat is HELD for an entry before the transaction that freed it commits:
//! the public never sees it free. While any entry WAITS, the public books nothing of the
//! performance: the parallel booking statement stops at a WAITING entry (one probe of a
//! partial index) and the exact path answers `SOLD_OUT` (the seats go to the list first).
//!
//! **Offers.** Each freed seat goes to the first WAITING entry it can fill (its holder's home
//! share and the open pool before `sharesReleaseAt`, see [`super::shares`]); seats are chosen
//! like a quantity booking (together where possible), marked `inventory.held_by`, counted in
//! the seat pools and in the holder's per-resident limit (an open offer counts like a
//! booking), and held for `ZOUQIN_WAITLIST_OFFER_MINUTES`, never past `bookingClosesAt`. An
//! entry too large for what is free keeps its place; after `ZOUQIN_WAITLIST_MAX_PASSES`
//! (default 3) offers to entries behind it, freed seats gather for it instead.
//!
//! **Accept vs expiry.** Both take the performance row exclusively and re-read the entry:
//! exactly one of them finds it OFFERED and in time. The expiry step ([`expire_due`]) runs on
//! every instance; it claims due offers with `FOR UPDATE SKIP LOCKED`, so an offer made by an
//! instance that died still expires, and its seats pass on, within a sweep.

mod offers;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{PerformanceStatus, Role, WaitlistStatus};
use entity::{booking, performance, waitlist_entry};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

pub(crate) use offers::{before_booking, cancel_all, offer_freed};

use super::booking::Booker;
use super::{now, scheduling, shares};
use crate::auth::Caller;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::realtime::{AvailabilityEvent, Realtime};

/// The waiting list's settings.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How long an offer holds its seats.
    pub offer_minutes: i64,
    /// Offers to later entries after which freed seats gather for a waiting entry.
    pub max_passes: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            offer_minutes: 60,
            max_passes: 3,
        }
    }
}

/// The home center of each entry's holder.
async fn homes(
    conn: &impl ConnectionTrait,
    entries: &[waitlist_entry::Model],
) -> AppResult<HashMap<i64, Option<i64>>> {
    Ok(entity::account::Entity::find()
        .filter(entity::account::Column::Id.is_in(entries.iter().map(|e| e.account_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| (a.id, a.home_center_id))
        .collect())
}

/// What each entry's holder already holds of the performance (bookings and open offers).
async fn holdings(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    entries: &[waitlist_entry::Model],
) -> AppResult<HashMap<i64, i32>> {
    Ok(entity::resident_hold::Entity::find()
        .filter(entity::resident_hold::Column::PerformanceId.eq(performance_id))
        .filter(
            entity::resident_hold::Column::AccountId.is_in(entries.iter().map(|e| e.account_id)),
        )
        .all(conn)
        .await?
        .into_iter()
        .map(|h| (h.account_id, h.tickets))
        .collect())
}

/// `joinWaitlist`: a resident who cannot book `quantity` seats now waits for them.
pub async fn join(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    performance_id: i64,
    quantity: i32,
) -> AppResult<waitlist_entry::Model> {
    let resident = caller.resident()?;
    if !(1..=100).contains(&quantity) {
        return Err(AppError::bad_input(
            "quantity",
            "quantity must be between 1 and 100",
        ));
    }
    let perf = super::catalog::performance(conn, caller, performance_id)
        .await?
        .ok_or(AppError::NotFound("performance"))?;
    let seating = booker.seating(conn, perf.venue_id).await?;
    let policy = booker.waitlist_policy();
    let (entry, offered) = crate::write_txn!(conn, |txn| {
        let now = now();
        let perf = scheduling::exclude_bookings(txn, performance_id).await?;
        super::no_shows::refuse_if_suspended(txn, resident, now).await?;
        super::booking::check_window(&perf, now)?;
        let live = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::PerformanceId.eq(perf.id))
            .filter(waitlist_entry::Column::AccountId.eq(resident))
            .filter(
                waitlist_entry::Column::Status
                    .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
            )
            .one(txn)
            .await?;
        if let Some(live) = live {
            return Err(AppError::Conflict {
                message: "you are already on this performance's waiting list".to_owned(),
                with: Some(crate::ids::encode(crate::ids::Kind::WaitlistEntry, live.id)),
            });
        }
        let held = entity::resident_hold::Entity::find_by_id((perf.id, resident))
            .one(txn)
            .await?
            .map_or(0, |h| h.tickets);
        if held + quantity > perf.per_resident_limit {
            return Err(AppError::LimitExceeded(format!(
                "at most {} tickets per resident for this performance; you hold {held}",
                perf.per_resident_limit
            )));
        }
        let queue = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::PerformanceId.eq(perf.id))
            .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
            .count(txn)
            .await?;
        if queue == 0 {
            let home = entity::account::Entity::find_by_id(resident)
                .one(txn)
                .await?
                .and_then(|a| a.home_center_id);
            let pools = shares::counts(txn, &[perf.id])
                .await?
                .remove(&perf.id)
                .unwrap_or_default();
            if pools.free_for(home, shares::released(&perf, now)) >= i64::from(quantity) {
                return Err(AppError::conflict(
                    "these seats can be booked now: book them instead of waiting",
                ));
            }
        }
        let entry = waitlist_entry::ActiveModel {
            performance_id: Set(perf.id),
            account_id: Set(resident),
            quantity: Set(quantity),
            status: Set(WaitlistStatus::Waiting),
            passed_over: Set(0),
            offered_at: Set(None),
            offer_expires_at: Set(None),
            booking_id: Set(None),
            created_at: Set(now),
            resolved_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        // Seats no one ahead could take may already be free for this entry.
        let offered = offer_freed(txn, &perf, seating, &policy, now).await?;
        let entry = db::found(
            waitlist_entry::Entity::find_by_id(entry.id)
                .one(txn)
                .await?,
            "waiting-list entry",
        )?;
        Ok((entry, offered))
    })?;
    realtime.notified(&offered.notified.0);
    publish(realtime, booker, performance_id, offered.seat_ids).await;
    Ok(entry)
}

/// `leaveWaitlist`: the holder leaves (an open offer's seats pass on).
pub async fn leave(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    id: i64,
) -> AppResult<waitlist_entry::Model> {
    let live = [WaitlistStatus::Waiting, WaitlistStatus::Offered];
    finish(
        conn,
        realtime,
        booker,
        caller,
        id,
        &live,
        WaitlistStatus::Left,
    )
    .await
}

/// `declineWaitlistOffer`: the holder turns the offer down; its seats pass on.
pub async fn decline(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    id: i64,
) -> AppResult<waitlist_entry::Model> {
    let offered = [WaitlistStatus::Offered];
    finish(
        conn,
        realtime,
        booker,
        caller,
        id,
        &offered,
        WaitlistStatus::Declined,
    )
    .await
}

/// Ends the caller's own entry with `status` when it is in one of `from`.
async fn finish(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    id: i64,
    from: &[WaitlistStatus],
    status: WaitlistStatus,
) -> AppResult<waitlist_entry::Model> {
    let resident = caller.resident()?;
    let entry = own(conn, resident, id).await?;
    let perf = db::found(
        performance::Entity::find_by_id(entry.performance_id)
            .one(conn)
            .await?,
        "performance",
    )?;
    let seating = booker.seating(conn, perf.venue_id).await?;
    let policy = booker.waitlist_policy();
    let (entry, seats, notified) = crate::write_txn!(conn, |txn| {
        let now = now();
        let perf = scheduling::exclude_bookings(txn, entry.performance_id).await?;
        let entry = own(txn, resident, id).await?;
        if !from.contains(&entry.status) {
            return Err(AppError::conflict(match entry.status {
                WaitlistStatus::Waiting => "there is no offer to decline yet",
                _ => "this waiting-list entry is no longer live",
            }));
        }
        let mut seats = offers::release(txn, &entry).await?;
        offers::resolve(txn, entry.id, status, now).await?;
        let offered = offer_freed(txn, &perf, seating, &policy, now).await?;
        seats.extend(offered.seat_ids);
        let entry = db::found(
            waitlist_entry::Entity::find_by_id(id).one(txn).await?,
            "waiting-list entry",
        )?;
        Ok((entry, seats, offered.notified))
    })?;
    realtime.notified(&notified.0);
    publish(realtime, booker, entry.performance_id, seats).await;
    Ok(entry)
}

/// Resolves a resident's own live entry when it books the performance directly: `LEFT`,
/// an open offer's seats passed on. Returns the seats that changed.
pub(crate) async fn withdraw(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: entity::enums::SeatingMode,
    policy: &Policy,
    entry: &waitlist_entry::Model,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let mut seats = offers::release(txn, entry).await?;
    offers::resolve(txn, entry.id, WaitlistStatus::Left, now).await?;
    seats.extend(offer_freed(txn, perf, seating, policy, now).await?.seat_ids);
    Ok(seats)
}

/// `acceptWaitlistOffer`: books exactly the held seats, under every booking rule.
pub async fn accept(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    caller: &Caller,
    id: i64,
) -> AppResult<booking::Model> {
    let resident = caller.resident()?;
    let entry = own(conn, resident, id).await?;
    let booking = crate::write_txn!(conn, |txn| {
        let now = now();
        let perf = scheduling::exclude_bookings(txn, entry.performance_id).await?;
        let entry = own(txn, resident, id).await?;
        let in_time = entry.offer_expires_at.is_some_and(|at| now < at);
        if entry.status != WaitlistStatus::Offered || !in_time {
            return Err(AppError::conflict(match entry.status {
                WaitlistStatus::Waiting => "there is no offer to accept yet",
                WaitlistStatus::Offered => "the offer has expired",
                _ => "this waiting-list entry is no longer live",
            }));
        }
        super::no_shows::refuse_if_suspended(txn, resident, now).await?;
        super::booking::check_window(&perf, now)?;
        let booking = super::booking::book_held(txn, &perf, &entry, now).await?;
        waitlist_entry::Entity::update_many()
            .col_expr(
                waitlist_entry::Column::Status,
                Expr::value(WaitlistStatus::Booked),
            )
            .col_expr(waitlist_entry::Column::BookingId, Expr::value(booking.id))
            .col_expr(waitlist_entry::Column::ResolvedAt, Expr::value(now))
            .filter(waitlist_entry::Column::Id.eq(entry.id))
            .exec(txn)
            .await?;
        Ok(booking)
    })?;
    let seats: Vec<i64> = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::BookingId.eq(booking.id))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|t| t.seat_id)
        .collect();
    publish(realtime, booker, booking.performance_id, seats).await;
    Ok(booking)
}

/// The caller's own entry (`NOT_FOUND` for anyone else's).
async fn own(
    conn: &impl ConnectionTrait,
    resident: i64,
    id: i64,
) -> AppResult<waitlist_entry::Model> {
    waitlist_entry::Entity::find_by_id(id)
        .filter(waitlist_entry::Column::AccountId.eq(resident))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("waiting-list entry"))
}

async fn publish(realtime: &Realtime, booker: &Booker, performance_id: i64, seats: Vec<i64>) {
    if seats.is_empty() {
        return;
    }
    booker.forget(performance_id);
    realtime
        .publish(AvailabilityEvent::freed(performance_id, seats))
        .await;
}

/// An entry the caller may see: its holder, or the host center's staff (SCHEDULER+).
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<waitlist_entry::Model> {
    caller.identity()?;
    let entry = waitlist_entry::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("waiting-list entry"))?;
    if caller.account_id() == Some(entry.account_id) {
        return Ok(entry);
    }
    if let Ok(staff) = caller.staff(Role::Scheduler) {
        let perf = performance::Entity::find_by_id(entry.performance_id)
            .one(conn)
            .await?;
        if perf.is_some_and(|p| p.host_center_id == staff.center_id) {
            return Ok(entry);
        }
    }
    Err(AppError::NotFound("waiting-list entry"))
}

/// `performanceWaitlist`: the host center's staff (SCHEDULER+) only.
pub async fn for_performance(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    performance_id: i64,
) -> AppResult<performance::Model> {
    super::booking::for_performance(conn, caller, performance_id).await
}

/// A page of entries, newest first for an account, in joining order for a performance.
pub async fn page(
    conn: &impl ConnectionTrait,
    account_id: Option<i64>,
    performance_id: Option<i64>,
    after_id: Option<i64>,
    first: u64,
) -> AppResult<(Vec<waitlist_entry::Model>, bool, u64)> {
    let mut query = waitlist_entry::Entity::find();
    if let Some(account) = account_id {
        query = query.filter(waitlist_entry::Column::AccountId.eq(account));
    }
    if let Some(perf) = performance_id {
        query = query.filter(waitlist_entry::Column::PerformanceId.eq(perf));
    }
    let total = query.clone().count(conn).await?;
    let query = if account_id.is_some() {
        if let Some(after) = after_id {
            query = query.filter(waitlist_entry::Column::Id.lt(after));
        }
        query.order_by_desc(waitlist_entry::Column::Id)
    } else {
        if let Some(after) = after_id {
            query = query.filter(waitlist_entry::Column::Id.gt(after));
        }
        query.order_by_asc(waitlist_entry::Column::Id)
    };
    let (items, has_next) = super::catalog::page_of(conn, query, first).await?;
    Ok((items, has_next, total))
}

/// An entry's 1-based place among the WAITING entries of its performance (None otherwise).
pub async fn position(
    conn: &impl ConnectionTrait,
    entry: &waitlist_entry::Model,
) -> AppResult<Option<i32>> {
    if entry.status != WaitlistStatus::Waiting {
        return Ok(None);
    }
    let ahead = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(entry.performance_id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .filter(waitlist_entry::Column::Id.lt(entry.id))
        .count(conn)
        .await?;
    Ok(Some(ahead as i32 + 1))
}

/// WAITING entries per performance, for many performances.
pub async fn waiting_counts(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    #[derive(FromQueryResult)]
    struct Row {
        performance_id: i64,
        waiting: i64,
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        conn.get_database_backend(),
        format!(
            "SELECT performance_id, COUNT(*) AS waiting FROM waitlist_entry \
             WHERE status = 'WAITING' AND performance_id IN ({}) GROUP BY performance_id",
            placeholders.join(", ")
        ),
        ids.iter().map(|id| (*id).into()),
    ))
    .all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.performance_id, r.waiting))
        .collect())
}

/// The caller's live entry for a performance, if it is a resident with one.
pub async fn live_entry(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    performance_id: i64,
) -> AppResult<Option<waitlist_entry::Model>> {
    let Ok(resident) = caller.resident() else {
        return Ok(None);
    };
    Ok(waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(performance_id))
        .filter(waitlist_entry::Column::AccountId.eq(resident))
        .filter(
            waitlist_entry::Column::Status
                .is_in([WaitlistStatus::Waiting, WaitlistStatus::Offered]),
        )
        .one(conn)
        .await?)
}

/// The seats held for an entry's open offer.
pub async fn offered_seats(
    conn: &impl ConnectionTrait,
    entry_id: i64,
) -> AppResult<Vec<entity::seat::Model>> {
    let ids: Vec<Option<i64>> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::SeatId)
        .filter(entity::inventory::Column::HeldBy.eq(entry_id))
        .into_tuple()
        .all(conn)
        .await?;
    let ids: Vec<i64> = ids.into_iter().flatten().collect();
    let mut seats: Vec<entity::seat::Model> = super::booking::seats_by_id(conn, &ids)
        .await?
        .into_values()
        .collect();
    seats.sort_by_key(|s| (s.section_order, s.row_rank, s.number));
    Ok(seats)
}

/// Performances with work for the expiry step at `now`: open offers past their time,
/// WAITING entries whose booking window closed, or WAITING entries while seats are free (a
/// share's release makes seats usable by more entries; any freeing the offer step could not
/// settle in its own transaction is settled here, within a sweep).
async fn due(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    #[derive(FromQueryResult)]
    struct Due {
        performance_id: i64,
    }
    let rows = Due::find_by_statement(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "SELECT DISTINCT performance_id FROM ( \
           SELECT performance_id FROM waitlist_entry \
           WHERE status = 'OFFERED' AND offer_expires_at <= $1 \
           UNION \
           SELECT w.performance_id FROM waitlist_entry w \
           JOIN performance p ON p.id = w.performance_id \
           WHERE w.status = 'WAITING' \
             AND (COALESCE(p.booking_closes_at, p.starts_at) <= $1 OR p.status <> 'PUBLISHED') \
           UNION \
           SELECT w.performance_id FROM waitlist_entry w \
           WHERE w.status = 'WAITING' AND EXISTS (SELECT 1 FROM seat_pool s \
             WHERE s.performance_id = w.performance_id AND s.booked < s.seats) \
         ) d LIMIT 100",
        [now.into()],
    ))
    .all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.performance_id).collect())
}

/// The expiry step: in each performance with due work, one transaction that takes the
/// performance row, claims its due entries (`FOR UPDATE SKIP LOCKED` on PostgreSQL), marks
/// offers past their time `EXPIRED` and WAITING entries of a closed window `EXPIRED`,
/// releases their seats and runs the offer step. Idempotent: an entry already settled is
/// not due any more. Returns how many entries it expired.
pub async fn expire_due(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    booker: &Booker,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let policy = booker.waitlist_policy();
    let mut total = 0;
    for performance_id in due(conn, now).await? {
        let perf = db::found(
            performance::Entity::find_by_id(performance_id)
                .one(conn)
                .await?,
            "performance",
        )?;
        let seating = booker.seating(conn, perf.venue_id).await?;
        let (expired, seats, notified) = crate::write_txn!(conn, |txn| {
            let perf = scheduling::exclude_bookings(txn, performance_id).await?;
            let closed = perf.status != PerformanceStatus::Published
                || now >= perf.booking_closes_at.unwrap_or(perf.starts_at);
            let lock = if scheduling::is_postgres(txn) {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            };
            let entries = waitlist_entry::Model::find_by_statement(Statement::from_sql_and_values(
                txn.get_database_backend(),
                format!(
                    "SELECT * FROM waitlist_entry WHERE performance_id = $1 \
                     AND ((status = 'OFFERED' AND offer_expires_at <= $2) \
                          OR (status = 'WAITING' AND $3)) \
                     ORDER BY id{lock}"
                ),
                [performance_id.into(), now.into(), closed.into()],
            ))
            .all(txn)
            .await?;
            let mut seats = Vec::new();
            let mut notified = crate::domain::notifications::Notified::default();
            for entry in &entries {
                seats.extend(offers::release(txn, entry).await?);
                offers::resolve(txn, entry.id, WaitlistStatus::Expired, now).await?;
                if entry.status == WaitlistStatus::Offered {
                    let message =
                        crate::domain::notifications::offer_expired(&perf.title, perf.starts_at);
                    notified.extend(
                        offers::notify(
                            txn,
                            &perf,
                            entry,
                            entity::enums::NotificationKind::OfferExpired,
                            message,
                        )
                        .await?,
                    );
                }
            }
            let offered = offer_freed(txn, &perf, seating, &policy, now).await?;
            seats.extend(offered.seat_ids);
            notified.extend(offered.notified);
            Ok((entries.len(), seats, notified))
        })?;
        realtime.notified(&notified.0);
        total += expired;
        publish(realtime, booker, performance_id, seats).await;
    }
    Ok(total)
}

/// Runs [`expire_due`] every `every` until the server closes (see [`super::repeat`]).
pub async fn sweep(
    conn: DatabaseConnection,
    realtime: Realtime,
    booker: Booker,
    every: std::time::Duration,
    closing: tokio::sync::watch::Receiver<bool>,
) {
    super::repeat("waiting-list expiry", every, closing, || {
        expire_due(&conn, &realtime, &booker, now())
    })
    .await;
}

/// After staff changed a performance (shares, limit, window): entries that no longer fit
/// their holder's limit are resolved and freed seats offered, in the change's transaction.
pub(crate) async fn after_change(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
    seating: entity::enums::SeatingMode,
    policy: &Policy,
) -> AppResult<Vec<i64>> {
    let now = now();
    let waiting = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::PerformanceId.eq(perf.id))
        .filter(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting))
        .all(txn)
        .await?;
    let holds = holdings(txn, perf.id, &waiting).await?;
    for entry in &waiting {
        let held = holds.get(&entry.account_id).copied().unwrap_or(0);
        if held + entry.quantity > perf.per_resident_limit {
            offers::resolve(txn, entry.id, WaitlistStatus::Cancelled, now).await?;
        }
    }
    Ok(offer_freed(txn, perf, seating, policy, now).await?.seat_ids)
}

//! Reading bookings: who may see one, pages of them, their tickets, and which seats of a
//! performance are taken.

use std::collections::HashMap;

use entity::{booking, performance, seat, ticket};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};

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
        crate::domain::catalog::page_of(conn, query.order_by_desc(booking::Column::Id), first)
            .await?;
    Ok((items, has_next, total))
}

/// `performanceBookings`: SCHEDULER+ of the host center.
pub async fn for_performance(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    performance_id: i64,
) -> AppResult<performance::Model> {
    let staff = caller.staff(entity::enums::Role::Scheduler)?;
    let perf = crate::domain::catalog::performance(conn, caller, performance_id)
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

/// The seats of a performance that are not available: sold (`true`) or held for a
/// waiting-list offer (`false`), by seat id.
pub async fn unavailable_seats(
    conn: &impl ConnectionTrait,
    performance_id: i64,
) -> AppResult<HashMap<i64, bool>> {
    let rows: Vec<(Option<i64>, Option<i64>)> = entity::inventory::Entity::find()
        .select_only()
        .column(entity::inventory::Column::SeatId)
        .column(entity::inventory::Column::BookingId)
        .filter(entity::inventory::Column::PerformanceId.eq(performance_id))
        .filter(
            entity::inventory::Column::BookingId
                .is_not_null()
                .or(entity::inventory::Column::HeldBy.is_not_null()),
        )
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(seat, booking)| seat.map(|s| (s, booking.is_some())))
        .collect())
}

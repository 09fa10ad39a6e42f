//! A performance's life after scheduling: publishing it (its inventory made, its
//! production's followers told) and cancelling it (every booking, ticket, waiting entry and
//! share with it, in one transaction).

use chrono::{DateTime, Utc};
use entity::enums::{PerformanceStatus, Role, SeatingMode};
use entity::{performance, venue};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use serde_json::json;

use super::{exclude_bookings, managed};
use crate::auth::{Caller, Staff};
use crate::db;
use crate::domain::audit::{self, Action};
use crate::domain::{allocations, now, shares, text, venues};
use crate::error::{AppError, AppResult};
use crate::ids::Kind;
use crate::realtime::{AvailabilityEvent, Realtime};

/// `publishPerformance`: DRAFT → PUBLISHED, creating one inventory row per seat or place;
/// the production's followers are notified in the same transaction.
pub async fn publish(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    caller: &Caller,
    id: i64,
) -> AppResult<performance::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let (perf, notified) = publish_as(conn, staff, id).await?;
    realtime.notified(&notified.0);
    Ok(perf)
}

/// Publishes as `staff` (also used by the demo loader); returns who was notified, for
/// [`Realtime::notified`] after the commit.
pub async fn publish_as(
    conn: &DatabaseConnection,
    staff: Staff,
    id: i64,
) -> AppResult<(performance::Model, crate::domain::notifications::Notified)> {
    let current = managed(conn, staff, id).await?;
    if current.status != PerformanceStatus::Draft {
        return Err(AppError::conflict(
            "only a DRAFT performance can be published",
        ));
    }
    let venue = db::found(venues::find(conn, current.venue_id).await?, "venue")?;
    crate::write_txn!(conn, |txn| {
        let now = now();
        let opens = current.booking_opens_at.unwrap_or(now);
        let changed = performance::Entity::update_many()
            .col_expr(
                performance::Column::Status,
                Expr::value(PerformanceStatus::Published),
            )
            .col_expr(performance::Column::PublishedAt, Expr::value(now))
            .col_expr(performance::Column::BookingOpensAt, Expr::value(opens))
            .col_expr(performance::Column::Capacity, Expr::value(venue.capacity))
            .col_expr(
                performance::Column::LockVersion,
                Expr::col(performance::Column::LockVersion).add(1),
            )
            .filter(performance::Column::Id.eq(id))
            .filter(performance::Column::Status.eq(PerformanceStatus::Draft))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::conflict(
                "only a DRAFT performance can be published",
            ));
        }
        create_inventory(txn, id, &venue).await?;
        // The venue may have changed size since the session was scheduled.
        shares::set_pools(txn, id, venue.capacity, None)
            .await
            .map_err(|err| match err {
                AppError::BadInput { message, .. } => AppError::conflict(message),
                other => other,
            })?;
        audit::record(
            txn,
            staff,
            Action::PerformancePublish,
            (Kind::Performance, id),
            json!({}),
        )
        .await?;
        let published = db::found(
            performance::Entity::find_by_id(id).one(txn).await?,
            "performance",
        )?;
        let notified = crate::domain::productions::published(txn, &published).await?;
        Ok((published, notified))
    })
}

/// One inventory row per seat (numbered in preference order: section, row from the stage,
/// seat) or per general-admission place, made by a single INSERT … SELECT.
async fn create_inventory(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    venue: &venue::Model,
) -> AppResult<()> {
    let backend = conn.get_database_backend();
    let sql = match venue.seating {
        SeatingMode::Reserved => {
            "INSERT INTO inventory (performance_id, seat_id, place_no) \
             SELECT $1, id, ROW_NUMBER() OVER (ORDER BY section_order, row_rank, number) \
             FROM seat WHERE venue_id = $2"
        }
        SeatingMode::GeneralAdmission => {
            "INSERT INTO inventory (performance_id, seat_id, place_no) \
             WITH RECURSIVE places(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM places WHERE n < $2) \
             SELECT $1, NULL, n FROM places"
        }
    };
    let second = match venue.seating {
        SeatingMode::Reserved => venue.id,
        SeatingMode::GeneralAdmission => i64::from(venue.capacity),
    };
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [performance_id.into(), second.into()],
    ))
    .await?;
    Ok(())
}

/// `cancelPerformance`: cancels it with every booking and ticket in one transaction, frees
/// its allocation slot, notifies the holders of its bookings (`PERFORMANCE_CANCELLED`, in
/// the same transaction), and tells subscribers.
pub async fn cancel(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    caller: &Caller,
    id: i64,
    reason: &str,
) -> AppResult<performance::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let reason = text("reason", reason, 2000)?;
    let current = managed(conn, staff, id).await?;
    if current.status == PerformanceStatus::Cancelled {
        return Err(AppError::conflict("the performance is already cancelled"));
    }
    let (cancelled, notified) = crate::write_txn!(conn, |txn| {
        exclude_bookings(txn, id).await?;
        let now = now();
        let changed = performance::Entity::update_many()
            .col_expr(
                performance::Column::Status,
                Expr::value(PerformanceStatus::Cancelled),
            )
            .col_expr(performance::Column::CancelledAt, Expr::value(now))
            .col_expr(
                performance::Column::CancellationReason,
                Expr::value(reason.clone()),
            )
            .col_expr(
                performance::Column::LockVersion,
                Expr::col(performance::Column::LockVersion).add(1),
            )
            .filter(performance::Column::Id.eq(id))
            .filter(performance::Column::Status.ne(PerformanceStatus::Cancelled))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::conflict("the performance is already cancelled"));
        }
        // Before the bookings are cancelled: their holders are who is told.
        let mut notified = crate::domain::notifications::cancelled(txn, &current, &reason).await?;
        notified.extend(crate::domain::waitlist::cancel_all(txn, &current, &reason, now).await?);
        cancel_all_bookings(txn, id, now).await?;
        if let Some(allocation_id) = current.allocation_id {
            allocations::release_slot(txn, allocation_id).await?;
        }
        audit::record(
            txn,
            staff,
            Action::PerformanceCancel,
            (Kind::Performance, id),
            json!({ "reason": reason }),
        )
        .await?;
        let cancelled = db::found(
            performance::Entity::find_by_id(id).one(txn).await?,
            "performance",
        )?;
        Ok((cancelled, notified))
    })?;
    realtime.notified(&notified.0);
    realtime.publish(AvailabilityEvent::whole(id)).await;
    Ok(cancelled)
}

async fn cancel_all_bookings(
    conn: &impl ConnectionTrait,
    performance_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let backend = conn.get_database_backend();
    let run = |sql: &'static str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(backend, sql, values)
    };
    conn.execute_raw(run(
        "UPDATE ticket SET status = 'CANCELLED' WHERE performance_id = $1 AND status <> 'CANCELLED'",
        vec![performance_id.into()],
    ))
    .await?;
    conn.execute_raw(run(
        "UPDATE booking SET status = 'CANCELLED', cancelled_at = $2 WHERE performance_id = $1 AND status = 'CONFIRMED'",
        vec![performance_id.into(), now.into()],
    ))
    .await?;
    conn.execute_raw(run(
        "UPDATE inventory SET booking_id = NULL WHERE performance_id = $1 AND booking_id IS NOT NULL",
        vec![performance_id.into()],
    ))
    .await?;
    conn.execute_raw(run(
        "DELETE FROM resident_hold WHERE performance_id = $1",
        vec![performance_id.into()],
    ))
    .await?;
    shares::clear(conn, performance_id).await?;
    Ok(())
}

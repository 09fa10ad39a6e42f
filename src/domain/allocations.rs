//! Seasonal allocations: "Jinshan sends Pinghu 2 productions a quarter".
//!
//! Either party proposes; only the other answers; only the proposer withdraws. Every state
//! change is a conditional `UPDATE … WHERE status = <expected>`, so two staff answering at
//! once on different instances cannot both succeed.

use entity::enums::{AllocationStatus, Role};
use entity::{center, seasonal_allocation as allocation};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::audit::{self, Action};
use super::now;
use super::season::Season;
use crate::auth::{Caller, Staff};
use crate::db::{self, violates};
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// A validated `proposeAllocation` input.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The quarter.
    pub season: Season,
    /// The center that sends productions.
    pub provider_center_id: i64,
    /// The center that hosts them.
    pub host_center_id: i64,
    /// How many exchange sessions.
    pub performance_quota: i32,
    /// Free text.
    pub note: Option<String>,
}

fn is_party(allocation: &allocation::Model, center_id: i64) -> bool {
    allocation.provider_center_id == center_id || allocation.host_center_id == center_id
}

/// Loads an allocation the caller may see (staff of either party); `NOT_FOUND` otherwise.
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<allocation::Model> {
    let center = caller.staff_center();
    let allocation = allocation::Entity::find_by_id(id).one(conn).await?;
    match (allocation, center) {
        (Some(a), Some(center)) if is_party(&a, center) => Ok(a),
        _ => Err(AppError::NotFound("seasonal allocation")),
    }
}

/// `proposeAllocation`.
pub async fn propose(
    conn: &DatabaseConnection,
    caller: &Caller,
    proposal: Proposal,
) -> AppResult<allocation::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    propose_as(conn, staff, proposal).await
}

/// Proposes as `staff` (also used by the demo loader).
pub async fn propose_as(
    conn: &DatabaseConnection,
    staff: Staff,
    p: Proposal,
) -> AppResult<allocation::Model> {
    if p.provider_center_id == p.host_center_id {
        return Err(AppError::bad_input(
            "hostCenterId",
            "the provider and the host must be different centers",
        ));
    }
    if staff.center_id != p.provider_center_id && staff.center_id != p.host_center_id {
        return Err(AppError::Forbidden(
            "staff propose allocations only where their own center is a party".to_owned(),
        ));
    }
    if !(1..=MAX_QUOTA).contains(&p.performance_quota) {
        return Err(AppError::bad_input(
            "performanceQuota",
            format!("the quota must be between 1 and {MAX_QUOTA}"),
        ));
    }
    for (field, id) in [
        ("providerCenterId", p.provider_center_id),
        ("hostCenterId", p.host_center_id),
    ] {
        if center::Entity::find_by_id(id).one(conn).await?.is_none() {
            return Err(AppError::bad_input(field, "no such center"));
        }
    }
    let note = match p.note.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(note) => Some(super::text("note", note, 2000)?),
    };
    crate::write_txn!(conn, |txn| {
        let proposed = allocation::ActiveModel {
            year: Set(p.season.year),
            quarter: Set(p.season.quarter as i32),
            provider_center_id: Set(p.provider_center_id),
            host_center_id: Set(p.host_center_id),
            proposed_by_center_id: Set(staff.center_id),
            performance_quota: Set(p.performance_quota),
            performances_scheduled: Set(0),
            status: Set(AllocationStatus::Proposed),
            note: Set(note.clone()),
            created_at: Set(now()),
            responded_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await
        .map_err(|err| {
            if violates(&err, "allocation_open_per_season_key") {
                AppError::conflict(
                    "an allocation between these centers for this season is already proposed or accepted",
                )
            } else {
                err.into()
            }
        })?;
        audit::record(txn, staff, Action::AllocationPropose, (Kind::SeasonalAllocation, proposed.id), json!({ "year": p.season.year, "quarter": p.season.quarter, "quota": p.performance_quota })).await?;
        Ok(proposed)
    })
}

/// `respondToAllocation`: only the party that did not propose answers, and only once.
pub async fn respond(
    conn: &DatabaseConnection,
    caller: &Caller,
    id: i64,
    accept: bool,
) -> AppResult<allocation::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    respond_as(conn, staff, caller, id, accept).await
}

/// Answers as `staff` (also used by the demo loader).
pub async fn respond_as(
    conn: &DatabaseConnection,
    staff: Staff,
    caller: &Caller,
    id: i64,
    accept: bool,
) -> AppResult<allocation::Model> {
    let current = visible(conn, caller, id).await?;
    if current.proposed_by_center_id == staff.center_id {
        return Err(AppError::Forbidden(
            "only the other party answers a proposal".to_owned(),
        ));
    }
    let (to, action) = if accept {
        (AllocationStatus::Accepted, Action::AllocationAccept)
    } else {
        (AllocationStatus::Declined, Action::AllocationDecline)
    };
    transition(
        conn,
        staff,
        action,
        id,
        &[AllocationStatus::Proposed],
        to,
        "only a PROPOSED allocation can be answered",
    )
    .await
}

/// `withdrawAllocation`: only the proposer, while it is proposed, or accepted with nothing
/// scheduled on it yet.
pub async fn withdraw(
    conn: &DatabaseConnection,
    caller: &Caller,
    id: i64,
) -> AppResult<allocation::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let current = visible(conn, caller, id).await?;
    if current.proposed_by_center_id != staff.center_id {
        return Err(AppError::Forbidden(
            "only the proposer withdraws an allocation".to_owned(),
        ));
    }
    crate::write_txn!(conn, |txn| {
        let changed = allocation::Entity::update_many()
            .col_expr(
                allocation::Column::Status,
                Expr::value(AllocationStatus::Withdrawn),
            )
            .col_expr(allocation::Column::RespondedAt, Expr::value(now()))
            .filter(allocation::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(allocation::Column::Status.eq(AllocationStatus::Proposed))
                    .add(
                        Condition::all()
                            .add(allocation::Column::Status.eq(AllocationStatus::Accepted))
                            .add(allocation::Column::PerformancesScheduled.eq(0)),
                    ),
            )
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::conflict(
                "only a proposed allocation, or an accepted one with no session scheduled, can be withdrawn",
            ));
        }
        audit::record(
            txn,
            staff,
            Action::AllocationWithdraw,
            (Kind::SeasonalAllocation, id),
            json!({}),
        )
        .await?;
        db::found(
            allocation::Entity::find_by_id(id).one(txn).await?,
            "seasonal allocation",
        )
    })
}

async fn transition(
    conn: &DatabaseConnection,
    staff: Staff,
    action: Action,
    id: i64,
    from: &[AllocationStatus],
    to: AllocationStatus,
    refusal: &str,
) -> AppResult<allocation::Model> {
    crate::write_txn!(conn, |txn| {
        let changed = allocation::Entity::update_many()
            .col_expr(allocation::Column::Status, Expr::value(to))
            .col_expr(allocation::Column::RespondedAt, Expr::value(now()))
            .filter(allocation::Column::Id.eq(id))
            .filter(allocation::Column::Status.is_in(from.iter().copied()))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::conflict(refusal));
        }
        audit::record(
            txn,
            staff,
            action,
            (Kind::SeasonalAllocation, id),
            json!({}),
        )
        .await?;
        db::found(
            allocation::Entity::find_by_id(id).one(txn).await?,
            "seasonal allocation",
        )
    })
}

/// The largest quota an allocation may have: more than 100 exchange sessions a quarter from
/// one center to another would be a second programme, not an exchange.
pub const MAX_QUOTA: i32 = 100;
/// The most rows `seasonalAllocations` returns (oldest first; filter by year for the rest):
/// fifty years of quarterly exchanges with a partner. It bounds what the list can cost a
/// request (see `graphql::limits`).
pub const MAX_LISTED: u64 = 200;
/// The most sessions `SeasonalAllocation.performances` lists: a full quota live, and as many
/// cancelled ones.
pub const MAX_SESSIONS_LISTED: u64 = 2 * MAX_QUOTA as u64;

/// `seasonalAllocations`: the caller's center's allocations, optionally of one season or
/// with one other center, oldest first, at most [`MAX_LISTED`].
pub async fn list(
    conn: &DatabaseConnection,
    caller: &Caller,
    year: Option<i32>,
    quarter: Option<i32>,
    center_id: Option<i64>,
) -> AppResult<Vec<allocation::Model>> {
    let staff = caller.staff(Role::Usher)?;
    let mut query = allocation::Entity::find().filter(
        Condition::any()
            .add(allocation::Column::ProviderCenterId.eq(staff.center_id))
            .add(allocation::Column::HostCenterId.eq(staff.center_id)),
    );
    if let Some(year) = year {
        query = query.filter(allocation::Column::Year.eq(year));
    }
    if let Some(quarter) = quarter {
        query = query.filter(allocation::Column::Quarter.eq(quarter));
    }
    if let Some(other) = center_id {
        query = query.filter(
            Condition::any()
                .add(allocation::Column::ProviderCenterId.eq(other))
                .add(allocation::Column::HostCenterId.eq(other)),
        );
    }
    Ok(query
        .order_by_asc(allocation::Column::Year)
        .order_by_asc(allocation::Column::Quarter)
        .order_by_asc(allocation::Column::Id)
        .limit(MAX_LISTED)
        .all(conn)
        .await?)
}

/// Takes one slot of an accepted allocation, in the caller's transaction. The conditional
/// `UPDATE` is the guard: under any number of concurrent schedulers on any number of
/// instances, at most `performance_quota` of them see a row changed.
pub async fn take_slot(conn: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let changed = allocation::Entity::update_many()
        .col_expr(
            allocation::Column::PerformancesScheduled,
            Expr::col(allocation::Column::PerformancesScheduled).add(1),
        )
        .filter(allocation::Column::Id.eq(id))
        .filter(allocation::Column::Status.eq(AllocationStatus::Accepted))
        .filter(
            Expr::col(allocation::Column::PerformancesScheduled)
                .lt(Expr::col(allocation::Column::PerformanceQuota)),
        )
        .exec(conn)
        .await?;
    if changed.rows_affected == 1 {
        return Ok(());
    }
    let current = db::found(
        allocation::Entity::find_by_id(id).one(conn).await?,
        "seasonal allocation",
    )?;
    if current.status != AllocationStatus::Accepted {
        Err(AppError::conflict(
            "exchange sessions can be scheduled only on an ACCEPTED allocation",
        ))
    } else {
        Err(AppError::QuotaExceeded(format!(
            "the allocation's {} sessions are all scheduled",
            current.performance_quota
        )))
    }
}

/// Gives a slot back (a linked performance was cancelled).
pub async fn release_slot(conn: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    allocation::Entity::update_many()
        .col_expr(
            allocation::Column::PerformancesScheduled,
            Expr::col(allocation::Column::PerformancesScheduled).sub(1),
        )
        .filter(allocation::Column::Id.eq(id))
        .filter(allocation::Column::PerformancesScheduled.gt(0))
        .exec(conn)
        .await?;
    Ok(())
}

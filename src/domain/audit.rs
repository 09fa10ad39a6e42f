//! The audit log (DOMAIN.md invariant 10): every staff action and every account change
//! writes one entry, in the transaction of the change, so an entry never exists without its
//! change and a change that rolls back leaves none. Recording is one line inside the domain
//! function's transaction:
//!
//! ```ignore
//! audit::record(txn, staff, Action::PerformancePublish, (Kind::Performance, id), json!({})).await?;
//! ```
//!
//! Entries are append-only: nothing here (or anywhere) updates or deletes them, and the
//! database refuses to (triggers, see the migration).

use entity::audit_entry;
use entity::enums::Role;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::Value;

use super::now;
use crate::auth::{Caller, Staff};
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// What was done. The names are stable: they are what `auditLog(action:)` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `createVenue`.
    VenueCreate,
    /// `schedulePerformance`.
    PerformanceSchedule,
    /// `updatePerformance`.
    PerformanceUpdate,
    /// `publishPerformance`.
    PerformancePublish,
    /// `cancelPerformance`.
    PerformanceCancel,
    /// `proposeAllocation`.
    AllocationPropose,
    /// `respondToAllocation(accept: true)`.
    AllocationAccept,
    /// `respondToAllocation(accept: false)`.
    AllocationDecline,
    /// `withdrawAllocation`.
    AllocationWithdraw,
    /// `checkInTicket`.
    TicketCheckIn,
    /// `createStaffAccount`, `zouqin create-account`, the demo loader's admins.
    AccountCreate,
    /// `registerResident`.
    AccountRegister,
    /// `setStaffRole`.
    AccountSetRole,
    /// `deactivateAccount`.
    AccountDeactivate,
    /// `updateMyProfile`.
    AccountUpdateProfile,
    /// `changePassword`.
    AccountChangePassword,
    /// `issuePasswordReset`.
    AccountIssuePasswordReset,
    /// `resetPassword`, and `zouqin reset-password`.
    AccountResetPassword,
    /// `excuseNoShow`.
    NoShowExcuse,
    /// `createProduction`.
    ProductionCreate,
}

impl Action {
    /// The action as stored and shown, e.g. `performance.publish`.
    pub fn name(self) -> &'static str {
        match self {
            Action::VenueCreate => "venue.create",
            Action::PerformanceSchedule => "performance.schedule",
            Action::PerformanceUpdate => "performance.update",
            Action::PerformancePublish => "performance.publish",
            Action::PerformanceCancel => "performance.cancel",
            Action::AllocationPropose => "allocation.propose",
            Action::AllocationAccept => "allocation.accept",
            Action::AllocationDecline => "allocation.decline",
            Action::AllocationWithdraw => "allocation.withdraw",
            Action::TicketCheckIn => "ticket.check_in",
            Action::AccountCreate => "account.create",
            Action::AccountRegister => "account.register",
            Action::AccountSetRole => "account.set_role",
            Action::AccountDeactivate => "account.deactivate",
            Action::AccountUpdateProfile => "account.update_profile",
            Action::AccountChangePassword => "account.change_password",
            Action::AccountIssuePasswordReset => "account.issue_password_reset",
            Action::AccountResetPassword => "account.reset_password",
            Action::NoShowExcuse => "no_show.excuse",
            Action::ProductionCreate => "production.create",
        }
    }
}

/// How the actor reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The GraphQL API.
    Api,
    /// The `zouqin` command line (`create-account`, `reset-password`).
    Cli,
    /// The demo loader (`seed-demo`, `serve --demo`).
    Demo,
}

/// Who acted, and whose log the entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The account that acted (None: the command line or the demo loader).
    pub account_id: Option<i64>,
    /// The center whose log gets the entry (None: a resident's own account change).
    pub center_id: Option<i64>,
    /// How.
    pub via: Via,
}

impl Actor {
    /// The operator at the command line (or the demo loader) acting on `center_id`'s log.
    pub fn operator(via: Via, center_id: Option<i64>) -> Self {
        Self {
            account_id: None,
            center_id,
            via,
        }
    }

    /// A signed-in account acting on its own (staff: its center's log; residents: none).
    pub fn account(account: &entity::account::Model) -> Self {
        Self {
            account_id: Some(account.id),
            center_id: if account.role == Role::Resident {
                None
            } else {
                account.center_id
            },
            via: Via::Api,
        }
    }
}

impl From<Staff> for Actor {
    fn from(staff: Staff) -> Self {
        Self {
            account_id: Some(staff.account_id),
            center_id: Some(staff.center_id),
            via: Via::Api,
        }
    }
}

impl From<&Staff> for Actor {
    fn from(staff: &Staff) -> Self {
        Self::from(*staff)
    }
}

/// Writes one entry, in the caller's transaction. `details` is a JSON object (or null);
/// entries made from the command line or the demo loader say so in `details.via`. Never
/// put a password or a token in `details`.
pub async fn record(
    conn: &impl ConnectionTrait,
    actor: impl Into<Actor>,
    action: Action,
    subject: (Kind, i64),
    details: Value,
) -> AppResult<audit_entry::Model> {
    let actor = actor.into();
    let mut details = details;
    let via = match actor.via {
        Via::Api => None,
        Via::Cli => Some("cli"),
        Via::Demo => Some("demo"),
    };
    if let Some(via) = via {
        match &mut details {
            Value::Object(map) => {
                map.insert("via".to_owned(), Value::from(via));
            }
            _ => details = serde_json::json!({ "via": via }),
        }
    }
    let details = match details {
        Value::Null => None,
        Value::Object(map) if map.is_empty() => None,
        other => Some(other.to_string()),
    };
    Ok(audit_entry::ActiveModel {
        at: Set(now()),
        actor_id: Set(actor.account_id),
        center_id: Set(actor.center_id),
        action: Set(action.name().to_owned()),
        subject_type: Set(Some(subject.0.name().to_owned())),
        subject_id: Set(Some(subject.1)),
        details: Set(details),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// The CENTER_ADMIN's center, whose log it may read; `FORBIDDEN` for anyone else.
fn reader(caller: &Caller) -> AppResult<i64> {
    Ok(caller.staff(Role::CenterAdmin)?.center_id)
}

/// `auditLog`: the caller's center's entries, newest first, optionally of one action;
/// keyset pages by id. Returns the page, whether more follow, and the total when asked.
pub async fn page(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    action: Option<&str>,
    after_id: Option<i64>,
    first: u64,
    count: bool,
) -> AppResult<(Vec<audit_entry::Model>, bool, u64)> {
    let center_id = reader(caller)?;
    let mut query = audit_entry::Entity::find().filter(audit_entry::Column::CenterId.eq(center_id));
    if let Some(action) = action {
        query = query.filter(audit_entry::Column::Action.eq(action));
    }
    let total = if count {
        query.clone().count(conn).await?
    } else {
        0
    };
    if let Some(after) = after_id {
        query = query.filter(audit_entry::Column::Id.lt(after));
    }
    let (items, has_next) =
        super::catalog::page_of(conn, query.order_by_desc(audit_entry::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// One entry, for `node(id:)`: only its center's CENTER_ADMIN sees it; `NOT_FOUND` for
/// everyone else.
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<audit_entry::Model> {
    let entry = audit_entry::Entity::find_by_id(id).one(conn).await?;
    let center = caller
        .staff(Role::CenterAdmin)
        .ok()
        .map(|staff| staff.center_id);
    match entry {
        Some(entry) if center.is_some() && entry.center_id == center => Ok(entry),
        _ => Err(AppError::NotFound("audit entry")),
    }
}

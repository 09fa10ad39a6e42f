//! Checking tickets in at the door.

use chrono::Duration;
use entity::enums::{Role, TicketStatus};
use entity::{performance, ticket};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::audit::{self, Action};
use super::booking::normalise_code;
use super::now;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// A ticket by id, for its holder and its host center's staff (`node(id:)`): anonymous callers
/// are `UNAUTHENTICATED`, as for `ticket(code:)` and `booking(id:)`; anyone else `NOT_FOUND`.
pub async fn visible_ticket(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<ticket::Model> {
    caller.identity()?;
    let ticket = ticket::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    if super::booking::visible(conn, caller, ticket.booking_id)
        .await
        .is_ok()
    {
        return Ok(ticket);
    }
    if let Ok(staff) = caller.staff(Role::Usher) {
        let perf = performance::Entity::find_by_id(ticket.performance_id)
            .one(conn)
            .await?;
        if perf.is_some_and(|p| p.host_center_id == staff.center_id) {
            return Ok(ticket);
        }
    }
    Err(AppError::NotFound("ticket"))
}

/// A ticket of the caller's center's performance, by code (`NOT_FOUND` for any other).
pub async fn find_for_staff(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    code: &str,
) -> AppResult<(ticket::Model, performance::Model)> {
    let staff = caller.staff(Role::Usher)?;
    let code = normalise_code(code);
    let ticket = ticket::Entity::find()
        .filter(ticket::Column::Code.eq(code))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let perf = performance::Entity::find_by_id(ticket.performance_id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    if perf.host_center_id != staff.center_id {
        return Err(AppError::NotFound("ticket"));
    }
    Ok((ticket, perf))
}

/// `checkInTicket`: VALID → CHECKED_IN, once, by staff of the host center, from
/// `opens_before` before the start until the end.
pub async fn check_in(
    conn: &DatabaseConnection,
    caller: &Caller,
    code: &str,
    opens_before: Duration,
) -> AppResult<ticket::Model> {
    let staff = caller.staff(Role::Usher)?;
    let (ticket, perf) = find_for_staff(conn, caller, code).await?;
    match ticket.status {
        TicketStatus::Cancelled => return Err(AppError::conflict("the ticket is cancelled")),
        TicketStatus::CheckedIn => {
            return Err(AppError::AlreadyCheckedIn {
                checked_in_at: ticket.checked_in_at.unwrap_or_else(now),
            });
        }
        TicketStatus::NoShow => return Err(AppError::conflict("the performance is over")),
        TicketStatus::Valid => {}
    }
    let now = now();
    if now < perf.starts_at - opens_before {
        return Err(AppError::conflict(format!(
            "check-in opens at {}",
            (perf.starts_at - opens_before).to_rfc3339()
        )));
    }
    if now >= perf.ends_at {
        return Err(AppError::conflict("the performance is over"));
    }
    // The conditional update is the guard: two ushers scanning at once, on any instances,
    // change the row once; the other sees ALREADY_CHECKED_IN.
    let (changed, current) = crate::write_txn!(conn, |txn| {
        let changed = ticket::Entity::update_many()
            .col_expr(ticket::Column::Status, Expr::value(TicketStatus::CheckedIn))
            .col_expr(ticket::Column::CheckedInAt, Expr::value(now))
            .col_expr(ticket::Column::CheckedInBy, Expr::value(staff.account_id))
            .filter(ticket::Column::Id.eq(ticket.id))
            .filter(ticket::Column::Status.eq(TicketStatus::Valid))
            .exec(txn)
            .await?;
        if changed.rows_affected == 1 {
            audit::record(
                txn,
                staff,
                Action::TicketCheckIn,
                (Kind::Ticket, ticket.id),
                json!({ "performanceId": crate::ids::encode(Kind::Performance, perf.id) }),
            )
            .await?;
        }
        let current = ticket::Entity::find_by_id(ticket.id)
            .one(txn)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        Ok((changed.rows_affected == 1, current))
    })?;
    if changed {
        return Ok(current);
    }
    match current.status {
        TicketStatus::CheckedIn => Err(AppError::AlreadyCheckedIn {
            checked_in_at: current.checked_in_at.unwrap_or(now),
        }),
        _ => Err(AppError::conflict("the ticket is cancelled")),
    }
}

/// The ticket code as a QR image (SVG markup, without an XML prolog so a page can inline
/// it): what the door's camera reads. Medium error correction survives a scuffed phone
/// screen; the four-module quiet zone the standard asks for is kept.
pub fn qr_svg(code: &str) -> AppResult<String> {
    use qrcode::render::svg;
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(format!("QR of a ticket code: {e}")))?;
    let markup = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(match markup.find("<svg") {
        Some(start) => markup[start..].to_owned(),
        None => markup,
    })
}

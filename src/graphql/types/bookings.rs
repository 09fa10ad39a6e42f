//! A resident's bookings and their tickets.

use async_graphql::{Context, ID, Object};
use entity::{booking, ticket};

use super::super::loaders::TicketsOf;
use super::*;

/// One resident's order of tickets for one performance.
pub struct Booking(pub booking::Model);

#[Object]
impl Booking {
    pub(crate) async fn id(&self) -> ID {
        ID(encode(Kind::Booking, self.0.id))
    }
    async fn performance(&self, ctx: &Context<'_>) -> async_graphql::Result<Performance> {
        Ok(load_performance(ctx, self.0.performance_id).await?)
    }
    async fn status(&self) -> BookingStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> GqlDateTime {
        local(self.0.created_at)
    }
    async fn cancelled_at(&self) -> Option<GqlDateTime> {
        self.0.cancelled_at.map(local)
    }
    /// The idempotency key the booking was made with.
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }
    async fn tickets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Ticket>> {
        Ok(loader(ctx)?
            .load_one(TicketsOf(self.0.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default()
            .into_iter()
            .map(Ticket)
            .collect())
    }
    async fn holder(&self, ctx: &Context<'_>) -> async_graphql::Result<Account> {
        Ok(loader(ctx)?
            .load_one(AccountId(self.0.account_id))
            .await
            .map_err(AppError::from)?
            .map(Account::from)
            .ok_or(AppError::Internal("account missing".to_owned()))?)
    }
    /// Whether the seats are adjacent in one row (always true for explicit seats and for
    /// general admission).
    async fn seats_together(&self) -> bool {
        self.0.seats_together
    }
    /// When this booking counted as a no-show of its holder (the end of its performance;
    /// null when it did not: a ticket was checked in, or it was cancelled, or the
    /// performance has not ended).
    async fn no_show_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<GqlDateTime>> {
        Ok(crate::graphql::ledger::no_show_of(ctx, self.0.id)
            .await?
            .map(|n| local(n.at)))
    }
    /// When the host center excused this no-show (it then no longer counts).
    async fn no_show_excused_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<GqlDateTime>> {
        Ok(crate::graphql::ledger::no_show_of(ctx, self.0.id)
            .await?
            .and_then(|n| n.excused_at)
            .map(local))
    }
}

/// Admission for one seat or place.
pub struct Ticket(pub ticket::Model);

#[Object]
impl Ticket {
    pub(crate) async fn id(&self) -> ID {
        ID(encode(Kind::Ticket, self.0.id))
    }
    /// The code to show at the door (QR or typed).
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn seat(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Seat>> {
        match self.0.seat_id {
            Some(id) => Ok(loader(ctx)?
                .load_one(SeatId(id))
                .await
                .map_err(AppError::from)?
                .map(Seat)),
            None => Ok(None),
        }
    }
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }
    async fn checked_in_at(&self) -> Option<GqlDateTime> {
        self.0.checked_in_at.map(local)
    }
    /// The code as a QR image (SVG markup, no XML prolog), for any frontend to show.
    async fn qr_svg(&self) -> async_graphql::Result<String> {
        Ok(crate::domain::checkin::qr_svg(&self.0.code)?)
    }
    async fn performance(&self, ctx: &Context<'_>) -> async_graphql::Result<Performance> {
        Ok(load_performance(ctx, self.0.performance_id).await?)
    }
}

//! The waiting list as the API shows it (the rules are in [`crate::domain::waitlist`]).

use super::reads;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use entity::enums;
use entity::waitlist_entry;

use super::types::{
    Account, Booking, ConnectionTotal, GqlDateTime, Performance, Seat, id_connection, local,
    parse_id_cursor,
};
use super::{caller, page_size, services};
use crate::domain::waitlist;
use crate::error::AppError;
use crate::ids::{Kind, decode, encode};

/// Where a waiting-list entry stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WaitlistStatus {
    /// In the queue.
    Waiting,
    /// Seats are held for it until `offerExpiresAt`.
    Offered,
    /// The offer was accepted.
    Booked,
    /// The holder declined the offer.
    Declined,
    /// The offer ran out, or booking closed while it waited.
    Expired,
    /// The holder left, or booked the performance directly.
    Left,
    /// The performance was cancelled, or the entry no longer fits the holder's limit.
    Cancelled,
}

impl From<enums::WaitlistStatus> for WaitlistStatus {
    fn from(s: enums::WaitlistStatus) -> Self {
        match s {
            enums::WaitlistStatus::Waiting => Self::Waiting,
            enums::WaitlistStatus::Offered => Self::Offered,
            enums::WaitlistStatus::Booked => Self::Booked,
            enums::WaitlistStatus::Declined => Self::Declined,
            enums::WaitlistStatus::Expired => Self::Expired,
            enums::WaitlistStatus::Left => Self::Left,
            enums::WaitlistStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// A resident waiting for seats of a sold-out performance.
pub struct WaitlistEntry(pub waitlist_entry::Model);

#[Object]
impl WaitlistEntry {
    /// Its global id.
    pub async fn id(&self) -> ID {
        ID(encode(Kind::WaitlistEntry, self.0.id))
    }
    async fn performance(&self, ctx: &Context<'_>) -> async_graphql::Result<Performance> {
        Ok(super::types::load_performance(ctx, self.0.performance_id).await?)
    }
    async fn holder(&self, ctx: &Context<'_>) -> async_graphql::Result<Account> {
        use sea_orm::EntityTrait;
        let account = entity::account::Entity::find_by_id(self.0.account_id)
            .one(reads(ctx)?)
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::Internal("account missing".to_owned()))?;
        Ok(Account::from(account))
    }
    /// Seats wanted (a party).
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn status(&self) -> WaitlistStatus {
        self.0.status.into()
    }
    /// 1-based among the performance's WAITING entries; null otherwise.
    async fn position(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        Ok(waitlist::position(reads(ctx)?, &self.0).await?)
    }
    /// The seats held for an open offer (empty otherwise, and for general admission).
    async fn offered_seats(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Seat>> {
        if self.0.status != enums::WaitlistStatus::Offered {
            return Ok(Vec::new());
        }
        Ok(waitlist::offered_seats(reads(ctx)?, self.0.id)
            .await?
            .into_iter()
            .map(Seat)
            .collect())
    }
    /// Until when an open offer holds its seats.
    async fn offer_expires_at(&self) -> Option<GqlDateTime> {
        (self.0.status == enums::WaitlistStatus::Offered)
            .then_some(self.0.offer_expires_at)
            .flatten()
            .map(local)
    }
    /// The booking an accepted offer became.
    async fn booking(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Booking>> {
        use sea_orm::EntityTrait;
        let Some(id) = self.0.booking_id else {
            return Ok(None);
        };
        Ok(entity::booking::Entity::find_by_id(id)
            .one(reads(ctx)?)
            .await
            .map_err(AppError::from)?
            .map(Booking))
    }
    async fn created_at(&self) -> GqlDateTime {
        local(self.0.created_at)
    }
}

/// A page of waiting-list entries.
pub type WaitlistEntryConnection = Connection<String, WaitlistEntry, ConnectionTotal, EmptyFields>;

/// `joinWaitlist` input.
#[derive(InputObject)]
pub struct JoinWaitlistInput {
    /// The performance.
    pub performance_id: ID,
    /// Seats wanted, together as one party.
    pub quantity: i32,
}

fn connection(
    rows: Vec<waitlist_entry::Model>,
    after: bool,
    has_next: bool,
    total: u64,
) -> WaitlistEntryConnection {
    id_connection("W", rows, after, has_next, total, |e| e.id, WaitlistEntry)
}

/// Waiting-list queries.
#[derive(Default)]
pub struct WaitlistQuery;

#[Object]
impl WaitlistQuery {
    /// The signed-in resident's entries, newest first.
    async fn my_waitlist(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WaitlistEntryConnection> {
        let account = caller(ctx).identity()?.account_id;
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("W", "after", c))
            .transpose()?;
        let (rows, has_next, total) =
            waitlist::page(reads(ctx)?, Some(account), None, after_id, first).await?;
        Ok(connection(rows, after_id.is_some(), has_next, total))
    }

    /// A performance's entries in joining order (the host center's SCHEDULER and up).
    async fn performance_waitlist(
        &self,
        ctx: &Context<'_>,
        performance_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WaitlistEntryConnection> {
        let id = decode(Kind::Performance, &performance_id)?;
        let db = reads(ctx)?;
        waitlist::for_performance(db, caller(ctx), id).await?;
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("W", "after", c))
            .transpose()?;
        let (rows, has_next, total) = waitlist::page(db, None, Some(id), after_id, first).await?;
        Ok(connection(rows, after_id.is_some(), has_next, total))
    }
}

/// Waiting-list mutations.
#[derive(Default)]
pub struct WaitlistMutation;

#[Object]
impl WaitlistMutation {
    /// Waits for `quantity` seats of a performance that cannot be booked now.
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        input: JoinWaitlistInput,
    ) -> async_graphql::Result<WaitlistEntry> {
        let caller = caller(ctx);
        caller.resident()?;
        let id = decode(Kind::Performance, &input.performance_id)?;
        let s = services(ctx)?;
        Ok(WaitlistEntry(
            waitlist::join(&s.db, &s.realtime, &s.bookings, caller, id, input.quantity).await?,
        ))
    }

    /// Leaves the waiting list (an open offer's seats pass on).
    async fn leave_waitlist(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WaitlistEntry> {
        let id = decode(Kind::WaitlistEntry, &id)?;
        let s = services(ctx)?;
        Ok(WaitlistEntry(
            waitlist::leave(&s.db, &s.realtime, &s.bookings, caller(ctx), id).await?,
        ))
    }

    /// Books exactly the offered seats.
    async fn accept_waitlist_offer(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Booking> {
        let id = decode(Kind::WaitlistEntry, &id)?;
        let s = services(ctx)?;
        Ok(Booking(
            waitlist::accept(&s.db, &s.realtime, &s.bookings, caller(ctx), id).await?,
        ))
    }

    /// Turns an offer down; its seats pass on.
    async fn decline_waitlist_offer(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WaitlistEntry> {
        let id = decode(Kind::WaitlistEntry, &id)?;
        let s = services(ctx)?;
        Ok(WaitlistEntry(
            waitlist::decline(&s.db, &s.realtime, &s.bookings, caller(ctx), id).await?,
        ))
    }
}

/// `Performance.waitlistLength`.
pub(super) async fn length(ctx: &Context<'_>, performance_id: i64) -> async_graphql::Result<i32> {
    Ok(waitlist::waiting_counts(reads(ctx)?, &[performance_id])
        .await?
        .get(&performance_id)
        .copied()
        .unwrap_or(0) as i32)
}

/// `Performance.viewerWaitlistEntry`.
pub(super) async fn viewer_entry(
    ctx: &Context<'_>,
    performance_id: i64,
) -> async_graphql::Result<Option<WaitlistEntry>> {
    Ok(
        waitlist::live_entry(reads(ctx)?, caller(ctx), performance_id)
            .await?
            .map(WaitlistEntry),
    )
}

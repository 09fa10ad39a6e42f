//! The exchange ledger: `excuseNoShow`, an account's no-show standing, and the quarterly
//! `exchangeReport`.

use super::report_reads;
use async_graphql::{Context, ID, Object};
use entity::{account, no_show};

use super::loaders::{CenterId, NoShowOf, NoShowStanding};
use super::types::{Booking, Center, Season, SeasonalAllocation, load_center};
use super::{caller, loader, services};
use crate::domain::exchange_report::{self, Period};
use crate::domain::no_shows::{self, Standing};
use crate::domain::now;
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, decode};

/// An account's no-show standing, for the account itself (`owner`: the response goes to
/// it, as after `login`) and for staff of any center (the record is shared by every center);
/// anyone else is `FORBIDDEN` (no such caller can reach another resident's account today:
/// `Booking.holder` shows residents only themselves).
pub(super) async fn standing(
    ctx: &Context<'_>,
    account: &account::Model,
    owner: bool,
) -> AppResult<Standing> {
    let caller = caller(ctx);
    if !owner && caller.account_id() != Some(account.id) && caller.staff_center().is_none() {
        return Err(AppError::Forbidden(
            "only the account itself and staff see its no-shows".to_owned(),
        ));
    }
    let window_days = services(ctx)?.settings.no_shows.window_days;
    Ok(loader(ctx)?
        .load_one(NoShowStanding {
            account_id: account.id,
            window_days,
        })
        .await?
        .unwrap_or_default())
}

/// A booking's no-show record, if it has one.
pub(super) async fn no_show_of(
    ctx: &Context<'_>,
    booking_id: i64,
) -> AppResult<Option<no_show::Model>> {
    Ok(loader(ctx)?.load_one(NoShowOf(booking_id)).await?)
}

/// Ledger queries.
#[derive(Default)]
pub struct LedgerQuery;

#[Object]
impl LedgerQuery {
    /// The exchange report of a year, or of one quarter: one row per quarter and provider →
    /// host pair with exchange sessions (origin ≠ host), for the staff of a center of the
    /// pair (any staff role). Counted from the sessions, bookings and tickets themselves.
    async fn exchange_report(
        &self,
        ctx: &Context<'_>,
        year: i32,
        quarter: Option<i32>,
    ) -> async_graphql::Result<Vec<ExchangeReport>> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::Usher)?;
        let period = Period::new(year, quarter)?;
        let rows = exchange_report::report(report_reads(ctx).await?, caller, period, now()).await?;
        exchange_report::check_size(&rows)?;
        Ok(rows.into_iter().map(ExchangeReport).collect())
    }
}

/// Ledger mutations.
#[derive(Default)]
pub struct LedgerMutation;

#[Object]
impl LedgerMutation {
    /// The host center's SCHEDULER or CENTER_ADMIN excuses a no-show: it no longer counts
    /// toward its holder's suspension (a suspension it caused is lifted).
    async fn excuse_no_show(
        &self,
        ctx: &Context<'_>,
        booking_id: ID,
        reason: String,
    ) -> async_graphql::Result<Booking> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::Scheduler)?;
        let id = decode(Kind::Booking, &booking_id)?;
        let services = services(ctx)?;
        let policy = services.settings.no_shows.policy();
        Ok(Booking(
            no_shows::excuse(&services.db, &policy, caller, id, &reason, now()).await?,
        ))
    }
}

/// One quarter of one provider → host pair of the exchange.
pub struct ExchangeReport(pub exchange_report::Row);

#[Object]
impl ExchangeReport {
    /// The quarter (sessions belong to it by the local date of their start).
    async fn season(&self) -> Season {
        self.0.season.into()
    }
    /// The center the productions come from.
    async fn provider_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.provider_center_id).await?)
    }
    /// The center that hosts them.
    async fn host_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.host_center_id).await?)
    }
    /// The ACCEPTED allocation of that quarter and pair, if any.
    async fn allocation(&self) -> Option<SeasonalAllocation> {
        self.0.allocation.clone().map(SeasonalAllocation)
    }
    /// Published or cancelled exchange sessions (held + cancelled + those still to come).
    async fn sessions_scheduled(&self) -> i32 {
        self.0.sessions_scheduled as i32
    }
    /// Published sessions that have ended.
    async fn sessions_held(&self) -> i32 {
        self.0.sessions_held as i32
    }
    /// Cancelled sessions.
    async fn sessions_cancelled(&self) -> i32 {
        self.0.sessions_cancelled as i32
    }
    /// The capacity of the published sessions.
    async fn seats_offered(&self) -> i32 {
        self.0.seats_offered as i32
    }
    /// Their tickets that are not cancelled (valid, checked in or no-show).
    async fn tickets_sold(&self) -> i32 {
        self.0.tickets_sold as i32
    }
    /// Checked-in tickets.
    async fn attendances(&self) -> i32 {
        self.0.attendances as i32
    }
    /// Tickets nobody came with (NO_SHOW), excused or not.
    async fn no_shows(&self) -> i32 {
        self.0.no_shows as i32
    }
    /// Tickets and attendances by the holder's home center when the ticket was issued (a
    /// resident who moves later does not carry past tickets along), by center.
    async fn by_home_center(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<HomeCenterCount>> {
        Ok(home_center_counts(ctx, &self.0.by_home_center).await?)
    }
}

/// A row's home-center entries with their centers, looked up in one batch rather than one
/// by one per entry (a year of a center's pairs has thousands of entries at culture-cloud
/// size).
async fn home_center_counts(
    ctx: &Context<'_>,
    counts: &[exchange_report::HomeCenterCount],
) -> AppResult<Vec<HomeCenterCount>> {
    let mut centers = loader(ctx)?
        .load_many(counts.iter().map(|h| CenterId(h.center_id)))
        .await?;
    let mut out = Vec::with_capacity(counts.len());
    for count in counts {
        let center = centers
            .remove(&CenterId(count.center_id))
            .ok_or_else(|| AppError::Internal(format!("center {} missing", count.center_id)))?;
        out.push(HomeCenterCount(*count, Center(center)));
    }
    Ok(out)
}

/// Tickets and attendances of one home center's residents.
pub struct HomeCenterCount(pub exchange_report::HomeCenterCount, Center);

#[Object]
impl HomeCenterCount {
    /// The holders' home center.
    async fn center(&self) -> &Center {
        &self.1
    }
    /// Tickets sold to its residents.
    async fn tickets(&self) -> i32 {
        self.0.tickets as i32
    }
    /// Those that were checked in.
    async fn attendances(&self) -> i32 {
        self.0.attendances as i32
    }
}

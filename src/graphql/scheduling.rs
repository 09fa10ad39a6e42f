//! Staff scheduling: venues and performances.

use async_graphql::{Context, ID, InputObject, Object};

use super::types::{GqlDateTime, Performance, PerformanceCategory, SeatingMode, Venue, VenueKind};
use super::{caller, services};
use crate::domain::scheduling::{self, NewPerformance, PerformanceChanges};
use crate::domain::shares::ShareInput;
use crate::domain::venues::{self, NewVenue, RowSpec, SectionSpec};
use crate::error::AppError;
use crate::ids::{Kind, decode};

/// A section of a reserved venue.
#[derive(InputObject)]
pub struct SectionInput {
    /// Name as staff call it ("Stalls", "池座").
    pub name: String,
    /// Rows, nearest the stage first.
    pub rows: Vec<RowInput>,
}

/// A row of a section.
#[derive(InputObject)]
pub struct RowInput {
    /// Label ("5", "A").
    pub label: String,
    /// Seats, numbered from 1.
    pub seats: i32,
    /// Numbers of accessible seats.
    pub accessible_seats: Option<Vec<i32>>,
}

/// `createVenue` input.
#[derive(InputObject)]
pub struct CreateVenueInput {
    /// Unique within the center.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Kind of place.
    pub kind: VenueKind,
    /// Seating mode.
    pub seating: SeatingMode,
    /// For GENERAL_ADMISSION.
    pub capacity: Option<i32>,
    /// For RESERVED.
    pub sections: Option<Vec<SectionInput>>,
    /// Other centers that may also host performances here (a venue both sides share).
    pub shared_with_center_ids: Option<Vec<ID>>,
}

/// `schedulePerformance` input.
#[derive(InputObject)]
pub struct SchedulePerformanceInput {
    /// Venue (your center's, or one shared with it).
    pub venue_id: ID,
    /// The production it stages; without one, a production is made from the title,
    /// description and category.
    pub production_id: Option<ID>,
    /// Title (default: the production's; required without `productionId`).
    pub title: Option<String>,
    /// Description (default: the production's).
    pub description: Option<String>,
    /// Category (default: the production's; required without `productionId`).
    pub category: Option<PerformanceCategory>,
    /// Start.
    pub starts_at: GqlDateTime,
    /// End (after the start).
    pub ends_at: GqlDateTime,
    /// Price in cents (default 0: free).
    pub price_cents: Option<i32>,
    /// Tickets one resident may hold (default 4).
    pub per_resident_limit: Option<i32>,
    /// Booking opens (default: at publication).
    pub booking_opens_at: Option<GqlDateTime>,
    /// Booking closes (default and latest: the start).
    pub booking_closes_at: Option<GqlDateTime>,
    /// Whose production (default: the production's, else yours, or the allocation's
    /// provider).
    pub origin_center_id: Option<ID>,
    /// The seasonal allocation this exchange session counts against.
    pub allocation_id: Option<ID>,
    /// Seats kept for residents of given home centers until `sharesReleaseAt` (their sum
    /// at most the capacity).
    pub seat_shares: Option<Vec<SeatShareInput>>,
    /// When the shares open to all (default: 48 hours before the start; never after the
    /// booking window closes).
    pub shares_release_at: Option<GqlDateTime>,
}

/// A seat share: this many seats kept for residents of this home center.
#[derive(InputObject)]
pub struct SeatShareInput {
    /// The home center.
    pub center_id: ID,
    /// How many seats (0 removes the share).
    pub seats: i32,
}

fn shares_input(input: Option<Vec<SeatShareInput>>) -> Result<Option<Vec<ShareInput>>, AppError> {
    input
        .map(|list| {
            list.into_iter()
                .map(|share| {
                    Ok(ShareInput {
                        center_id: id_field(Kind::Center, "seatShares", &share.center_id)?,
                        seats: share.seats,
                    })
                })
                .collect()
        })
        .transpose()
}

/// `updatePerformance` input; absent fields keep their value.
#[derive(InputObject)]
pub struct UpdatePerformanceInput {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Start.
    pub starts_at: Option<GqlDateTime>,
    /// End.
    pub ends_at: Option<GqlDateTime>,
    /// Price in cents.
    pub price_cents: Option<i32>,
    /// Per-resident limit.
    pub per_resident_limit: Option<i32>,
    /// Booking opens.
    pub booking_opens_at: Option<GqlDateTime>,
    /// Booking closes.
    pub booking_closes_at: Option<GqlDateTime>,
    /// The seat shares, replacing the current ones (`[]`: none). A share never goes below
    /// what it has already sold.
    pub seat_shares: Option<Vec<SeatShareInput>>,
    /// When the shares open to all.
    pub shares_release_at: Option<GqlDateTime>,
}

fn id_field(kind: Kind, field: &str, id: &ID) -> Result<i64, AppError> {
    decode(kind, id).map_err(|_| AppError::bad_input(field, format!("not a {} id", kind.name())))
}

/// Scheduling mutations.
#[derive(Default)]
pub struct SchedulingMutation;

#[Object]
impl SchedulingMutation {
    /// Adds a venue to the caller's center.
    async fn create_venue(
        &self,
        ctx: &Context<'_>,
        input: CreateVenueInput,
    ) -> async_graphql::Result<Venue> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::Scheduler)?;
        let sections = input.sections.map(|sections| {
            sections
                .into_iter()
                .map(|s| SectionSpec {
                    name: s.name,
                    rows: s
                        .rows
                        .into_iter()
                        .map(|r| RowSpec {
                            label: r.label,
                            seats: r.seats,
                            accessible: r.accessible_seats.unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect()
        });
        let shared = input
            .shared_with_center_ids
            .unwrap_or_default()
            .iter()
            .map(|id| id_field(Kind::Center, "sharedWithCenterIds", id))
            .collect::<Result<Vec<_>, _>>()?;
        let venue = NewVenue::parse(
            &input.name,
            &input.address,
            input.kind.into(),
            input.seating.into(),
            input.capacity,
            sections,
            shared,
        )?;
        Ok(Venue(
            venues::create(&services(ctx)?.db, caller, venue).await?,
        ))
    }

    /// Creates a DRAFT performance hosted by the caller's center.
    async fn schedule_performance(
        &self,
        ctx: &Context<'_>,
        input: SchedulePerformanceInput,
    ) -> async_graphql::Result<Performance> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::Scheduler)?;
        // Shape first (BAD_USER_INPUT), then lookups (NOT_FOUND).
        let starts_at = input.starts_at.get("startsAt")?;
        let ends_at = input.ends_at.get("endsAt")?;
        let booking_opens_at = GqlDateTime::opt(&input.booking_opens_at, "bookingOpensAt")?;
        let booking_closes_at = GqlDateTime::opt(&input.booking_closes_at, "bookingClosesAt")?;
        let venue_id = decode(Kind::Venue, &input.venue_id)?;
        let origin_center_id = input
            .origin_center_id
            .as_ref()
            .map(|id| id_field(Kind::Center, "originCenterId", id))
            .transpose()?;
        let allocation_id = input
            .allocation_id
            .as_ref()
            .map(|id| decode(Kind::SeasonalAllocation, id))
            .transpose()?;
        let production_id = input
            .production_id
            .as_ref()
            .map(|id| decode(Kind::Production, id))
            .transpose()?;
        let perf = scheduling::schedule(
            &services(ctx)?.db,
            caller,
            NewPerformance {
                venue_id,
                production_id,
                title: input.title,
                description: input.description,
                category: input.category.map(Into::into),
                starts_at,
                ends_at,
                price_cents: input.price_cents,
                per_resident_limit: input.per_resident_limit,
                booking_opens_at,
                booking_closes_at,
                origin_center_id,
                allocation_id,
                seat_shares: shares_input(input.seat_shares)?.unwrap_or_default(),
                shares_release_at: GqlDateTime::opt(&input.shares_release_at, "sharesReleaseAt")?,
            },
        )
        .await?;
        Ok(Performance(perf))
    }

    /// Changes a performance; the whole of it is validated again.
    async fn update_performance(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePerformanceInput,
    ) -> async_graphql::Result<Performance> {
        let id = decode(Kind::Performance, &id)?;
        let services = services(ctx)?;
        let perf = scheduling::update(
            &services.db,
            &services.realtime,
            services.bookings.waitlist_policy(),
            caller(ctx),
            id,
            PerformanceChanges {
                title: input.title,
                description: input.description,
                starts_at: GqlDateTime::opt(&input.starts_at, "startsAt")?,
                ends_at: GqlDateTime::opt(&input.ends_at, "endsAt")?,
                price_cents: input.price_cents,
                per_resident_limit: input.per_resident_limit,
                booking_opens_at: GqlDateTime::opt(&input.booking_opens_at, "bookingOpensAt")?,
                booking_closes_at: GqlDateTime::opt(&input.booking_closes_at, "bookingClosesAt")?,
                seat_shares: shares_input(input.seat_shares)?,
                shares_release_at: GqlDateTime::opt(&input.shares_release_at, "sharesReleaseAt")?,
            },
        )
        .await?;
        Ok(Performance(perf))
    }

    /// DRAFT → PUBLISHED: visible to all, bookable inside its window.
    async fn publish_performance(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Performance> {
        let id = decode(Kind::Performance, &id)?;
        let services = services(ctx)?;
        Ok(Performance(
            scheduling::publish(&services.db, &services.realtime, caller(ctx), id).await?,
        ))
    }

    /// Cancels a performance with all its bookings and tickets.
    async fn cancel_performance(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Performance> {
        let id = decode(Kind::Performance, &id)?;
        let services = services(ctx)?;
        Ok(Performance(
            scheduling::cancel(&services.db, &services.realtime, caller(ctx), id, &reason).await?,
        ))
    }
}

//! Output types. API types are not entities: each wraps a row and resolves the API's shape,
//! loading related rows through the request's DataLoader.

use super::reads;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, ID, Interface, Object, SimpleObject};
use entity::enums;
use entity::{account, center, performance, seasonal_allocation, seat, venue};

use super::loaders::{AccountId, CenterId, PerformanceId, SeatId, VenueId};
use super::shares::SeatShare;
use super::{caller, loader};
use crate::domain::season::Season as DomainSeason;
use crate::domain::{accounts, catalog};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, encode};

mod bookings;
mod datetime;

pub use bookings::{Booking, Ticket};
pub use datetime::{GqlDateTime, local};

macro_rules! remote_enum {
    ($name:ident, $remote:literal, $doc:literal, [$($variant:ident),+ $(,)?]) => {
        #[doc = $doc]
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        #[graphql(remote = $remote)]
        #[allow(missing_docs)]
        pub enum $name { $($variant),+ }
    };
}

remote_enum!(
    Role,
    "entity::enums::Role",
    "What an account may do.",
    [Resident, CenterAdmin, Scheduler, Usher]
);
remote_enum!(
    VenueKind,
    "entity::enums::VenueKind",
    "What kind of place a venue is.",
    [Theater, Hall, Gallery, Outdoor]
);
remote_enum!(
    SeatingMode,
    "entity::enums::SeatingMode",
    "How a venue's places are sold.",
    [Reserved, GeneralAdmission]
);
remote_enum!(
    PerformanceCategory,
    "entity::enums::PerformanceCategory",
    "What a performance is.",
    [
        Opera, Drama, Concert, Dance, Gala, Exhibition, Sport, Lecture, Other
    ]
);
remote_enum!(
    PerformanceStatus,
    "entity::enums::PerformanceStatus",
    "Where a performance is in its life.",
    [Draft, Published, Cancelled]
);
remote_enum!(
    AllocationStatus,
    "entity::enums::AllocationStatus",
    "Where a seasonal allocation is in its life.",
    [Proposed, Accepted, Declined, Withdrawn]
);
remote_enum!(
    BookingStatus,
    "entity::enums::BookingStatus",
    "Whether a booking stands.",
    [Confirmed, Cancelled]
);
remote_enum!(
    TicketStatus,
    "entity::enums::TicketStatus",
    "Where a ticket is in its life (NO_SHOW: still VALID when its performance ended).",
    [Valid, CheckedIn, Cancelled, NoShow]
);

/// Whether a seat can be booked.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SeatState {
    /// Free.
    Available,
    /// Held by a live ticket.
    Taken,
    /// Held for a waiting-list offer.
    Held,
}

impl SeatState {
    /// The state of a seat from [`crate::domain::booking::unavailable_seats`]'s answer.
    pub fn of(unavailable: Option<&bool>) -> Self {
        match unavailable {
            None => Self::Available,
            Some(true) => Self::Taken,
            Some(false) => Self::Held,
        }
    }
}

/// Anything with a global id; `node(id:)` resolves any of them.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    /// A center.
    Center(Center),
    /// An account.
    Account(Account),
    /// A venue.
    Venue(Venue),
    /// A seat.
    Seat(Seat),
    /// A performance.
    Performance(Performance),
    /// A seasonal allocation.
    SeasonalAllocation(SeasonalAllocation),
    /// A booking.
    Booking(Booking),
    /// A ticket.
    Ticket(Ticket),
    /// A waiting-list entry.
    WaitlistEntry(super::waitlist::WaitlistEntry),
    /// An audit log entry.
    AuditEntry(super::operations::AuditEntry),
    /// A production.
    Production(super::productions::Production),
    /// A notification.
    Notification(super::notifications::Notification),
}

pub(crate) async fn load_center(ctx: &Context<'_>, id: i64) -> AppResult<Center> {
    loader(ctx)?
        .load_one(CenterId(id))
        .await?
        .map(Center)
        .ok_or(AppError::Internal(format!("center {id} missing")))
}

/// The performance `id` of something the caller sees (a booking, a ticket, a waiting
/// entry), through the request's DataLoader.
pub(crate) async fn load_performance(ctx: &Context<'_>, id: i64) -> AppResult<Performance> {
    loader(ctx)?
        .load_one(PerformanceId(id))
        .await?
        .map(Performance)
        .ok_or(AppError::Internal(format!("performance {id} missing")))
}

/// A cultural center (文化馆).
pub struct Center(pub center::Model);

#[Object]
impl Center {
    async fn id(&self) -> ID {
        ID(encode(Kind::Center, self.0.id))
    }
    /// Short code: `pinghu`, `jinshan`, `jiashan`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Province-level region and city, e.g. "浙江省嘉兴市".
    async fn region(&self) -> &str {
        &self.0.region
    }
    /// Its venues, oldest first: at most 200 (`venues(centerId:)` pages through all).
    async fn venues(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Venue>> {
        let db = reads(ctx)?;
        let (venues, _, _) =
            catalog::venues(db, Some(self.0.id), None, catalog::MAX_CENTER_VENUES).await?;
        Ok(venues.into_iter().map(Venue).collect())
    }
    /// Performances hosted by this center, by start time.
    async fn performances(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<PerformanceConnection> {
        let filter = catalog::PerformanceFilter {
            host_center_id: Some(self.0.id),
            ..Default::default()
        };
        Ok(super::catalog::performance_page(ctx, filter, first, after, None, None).await?)
    }
}

/// A login.
pub struct Account(pub account::Model, pub EmailView);

/// How much of an account's email a response may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailView {
    /// Decide by the caller (whole for the account itself and its center's admin).
    ByCaller,
    /// Whole: the response goes to the account itself (login, registration, refresh).
    Owner,
}

impl From<account::Model> for Account {
    fn from(model: account::Model) -> Self {
        Self(model, EmailView::ByCaller)
    }
}

#[Object]
impl Account {
    async fn id(&self) -> ID {
        ID(encode(Kind::Account, self.0.id))
    }
    /// Shown whole to the account itself and to its own center's CENTER_ADMIN; masked
    /// (`x***@example.com`) to everyone else.
    async fn email(&self, ctx: &Context<'_>) -> String {
        if self.1 == EmailView::Owner || accounts::may_see_email(caller(ctx), &self.0) {
            self.0.email.clone()
        } else {
            accounts::mask_email(&self.0.email)
        }
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// False once deactivated: the account can no longer sign in.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// The staff member's center.
    async fn center(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Center>> {
        match self.0.center_id {
            Some(id) => Ok(Some(load_center(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// The resident's home center.
    async fn home_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Center>> {
        match self.0.home_center_id {
            Some(id) => Ok(Some(load_center(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// Unexcused no-shows in the last `ZOUQIN_NO_SHOW_WINDOW_DAYS` days, at every center
    /// (those that count toward a suspension). For the account itself and staff of any center.
    async fn no_shows(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let owner = self.1 == EmailView::Owner;
        Ok(super::ledger::standing(ctx, &self.0, owner).await?.no_shows as i32)
    }
    /// Until when booking and waiting-list joins are suspended after repeated no-shows (null:
    /// not suspended). For the account itself and staff of any center.
    async fn booking_suspended_until(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<GqlDateTime>> {
        let owner = self.1 == EmailView::Owner;
        Ok(super::ledger::standing(ctx, &self.0, owner)
            .await?
            .suspended_until
            .map(local))
    }
}

/// A place owned by a center.
pub struct Venue(pub venue::Model);

#[Object]
impl Venue {
    async fn id(&self) -> ID {
        ID(encode(Kind::Venue, self.0.id))
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn address(&self) -> &str {
        &self.0.address
    }
    async fn kind(&self) -> VenueKind {
        self.0.kind.into()
    }
    async fn seating(&self) -> SeatingMode {
        self.0.seating.into()
    }
    /// Seats (reserved) or places (general admission).
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    /// The owning center.
    async fn center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.center_id).await?)
    }
    /// Other centers that may host performances here (a venue both sides share).
    async fn shared_with(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Center>> {
        let ids = crate::domain::venues::shared_with(reads(ctx)?, self.0.id).await?;
        let mut centers = Vec::with_capacity(ids.len());
        for id in ids {
            centers.push(load_center(ctx, id).await?);
        }
        Ok(centers)
    }
    /// The numbered seats, by section, row from the stage, and number (empty for general admission).
    async fn seats(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Seat>> {
        let seats = crate::domain::venues::seats(reads(ctx)?, self.0.id).await?;
        Ok(seats.into_iter().map(Seat).collect())
    }
}

/// One numbered seat of a reserved venue.
#[derive(Clone)]
pub struct Seat(pub seat::Model);

#[Object]
impl Seat {
    async fn id(&self) -> ID {
        ID(encode(Kind::Seat, self.0.id))
    }
    async fn section(&self) -> &str {
        &self.0.section
    }
    async fn row(&self) -> &str {
        &self.0.row_label
    }
    async fn number(&self) -> i32 {
        self.0.number
    }
    /// Human label, e.g. "Stalls row 5 seat 12" or "池座5排12座".
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn accessible(&self) -> bool {
        self.0.accessible
    }
}

/// A calendar quarter in Asia/Shanghai time.
#[derive(SimpleObject)]
pub struct Season {
    /// The year.
    pub year: i32,
    /// 1 to 4.
    pub quarter: i32,
    /// First local day, e.g. "2019-07-01".
    pub starts_on: String,
    /// Last local day (inclusive), e.g. "2019-09-30".
    pub ends_on: String,
}

impl From<DomainSeason> for Season {
    fn from(season: DomainSeason) -> Self {
        Self {
            year: season.year,
            quarter: season.quarter as i32,
            starts_on: season.starts_on().to_string(),
            ends_on: season.ends_on().to_string(),
        }
    }
}

/// The quarterly agreement that a provider center sends exchange sessions to a host center.
pub struct SeasonalAllocation(pub seasonal_allocation::Model);

#[Object]
impl SeasonalAllocation {
    async fn id(&self) -> ID {
        ID(encode(Kind::SeasonalAllocation, self.0.id))
    }
    async fn season(&self) -> Season {
        DomainSeason {
            year: self.0.year,
            quarter: self.0.quarter as u32,
        }
        .into()
    }
    async fn provider_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.provider_center_id).await?)
    }
    async fn host_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.host_center_id).await?)
    }
    /// The party that proposed it.
    async fn proposed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.proposed_by_center_id).await?)
    }
    async fn performance_quota(&self) -> i32 {
        self.0.performance_quota
    }
    /// Live (non-cancelled) exchange sessions counted against the quota.
    async fn performances_scheduled(&self) -> i32 {
        self.0.performances_scheduled
    }
    async fn remaining(&self) -> i32 {
        self.0.performance_quota - self.0.performances_scheduled
    }
    async fn status(&self) -> AllocationStatus {
        self.0.status.into()
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// The sessions linked to it, cancelled ones included (at most 200, by start).
    async fn performances(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Performance>> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        let rows = performance::Entity::find()
            .filter(performance::Column::AllocationId.eq(self.0.id))
            .filter(catalog::visible_to(caller(ctx)))
            .order_by_asc(performance::Column::StartsAt)
            .limit(crate::domain::allocations::MAX_SESSIONS_LISTED)
            .all(reads(ctx)?)
            .await
            .map_err(AppError::from)?;
        Ok(rows.into_iter().map(Performance).collect())
    }
}

/// One dated session of a production at a venue.
pub struct Performance(pub performance::Model);

#[Object]
impl Performance {
    async fn id(&self) -> ID {
        ID(encode(Kind::Performance, self.0.id))
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn category(&self) -> PerformanceCategory {
        self.0.category.into()
    }
    async fn starts_at(&self) -> GqlDateTime {
        local(self.0.starts_at)
    }
    async fn ends_at(&self) -> GqlDateTime {
        local(self.0.ends_at)
    }
    async fn status(&self) -> PerformanceStatus {
        self.0.status.into()
    }
    async fn price_cents(&self) -> i32 {
        self.0.price_cents
    }
    async fn per_resident_limit(&self) -> i32 {
        self.0.per_resident_limit
    }
    /// When booking opens: as set, else the publication (a draft without one shows when it
    /// was scheduled).
    async fn booking_opens_at(&self) -> GqlDateTime {
        local(
            self.0
                .booking_opens_at
                .or(self.0.published_at)
                .unwrap_or(self.0.created_at),
        )
    }
    /// When booking closes: as set, else the start.
    async fn booking_closes_at(&self) -> GqlDateTime {
        local(self.0.booking_closes_at.unwrap_or(self.0.starts_at))
    }
    async fn published_at(&self) -> Option<GqlDateTime> {
        self.0.published_at.map(local)
    }
    async fn cancellation_reason(&self) -> Option<&str> {
        self.0.cancellation_reason.as_deref()
    }
    async fn venue(&self, ctx: &Context<'_>) -> async_graphql::Result<Venue> {
        Ok(loader(ctx)?
            .load_one(VenueId(self.0.venue_id))
            .await
            .map_err(AppError::from)?
            .map(Venue)
            .ok_or(AppError::Internal("venue missing".to_owned()))?)
    }
    async fn host_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.host_center_id).await?)
    }
    /// Whose production it is (differs from the host for exchange sessions).
    async fn origin_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.origin_center_id).await?)
    }
    /// The production this session stages.
    async fn production(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<super::productions::Production> {
        Ok(loader(ctx)?
            .load_one(super::loaders::ProductionId(self.0.production_id))
            .await
            .map_err(AppError::from)?
            .map(super::productions::Production)
            .ok_or(AppError::Internal("production missing".to_owned()))?)
    }
    /// The allocation it counts against, when the caller may see it.
    async fn allocation(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<SeasonalAllocation>> {
        let Some(id) = self.0.allocation_id else {
            return Ok(None);
        };
        match crate::domain::allocations::visible(reads(ctx)?, caller(ctx), id).await {
            Ok(model) => Ok(Some(SeasonalAllocation(model))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    async fn seats_available(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let free = if self.0.status == enums::PerformanceStatus::Published {
            Some(super::shares::pools(ctx, self.0.id).await?.free())
        } else {
            None
        };
        Ok(catalog::seats_available(&self.0, free))
    }
    /// Seats kept for residents of given home centers until `sharesReleaseAt`.
    async fn seat_shares(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SeatShare>> {
        super::shares::seat_shares(ctx, self.0.id).await
    }
    /// When the shares open to all (null without shares).
    async fn shares_release_at(&self) -> Option<GqlDateTime> {
        self.0.shares_release_at.map(local)
    }
    /// What the caller could book right now: for a resident, the free seats of its home
    /// center's share and the open pool (every free seat once shares are released), at most
    /// what its per-resident limit still allows; for anyone else the seats open to every
    /// resident; 0 outside the booking window.
    async fn seats_available_to_viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        super::shares::available_to_viewer(ctx, &self.0).await
    }
    /// WAITING entries of its waiting list.
    async fn waitlist_length(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        super::waitlist::length(ctx, self.0.id).await
    }
    /// The caller's live (WAITING or OFFERED) entry, if any.
    async fn viewer_waitlist_entry(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::waitlist::WaitlistEntry>> {
        super::waitlist::viewer_entry(ctx, self.0.id).await
    }
    /// Every seat with its state (empty for general admission).
    async fn seat_map(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SeatAvailability>> {
        let db = reads(ctx)?;
        let seats = crate::domain::venues::seats(db, self.0.venue_id).await?;
        let unavailable: std::collections::HashMap<i64, bool> = match self.0.status {
            enums::PerformanceStatus::Published => {
                crate::domain::booking::unavailable_seats(db, self.0.id).await?
            }
            enums::PerformanceStatus::Cancelled => seats.iter().map(|s| (s.id, true)).collect(),
            enums::PerformanceStatus::Draft => Default::default(),
        };
        Ok(seats
            .into_iter()
            .map(|seat| SeatAvailability {
                state: SeatState::of(unavailable.get(&seat.id)),
                seat: Seat(seat),
            })
            .collect())
    }
}

/// A seat and whether it can be booked.
#[derive(SimpleObject)]
pub struct SeatAvailability {
    /// The seat.
    pub seat: Seat,
    /// Its state.
    pub state: SeatState,
}

/// What `login`, `registerResident` and `refreshToken` return.
pub struct AuthPayload(pub accounts::Session);

#[Object]
impl AuthPayload {
    /// Bearer token for `Authorization`, valid 15 minutes.
    async fn access_token(&self) -> &str {
        &self.0.access_token
    }
    /// Single-use token for `refreshToken` (30 days); keep it secret.
    async fn refresh_token(&self) -> &str {
        &self.0.refresh_token
    }
    /// When the access token expires.
    async fn expires_at(&self) -> GqlDateTime {
        local(self.0.expires_at)
    }
    async fn account(&self) -> Account {
        Account(self.0.account.clone(), EmailView::Owner)
    }
}

/// Extra fields of a connection.
#[derive(SimpleObject)]
pub struct ConnectionTotal {
    /// How many items match, over all pages.
    pub total_count: i32,
}

/// A page of performances.
pub type PerformanceConnection = Connection<String, Performance, ConnectionTotal, EmptyFields>;
/// A page of bookings.
pub type BookingConnection = Connection<String, Booking, ConnectionTotal, EmptyFields>;
/// A page of venues.
pub type VenueConnection = Connection<String, Venue, ConnectionTotal, EmptyFields>;

/// A page of rows keyed by id, as a connection with id cursors.
pub fn id_connection<M, N>(
    kind: &str,
    rows: Vec<M>,
    has_previous: bool,
    has_next: bool,
    total: u64,
    id: impl Fn(&M) -> i64,
    wrap: impl Fn(M) -> N,
) -> Connection<String, N, ConnectionTotal, EmptyFields>
where
    N: async_graphql::OutputType,
{
    let mut connection = Connection::with_additional_fields(
        has_previous,
        has_next,
        ConnectionTotal {
            total_count: total as i32,
        },
    );
    connection.edges.extend(rows.into_iter().map(|row| {
        let cursor = id_cursor(kind, id(&row));
        Edge::new(cursor, wrap(row))
    }));
    connection
}

/// The opaque cursor of a row in id order.
pub fn id_cursor(kind: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}#{id}"))
}

/// The id inside a cursor made by [`id_cursor`]; `BAD_USER_INPUT` otherwise.
pub fn parse_id_cursor(kind: &str, field: &str, cursor: &str) -> AppResult<i64> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.strip_prefix(&format!("{kind}#"))
                .and_then(|id| id.parse().ok())
        })
        .ok_or_else(|| AppError::bad_input(field, "not a cursor of this list"))
}

//! Public reading: centers, venues, performances, and `node(id:)`.

use super::reads;
use async_graphql::{Context, ID, InputObject, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use entity::{center, seasonal_allocation};
use sea_orm::EntityTrait;

use super::types::*;
use super::{caller, page_size};
use crate::domain::catalog::{self, Page, PerformanceFilter as Filter, Position};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, decode, decode_any};

/// Filters of `performances`.
#[derive(InputObject, Default)]
pub struct PerformanceFilter {
    /// Hosted by this center.
    pub host_center_id: Option<ID>,
    /// Originating from this center.
    pub origin_center_id: Option<ID>,
    /// Of this category.
    pub category: Option<PerformanceCategory>,
    /// Starting at or after this instant.
    pub from: Option<GqlDateTime>,
    /// Starting before this instant.
    pub to: Option<GqlDateTime>,
    /// Words in the title or description (case-insensitive).
    pub search: Option<String>,
    /// In this status (DRAFT shows only your own center's drafts).
    pub status: Option<PerformanceStatus>,
    /// At this venue.
    pub venue_id: Option<ID>,
}

fn filter_of(input: PerformanceFilter) -> AppResult<Filter> {
    let id = |kind, value: Option<ID>| value.map(|v| decode(kind, &v)).transpose();
    Ok(Filter {
        host_center_id: id(Kind::Center, input.host_center_id)?,
        origin_center_id: id(Kind::Center, input.origin_center_id)?,
        venue_id: id(Kind::Venue, input.venue_id)?,
        category: input.category.map(Into::into),
        from: GqlDateTime::opt(&input.from, "from")?,
        to: GqlDateTime::opt(&input.to, "to")?,
        search: input.search,
        status: input.status.map(Into::into),
        production_id: None,
    })
}

fn cursor_of(position: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "P#{}#{}",
        position.starts_at.timestamp_micros(),
        position.id
    ))
}

fn position_of(field: &str, cursor: &str) -> AppResult<Position> {
    let bad = || AppError::bad_input(field, "not a cursor of this list");
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let mut parts = text.split('#');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("P"), Some(micros), Some(id), None) => {
            let micros: i64 = micros.parse().map_err(|_| bad())?;
            Ok(Position {
                starts_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
                id: id.parse().map_err(|_| bad())?,
            })
        }
        _ => Err(bad()),
    }
}

/// Loads, in one batch each, the venues, centers and free-seat counts the page's selection
/// asks for, into the request's DataLoader cache: a page then costs the same few statements
/// whatever its size, however its resolvers happen to be scheduled.
async fn prefetch(
    ctx: &Context<'_>,
    items: &[entity::performance::Model],
    places: Vec<(entity::venue::Model, entity::center::Model)>,
) -> AppResult<()> {
    use super::loaders::{CenterId, PoolsOf, ProductionId, VenueId};
    if items.is_empty() {
        return Ok(());
    }
    let node = ctx.look_ahead().field("edges").field("node");
    let loader = super::loader(ctx)?;
    let mut centers = std::collections::BTreeSet::new();
    let venue = node.field("venue");
    if venue.exists() {
        if places.is_empty() {
            let venues = loader
                .load_many(items.iter().map(|p| VenueId(p.venue_id)))
                .await?;
            if venue.field("center").exists() {
                centers.extend(venues.values().map(|v| v.center_id));
            }
        } else {
            // Read with the page: into the request's cache, so the resolvers find them.
            let (venues, places): (Vec<_>, Vec<_>) = places
                .into_iter()
                .map(|(v, c)| ((VenueId(v.id), v), (CenterId(c.id), c)))
                .unzip();
            loader.feed_many(venues).await;
            loader.feed_many(places).await;
        }
    }
    if node.field("production").exists() {
        loader
            .load_many(items.iter().map(|p| ProductionId(p.production_id)))
            .await?;
    }
    if node.field("hostCenter").exists() {
        centers.extend(items.iter().map(|p| p.host_center_id));
    }
    if node.field("originCenter").exists() {
        centers.extend(items.iter().map(|p| p.origin_center_id));
    }
    if !centers.is_empty() {
        loader.load_many(centers.into_iter().map(CenterId)).await?;
    }
    if node.field("seatsAvailable").exists()
        || node.field("seatShares").exists()
        || node.field("seatsAvailableToViewer").exists()
    {
        loader
            .load_many(
                items
                    .iter()
                    .filter(|p| p.status == entity::enums::PerformanceStatus::Published)
                    .map(|p| PoolsOf(p.id)),
            )
            .await?;
    }
    Ok(())
}

/// Reads one page of performances as a connection (shared by `performances` and
/// `Center.performances`).
pub async fn performance_page(
    ctx: &Context<'_>,
    filter: Filter,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> AppResult<PerformanceConnection> {
    let page = match (first, last) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input("last", "give first or last, not both"));
        }
        (None, Some(_)) => Page::Backward {
            before: before
                .as_deref()
                .map(|c| position_of("before", c))
                .transpose()?,
            last: page_size("last", last)?,
        },
        _ => {
            if last.is_none() && before.is_some() && first.is_none() {
                Page::Backward {
                    before: before
                        .as_deref()
                        .map(|c| position_of("before", c))
                        .transpose()?,
                    last: 20,
                }
            } else {
                Page::Forward {
                    after: after
                        .as_deref()
                        .map(|c| position_of("after", c))
                        .transpose()?,
                    first: page_size("first", first)?,
                }
            }
        }
    };
    let look_ahead = ctx.look_ahead();
    let count = look_ahead.field("totalCount").exists();
    let places = look_ahead
        .field("edges")
        .field("node")
        .field("venue")
        .exists();
    let mut result =
        catalog::performances(reads(ctx)?, caller(ctx), &filter, page, count, places).await?;
    prefetch(ctx, &result.items, std::mem::take(&mut result.places)).await?;
    let mut connection = PerformanceConnection::with_additional_fields(
        result.has_previous,
        result.has_next,
        ConnectionTotal {
            total_count: result.total as i32,
        },
    );
    connection.edges.extend(result.items.into_iter().map(|p| {
        let cursor = cursor_of(Position {
            starts_at: p.starts_at,
            id: p.id,
        });
        async_graphql::connection::Edge::new(cursor, Performance(p))
    }));
    Ok(connection)
}

/// Public reading.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Any object by its global id, with exactly the access rules of its typed query.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let Some((kind, row)) = decode_any(&id) else {
            return Err(AppError::NotFound("node").into());
        };
        let db = reads(ctx)?;
        let caller = caller(ctx);
        let node = match kind {
            Kind::Center => center::Entity::find_by_id(row)
                .one(db)
                .await
                .map_err(AppError::from)?
                .map(|c| Node::Center(Center(c))),
            Kind::Venue => crate::domain::venues::find(db, row)
                .await?
                .map(|v| Node::Venue(Venue(v))),
            Kind::Seat => entity::seat::Entity::find_by_id(row)
                .one(db)
                .await
                .map_err(AppError::from)?
                .map(|s| Node::Seat(Seat(s))),
            Kind::Performance => catalog::performance(db, caller, row)
                .await?
                .map(|p| Node::Performance(Performance(p))),
            Kind::SeasonalAllocation => {
                let model: seasonal_allocation::Model =
                    crate::domain::allocations::visible(db, caller, row).await?;
                Some(Node::SeasonalAllocation(SeasonalAllocation(model)))
            }
            Kind::Booking => Some(Node::Booking(Booking(
                crate::domain::booking::visible(db, caller, row).await?,
            ))),
            Kind::Ticket => Some(Node::Ticket(Ticket(
                crate::domain::checkin::visible_ticket(db, caller, row).await?,
            ))),
            Kind::Account => Some(Node::Account(Account::from(
                crate::domain::administration::visible(db, caller, row).await?,
            ))),
            Kind::AuditEntry => Some(Node::AuditEntry(super::operations::AuditEntry(
                crate::domain::audit::visible(db, caller, row).await?,
            ))),
            Kind::Production => Some(Node::Production(super::productions::Production(
                crate::domain::productions::visible(db, caller, row).await?,
            ))),
            Kind::Notification => Some(Node::Notification(super::notifications::Notification(
                crate::domain::notifications::visible(db, caller, row).await?,
            ))),
            Kind::WaitlistEntry => Some(Node::WaitlistEntry(super::waitlist::WaitlistEntry(
                crate::domain::waitlist::visible(db, caller, row).await?,
            ))),
        };
        node.map(Some)
            .ok_or_else(|| AppError::NotFound(kind.name()).into())
    }

    /// The cultural centers.
    async fn centers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Center>> {
        Ok(catalog::centers(reads(ctx)?)
            .await?
            .into_iter()
            .map(Center)
            .collect())
    }

    /// A center by id.
    async fn center(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Center>> {
        let id = decode(Kind::Center, &id)?;
        let found = center::Entity::find_by_id(id)
            .one(reads(ctx)?)
            .await
            .map_err(AppError::from)?;
        Ok(Some(Center(found.ok_or(AppError::NotFound("center"))?)))
    }

    /// A venue by id.
    async fn venue(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Venue>> {
        let id = decode(Kind::Venue, &id)?;
        let venue = crate::domain::venues::find(reads(ctx)?, id).await?;
        Ok(Some(Venue(venue.ok_or(AppError::NotFound("venue"))?)))
    }

    /// Venues, optionally of one center, by creation.
    async fn venues(
        &self,
        ctx: &Context<'_>,
        center_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<VenueConnection> {
        let center = center_id.map(|id| decode(Kind::Center, &id)).transpose()?;
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("V", "after", c))
            .transpose()?;
        let (rows, has_next, total) = catalog::venues(reads(ctx)?, center, after_id, first).await?;
        Ok(id_connection(
            "V",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |v| v.id,
            Venue,
        ))
    }

    /// A performance by id (drafts exist only for their host center's staff).
    async fn performance(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Performance>> {
        let id = decode(Kind::Performance, &id)?;
        let perf = catalog::performance(reads(ctx)?, caller(ctx), id).await?;
        Ok(Some(Performance(
            perf.ok_or(AppError::NotFound("performance"))?,
        )))
    }

    /// Performances the caller may see, by start time; Relay cursor pagination.
    async fn performances(
        &self,
        ctx: &Context<'_>,
        filter: Option<PerformanceFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<PerformanceConnection> {
        let filter = filter_of(filter.unwrap_or_default())?;
        Ok(performance_page(ctx, filter, first, after, last, before).await?)
    }
}

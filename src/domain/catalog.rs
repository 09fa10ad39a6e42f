//! Reading: centers, venues and performances as each caller may see them, with keyset
//! pagination.
//!
//! Visibility lives here, in one place: a DRAFT exists only for its host center's staff;
//! PUBLISHED and CANCELLED performances are public.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{PerformanceCategory, PerformanceStatus};
use entity::{center, performance, venue};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationDef, Select,
};

use crate::auth::Caller;
use crate::error::AppResult;

/// All centers, by id.
pub async fn centers(conn: &impl ConnectionTrait) -> AppResult<Vec<center::Model>> {
    Ok(center::Entity::find()
        .order_by_asc(center::Column::Id)
        .all(conn)
        .await?)
}

/// The condition that hides drafts from everyone but their host center's staff.
pub fn visible_to(caller: &Caller) -> Condition {
    let public = performance::Column::Status.ne(PerformanceStatus::Draft);
    match caller.staff_center() {
        Some(center) => Condition::any()
            .add(public)
            .add(performance::Column::HostCenterId.eq(center)),
        None => Condition::all().add(public),
    }
}

/// A performance the caller may see.
pub async fn performance(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<Option<performance::Model>> {
    Ok(performance::Entity::find_by_id(id)
        .filter(visible_to(caller))
        .one(conn)
        .await?)
}

/// The filters of `performances(filter:)`.
#[derive(Debug, Clone, Default)]
pub struct PerformanceFilter {
    /// Hosted by this center.
    pub host_center_id: Option<i64>,
    /// Originating from this center.
    pub origin_center_id: Option<i64>,
    /// Of this category.
    pub category: Option<PerformanceCategory>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
    /// Words in the title or description (case-insensitive).
    pub search: Option<String>,
    /// In this status.
    pub status: Option<PerformanceStatus>,
    /// Only at this venue.
    pub venue_id: Option<i64>,
    /// Only sessions of this production.
    pub production_id: Option<i64>,
}

/// A position in the (startsAt, id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The performance's start.
    pub starts_at: DateTime<Utc>,
    /// Its id (breaks ties).
    pub id: i64,
}

/// Which page to read.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// The first `n` after a position (or from the start).
    Forward {
        /// Exclusive start.
        after: Option<Position>,
        /// How many.
        first: u64,
    },
    /// The last `n` before a position (or up to the end).
    Backward {
        /// Exclusive end.
        before: Option<Position>,
        /// How many.
        last: u64,
    },
}

/// One page of performances, in (startsAt, id) order.
#[derive(Debug)]
pub struct PerformancePage {
    /// The rows.
    pub items: Vec<performance::Model>,
    /// More exist after the last one.
    pub has_next: bool,
    /// More exist before the first one.
    pub has_previous: bool,
    /// How many match the filter in all (0 when not counted).
    pub total: u64,
    /// Each row's venue and the venue's center, in the order of `items`, when they were
    /// asked for (read in the page's own statement); empty otherwise.
    pub places: Vec<(venue::Model, center::Model)>,
}

/// The prefixes of the venue's and the center's columns in a page read with its places.
const VENUE_PREFIX: &str = "v_";
const CENTER_PREFIX: &str = "c_";

fn venue_of_performance() -> RelationDef {
    performance::Entity::belongs_to(venue::Entity)
        .from(performance::Column::VenueId)
        .to(venue::Column::Id)
        .into()
}

fn center_of_venue() -> RelationDef {
    venue::Entity::belongs_to(center::Entity)
        .from(venue::Column::CenterId)
        .to(center::Column::Id)
        .into()
}

/// Reads one more row than `first` (to tell whether more follow); with `places`, joins each
/// performance's venue and that venue's center into the same statement: a browse page is
/// then one round trip instead of three (every performance has a venue, every venue a
/// center: both are NOT NULL foreign keys, so the inner joins drop no row).
async fn performance_rows(
    conn: &impl ConnectionTrait,
    query: Select<performance::Entity>,
    first: u64,
    places: bool,
) -> AppResult<(PerformanceRows, bool)> {
    let query = query.limit(first + 1);
    let mut rows = if places {
        let mut query = query
            .join(JoinType::InnerJoin, venue_of_performance())
            .join(JoinType::InnerJoin, center_of_venue());
        for column in venue::Column::iter() {
            query = query.column_as(column, format!("{VENUE_PREFIX}{}", column.as_str()));
        }
        for column in center::Column::iter() {
            query = query.column_as(column, format!("{CENTER_PREFIX}{}", column.as_str()));
        }
        let statement = conn.get_database_backend().build(&query.into_query());
        let mut rows = PerformanceRows::default();
        for row in conn.query_all_raw(statement).await? {
            rows.items
                .push(performance::Model::from_query_result(&row, "")?);
            rows.places.push((
                venue::Model::from_query_result(&row, VENUE_PREFIX)?,
                center::Model::from_query_result(&row, CENTER_PREFIX)?,
            ));
        }
        rows
    } else {
        PerformanceRows {
            items: query.all(conn).await?,
            places: Vec::new(),
        }
    };
    let more = rows.items.len() as u64 > first;
    rows.items.truncate(first as usize);
    rows.places.truncate(first as usize);
    Ok((rows, more))
}

#[derive(Default)]
struct PerformanceRows {
    items: Vec<performance::Model>,
    places: Vec<(venue::Model, center::Model)>,
}

impl PerformanceRows {
    fn reverse(&mut self) {
        self.items.reverse();
        self.places.reverse();
    }
}

fn filtered(caller: &Caller, filter: &PerformanceFilter) -> Select<performance::Entity> {
    let mut query = performance::Entity::find().filter(visible_to(caller));
    if let Some(id) = filter.host_center_id {
        query = query.filter(performance::Column::HostCenterId.eq(id));
    }
    if let Some(id) = filter.origin_center_id {
        query = query.filter(performance::Column::OriginCenterId.eq(id));
    }
    if let Some(id) = filter.venue_id {
        query = query.filter(performance::Column::VenueId.eq(id));
    }
    if let Some(id) = filter.production_id {
        query = query.filter(performance::Column::ProductionId.eq(id));
    }
    if let Some(category) = filter.category {
        query = query.filter(performance::Column::Category.eq(category));
    }
    if let Some(status) = filter.status {
        query = query.filter(performance::Column::Status.eq(status));
    }
    if let Some(from) = filter.from {
        query = query.filter(performance::Column::StartsAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(performance::Column::StartsAt.lt(to));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!(
            "%{}%",
            search
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let like = |col: performance::Column| {
            Expr::expr(Func::lower(Expr::col((performance::Entity, col))))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(like(performance::Column::Title))
                .add(like(performance::Column::Description)),
        );
    }
    query
}

/// Runs `query` for one page of `first` rows, reading one more to learn whether more follow.
pub async fn page_of<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    query: Select<E>,
    first: u64,
) -> AppResult<(Vec<E::Model>, bool)> {
    let mut items = query.limit(first + 1).all(conn).await?;
    let more = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok((items, more))
}

/// After a position in (startsAt, id) order. The redundant `starts_at >=` makes the
/// position an index bound (the disjunction alone is only a filter): a page deep in the
/// catalogue starts reading at its position instead of walking every row before it.
fn after(position: Position) -> Condition {
    Condition::all()
        .add(performance::Column::StartsAt.gte(position.starts_at))
        .add(
            Condition::any()
                .add(performance::Column::StartsAt.gt(position.starts_at))
                .add(
                    Condition::all()
                        .add(performance::Column::StartsAt.eq(position.starts_at))
                        .add(performance::Column::Id.gt(position.id)),
                ),
        )
}

/// Before a position in (startsAt, id) order; bounded like [`after`].
fn before(position: Position) -> Condition {
    Condition::all()
        .add(performance::Column::StartsAt.lte(position.starts_at))
        .add(
            Condition::any()
                .add(performance::Column::StartsAt.lt(position.starts_at))
                .add(
                    Condition::all()
                        .add(performance::Column::StartsAt.eq(position.starts_at))
                        .add(performance::Column::Id.lt(position.id)),
                ),
        )
}

/// `performances(filter:, first:, after:, last:, before:)`; with `places`, each row's venue
/// and center come in the same statement (see [`PerformancePage::places`]).
pub async fn performances(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    filter: &PerformanceFilter,
    page: Page,
    count: bool,
    places: bool,
) -> AppResult<PerformancePage> {
    // Counting is a statement of its own: only when the client asked for `totalCount`.
    let total = if count {
        filtered(caller, filter).count(conn).await?
    } else {
        0
    };
    match page {
        Page::Forward { after: from, first } => {
            let mut query = filtered(caller, filter);
            if let Some(position) = from {
                query = query.filter(after(position));
            }
            let (rows, has_next) = performance_rows(
                conn,
                query
                    .order_by_asc(performance::Column::StartsAt)
                    .order_by_asc(performance::Column::Id),
                first,
                places,
            )
            .await?;
            Ok(PerformancePage {
                items: rows.items,
                places: rows.places,
                has_next,
                has_previous: from.is_some(),
                total,
            })
        }
        Page::Backward { before: to, last } => {
            let mut query = filtered(caller, filter);
            if let Some(position) = to {
                query = query.filter(before(position));
            }
            let (mut rows, has_previous) = performance_rows(
                conn,
                query
                    .order_by_desc(performance::Column::StartsAt)
                    .order_by_desc(performance::Column::Id),
                last,
                places,
            )
            .await?;
            rows.reverse();
            Ok(PerformancePage {
                items: rows.items,
                places: rows.places,
                has_next: to.is_some(),
                has_previous,
                total,
            })
        }
    }
}

/// The most venues `Center.venues` lists (its first ones, by creation; `venues(centerId:)`
/// pages through any number). A center owns a few dozen; the bound keeps
/// `centers { venues { … } }` a bounded request.
pub const MAX_CENTER_VENUES: u64 = 200;

/// A page of venues, by id.
pub async fn venues(
    conn: &impl ConnectionTrait,
    center_id: Option<i64>,
    after_id: Option<i64>,
    first: u64,
) -> AppResult<(Vec<venue::Model>, bool, u64)> {
    let mut query = venue::Entity::find();
    if let Some(center) = center_id {
        query = query.filter(venue::Column::CenterId.eq(center));
    }
    let total = query.clone().count(conn).await?;
    if let Some(id) = after_id {
        query = query.filter(venue::Column::Id.gt(id));
    }
    let (items, has_next) = page_of(conn, query.order_by_asc(venue::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// Free seats or places per performance, in one query for many performances: the sum of
/// each one's seat-pool counters (a few rows per performance, whatever its size; see
/// [`super::shares`]).
pub async fn free_counts(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<HashMap<i64, i64>> {
    Ok(super::shares::counts(conn, ids)
        .await?
        .into_iter()
        .map(|(id, pools)| (id, pools.free()))
        .collect())
}

/// How many seats a performance still has for sale: its capacity while a draft, nothing
/// once cancelled, otherwise its free inventory.
pub fn seats_available(perf: &performance::Model, free: Option<i64>) -> i32 {
    match perf.status {
        PerformanceStatus::Draft => perf.capacity,
        PerformanceStatus::Cancelled => 0,
        PerformanceStatus::Published => free.unwrap_or(0) as i32,
    }
}

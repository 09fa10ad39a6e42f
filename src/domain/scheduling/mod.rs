//! Performances: scheduling, updating, publishing and cancelling.
//!
//! "No two live sessions overlap at one venue" is enforced inside the transaction that
//! writes the performance: it first bumps the venue's `lock_version` (a row lock on
//! PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serializes writers), then looks for an
//! overlapping non-cancelled session. Two concurrent schedules for one venue therefore run
//! one after the other, and the second sees the first.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{PerformanceCategory, PerformanceStatus, Role, SeatingMode};
use entity::{performance, seasonal_allocation, venue};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, Set, Statement,
};
use serde_json::json;

use super::audit::{self, Action};
use super::season::Season;
use super::shares::{self, ShareInput};
use super::{allocations, now, text, venues};
use crate::auth::{Caller, Staff};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::ids::{self, Kind};
use crate::realtime::{AvailabilityEvent, Realtime};

mod lifecycle;

pub use lifecycle::{cancel, publish, publish_as};

/// Default number of tickets one resident may hold for a performance.
pub const DEFAULT_PER_RESIDENT_LIMIT: i32 = 4;
/// The highest per-resident limit (and so the most tickets one booking can hold).
pub const MAX_PER_RESIDENT_LIMIT: i32 = 100;
/// Longest a single session may last.
const MAX_DURATION: Duration = Duration::days(31);

/// A `schedulePerformance` input with its shape already checked by the GraphQL layer.
#[derive(Debug, Clone)]
pub struct NewPerformance {
    /// The venue.
    pub venue_id: i64,
    /// The production it stages (None: one is made from the title, description, category).
    pub production_id: Option<i64>,
    /// Title (default: the production's; required without one).
    pub title: Option<String>,
    /// Description (default: the production's, else empty).
    pub description: Option<String>,
    /// Category (default: the production's; required without one).
    pub category: Option<PerformanceCategory>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Price in cents.
    pub price_cents: Option<i32>,
    /// Per-resident ticket limit.
    pub per_resident_limit: Option<i32>,
    /// Explicit opening of the booking window.
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// Explicit close of the booking window.
    pub booking_closes_at: Option<DateTime<Utc>>,
    /// Whose production it is (default: the host, or the allocation's provider).
    pub origin_center_id: Option<i64>,
    /// The allocation this exchange session counts against.
    pub allocation_id: Option<i64>,
    /// Seats kept for residents of given home centers (empty: none).
    pub seat_shares: Vec<ShareInput>,
    /// When the shares open to all (default: 48 hours before the start).
    pub shares_release_at: Option<DateTime<Utc>>,
}

/// An `updatePerformance` input: absent fields keep their value.
#[derive(Debug, Clone, Default)]
pub struct PerformanceChanges {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Start.
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Price in cents.
    pub price_cents: Option<i32>,
    /// Per-resident limit.
    pub per_resident_limit: Option<i32>,
    /// Booking window opening.
    pub booking_opens_at: Option<DateTime<Utc>>,
    /// Booking window close.
    pub booking_closes_at: Option<DateTime<Utc>>,
    /// The seat shares, replacing the current ones (empty: none).
    pub seat_shares: Option<Vec<ShareInput>>,
    /// When the shares open to all.
    pub shares_release_at: Option<DateTime<Utc>>,
}

impl PerformanceChanges {
    /// The fields this update sets, for its audit entry.
    fn audit_details(&self) -> serde_json::Value {
        let set = |name: &str, present: bool| present.then(|| name.to_owned());
        let fields: Vec<String> = [
            set("title", self.title.is_some()),
            set("description", self.description.is_some()),
            set("startsAt", self.starts_at.is_some()),
            set("endsAt", self.ends_at.is_some()),
            set("priceCents", self.price_cents.is_some()),
            set("perResidentLimit", self.per_resident_limit.is_some()),
            set("bookingOpensAt", self.booking_opens_at.is_some()),
            set("bookingClosesAt", self.booking_closes_at.is_some()),
            set("seatShares", self.seat_shares.is_some()),
            set("sharesReleaseAt", self.shares_release_at.is_some()),
        ]
        .into_iter()
        .flatten()
        .collect();
        json!({ "fields": fields })
    }
}

struct Checked {
    title: String,
    description: String,
    price_cents: i32,
    per_resident_limit: i32,
}

/// The fields of a performance as they will be stored, before validation.
struct Fields<'a> {
    title: &'a str,
    description: &'a str,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    price_cents: i32,
    per_resident_limit: i32,
    opens: Option<DateTime<Utc>>,
    closes: Option<DateTime<Utc>>,
}

fn check_fields(fields: Fields<'_>) -> AppResult<Checked> {
    let Fields {
        title,
        description,
        starts_at,
        ends_at,
        price_cents,
        per_resident_limit,
        opens,
        closes,
    } = fields;
    let title = text("title", title, 200)?;
    let description = description.trim().to_owned();
    if description.chars().count() > 5000 {
        return Err(AppError::bad_input(
            "description",
            "must have at most 5000 characters",
        ));
    }
    if ends_at <= starts_at {
        return Err(AppError::bad_input(
            "endsAt",
            "endsAt must be after startsAt",
        ));
    }
    if ends_at - starts_at > MAX_DURATION {
        return Err(AppError::bad_input(
            "endsAt",
            "a session lasts at most 31 days",
        ));
    }
    if !(0..=100_000_000).contains(&price_cents) {
        return Err(AppError::bad_input(
            "priceCents",
            "must be between 0 and 100000000",
        ));
    }
    if !(1..=MAX_PER_RESIDENT_LIMIT).contains(&per_resident_limit) {
        return Err(AppError::bad_input(
            "perResidentLimit",
            format!("must be between 1 and {MAX_PER_RESIDENT_LIMIT}"),
        ));
    }
    if let Some(closes) = closes
        && closes > starts_at
    {
        return Err(AppError::bad_input(
            "bookingClosesAt",
            "the booking window must close no later than the start",
        ));
    }
    if let Some(opens) = opens
        && opens >= closes.unwrap_or(starts_at)
    {
        return Err(AppError::bad_input(
            "bookingOpensAt",
            "the booking window must open before it closes",
        ));
    }
    Ok(Checked {
        title,
        description,
        price_cents,
        per_resident_limit,
    })
}

/// Bumps the venue's lock version: from here to commit, no other transaction schedules at it.
async fn lock_venue(conn: &impl ConnectionTrait, venue_id: i64) -> AppResult<()> {
    venue::Entity::update_many()
        .col_expr(
            venue::Column::LockVersion,
            Expr::col(venue::Column::LockVersion).add(1),
        )
        .filter(venue::Column::Id.eq(venue_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// `CONFLICT` when a live (DRAFT or PUBLISHED) session at the venue meets `[start, end)`.
///
/// Every live session blocks its time, but the answer names only what `viewer_center`'s
/// staff may see. At a venue shared between centers, another center's DRAFT does not exist
/// for them (API.md, "Drafts"), so when the only sessions in the way are such drafts the
/// answer is a bare `CONFLICT` — "the venue is taken at that time", without
/// `conflictsWith`, title or times — which says no more than that the slot is not free.
/// When a visible session is in the way (published, or one of the caller's own center)
/// it is named as before, so a scheduler can see what to move.
async fn refuse_overlap(
    conn: &impl ConnectionTrait,
    viewer_center: i64,
    venue_id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    except: Option<i64>,
) -> AppResult<()> {
    let mut query = performance::Entity::find()
        .filter(performance::Column::VenueId.eq(venue_id))
        .filter(performance::Column::Status.ne(PerformanceStatus::Cancelled))
        .filter(performance::Column::StartsAt.lt(ends_at))
        .filter(performance::Column::EndsAt.gt(starts_at));
    if let Some(id) = except {
        query = query.filter(performance::Column::Id.ne(id));
    }
    let visible = |p: &performance::Model| {
        p.status != PerformanceStatus::Draft || p.host_center_id == viewer_center
    };
    let Some(first) = query.clone().one(conn).await? else {
        return Ok(());
    };
    let shown = if visible(&first) {
        Some(first)
    } else {
        query
            .filter(
                performance::Column::Status
                    .ne(PerformanceStatus::Draft)
                    .or(performance::Column::HostCenterId.eq(viewer_center)),
            )
            .one(conn)
            .await?
    };
    Err(match shown {
        Some(other) => AppError::Conflict {
            message: format!(
                "the venue is booked for \"{}\" from {} to {}",
                other.title,
                other.starts_at.to_rfc3339(),
                other.ends_at.to_rfc3339()
            ),
            with: Some(crate::ids::encode(crate::ids::Kind::Performance, other.id)),
        },
        None => AppError::conflict("the venue is taken at that time"),
    })
}

/// Checks that a performance may count against `allocation`.
fn check_allocation(
    allocation: &seasonal_allocation::Model,
    host_center_id: i64,
    origin_center_id: i64,
    starts_at: DateTime<Utc>,
) -> AppResult<()> {
    if allocation.host_center_id != host_center_id {
        return Err(AppError::bad_input(
            "allocationId",
            "an exchange session is hosted by the allocation's host center",
        ));
    }
    if allocation.provider_center_id != origin_center_id {
        return Err(AppError::bad_input(
            "originCenterId",
            "an exchange session originates from the allocation's provider center",
        ));
    }
    let season = Season {
        year: allocation.year,
        quarter: allocation.quarter as u32,
    };
    if Season::containing(starts_at) != season {
        return Err(AppError::bad_input(
            "startsAt",
            format!(
                "the session must start between {} and {} (Asia/Shanghai)",
                season.starts_on(),
                season.ends_on()
            ),
        ));
    }
    Ok(())
}

/// `schedulePerformance`: creates a DRAFT hosted by the caller's center.
pub async fn schedule(
    conn: &DatabaseConnection,
    caller: &Caller,
    input: NewPerformance,
) -> AppResult<performance::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    if input.starts_at <= now() {
        return Err(AppError::bad_input(
            "startsAt",
            "a new session must start in the future",
        ));
    }
    schedule_as(conn, staff, caller, input).await
}

/// Schedules as `staff`; the demo loader uses it for historical sessions too.
pub async fn schedule_as(
    conn: &DatabaseConnection,
    staff: Staff,
    caller: &Caller,
    input: NewPerformance,
) -> AppResult<performance::Model> {
    let venue = venues::find(conn, input.venue_id)
        .await?
        .ok_or(AppError::NotFound("venue"))?;
    if !venues::may_host(conn, &venue, staff.center_id).await? {
        return Err(AppError::Forbidden(
            "the venue belongs to another center and is not shared with yours".to_owned(),
        ));
    }
    let work = super::productions::for_session(
        conn,
        staff,
        input.production_id,
        input.title.clone(),
        input.description.clone(),
        input.category,
        input.origin_center_id,
    )
    .await?;
    let checked = check_fields(Fields {
        title: &work.title,
        description: &work.description,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        price_cents: input.price_cents.unwrap_or(0),
        per_resident_limit: input
            .per_resident_limit
            .unwrap_or(DEFAULT_PER_RESIDENT_LIMIT),
        opens: input.booking_opens_at,
        closes: input.booking_closes_at,
    })?;
    let allocation = match input.allocation_id {
        Some(id) => Some(allocations::visible(conn, caller, id).await?),
        None => None,
    };
    let origin_center_id = work
        .origin_center_id
        .or(allocation.as_ref().map(|a| a.provider_center_id))
        .unwrap_or(staff.center_id);
    if entity::center::Entity::find_by_id(origin_center_id)
        .one(conn)
        .await?
        .is_none()
    {
        return Err(AppError::bad_input("originCenterId", "no such center"));
    }
    if let Some(allocation) = &allocation {
        check_allocation(
            allocation,
            staff.center_id,
            origin_center_id,
            input.starts_at,
        )?;
    }
    let seat_shares = shares::check_shares(conn, &input.seat_shares, venue.capacity).await?;
    let shares_release_at = shares::release_time(
        input.shares_release_at,
        !seat_shares.is_empty(),
        input.starts_at,
        input.booking_closes_at.unwrap_or(input.starts_at),
    )?;
    crate::write_txn!(conn, |txn| {
        lock_venue(txn, venue.id).await?;
        refuse_overlap(
            txn,
            staff.center_id,
            venue.id,
            input.starts_at,
            input.ends_at,
            None,
        )
        .await?;
        if let Some(allocation) = &allocation {
            allocations::take_slot(txn, allocation.id).await?;
        }
        let production_id = super::productions::of_new_session(
            txn,
            &work,
            origin_center_id,
            &checked.title,
            &checked.description,
        )
        .await?;
        let perf = performance::ActiveModel {
            venue_id: Set(venue.id),
            host_center_id: Set(staff.center_id),
            origin_center_id: Set(origin_center_id),
            allocation_id: Set(allocation.as_ref().map(|a| a.id)),
            production_id: Set(production_id),
            title: Set(checked.title.clone()),
            description: Set(checked.description.clone()),
            category: Set(work.category),
            starts_at: Set(input.starts_at),
            ends_at: Set(input.ends_at),
            status: Set(PerformanceStatus::Draft),
            price_cents: Set(checked.price_cents),
            per_resident_limit: Set(checked.per_resident_limit),
            booking_opens_at: Set(input.booking_opens_at),
            booking_closes_at: Set(input.booking_closes_at),
            capacity: Set(venue.capacity),
            published_at: Set(None),
            cancelled_at: Set(None),
            cancellation_reason: Set(None),
            lock_version: Set(0),
            created_at: Set(now()),
            shares_release_at: Set(shares_release_at),
            shares_released_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        shares::set_pools(txn, perf.id, perf.capacity, Some(&seat_shares)).await?;
        audit::record(
            txn,
            staff,
            Action::PerformanceSchedule,
            (Kind::Performance, perf.id),
            json!({
                "title": perf.title,
                "venueId": ids::encode(Kind::Venue, venue.id),
                "productionId": ids::encode(Kind::Production, production_id),
            }),
        )
        .await?;
        Ok(perf)
    })
}

/// Loads a performance that `staff` may manage: hidden (`NOT_FOUND`) from other centers'
/// staff when it is a draft, `FORBIDDEN` when it is public but hosted elsewhere.
async fn managed(
    conn: &impl ConnectionTrait,
    staff: Staff,
    id: i64,
) -> AppResult<performance::Model> {
    let perf = performance::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("performance"))?;
    if perf.host_center_id == staff.center_id {
        Ok(perf)
    } else if perf.status == PerformanceStatus::Draft {
        Err(AppError::NotFound("performance"))
    } else {
        Err(AppError::Forbidden(
            "only the host center's staff manage a performance".to_owned(),
        ))
    }
}

/// `updatePerformance`: re-validates the whole performance with the changes applied.
pub async fn update(
    conn: &DatabaseConnection,
    realtime: &Realtime,
    policy: super::waitlist::Policy,
    caller: &Caller,
    id: i64,
    changes: PerformanceChanges,
) -> AppResult<performance::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let current = managed(conn, staff, id).await?;
    if current.status == PerformanceStatus::Cancelled {
        return Err(AppError::conflict(
            "a cancelled performance cannot be changed",
        ));
    }
    let starts_at = changes.starts_at.unwrap_or(current.starts_at);
    let ends_at = changes.ends_at.unwrap_or(current.ends_at);
    let opens = changes.booking_opens_at.or(current.booking_opens_at);
    let closes = changes.booking_closes_at.or(current.booking_closes_at);
    let times_changed = starts_at != current.starts_at || ends_at != current.ends_at;
    if times_changed && starts_at <= now() {
        return Err(AppError::bad_input(
            "startsAt",
            "a session must start in the future",
        ));
    }
    let checked = check_fields(Fields {
        title: changes.title.as_deref().unwrap_or(&current.title),
        description: changes
            .description
            .as_deref()
            .unwrap_or(&current.description),
        starts_at,
        ends_at,
        price_cents: changes.price_cents.unwrap_or(current.price_cents),
        per_resident_limit: changes
            .per_resident_limit
            .unwrap_or(current.per_resident_limit),
        opens,
        closes,
    })?;
    if let Some(allocation_id) = current.allocation_id {
        let allocation = allocations::visible(conn, caller, allocation_id).await?;
        check_allocation(
            &allocation,
            current.host_center_id,
            current.origin_center_id,
            starts_at,
        )?;
    }
    let seat_shares = match &changes.seat_shares {
        Some(list) => Some(shares::check_shares(conn, list, current.capacity).await?),
        None => None,
    };
    let (updated, held) = crate::write_txn!(conn, |txn| {
        let locked = exclude_bookings(txn, id).await?;
        let has_shares = match &seat_shares {
            Some(list) => !list.is_empty(),
            None => locked.shares_release_at.is_some(),
        };
        let closes_at = closes.unwrap_or(starts_at);
        // An unchanged release time moves no later than a new close of the window.
        let kept = locked
            .shares_release_at
            .map(|at| std::cmp::min(at, closes_at));
        let shares_release_at = shares::release_time(
            changes.shares_release_at.or(kept),
            has_shares,
            starts_at,
            closes_at,
        )?;
        if let Some(list) = &seat_shares {
            shares::set_pools(txn, id, locked.capacity, Some(list)).await?;
        }
        if times_changed {
            lock_venue(txn, current.venue_id).await?;
            refuse_overlap(
                txn,
                staff.center_id,
                current.venue_id,
                starts_at,
                ends_at,
                Some(id),
            )
            .await?;
        }
        let mut model: performance::ActiveModel = current.clone().into();
        model.title = Set(checked.title.clone());
        model.description = Set(checked.description.clone());
        model.starts_at = Set(starts_at);
        model.ends_at = Set(ends_at);
        model.price_cents = Set(checked.price_cents);
        model.per_resident_limit = Set(checked.per_resident_limit);
        model.booking_opens_at = Set(opens);
        model.booking_closes_at = Set(closes);
        model.shares_release_at = Set(shares_release_at);
        if shares_release_at != locked.shares_release_at {
            model.shares_released_at = Set(None);
        }
        model.lock_version = Set(current.lock_version + 1);
        // Optimistic check: a concurrent change (publish, cancel) makes this a conflict.
        let changed = performance::Entity::update_many()
            .set(model)
            .filter(performance::Column::Id.eq(id))
            .filter(performance::Column::LockVersion.eq(current.lock_version))
            .filter(performance::Column::Status.ne(PerformanceStatus::Cancelled))
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::conflict(
                "the performance changed meanwhile; try again",
            ));
        }
        audit::record(
            txn,
            staff,
            Action::PerformanceUpdate,
            (Kind::Performance, id),
            changes.audit_details(),
        )
        .await?;
        let updated = db::found(
            performance::Entity::find_by_id(id).one(txn).await?,
            "performance",
        )?;
        // New shares, a new limit or window may let waiting entries be served (or no
        // longer fit their holders' limits): settled in this transaction.
        let seating = venues::find(txn, updated.venue_id)
            .await?
            .map_or(SeatingMode::Reserved, |v| v.seating);
        let held = super::waitlist::after_change(txn, &updated, seating, &policy).await?;
        Ok((updated, held))
    })?;
    if !held.is_empty() {
        realtime
            .publish(AvailabilityEvent::freed(updated.id, held))
            .await;
    }
    Ok(updated)
}

/// The advisory-lock class of "writers of a performance" (`pg_advisory_xact_lock(int, int)`;
/// the second key is the performance id modulo 2^31: a collision only makes two
/// performances' writers wait for each other).
pub(crate) const PERFORMANCE_WRITERS: i32 = 0x7a71_0001;

/// Takes the performance row `FOR UPDATE` for the rest of the transaction and returns it as
/// it stands under the lock. The lock waits for the bookings in flight on the parallel path
/// (each holds the row `FOR KEY SHARE`, as its foreign keys already make it) and keeps new
/// ones out until the transaction ends, so a change of status, window or limit and a
/// booking never pass each other; a plain `UPDATE` of non-key columns would not conflict
/// with `FOR KEY SHARE`.
///
/// Row locks are not fair: a new `FOR KEY SHARE` joins the holders without looking at a
/// waiting `FOR UPDATE`, so a steady stream of bookings could keep a writer waiting for the
/// whole rush. So on PostgreSQL a writer first queues for the exclusive advisory lock
/// [`PERFORMANCE_WRITERS`]; a parallel booking takes the shared one with
/// `pg_try_advisory_xact_lock_shared`, which fails as soon as a writer is waiting, and then
/// leaves the booking to the exact path, which queues behind the writer. (SQLite: a plain
/// read; its writers take turns anyway.)
pub(crate) async fn exclude_bookings(
    conn: &impl ConnectionTrait,
    id: i64,
) -> AppResult<performance::Model> {
    use sea_orm::QuerySelect;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1::int4, ($2::int8 % 2147483648)::int4)",
            [PERFORMANCE_WRITERS.into(), id.into()],
        ))
        .await?;
    }
    db::found(
        performance::Entity::find_by_id(id)
            .lock_exclusive()
            .one(conn)
            .await?,
        "performance",
    )
}

/// Whether the backend is PostgreSQL (some statements differ).
pub fn is_postgres(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DbBackend::Postgres
}

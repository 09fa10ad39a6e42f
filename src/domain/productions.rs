//! Productions: the work (剧目, exhibition, race) that sessions stage, possibly at several
//! centers, and the residents who follow one.
//!
//! - Every performance belongs to one production and has its origin center (the database
//!   refuses anything else: see the productions migration).
//! - `createProduction` (SCHEDULER and up) announces a work of the caller's center: it is
//!   public at once, so residents can follow it before any session is scheduled.
//!   `schedulePerformance` without `productionId` makes a production from the session's
//!   title, description and category, which stays as hidden as the draft until a session of
//!   it is published: until then only the staff of its origin center and of the centers
//!   hosting its sessions see it (`NOT_FOUND` for everyone else), so a draft's title never
//!   leaks through its production.
//! - Residents follow and unfollow (idempotent); publishing a session of a followed
//!   production notifies every follower ([`published`]), whichever center publishes it.

use chrono::{DateTime, Utc};
use entity::enums::{NotificationKind, PerformanceCategory, Role};
use entity::{performance, production, production_follow};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, Statement,
};
use serde_json::json;

use super::audit::{self, Action};
use super::notifications::{self, Note, Notified, Recipients};
use super::{now, text};
use crate::auth::{Caller, Staff};
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// A `createProduction` input.
#[derive(Debug, Clone)]
pub struct NewProduction {
    /// Title of the work.
    pub title: String,
    /// Description (may be empty).
    pub description: String,
    /// Category.
    pub category: PerformanceCategory,
}

/// The filters of `productions(filter:)`.
#[derive(Debug, Clone, Default)]
pub struct ProductionFilter {
    /// Whose productions.
    pub origin_center_id: Option<i64>,
    /// Words in the title or description (case-insensitive).
    pub search: Option<String>,
}

fn checked(title: &str, description: &str) -> AppResult<(String, String)> {
    let title = text("title", title, 200)?;
    let description = description.trim().to_owned();
    if description.chars().count() > 5000 {
        return Err(AppError::bad_input(
            "description",
            "must have at most 5000 characters",
        ));
    }
    Ok((title, description))
}

/// The condition that hides unlisted productions from everyone but the staff of their
/// origin center and of the centers hosting their sessions.
pub fn visible_to(staff_center: Option<i64>) -> Condition {
    let listed = production::Column::ListedAt.is_not_null();
    match staff_center {
        Some(center) => Condition::any()
            .add(listed)
            .add(production::Column::OriginCenterId.eq(center))
            .add(
                production::Column::Id.in_subquery(
                    Query::select()
                        .column(performance::Column::ProductionId)
                        .from(performance::Entity)
                        .and_where(performance::Column::HostCenterId.eq(center))
                        .to_owned(),
                ),
            ),
        None => Condition::all().add(listed),
    }
}

/// A production the caller may see; `NOT_FOUND` otherwise.
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<production::Model> {
    production::Entity::find_by_id(id)
        .filter(visible_to(caller.staff_center()))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("production"))
}

/// `createProduction`: a public production of the caller's center (SCHEDULER and up), audited.
pub async fn create(
    conn: &DatabaseConnection,
    caller: &Caller,
    input: NewProduction,
) -> AppResult<production::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let (title, description) = checked(&input.title, &input.description)?;
    crate::write_txn!(conn, |txn| {
        let made = insert(
            txn,
            staff.center_id,
            &title,
            &description,
            input.category,
            Some(now()),
        )
        .await?;
        audit::record(
            txn,
            staff,
            Action::ProductionCreate,
            (Kind::Production, made.id),
            json!({ "title": made.title }),
        )
        .await?;
        Ok(made)
    })
}

/// Inserts a production in the caller's transaction (`listed_at`: public from then on, or
/// `None` until a session of it is published).
pub(crate) async fn insert(
    txn: &impl ConnectionTrait,
    origin_center_id: i64,
    title: &str,
    description: &str,
    category: PerformanceCategory,
    listed_at: Option<DateTime<Utc>>,
) -> AppResult<production::Model> {
    Ok(production::ActiveModel {
        origin_center_id: Set(origin_center_id),
        title: Set(title.to_owned()),
        description: Set(description.to_owned()),
        category: Set(category),
        created_at: Set(now()),
        listed_at: Set(listed_at),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// What a new session takes from its production.
#[derive(Debug, Clone)]
pub struct SessionWork {
    /// The production, when the session names one (else one is made when it is scheduled).
    pub production: Option<production::Model>,
    /// The session's title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// Its category.
    pub category: PerformanceCategory,
    /// Its origin center, when the production fixes it.
    pub origin_center_id: Option<i64>,
}

/// Resolves a `schedulePerformance` input's production: with `production_id`, the session's
/// title, description and category default to the production's and its origin center is the
/// production's (another `originCenterId` is `BAD_USER_INPUT`); without it, `title` and
/// `category` are required.
pub async fn for_session(
    conn: &impl ConnectionTrait,
    staff: Staff,
    production_id: Option<i64>,
    title: Option<String>,
    description: Option<String>,
    category: Option<PerformanceCategory>,
    origin_center_id: Option<i64>,
) -> AppResult<SessionWork> {
    let production = match production_id {
        Some(id) => Some(
            production::Entity::find_by_id(id)
                .filter(visible_to(Some(staff.center_id)))
                .one(conn)
                .await?
                .ok_or(AppError::NotFound("production"))?,
        ),
        None => None,
    };
    let Some(production) = production else {
        return Ok(SessionWork {
            production: None,
            title: title.ok_or_else(|| {
                AppError::bad_input("title", "a title is needed without a productionId")
            })?,
            description: description.unwrap_or_default(),
            category: category.ok_or_else(|| {
                AppError::bad_input("category", "a category is needed without a productionId")
            })?,
            origin_center_id,
        });
    };
    if origin_center_id.is_some_and(|origin| origin != production.origin_center_id) {
        return Err(AppError::bad_input(
            "originCenterId",
            "a session's origin center is its production's",
        ));
    }
    Ok(SessionWork {
        title: title.unwrap_or_else(|| production.title.clone()),
        description: description.unwrap_or_else(|| production.description.clone()),
        category: category.unwrap_or(production.category),
        origin_center_id: Some(production.origin_center_id),
        production: Some(production),
    })
}

/// The production of a session being scheduled, in its transaction: the one it names, or a
/// new unlisted one made from the session.
pub(crate) async fn of_new_session(
    txn: &impl ConnectionTrait,
    work: &SessionWork,
    origin_center_id: i64,
    title: &str,
    description: &str,
) -> AppResult<i64> {
    match &work.production {
        Some(production) => Ok(production.id),
        None => Ok(insert(
            txn,
            origin_center_id,
            title,
            description,
            work.category,
            None,
        )
        .await?
        .id),
    }
}

/// In the transaction that publishes `perf`: its production becomes public (if it was not),
/// and every follower gets a `PRODUCTION_SCHEDULED` notification, in one statement.
pub(crate) async fn published(
    txn: &impl ConnectionTrait,
    perf: &performance::Model,
) -> AppResult<Notified> {
    let at = now();
    production::Entity::update_many()
        .col_expr(production::Column::ListedAt, Expr::value(at))
        .filter(production::Column::Id.eq(perf.production_id))
        .filter(production::Column::ListedAt.is_null())
        .exec(txn)
        .await?;
    let production = crate::db::found(
        production::Entity::find_by_id(perf.production_id)
            .one(txn)
            .await?,
        "production",
    )?;
    let host = crate::db::found(
        entity::center::Entity::find_by_id(perf.host_center_id)
            .one(txn)
            .await?,
        "center",
    )?;
    notifications::notify(
        txn,
        Recipients::FollowersOf(production.id),
        Note {
            kind: NotificationKind::ProductionScheduled,
            performance_id: Some(perf.id),
            production_id: Some(production.id),
            message: notifications::production_scheduled(
                &production.title,
                &host.name,
                perf.starts_at,
            ),
            waitlist_entry_id: None,
        },
    )
    .await
}

/// `productions(filter:, first:, after:)`: the productions the caller may see, oldest first,
/// keyset pages by id. Returns the page, whether more follow, and the total when asked.
pub async fn page(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    filter: &ProductionFilter,
    after_id: Option<i64>,
    first: u64,
    count: bool,
) -> AppResult<(Vec<production::Model>, bool, u64)> {
    let mut query = production::Entity::find().filter(visible_to(caller.staff_center()));
    if let Some(origin) = filter.origin_center_id {
        query = query.filter(production::Column::OriginCenterId.eq(origin));
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
        let like = |col: production::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(like(production::Column::Title))
                .add(like(production::Column::Description)),
        );
    }
    let total = if count {
        query.clone().count(conn).await?
    } else {
        0
    };
    if let Some(after) = after_id {
        query = query.filter(production::Column::Id.gt(after));
    }
    let (items, has_next) =
        super::catalog::page_of(conn, query.order_by_asc(production::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// `followProduction` (`follow`) and `unfollowProduction`: residents only (`FORBIDDEN` for
/// staff, `UNAUTHENTICATED` anonymously); idempotent.
pub async fn set_following(
    conn: &DatabaseConnection,
    caller: &Caller,
    id: i64,
    follow: bool,
) -> AppResult<production::Model> {
    let resident = caller.resident()?;
    let production = visible(conn, caller, id).await?;
    crate::write_txn!(conn, |txn| {
        let backend = txn.get_database_backend();
        let statement = if follow {
            Statement::from_sql_and_values(
                backend,
                "INSERT INTO production_follow (production_id, account_id, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (production_id, account_id) DO NOTHING",
                [production.id.into(), resident.into(), now().into()],
            )
        } else {
            Statement::from_sql_and_values(
                backend,
                "DELETE FROM production_follow WHERE production_id = $1 AND account_id = $2",
                [production.id.into(), resident.into()],
            )
        };
        txn.execute_raw(statement).await?;
        Ok(())
    })?;
    Ok(production)
}

/// How many residents follow production `id`.
pub async fn followers(conn: &impl ConnectionTrait, id: i64) -> AppResult<u64> {
    Ok(production_follow::Entity::find()
        .filter(production_follow::Column::ProductionId.eq(id))
        .count(conn)
        .await?)
}

/// Whether the caller follows production `id` (false for anyone but a resident).
pub async fn follows(conn: &impl ConnectionTrait, caller: &Caller, id: i64) -> AppResult<bool> {
    let Ok(resident) = caller.resident() else {
        return Ok(false);
    };
    Ok(production_follow::Entity::find_by_id((id, resident))
        .one(conn)
        .await?
        .is_some())
}

/// The demo loader's production of a work: found by origin, title and category, else made
/// (public: the demo's works are announced).
pub async fn ensure_listed(
    conn: &DatabaseConnection,
    origin_center_id: i64,
    title: &str,
    description: &str,
    category: PerformanceCategory,
) -> AppResult<i64> {
    let found = production::Entity::find()
        .filter(production::Column::OriginCenterId.eq(origin_center_id))
        .filter(production::Column::Title.eq(title))
        .filter(production::Column::Category.eq(category))
        .one(conn)
        .await?;
    if let Some(found) = found {
        return Ok(found.id);
    }
    let (title, description) = checked(title, description)?;
    let made = crate::write_txn!(conn, |txn| {
        insert(
            txn,
            origin_center_id,
            &title,
            &description,
            category,
            Some(now()),
        )
        .await
    })?;
    Ok(made.id)
}

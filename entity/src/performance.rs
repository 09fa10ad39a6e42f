//! The `performance` table.

use crate::enums::{PerformanceCategory, PerformanceStatus};
use sea_orm::entity::prelude::*;

/// One dated session of a production at a venue.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "performance")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub venue_id: i64,
    pub host_center_id: i64,
    pub origin_center_id: i64,
    pub allocation_id: Option<i64>,
    /// The production it stages (whose origin center is `origin_center_id`).
    pub production_id: i64,
    pub title: String,
    pub description: String,
    pub category: PerformanceCategory,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub status: PerformanceStatus,
    pub price_cents: i32,
    pub per_resident_limit: i32,
    pub booking_opens_at: Option<DateTimeUtc>,
    pub booking_closes_at: Option<DateTimeUtc>,
    pub capacity: i32,
    pub published_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub cancellation_reason: Option<String>,
    pub lock_version: i64,
    pub created_at: DateTimeUtc,
    /// When the no-show step settled its tickets (None: not ended, or not yet settled).
    pub no_shows_marked_at: Option<DateTimeUtc>,
    /// Until when seat shares hold (None: the performance has no shares).
    pub shares_release_at: Option<DateTimeUtc>,
    /// When the release step opened the shares to everyone (None: not yet).
    pub shares_released_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

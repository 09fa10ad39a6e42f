//! The `production` table.

use crate::enums::PerformanceCategory;
use sea_orm::entity::prelude::*;

/// The work that sessions stage (a 沪剧 production, an exhibition, the race), possibly at
/// several centers; every performance belongs to one, and shares its origin center.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "production")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub origin_center_id: i64,
    pub title: String,
    pub description: String,
    pub category: PerformanceCategory,
    pub created_at: DateTimeUtc,
    /// Since when it is public: its `createProduction`, or its first session's publication
    /// (None: it exists only for the staff of its origin center and its sessions' hosts).
    pub listed_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

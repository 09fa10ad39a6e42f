//! The `no_show` table.

use sea_orm::entity::prelude::*;

/// A booking none of whose tickets was checked in by the end of its performance: one
/// no-show of its holder, counted across every center unless the host center excused it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "no_show")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub booking_id: i64,
    pub account_id: i64,
    pub performance_id: i64,
    /// When it happened: the end of the performance.
    pub at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub excused_at: Option<DateTimeUtc>,
    pub excused_by: Option<i64>,
    pub excuse: Option<String>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

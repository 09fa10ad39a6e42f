//! The `booking_suspension` table.

use sea_orm::entity::prelude::*;

/// Until when a resident may not book or join a waiting list, after repeated no-shows.
/// Derived from the `no_show` rows, kept by the no-show step and by excuses.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_suspension")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    pub suspended_until: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `venue` table.

use crate::enums::{SeatingMode, VenueKind};
use sea_orm::entity::prelude::*;

/// A place owned by a center.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "venue")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub center_id: i64,
    pub name: String,
    pub address: String,
    pub kind: VenueKind,
    pub seating: SeatingMode,
    pub capacity: i32,
    pub lock_version: i64,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

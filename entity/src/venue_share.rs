//! The `venue_share` table.

use sea_orm::entity::prelude::*;

/// A center, other than the owner, that may host performances at a venue.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "venue_share")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub venue_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub center_id: i64,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

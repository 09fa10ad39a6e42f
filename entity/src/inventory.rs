//! The `inventory` table.

use sea_orm::entity::prelude::*;

/// One sellable seat or place of a published performance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inventory")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub seat_id: Option<i64>,
    pub place_no: i32,
    pub booking_id: Option<i64>,
    /// The waiting-list entry whose offer holds it (a held row is not free).
    pub held_by: Option<i64>,
    /// The seat pool a held row was counted against.
    pub held_pool: Option<i64>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

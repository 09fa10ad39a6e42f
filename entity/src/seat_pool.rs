//! The `seat_pool` table.

use sea_orm::entity::prelude::*;

/// One counting slot of a performance's seat share (`center_id` = the home center) or of
/// its open pool (`center_id` = 0): how many seats it has and how many are sold from it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "seat_pool")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub performance_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub center_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub slot: i32,
    pub seats: i32,
    pub booked: i32,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `resident_hold` table.

use sea_orm::entity::prelude::*;

/// How many live tickets one resident holds for one performance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resident_hold")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub performance_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    pub tickets: i32,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

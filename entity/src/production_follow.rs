//! The `production_follow` table.

use sea_orm::entity::prelude::*;

/// A resident follows a production: it is told when any center publishes a session of it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "production_follow")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub production_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

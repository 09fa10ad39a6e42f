//! The `seat` table.

use sea_orm::entity::prelude::*;

/// One numbered seat of a reserved venue.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "seat")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub venue_id: i64,
    pub section: String,
    pub row_label: String,
    pub number: i32,
    pub section_order: i32,
    pub row_rank: i32,
    pub row_size: i32,
    pub accessible: bool,
    pub label: String,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

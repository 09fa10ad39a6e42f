//! The `account` table.

use crate::enums::Role;
use sea_orm::entity::prelude::*;

/// A login: a resident, or a staff member of one center.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub center_id: Option<i64>,
    pub home_center_id: Option<i64>,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

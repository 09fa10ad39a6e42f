//! The `login_attempt` table.

use sea_orm::entity::prelude::*;

/// A login or registration attempt, counted for brute-force protection.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub account_id: Option<i64>,
    pub client_ip: String,
    pub attempted_at: DateTimeUtc,
    pub outcome: String,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

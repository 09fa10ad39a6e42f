//! The `password_reset` table.

use sea_orm::entity::prelude::*;

/// A password reset token, stored only as its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "password_reset")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub token_hash: String,
    /// The CENTER_ADMIN who issued it.
    pub issued_by: Option<i64>,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When it was used, or made void by a newer token or a reset.
    pub spent_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

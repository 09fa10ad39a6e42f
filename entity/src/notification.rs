//! The `notification` table.

use crate::enums::NotificationKind;
use sea_orm::entity::prelude::*;

/// Something one account is told, written with the event that causes it; also the outbox
/// that live delivery reads.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub kind: NotificationKind,
    pub created_at: DateTimeUtc,
    /// When the account marked it read (None: unread).
    pub read_at: Option<DateTimeUtc>,
    pub message: String,
    pub performance_id: Option<i64>,
    pub production_id: Option<i64>,
    /// The waiting-list entry it is about (offers and their expiry).
    pub waitlist_entry_id: Option<i64>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

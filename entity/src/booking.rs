//! The `booking` table.

use crate::enums::BookingStatus;
use sea_orm::entity::prelude::*;

/// One resident order of tickets for one performance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub account_id: i64,
    pub status: BookingStatus,
    pub quantity: i32,
    pub seats_together: bool,
    pub idempotency_key: Option<String>,
    pub request_fingerprint: String,
    pub created_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

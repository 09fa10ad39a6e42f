//! The `waitlist_entry` table.

use crate::enums::WaitlistStatus;
use sea_orm::entity::prelude::*;

/// A resident waiting for `quantity` seats of a sold-out performance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub account_id: i64,
    pub quantity: i32,
    pub status: WaitlistStatus,
    /// Offers made to entries behind it while it could not be filled.
    pub passed_over: i32,
    pub offered_at: Option<DateTimeUtc>,
    pub offer_expires_at: Option<DateTimeUtc>,
    pub booking_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `seasonal_allocation` table.

use crate::enums::AllocationStatus;
use sea_orm::entity::prelude::*;

/// The quarterly agreement that a provider center sends N exchange sessions to a host center.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "seasonal_allocation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub year: i32,
    pub quarter: i32,
    pub provider_center_id: i64,
    pub host_center_id: i64,
    pub proposed_by_center_id: i64,
    pub performance_quota: i32,
    pub performances_scheduled: i32,
    pub status: AllocationStatus,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `ticket` table.

use crate::enums::TicketStatus;
use sea_orm::entity::prelude::*;

/// Admission for one seat or place.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub booking_id: i64,
    pub performance_id: i64,
    pub inventory_id: i64,
    pub seat_id: Option<i64>,
    pub code: String,
    pub status: TicketStatus,
    pub checked_in_at: Option<DateTimeUtc>,
    pub checked_in_by: Option<i64>,
    /// The pool the seat was sold from: a home center's share, or 0 for the open pool.
    pub pool_center_id: i64,
    /// The holder's home center when the ticket was issued (none for a resident without
    /// one): what the exchange report's `byHomeCenter` counts.
    pub home_center_id: Option<i64>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

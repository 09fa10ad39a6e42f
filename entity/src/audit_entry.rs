//! The `audit_entry` table.

use sea_orm::entity::prelude::*;

/// One line of the append-only audit log: who did what, when, to which object.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// The account that acted; None for the command line and the demo loader.
    pub actor_id: Option<i64>,
    /// The center whose log it belongs to (None for residents' own account changes).
    pub center_id: Option<i64>,
    /// What was done, e.g. `performance.publish`.
    pub action: String,
    /// The GraphQL type of the object acted on, e.g. `Performance`.
    pub subject_type: Option<String>,
    /// Its row id.
    pub subject_id: Option<i64>,
    /// JSON text.
    pub details: Option<String>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

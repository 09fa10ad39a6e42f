use sea_orm_migration::prelude::*;

use crate::ddl;

/// `ticket.home_center_id`: the holder's home center when the ticket was issued.
///
/// The exchange report splits tickets by the holder's home center. Reading it through the
/// booking and the account cost two random lookups per ticket — at culture-cloud size a
/// year of one center's exchange sessions is ~150,000 tickets, seconds per report. Kept on
/// the ticket, it is read from the index the report walks: `ticket_performance_home_idx
/// (performance_id, status, home_center_id)`, an index-only scan, which replaces
/// `ticket_performance_status_idx (performance_id, status, booking_id)`. (A new name, not
/// the old one created again: on SQLite the statements of a migration may run on different
/// pooled connections, and re-creating the dropped name failed there as "already exists".)
///
/// It is also the right figure: a resident who moves later does not carry past attendances
/// to its new center, so a closed quarter's figures stay put (the seat pools count the same
/// home center, read in the booking's transaction). Existing tickets take their holder's
/// present home center, the best that is known of them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "ALTER TABLE ticket ADD COLUMN home_center_id {ID} REFERENCES center (id);
             UPDATE ticket SET home_center_id = (SELECT a.home_center_id FROM booking b
                 JOIN account a ON a.id = b.account_id WHERE b.id = ticket.booking_id);
             DROP INDEX ticket_performance_status_idx;
             CREATE INDEX ticket_performance_home_idx
                 ON ticket (performance_id, status, home_center_id)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "DROP INDEX ticket_performance_home_idx;
             CREATE INDEX ticket_performance_status_idx ON ticket (performance_id, status, booking_id);
             ALTER TABLE ticket DROP COLUMN home_center_id",
        )
        .await
    }
}

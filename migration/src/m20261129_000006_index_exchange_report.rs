use sea_orm_migration::prelude::*;

use crate::ddl;

/// The indexes the exchange report's two aggregate statements run on.
///
/// - `performance_exchange_idx`: the exchange sessions (origin ≠ host) by start, with every
///   column the sessions statement reads, so a year's sessions are one range of a small
///   partial index (the report never reads a center's own sessions);
/// - `ticket_performance_status_idx`: a session's tickets by status, with the booking to
///   reach the holder's home center. The ticket table had no index by performance at all
///   (cancelling a performance scanned every ticket); the no-show step uses it too.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "CREATE INDEX performance_exchange_idx
                 ON performance (starts_at, origin_center_id, host_center_id, status, ends_at, capacity)
                 WHERE origin_center_id <> host_center_id;
             CREATE INDEX ticket_performance_status_idx ON ticket (performance_id, status, booking_id)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "DROP INDEX ticket_performance_status_idx; DROP INDEX performance_exchange_idx",
        )
        .await
    }
}

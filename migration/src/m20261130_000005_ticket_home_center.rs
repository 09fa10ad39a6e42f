use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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
///
/// **On PostgreSQL it runs outside a transaction, so bookings go on while it runs.** One
/// `UPDATE` of every ticket would hold the row lock of each ticket it had written until it
/// ended (minutes for 10 M tickets: every cancellation, check-in and no-show step would
/// wait), and a plain `CREATE INDEX` blocks every ticket insert (every booking) for the
/// whole build. So the column is added (instant: nullable, no default), then filled in
/// batches of [`BATCH`] ids, each its own short statement, and the index is built and the
/// old one dropped `CONCURRENTLY`. Every step can run again: a migration interrupted
/// half-way is not recorded as applied, and the next start finishes it (an index left
/// invalid by an interrupted build is dropped and built again). New tickets written while it
/// runs carry the column already (the code that writes them is the code that migrates).
/// SQLite, a single machine's database with no concurrent writers to keep going, runs the
/// plain statements.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tickets filled by one statement of the PostgreSQL backfill.
const BATCH: i64 = 20_000;

/// The PostgreSQL path: each statement on its own, none holding locks for long.
async fn up_online(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    conn.execute_unprepared(
        "ALTER TABLE ticket ADD COLUMN IF NOT EXISTS home_center_id BIGINT REFERENCES center (id)",
    )
    .await?;
    let bounds = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COALESCE(MIN(id), 0) AS low, COALESCE(MAX(id), 0) AS high FROM ticket",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no ticket bounds".to_owned()))?;
    let low: i64 = bounds.try_get("", "low")?;
    let high: i64 = bounds.try_get("", "high")?;
    // Ids in (after, after + BATCH], from just below the lowest to the highest.
    let mut after = low - 1;
    while after < high {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE ticket t SET home_center_id = a.home_center_id \
             FROM booking b JOIN account a ON a.id = b.account_id \
             WHERE b.id = t.booking_id AND t.id > $1 AND t.id <= $2 AND t.home_center_id IS NULL",
            [after.into(), (after + BATCH).into()],
        ))
        .await?;
        after += BATCH;
    }
    conn.execute_unprepared(
        "DO $$ BEGIN
           IF EXISTS (SELECT 1 FROM pg_index
                      WHERE indexrelid = to_regclass('ticket_performance_home_idx') AND NOT indisvalid)
           THEN DROP INDEX ticket_performance_home_idx;
           END IF;
         END $$",
    )
    .await?;
    conn.execute_unprepared(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ticket_performance_home_idx \
         ON ticket (performance_id, status, home_center_id)",
    )
    .await?;
    conn.execute_unprepared("DROP INDEX CONCURRENTLY IF EXISTS ticket_performance_status_idx")
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Its own statements decide (see [`up_online`]): `CREATE INDEX CONCURRENTLY` cannot run
    /// inside a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            return up_online(manager).await;
        }
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

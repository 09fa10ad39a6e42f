use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::ddl;

/// No-shows: tickets still VALID when their performance ended become `NO_SHOW`; a booking
/// none of whose tickets was checked in is one `no_show` of its holder; repeated no-shows
/// give a `booking_suspension`.
///
/// - `no_show.booking_id` is the primary key, so a booking counts at most once whatever
///   number of instances run the no-show step at once;
/// - `performance.no_shows_marked_at` says the step has settled a performance; the partial
///   index `performance_no_shows_due_idx` holds only the published performances not yet
///   settled, so finding the ones that ended stays cheap however long the history grows;
/// - `no_show_account_idx` serves a resident's count and the suspension check.
///
/// SQLite cannot change a CHECK in place, so there the `ticket` table is rebuilt (nothing
/// references it) inside this migration's transaction.
#[derive(DeriveMigrationName)]
pub struct Migration;

const TICKET_STATUSES_NOW: &str = "('VALID', 'CHECKED_IN', 'CANCELLED', 'NO_SHOW')";
const TICKET_STATUSES_BEFORE: &str = "('VALID', 'CHECKED_IN', 'CANCELLED')";

/// The `ticket` table of migration 4, with the statuses allowed by `statuses`.
fn sqlite_ticket_rebuild(statuses: &str) -> String {
    format!(
        r#"
CREATE TABLE ticket_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking (id),
    performance_id INTEGER NOT NULL REFERENCES performance (id),
    inventory_id INTEGER NOT NULL REFERENCES inventory (id),
    seat_id INTEGER REFERENCES seat (id),
    code VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    checked_in_at TEXT,
    checked_in_by INTEGER REFERENCES account (id),
    CONSTRAINT ticket_status_valid CHECK (status IN {statuses}),
    CONSTRAINT ticket_check_in_recorded CHECK (
        (status = 'CHECKED_IN') = (checked_in_at IS NOT NULL AND checked_in_by IS NOT NULL)
        OR (status = 'CANCELLED')
    )
);
INSERT INTO ticket_rebuilt (id, booking_id, performance_id, inventory_id, seat_id, code, status, checked_in_at, checked_in_by)
    SELECT id, booking_id, performance_id, inventory_id, seat_id, code, status, checked_in_at, checked_in_by FROM ticket;
DROP TABLE ticket;
ALTER TABLE ticket_rebuilt RENAME TO ticket;
CREATE UNIQUE INDEX ticket_code_key ON ticket (code);
CREATE UNIQUE INDEX ticket_live_inventory_key ON ticket (inventory_id) WHERE status <> 'CANCELLED';
CREATE INDEX ticket_booking_idx ON ticket (booking_id)
"#
    )
}

fn postgres_ticket_statuses(statuses: &str) -> String {
    format!(
        "ALTER TABLE ticket DROP CONSTRAINT ticket_status_valid;
         ALTER TABLE ticket ADD CONSTRAINT ticket_status_valid CHECK (status IN {statuses})"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite too: the ticket rebuild is all or nothing, on one connection.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tickets = match manager.get_database_backend() {
            DbBackend::Postgres => postgres_ticket_statuses(TICKET_STATUSES_NOW),
            _ => sqlite_ticket_rebuild(TICKET_STATUSES_NOW),
        };
        ddl(manager, &tickets).await?;
        ddl(
            manager,
            r#"
ALTER TABLE performance ADD COLUMN no_shows_marked_at {TS};
CREATE INDEX performance_no_shows_due_idx ON performance (ends_at)
    WHERE status = 'PUBLISHED' AND no_shows_marked_at IS NULL;

CREATE TABLE no_show (
    booking_id {ID} PRIMARY KEY REFERENCES booking (id),
    account_id {ID} NOT NULL REFERENCES account (id),
    performance_id {ID} NOT NULL REFERENCES performance (id),
    at {TS} NOT NULL,
    recorded_at {TS} NOT NULL,
    excused_at {TS},
    excused_by {ID} REFERENCES account (id),
    excuse VARCHAR(2000),
    CONSTRAINT no_show_excuse_recorded CHECK (
        (excused_at IS NULL) = (excused_by IS NULL) AND (excused_at IS NULL) = (excuse IS NULL)
    )
);
CREATE INDEX no_show_account_idx ON no_show (account_id, at) WHERE excused_at IS NULL;

CREATE TABLE booking_suspension (
    account_id {ID} PRIMARY KEY REFERENCES account (id),
    suspended_until {TS} NOT NULL,
    updated_at {TS} NOT NULL
)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "DROP TABLE booking_suspension;
             DROP TABLE no_show;
             DROP INDEX performance_no_shows_due_idx;
             ALTER TABLE performance DROP COLUMN no_shows_marked_at;
             UPDATE ticket SET status = 'VALID' WHERE status = 'NO_SHOW'",
        )
        .await?;
        let tickets = match manager.get_database_backend() {
            DbBackend::Postgres => postgres_ticket_statuses(TICKET_STATUSES_BEFORE),
            _ => sqlite_ticket_rebuild(TICKET_STATUSES_BEFORE),
        };
        ddl(manager, &tickets).await
    }
}

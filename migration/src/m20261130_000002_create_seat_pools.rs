use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Seat shares by home center, and the counters that make `seatsAvailable` one small read.
///
/// `seat_pool` holds, per performance, the seats of each share (`center_id` = the home
/// center) and of the open pool (`center_id` = 0), each split into a few **slots** that
/// count what was sold from them. A booking raises one slot's `booked` (the parallel path
/// locks a slot nobody else holds, so bookings of one performance do not queue on a single
/// counter); the `seat_pool_within` CHECK guarantees that no pool sells more than it has,
/// whatever the code above does — that is invariant 8 of DOMAIN.md held by the database.
/// `ticket.pool_center_id` records where each ticket's seat came from, so a cancellation
/// gives it back there.
///
/// Existing performances get one open-pool slot with their inventory counted.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE seat_pool (
    performance_id {ID} NOT NULL REFERENCES performance (id) ON DELETE CASCADE,
    center_id {ID} NOT NULL,
    slot INTEGER NOT NULL,
    seats INTEGER NOT NULL,
    booked INTEGER NOT NULL,
    PRIMARY KEY (performance_id, center_id, slot),
    CONSTRAINT seat_pool_within CHECK (booked >= 0 AND booked <= seats)
);
ALTER TABLE performance ADD COLUMN shares_release_at {TS};
ALTER TABLE performance ADD COLUMN shares_released_at {TS};
ALTER TABLE ticket ADD COLUMN pool_center_id {ID} NOT NULL DEFAULT 0;
CREATE INDEX performance_shares_due_idx ON performance (shares_release_at)
    WHERE shares_release_at IS NOT NULL AND shares_released_at IS NULL;
INSERT INTO seat_pool (performance_id, center_id, slot, seats, booked)
    SELECT p.id, 0, 0, p.capacity, 0 FROM performance p
    WHERE NOT EXISTS (SELECT 1 FROM inventory i WHERE i.performance_id = p.id);
INSERT INTO seat_pool (performance_id, center_id, slot, seats, booked)
    SELECT performance_id, 0, 0, COUNT(*), COUNT(booking_id) FROM inventory GROUP BY performance_id
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["seat_pool"]).await
    }
}

use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// The per-performance inventory, bookings, tickets and per-resident holdings.
///
/// Each invariant has a database guard that holds whatever the application does:
/// - a seat (or general-admission place) is one `inventory` row, claimed by a conditional
///   `UPDATE … WHERE booking_id IS NULL`; and `ticket_live_inventory_key` lets at most one
///   non-cancelled ticket point at it;
/// - `resident_hold.tickets` is raised by a conditional upsert that refuses to pass the limit;
/// - a booking and its tickets are written in one transaction;
/// - `(account_id, idempotency_key)` is unique, so a retried request finds the first booking.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE booking (
    id {PK},
    performance_id {ID} NOT NULL REFERENCES performance (id),
    account_id {ID} NOT NULL REFERENCES account (id),
    status VARCHAR(16) NOT NULL,
    quantity INTEGER NOT NULL,
    seats_together BOOLEAN NOT NULL,
    idempotency_key VARCHAR(200),
    request_fingerprint VARCHAR(64) NOT NULL,
    created_at {TS} NOT NULL,
    cancelled_at {TS},
    CONSTRAINT booking_status_valid CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    CONSTRAINT booking_quantity_range CHECK (quantity BETWEEN 1 AND 100)
);
CREATE UNIQUE INDEX booking_idempotency_key ON booking (account_id, idempotency_key);
CREATE INDEX booking_account_idx ON booking (account_id, id);
CREATE INDEX booking_performance_idx ON booking (performance_id, id);

CREATE TABLE inventory (
    id {PK},
    performance_id {ID} NOT NULL REFERENCES performance (id) ON DELETE CASCADE,
    seat_id {ID} REFERENCES seat (id),
    place_no INTEGER NOT NULL,
    booking_id {ID} REFERENCES booking (id)
);
CREATE UNIQUE INDEX inventory_place_key ON inventory (performance_id, place_no);
CREATE UNIQUE INDEX inventory_seat_key ON inventory (performance_id, seat_id);
CREATE INDEX inventory_free_idx ON inventory (performance_id, place_no) WHERE booking_id IS NULL;
CREATE INDEX inventory_booking_idx ON inventory (booking_id);

CREATE TABLE ticket (
    id {PK},
    booking_id {ID} NOT NULL REFERENCES booking (id),
    performance_id {ID} NOT NULL REFERENCES performance (id),
    inventory_id {ID} NOT NULL REFERENCES inventory (id),
    seat_id {ID} REFERENCES seat (id),
    code VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    checked_in_at {TS},
    checked_in_by {ID} REFERENCES account (id),
    CONSTRAINT ticket_status_valid CHECK (status IN ('VALID', 'CHECKED_IN', 'CANCELLED')),
    CONSTRAINT ticket_check_in_recorded CHECK (
        (status = 'CHECKED_IN') = (checked_in_at IS NOT NULL AND checked_in_by IS NOT NULL)
        OR (status = 'CANCELLED')
    )
);
CREATE UNIQUE INDEX ticket_code_key ON ticket (code);
CREATE UNIQUE INDEX ticket_live_inventory_key ON ticket (inventory_id) WHERE status <> 'CANCELLED';
CREATE INDEX ticket_booking_idx ON ticket (booking_id);

CREATE TABLE resident_hold (
    performance_id {ID} NOT NULL REFERENCES performance (id) ON DELETE CASCADE,
    account_id {ID} NOT NULL REFERENCES account (id),
    tickets INTEGER NOT NULL,
    PRIMARY KEY (performance_id, account_id),
    CONSTRAINT resident_hold_nonnegative CHECK (tickets >= 0 AND tickets <= 100)
)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["resident_hold", "ticket", "inventory", "booking"],
        )
        .await
    }
}

use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// The waiting list: entries in joining order, and the seats held for their offers.
///
/// - `waitlist_live_key`: one live (WAITING or OFFERED) entry per resident and performance;
/// - `waitlist_queue_idx`: a performance's WAITING entries in joining order (the offer step
///   reads its head);
/// - `waitlist_offer_expiry_idx`: the open offers by expiry (the expiry step's range scan);
/// - `inventory.held_by` is the entry an inventory row is held for; a row is free only when
///   it is neither booked nor held, so a held seat can't be sold (`claim` and the parallel
///   statement both require `held_by IS NULL`) and is held for one entry at most.
///   `held_pool` remembers the seat pool the held seat was counted against (see
///   `seat_pool`), so accepting books it from there and declining gives it back there;
/// - `notification.waitlist_entry_id`: the entry an offer's notifications are about.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE waitlist_entry (
    id {PK},
    performance_id {ID} NOT NULL REFERENCES performance (id),
    account_id {ID} NOT NULL REFERENCES account (id),
    quantity INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL,
    passed_over INTEGER NOT NULL DEFAULT 0,
    offered_at {TS},
    offer_expires_at {TS},
    booking_id {ID} REFERENCES booking (id),
    created_at {TS} NOT NULL,
    resolved_at {TS},
    CONSTRAINT waitlist_status_valid CHECK (status IN
        ('WAITING', 'OFFERED', 'BOOKED', 'DECLINED', 'EXPIRED', 'LEFT', 'CANCELLED')),
    CONSTRAINT waitlist_quantity_range CHECK (quantity BETWEEN 1 AND 100),
    CONSTRAINT waitlist_offer_has_expiry CHECK (status <> 'OFFERED' OR offer_expires_at IS NOT NULL)
);
CREATE UNIQUE INDEX waitlist_live_key ON waitlist_entry (performance_id, account_id)
    WHERE status IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_queue_idx ON waitlist_entry (performance_id, id) WHERE status = 'WAITING';
CREATE INDEX waitlist_offer_expiry_idx ON waitlist_entry (offer_expires_at) WHERE status = 'OFFERED';
CREATE INDEX waitlist_account_idx ON waitlist_entry (account_id, id);
ALTER TABLE inventory ADD COLUMN held_by {ID} REFERENCES waitlist_entry (id);
ALTER TABLE inventory ADD COLUMN held_pool {ID};
CREATE INDEX inventory_held_idx ON inventory (held_by) WHERE held_by IS NOT NULL;
ALTER TABLE notification ADD COLUMN waitlist_entry_id {ID} REFERENCES waitlist_entry (id)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["waitlist_entry"]).await
    }
}

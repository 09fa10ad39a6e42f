use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Venues, the centers that share a venue, and the numbered seats of reserved venues.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE venue (
    id {PK},
    center_id {ID} NOT NULL REFERENCES center (id),
    name VARCHAR(200) NOT NULL,
    address VARCHAR(500) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    seating VARCHAR(32) NOT NULL,
    capacity INTEGER NOT NULL,
    lock_version BIGINT NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL,
    CONSTRAINT venue_kind_valid CHECK (kind IN ('THEATER', 'HALL', 'GALLERY', 'OUTDOOR')),
    CONSTRAINT venue_seating_valid CHECK (seating IN ('RESERVED', 'GENERAL_ADMISSION')),
    CONSTRAINT venue_capacity_range CHECK (capacity BETWEEN 1 AND 100000)
);
CREATE UNIQUE INDEX venue_center_name_key ON venue (center_id, name);

CREATE TABLE venue_share (
    venue_id {ID} NOT NULL REFERENCES venue (id) ON DELETE CASCADE,
    center_id {ID} NOT NULL REFERENCES center (id),
    PRIMARY KEY (venue_id, center_id)
);

CREATE TABLE seat (
    id {PK},
    venue_id {ID} NOT NULL REFERENCES venue (id) ON DELETE CASCADE,
    section VARCHAR(100) NOT NULL,
    row_label VARCHAR(32) NOT NULL,
    number INTEGER NOT NULL,
    section_order INTEGER NOT NULL,
    row_rank INTEGER NOT NULL,
    row_size INTEGER NOT NULL,
    accessible BOOLEAN NOT NULL DEFAULT FALSE,
    label VARCHAR(200) NOT NULL,
    CONSTRAINT seat_number_positive CHECK (number >= 1)
);
CREATE UNIQUE INDEX seat_position_key ON seat (venue_id, section, row_label, number)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["seat", "venue_share", "venue"]).await
    }
}

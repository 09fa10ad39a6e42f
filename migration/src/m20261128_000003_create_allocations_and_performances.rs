use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Seasonal allocations and performances.
///
/// `performances_scheduled` never passes `performance_quota` (a CHECK), and is only ever
/// changed by a conditional `UPDATE` in the same transaction that links or unlinks a
/// performance, so concurrent schedulers on any number of instances cannot overbook a quota.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE seasonal_allocation (
    id {PK},
    year INTEGER NOT NULL,
    quarter INTEGER NOT NULL,
    provider_center_id {ID} NOT NULL REFERENCES center (id),
    host_center_id {ID} NOT NULL REFERENCES center (id),
    proposed_by_center_id {ID} NOT NULL REFERENCES center (id),
    performance_quota INTEGER NOT NULL,
    performances_scheduled INTEGER NOT NULL DEFAULT 0,
    status VARCHAR(16) NOT NULL,
    note VARCHAR(2000),
    created_at {TS} NOT NULL,
    responded_at {TS},
    CONSTRAINT allocation_quarter_range CHECK (quarter BETWEEN 1 AND 4),
    CONSTRAINT allocation_year_range CHECK (year BETWEEN 2000 AND 2200),
    CONSTRAINT allocation_two_parties CHECK (provider_center_id <> host_center_id),
    CONSTRAINT allocation_proposer_is_party CHECK (
        proposed_by_center_id = provider_center_id OR proposed_by_center_id = host_center_id
    ),
    CONSTRAINT allocation_quota_range CHECK (performance_quota BETWEEN 1 AND 1000),
    CONSTRAINT allocation_quota_not_exceeded CHECK (
        performances_scheduled >= 0 AND performances_scheduled <= performance_quota
    ),
    CONSTRAINT allocation_status_valid CHECK (status IN ('PROPOSED', 'ACCEPTED', 'DECLINED', 'WITHDRAWN'))
);
CREATE UNIQUE INDEX allocation_open_per_season_key
    ON seasonal_allocation (year, quarter, provider_center_id, host_center_id)
    WHERE status IN ('PROPOSED', 'ACCEPTED');

CREATE TABLE performance (
    id {PK},
    venue_id {ID} NOT NULL REFERENCES venue (id),
    host_center_id {ID} NOT NULL REFERENCES center (id),
    origin_center_id {ID} NOT NULL REFERENCES center (id),
    allocation_id {ID} REFERENCES seasonal_allocation (id),
    title VARCHAR(200) NOT NULL,
    description VARCHAR(5000) NOT NULL,
    category VARCHAR(16) NOT NULL,
    starts_at {TS} NOT NULL,
    ends_at {TS} NOT NULL,
    status VARCHAR(16) NOT NULL,
    price_cents INTEGER NOT NULL DEFAULT 0,
    per_resident_limit INTEGER NOT NULL,
    booking_opens_at {TS},
    booking_closes_at {TS},
    capacity INTEGER NOT NULL,
    published_at {TS},
    cancelled_at {TS},
    cancellation_reason VARCHAR(2000),
    lock_version BIGINT NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL,
    CONSTRAINT performance_category_valid CHECK (category IN
        ('OPERA', 'DRAMA', 'CONCERT', 'DANCE', 'GALA', 'EXHIBITION', 'SPORT', 'LECTURE', 'OTHER')),
    CONSTRAINT performance_status_valid CHECK (status IN ('DRAFT', 'PUBLISHED', 'CANCELLED')),
    CONSTRAINT performance_ends_after_start CHECK (ends_at > starts_at),
    CONSTRAINT performance_price_range CHECK (price_cents BETWEEN 0 AND 100000000),
    CONSTRAINT performance_limit_range CHECK (per_resident_limit BETWEEN 1 AND 100),
    CONSTRAINT performance_capacity_range CHECK (capacity BETWEEN 1 AND 100000),
    CONSTRAINT performance_window_before_start CHECK (booking_closes_at IS NULL OR booking_closes_at <= starts_at),
    CONSTRAINT performance_cancel_reason CHECK (status <> 'CANCELLED' OR cancellation_reason IS NOT NULL)
);
CREATE INDEX performance_venue_time_idx ON performance (venue_id, starts_at);
CREATE INDEX performance_status_time_idx ON performance (status, starts_at, id);
CREATE INDEX performance_host_idx ON performance (host_center_id, starts_at);
CREATE INDEX performance_allocation_idx ON performance (allocation_id)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["performance", "seasonal_allocation"]).await
    }
}

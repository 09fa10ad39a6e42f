use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Notifications: what an account is told (a followed production's new session, a
/// cancelled performance, a suspension), one row per account and event.
///
/// The table is also the outbox of live delivery: rows are written in the transaction of
/// the event that causes them, and subscriptions read `id > last sent` for their account.
/// `notification_account_idx` serves that read and `myNotifications`;
/// `notification_unread_idx` holds only unread rows, for `unreadOnly` and
/// `markNotificationsRead`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE notification (
    id {PK},
    account_id {ID} NOT NULL REFERENCES account (id),
    kind VARCHAR(32) NOT NULL,
    created_at {TS} NOT NULL,
    read_at {TS},
    message VARCHAR(1000) NOT NULL,
    performance_id {ID} REFERENCES performance (id),
    production_id {ID} REFERENCES production (id),
    CONSTRAINT notification_kind_valid CHECK (kind IN ('WAITLIST_OFFER', 'OFFER_EXPIRED',
        'PRODUCTION_SCHEDULED', 'PERFORMANCE_CANCELLED', 'BOOKING_SUSPENDED'))
);
CREATE INDEX notification_account_idx ON notification (account_id, id);
CREATE INDEX notification_unread_idx ON notification (account_id, id) WHERE read_at IS NULL
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["notification"]).await
    }
}

use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Password reset tokens a CENTER_ADMIN issues for its staff: stored only as the SHA-256 of
/// the token, single use (`spent_at`, set by a conditional `UPDATE`), valid 24 hours.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE password_reset (
    id {PK},
    account_id {ID} NOT NULL REFERENCES account (id),
    token_hash VARCHAR(64) NOT NULL,
    issued_by {ID} REFERENCES account (id),
    issued_at {TS} NOT NULL,
    expires_at {TS} NOT NULL,
    spent_at {TS}
);
CREATE UNIQUE INDEX password_reset_token_hash_key ON password_reset (token_hash);
CREATE INDEX password_reset_account_idx ON password_reset (account_id)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["password_reset"]).await
    }
}

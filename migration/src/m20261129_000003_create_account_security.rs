use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Per-account security state, kept out of `account` itself: the token epoch (access tokens
/// carry the epoch they were issued under; deactivation, a role change and a password reset
/// raise it), when it last changed (indexed: each instance reloads the accounts changed
/// within an access token's lifetime), the one session a password change keeps, and when
/// the password last changed (login failures before it no longer count). An account
/// without a row has epoch 0 and has never changed its password.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE account_security (
    account_id {ID} PRIMARY KEY REFERENCES account (id),
    token_epoch {ID} NOT NULL,
    token_epoch_at {TS} NOT NULL,
    epoch_kept_session VARCHAR(64),
    epoch_kept_from {ID},
    password_changed_at {TS},
    CONSTRAINT account_security_kept_whole CHECK ((epoch_kept_session IS NULL) = (epoch_kept_from IS NULL))
);
CREATE INDEX account_security_token_epoch_at_idx ON account_security (token_epoch_at)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["account_security"]).await
    }
}

use sea_orm_migration::prelude::*;

use crate::ddl;

/// What lets every instance refuse an account's access tokens within seconds: a token epoch
/// (access tokens carry the epoch they were issued under; deactivation, a role change and a
/// password reset raise it), when it last changed (indexed: each instance reloads the
/// accounts changed within an access token's lifetime), and the one session a password
/// change keeps. `password_changed_at` ends the login lockout's count of failures made
/// against the old password.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
ALTER TABLE account ADD COLUMN token_epoch {ID} NOT NULL DEFAULT 0;
ALTER TABLE account ADD COLUMN token_epoch_at {TS};
ALTER TABLE account ADD COLUMN epoch_kept_session VARCHAR(64);
ALTER TABLE account ADD COLUMN epoch_kept_from {ID};
ALTER TABLE account ADD COLUMN password_changed_at {TS};
CREATE INDEX account_token_epoch_at_idx ON account (token_epoch_at)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
DROP INDEX account_token_epoch_at_idx;
ALTER TABLE account DROP COLUMN password_changed_at;
ALTER TABLE account DROP COLUMN epoch_kept_from;
ALTER TABLE account DROP COLUMN epoch_kept_session;
ALTER TABLE account DROP COLUMN token_epoch_at;
ALTER TABLE account DROP COLUMN token_epoch
"#,
        )
        .await
    }
}

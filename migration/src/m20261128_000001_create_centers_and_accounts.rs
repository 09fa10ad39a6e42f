use sea_orm_migration::prelude::*;

use crate::{ddl, drop_tables};

/// Centers (the tenant boundary), accounts, refresh sessions and login attempts.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE center (
    id {PK},
    code VARCHAR(32) NOT NULL,
    name VARCHAR(200) NOT NULL,
    region VARCHAR(200) NOT NULL,
    created_at {TS} NOT NULL,
    CONSTRAINT center_code_format CHECK (length(code) BETWEEN 2 AND 32)
);
CREATE UNIQUE INDEX center_code_key ON center (code);

CREATE TABLE account (
    id {PK},
    email VARCHAR(320) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    display_name VARCHAR(200) NOT NULL,
    role VARCHAR(16) NOT NULL,
    center_id {ID} REFERENCES center (id),
    home_center_id {ID} REFERENCES center (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {TS} NOT NULL,
    CONSTRAINT account_role_valid CHECK (role IN ('RESIDENT', 'CENTER_ADMIN', 'SCHEDULER', 'USHER')),
    CONSTRAINT account_role_center CHECK (
        (role = 'RESIDENT' AND center_id IS NULL AND home_center_id IS NOT NULL)
        OR (role <> 'RESIDENT' AND center_id IS NOT NULL)
    ),
    CONSTRAINT account_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX account_email_key ON account (email);
CREATE INDEX account_center_idx ON account (center_id);

CREATE TABLE refresh_session (
    id {PK},
    account_id {ID} NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    family_id VARCHAR(64) NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    issued_at {TS} NOT NULL,
    expires_at {TS} NOT NULL,
    used_at {TS},
    revoked_at {TS}
);
CREATE UNIQUE INDEX refresh_session_token_hash_key ON refresh_session (token_hash);
CREATE INDEX refresh_session_family_idx ON refresh_session (family_id);

CREATE TABLE login_attempt (
    id {PK},
    kind VARCHAR(16) NOT NULL,
    account_id {ID} REFERENCES account (id) ON DELETE CASCADE,
    client_ip VARCHAR(64) NOT NULL,
    attempted_at {TS} NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    CONSTRAINT login_attempt_kind_valid CHECK (kind IN ('LOGIN', 'REGISTER')),
    CONSTRAINT login_attempt_outcome_valid CHECK (outcome IN ('PENDING', 'SUCCESS', 'FAILURE', 'REFUSED'))
);
CREATE INDEX login_attempt_account_idx ON login_attempt (account_id, attempted_at);
CREATE INDEX login_attempt_ip_idx ON login_attempt (client_ip, attempted_at)
"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["login_attempt", "refresh_session", "account", "center"],
        )
        .await
    }
}

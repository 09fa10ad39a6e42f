use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::{ddl, drop_tables};

/// The audit log: who did what, when, to which object (DOMAIN.md invariant 10).
///
/// Rows are only ever inserted, in the transaction of the change they record. The database
/// itself refuses to change or remove them: on PostgreSQL a trigger raises on `UPDATE`,
/// `DELETE` and `TRUNCATE`; on SQLite triggers abort `UPDATE` and `DELETE`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE audit_entry (
    id {PK},
    at {TS} NOT NULL,
    actor_id {ID} REFERENCES account (id),
    center_id {ID} REFERENCES center (id),
    action VARCHAR(64) NOT NULL,
    subject_type VARCHAR(32),
    subject_id {ID},
    details TEXT,
    CONSTRAINT audit_entry_subject_whole CHECK ((subject_type IS NULL) = (subject_id IS NULL))
);
CREATE INDEX audit_entry_center_idx ON audit_entry (center_id, id);
CREATE INDEX audit_entry_center_action_idx ON audit_entry (center_id, action, id)
"#,
        )
        .await?;
        // Trigger bodies contain `;`, so they are sent whole rather than through `ddl`.
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(
                    "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP \
                     USING ERRCODE = 'insufficient_privilege'; END $$",
                )
                .await?;
                conn.execute_unprepared(
                    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry \
                     FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
                )
                .await?;
                conn.execute_unprepared(
                    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry \
                     FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
                )
                .await?;
            }
            _ => {
                for op in ["UPDATE", "DELETE"] {
                    conn.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_entry_no_{} BEFORE {op} ON audit_entry \
                         BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
                        op.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["audit_entry"]).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS audit_entry_append_only()")
                .await?;
        }
        Ok(())
    }
}

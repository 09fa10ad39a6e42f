use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::{ddl, work_title};

/// Productions: the work that sessions stage, possibly at several centers, and the residents
/// who follow one.
///
/// `listed_at` says since when a production is public: from its `createProduction` (a work
/// announced so residents can follow it) or its first session's publication. Until then it
/// exists only for its origin center's staff and those of the centers hosting its sessions,
/// as a draft does, so a production made for a draft reveals nothing.
///
/// Every performance gets one. Existing performances are grouped by origin center, the title
/// of the work ([`work_title`]: the session's title without a series prefix or an extra-night
/// note, so "接轨上海 精品文艺系列展演：沪剧《大雷雨》" and "沪剧《大雷雨》（平湖加演）" are
/// both 《大雷雨》) and category; each group becomes one production with its earliest
/// session's description. Afterwards `performance.production_id` is required, and the
/// performance's origin center must be its production's:
///
/// - PostgreSQL: `production_id NOT NULL` and the foreign key `performance_production_fk`
///   on `(production_id, origin_center_id)`;
/// - SQLite cannot add a foreign key or `NOT NULL` to an existing table's column (and the
///   `performance` table, which many tables reference, cannot be rebuilt with foreign keys
///   on), so the column is `NOT NULL DEFAULT 0` and triggers refuse a row whose production
///   does not exist or has another origin.
#[derive(DeriveMigrationName)]
pub struct Migration;

const TRIGGER_CONDITION: &str = "NOT EXISTS (SELECT 1 FROM production \
     WHERE production.id = NEW.production_id AND production.origin_center_id = NEW.origin_center_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // The backfill is all or nothing, on SQLite too.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            r#"
CREATE TABLE production (
    id {PK},
    origin_center_id {ID} NOT NULL REFERENCES center (id),
    title VARCHAR(200) NOT NULL,
    description VARCHAR(5000) NOT NULL,
    category VARCHAR(16) NOT NULL,
    created_at {TS} NOT NULL,
    listed_at {TS},
    CONSTRAINT production_category_valid CHECK (category IN
        ('OPERA', 'DRAMA', 'CONCERT', 'DANCE', 'GALA', 'EXHIBITION', 'SPORT', 'LECTURE', 'OTHER')),
    CONSTRAINT production_id_origin_key UNIQUE (id, origin_center_id)
);
CREATE INDEX production_origin_idx ON production (origin_center_id, id);

CREATE TABLE production_follow (
    production_id {ID} NOT NULL REFERENCES production (id),
    account_id {ID} NOT NULL REFERENCES account (id),
    created_at {TS} NOT NULL,
    PRIMARY KEY (production_id, account_id)
);
CREATE INDEX production_follow_account_idx ON production_follow (account_id)
"#,
        )
        .await?;
        let backend = manager.get_database_backend();
        match backend {
            DbBackend::Postgres => {
                ddl(
                    manager,
                    "ALTER TABLE performance ADD COLUMN production_id BIGINT",
                )
                .await?
            }
            _ => {
                ddl(
                    manager,
                    "ALTER TABLE performance ADD COLUMN production_id INTEGER NOT NULL DEFAULT 0",
                )
                .await?
            }
        }
        backfill(manager).await?;
        let conn = manager.get_connection();
        match backend {
            DbBackend::Postgres => {
                ddl(
                    manager,
                    "ALTER TABLE performance ALTER COLUMN production_id SET NOT NULL;
                     ALTER TABLE performance ADD CONSTRAINT performance_production_fk
                         FOREIGN KEY (production_id, origin_center_id)
                         REFERENCES production (id, origin_center_id)",
                )
                .await?;
            }
            _ => {
                // Trigger bodies contain `;`, so they are sent whole rather than through `ddl`.
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER performance_production_insert BEFORE INSERT ON performance \
                     WHEN {TRIGGER_CONDITION} \
                     BEGIN SELECT RAISE(ABORT, 'performance_production_fk'); END"
                ))
                .await?;
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER performance_production_update \
                     BEFORE UPDATE OF production_id, origin_center_id ON performance \
                     WHEN {TRIGGER_CONDITION} \
                     BEGIN SELECT RAISE(ABORT, 'performance_production_fk'); END"
                ))
                .await?;
            }
        }
        ddl(
            manager,
            "CREATE INDEX performance_production_idx ON performance (production_id, status, starts_at, id)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared("DROP INDEX performance_production_idx")
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(
                    "ALTER TABLE performance DROP CONSTRAINT performance_production_fk",
                )
                .await?;
            }
            _ => {
                conn.execute_unprepared("DROP TRIGGER performance_production_insert")
                    .await?;
                conn.execute_unprepared("DROP TRIGGER performance_production_update")
                    .await?;
            }
        }
        conn.execute_unprepared("ALTER TABLE performance DROP COLUMN production_id")
            .await?;
        conn.execute_unprepared("DROP TABLE production_follow")
            .await?;
        conn.execute_unprepared("DROP TABLE production").await?;
        Ok(())
    }
}

/// One production per (origin center, title of the work, category) of the existing
/// performances, each linked to its sessions. The production takes its earliest session's
/// description and creation time.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let backend = manager.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, origin_center_id, title, category FROM performance ORDER BY id",
        ))
        .await?;
    // (origin, work, category) → its sessions, the earliest first.
    let mut groups: BTreeMap<(i64, String, String), Vec<i64>> = BTreeMap::new();
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let origin: i64 = row.try_get("", "origin_center_id")?;
        let title: String = row.try_get("", "title")?;
        let category: String = row.try_get("", "category")?;
        groups
            .entry((origin, work_title(&title).to_owned(), category))
            .or_default()
            .push(id);
    }
    for ((_, work, _), sessions) in groups {
        let created = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO production (origin_center_id, title, description, category, created_at) \
                 SELECT origin_center_id, $1, description, category, created_at \
                 FROM performance WHERE id = $2 RETURNING id",
                [work.into(), sessions[0].into()],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("INSERT … RETURNING gave no row".to_owned()))?;
        let production: i64 = created.try_get("", "id")?;
        for chunk in sessions.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let mut values: Vec<Value> = vec![production.into()];
            values.extend(chunk.iter().map(|id| Value::from(*id)));
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE performance SET production_id = $1 WHERE id IN ({})",
                    placeholders.join(", ")
                ),
                values,
            ))
            .await?;
        }
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE production SET listed_at = (SELECT MIN(COALESCE(published_at, cancelled_at)) \
             FROM performance WHERE production_id = $1 AND status <> 'DRAFT') WHERE id = $2",
            [production.into(), production.into()],
        ))
        .await?;
    }
    Ok(())
}

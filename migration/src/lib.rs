//! Schema migrations for Zouqin, written once for SQLite and PostgreSQL.
//!
//! The DDL is plain SQL with three placeholders that [`ddl`] fills per backend, so the
//! constraints that carry the invariants of DOMAIN.md (named CHECKs, partial unique
//! indexes, foreign keys) read exactly as the database will see them.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

mod m20261128_000001_create_centers_and_accounts;
mod m20261128_000002_create_venues_and_seats;
mod m20261128_000003_create_allocations_and_performances;
mod m20261128_000004_create_bookings_and_tickets;
mod m20261129_000001_create_audit_entries;
mod m20261129_000002_create_password_resets;
mod m20261129_000003_create_account_security;
mod m20261129_000005_record_no_shows;
mod m20261129_000006_index_exchange_report;
mod m20261129_000010_create_productions;
mod m20261129_000011_create_notifications;
mod m20261130_000002_create_seat_pools;
mod m20261130_000003_index_performance_lists;
mod m20261130_000004_create_waitlist;
mod m20261130_000005_ticket_home_center;

/// Lists every migration in the order it runs.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_centers_and_accounts::Migration),
            Box::new(m20261128_000002_create_venues_and_seats::Migration),
            Box::new(m20261128_000003_create_allocations_and_performances::Migration),
            Box::new(m20261128_000004_create_bookings_and_tickets::Migration),
            Box::new(m20261129_000001_create_audit_entries::Migration),
            Box::new(m20261129_000002_create_password_resets::Migration),
            Box::new(m20261129_000003_create_account_security::Migration),
            Box::new(m20261129_000005_record_no_shows::Migration),
            Box::new(m20261129_000006_index_exchange_report::Migration),
            Box::new(m20261129_000010_create_productions::Migration),
            Box::new(m20261129_000011_create_notifications::Migration),
            Box::new(m20261130_000002_create_seat_pools::Migration),
            Box::new(m20261130_000003_index_performance_lists::Migration),
            Box::new(m20261130_000004_create_waitlist::Migration),
            Box::new(m20261130_000005_ticket_home_center::Migration),
        ]
    }
}

/// Runs each `;`-separated statement of `sql`, after replacing the backend placeholders:
/// `{PK}` an auto-increment 64-bit primary key, `{ID}` a 64-bit reference, `{TS}` an instant.
///
/// On SQLite instants are RFC 3339 text written by one encoder (sqlx's), so their order as
/// text is their order in time; on PostgreSQL they are `timestamptz`.
pub(crate) async fn ddl(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let (pk, id, ts) = match backend {
        DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT", "TIMESTAMPTZ"),
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "TEXT"),
    };
    let sql = sql
        .replace("{PK}", pk)
        .replace("{ID}", id)
        .replace("{TS}", ts);
    let conn = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Drops the tables named, children first.
pub(crate) async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for table in tables {
        conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await?;
    }
    Ok(())
}

/// The title of the work a session stages: its title without a series prefix (up to the
/// last full-width colon, "接轨上海 精品文艺系列展演：") and without a trailing full-width
/// parenthesised note ("（平湖加演）"). Sessions of one origin center and category with the
/// same work title belong to one production (the productions migration and the demo loader
/// group them so).
pub fn work_title(title: &str) -> &str {
    let whole = title.trim();
    let work = whole
        .rsplit_once('：')
        .map_or(whole, |(_, work)| work.trim());
    let work = match work.strip_suffix('）').and_then(|t| t.rsplit_once('（')) {
        Some((bare, _)) => bare.trim(),
        None => work,
    };
    if work.is_empty() { whole } else { work }
}

#[cfg(test)]
mod tests {
    use super::work_title;

    #[test]
    fn the_work_title_drops_the_series_prefix_and_the_extra_night_note() {
        assert_eq!(work_title("沪剧《大雷雨》"), "沪剧《大雷雨》");
        assert_eq!(
            work_title("接轨上海 精品文艺系列展演：沪剧《大雷雨》"),
            "沪剧《大雷雨》"
        );
        assert_eq!(work_title("沪剧《大雷雨》（平湖加演）"), "沪剧《大雷雨》");
        assert_eq!(work_title("（加演）"), "（加演）");
        assert_eq!(work_title("系列："), "系列：");
        assert_eq!(work_title("Swan Lake"), "Swan Lake");
    }
}

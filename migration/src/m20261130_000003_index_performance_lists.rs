use sea_orm_migration::prelude::*;

use crate::ddl;

/// The indexes the `performances` list needs at size (issue 17: 200,000 performances),
/// found by the plan test (`tests/api/plans.rs`) on a generated database. Each serves one
/// shape of the list, in its order (`startsAt`, then `id`), so a page reads its rows from
/// an index range under the `LIMIT` instead of sorting every match:
///
/// - `performance_time_idx` (`starts_at, id`): the list without a filter (and with the
///   filters no index narrows: `search`, and the staff's "public or our drafts"), forward
///   and backward. Before it, every page sorted the whole table.
/// - `performance_origin_time_idx` (`origin_center_id, starts_at, id`): `originCenterId`
///   (a center's productions wherever they play), its pages and its `totalCount`.
/// - `performance_category_time_idx` (`category, starts_at, id`): `category`, its pages
///   and its `totalCount`.
///
/// Plain B-tree indexes: SQLite uses them for the same filters and order.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "CREATE INDEX performance_time_idx ON performance (starts_at, id);
             CREATE INDEX performance_origin_time_idx ON performance (origin_center_id, starts_at, id);
             CREATE INDEX performance_category_time_idx ON performance (category, starts_at, id)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl(
            manager,
            "DROP INDEX performance_category_time_idx;
             DROP INDEX performance_origin_time_idx;
             DROP INDEX performance_time_idx",
        )
        .await
    }
}

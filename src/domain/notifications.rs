//! Notifications: what an account is told, stored per account and pushed live.
//!
//! **Written with their event.** Every notification is inserted by [`notify`], inside the
//! transaction of the event that causes it (a publication, a cancellation, a suspension), as
//! one `INSERT … SELECT` over whoever it goes to (a production's followers, a performance's
//! booking holders), so it costs one statement whatever their number, and a change that rolls
//! back leaves none. The table is the outbox: nothing else needs to be delivered.
//!
//! **Numbered in commit order.** On PostgreSQL [`notify`] first takes one transaction-scoped
//! advisory lock ([`NOTIFICATION_WRITERS`]), held until its transaction ends, so transactions
//! that notify take their ids and commit one after the other: once a reader has seen id `n`,
//! no notification below `n` can still appear. (SQLite's writers take turns anyway.) Events
//! that notify are staff actions and the no-show step, so this queue is short. The waiting
//! list's offers are to go through [`notify`] too.
//!
//! **Pushed live.** Each `notificationAdded` stream remembers the last id it sent and reads
//! `id > last` of its account whenever it wakes: on a signal, or every
//! [`FALLBACK_POLL`] in case a signal was lost. On PostgreSQL the signal is a `pg_notify`
//! issued in the same transaction (delivered to every instance on commit) carrying the account
//! ids; on SQLite the caller wakes the local streams after commit
//! ([`Realtime::notified`](crate::realtime::Realtime::notified)). A signal carries no data, so
//! a lost, late or repeated one never loses or repeats a notification: each is sent once, in
//! order, by every open stream of its account.
//!
//! **Visible only to their account**: anyone else gets `NOT_FOUND` (also through `node(id:)`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::NotificationKind;
use entity::notification;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::now;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::realtime::NOTIFICATION_CHANNEL;

/// The advisory-lock class that numbers notifications in commit order (see the module
/// documentation).
pub(crate) const NOTIFICATION_WRITERS: i32 = 0x7a71_0002;
/// How often an open stream reads its account's notifications without a signal.
pub const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// Largest signal payload: past it the signal wakes every stream instead of naming accounts.
const MAX_SIGNAL: usize = 7_000;
/// Most ids `markNotificationsRead(ids:)` takes at once.
pub const MAX_MARKED: usize = 1_000;

/// Who a notification goes to.
#[derive(Debug, Clone, Copy)]
pub enum Recipients<'a> {
    /// These accounts.
    Accounts(&'a [i64]),
    /// Every resident who follows the production.
    FollowersOf(i64),
    /// Every holder of a CONFIRMED booking of the performance.
    BookingHoldersOf(i64),
}

/// What a notification says.
#[derive(Debug, Clone)]
pub struct Note {
    /// Its kind.
    pub kind: NotificationKind,
    /// The performance it is about.
    pub performance_id: Option<i64>,
    /// The production it is about.
    pub production_id: Option<i64>,
    /// The sentence shown.
    pub message: String,
    /// The waiting-list entry it is about.
    pub waitlist_entry_id: Option<i64>,
}

/// The accounts a transaction notified; after it commits, hand them to
/// [`Realtime::notified`](crate::realtime::Realtime::notified).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notified(pub Vec<i64>);

impl Notified {
    /// Adds another statement's accounts.
    pub fn extend(&mut self, other: Notified) {
        self.0.extend(other.0);
    }
}

#[derive(FromQueryResult)]
struct Recipient {
    account_id: i64,
}

/// Writes one notification per recipient, in the caller's transaction, and (on PostgreSQL)
/// signals every instance on commit. Returns who was notified.
pub async fn notify(
    txn: &impl ConnectionTrait,
    to: Recipients<'_>,
    note: Note,
) -> AppResult<Notified> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1::int4, 0)",
            [NOTIFICATION_WRITERS.into()],
        ))
        .await?;
    }
    let mut values: Vec<sea_orm::Value> = vec![
        note.kind.as_str().into(),
        now().into(),
        note.message.into(),
        note.performance_id.into(),
        note.production_id.into(),
        note.waitlist_entry_id.into(),
    ];
    let source = match to {
        Recipients::Accounts([]) => return Ok(Notified::default()),
        Recipients::Accounts(ids) => {
            let placeholders: Vec<String> = (7..ids.len() + 7).map(|i| format!("${i}")).collect();
            values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
            format!(
                "SELECT id AS account_id FROM account WHERE id IN ({}) ORDER BY id",
                placeholders.join(", ")
            )
        }
        Recipients::FollowersOf(production) => {
            values.push(production.into());
            "SELECT account_id FROM production_follow WHERE production_id = $7 ORDER BY account_id"
                .to_owned()
        }
        Recipients::BookingHoldersOf(performance) => {
            values.push(performance.into());
            "SELECT DISTINCT account_id FROM booking \
             WHERE performance_id = $7 AND status = 'CONFIRMED' ORDER BY account_id"
                .to_owned()
        }
    };
    let sql = format!(
        "INSERT INTO notification (account_id, kind, created_at, message, performance_id, \
                                   production_id, waitlist_entry_id) \
         SELECT r.account_id, $1, $2, $3, $4, $5, $6 FROM ({source}) r \
         RETURNING account_id"
    );
    let notified: Vec<i64> =
        Recipient::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(txn)
            .await?
            .into_iter()
            .map(|r| r.account_id)
            .collect();
    if backend == DbBackend::Postgres && !notified.is_empty() {
        let mut payload = serde_json::to_string(&notified).unwrap_or_else(|_| "*".to_owned());
        if payload.len() > MAX_SIGNAL {
            payload = "*".to_owned();
        }
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, $2)",
            [NOTIFICATION_CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(Notified(notified))
}

/// In the transaction that cancels `perf` (before its bookings are): tells every holder of a
/// CONFIRMED booking (`PERFORMANCE_CANCELLED`).
pub(crate) async fn cancelled(
    txn: &impl ConnectionTrait,
    perf: &entity::performance::Model,
    reason: &str,
) -> AppResult<Notified> {
    notify(
        txn,
        Recipients::BookingHoldersOf(perf.id),
        Note {
            kind: NotificationKind::PerformanceCancelled,
            performance_id: Some(perf.id),
            production_id: Some(perf.production_id),
            message: performance_cancelled(&perf.title, perf.starts_at, reason),
            waitlist_entry_id: None,
        },
    )
    .await
}

/// `myNotifications`: the caller's notifications, newest first, keyset pages by id.
/// Returns the page, whether more follow, and the total when asked.
pub async fn page(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    unread_only: bool,
    before_id: Option<i64>,
    first: u64,
    count: bool,
) -> AppResult<(Vec<notification::Model>, bool, u64)> {
    let account = caller.identity()?.account_id;
    let mut query =
        notification::Entity::find().filter(notification::Column::AccountId.eq(account));
    if unread_only {
        query = query.filter(notification::Column::ReadAt.is_null());
    }
    let total = if count {
        query.clone().count(conn).await?
    } else {
        0
    };
    if let Some(before) = before_id {
        query = query.filter(notification::Column::Id.lt(before));
    }
    let (items, has_next) =
        super::catalog::page_of(conn, query.order_by_desc(notification::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// One notification, for `node(id:)`: only its account sees it; `NOT_FOUND` for anyone else.
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<notification::Model> {
    let found = notification::Entity::find_by_id(id).one(conn).await?;
    match (found, caller.account_id()) {
        (Some(n), Some(account)) if n.account_id == account => Ok(n),
        _ => Err(AppError::NotFound("notification")),
    }
}

/// `markNotificationsRead`: marks the caller's unread notifications among `ids` (all of them
/// when `None`) read; returns how many changed. Ids of other accounts' notifications change
/// nothing.
pub async fn mark_read(
    conn: &sea_orm::DatabaseConnection,
    caller: &Caller,
    ids: Option<Vec<i64>>,
) -> AppResult<u64> {
    let account = caller.identity()?.account_id;
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_MARKED) {
        return Err(AppError::bad_input(
            "ids",
            format!("at most {MAX_MARKED} ids at once"),
        ));
    }
    if ids.as_ref().is_some_and(Vec::is_empty) {
        return Ok(0);
    }
    crate::write_txn!(conn, |txn| {
        let mut update = notification::Entity::update_many()
            .col_expr(
                notification::Column::ReadAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(notification::Column::AccountId.eq(account))
            .filter(notification::Column::ReadAt.is_null());
        if let Some(ids) = &ids {
            update = update.filter(notification::Column::Id.is_in(ids.iter().copied()));
        }
        Ok(update.exec(txn).await?.rows_affected)
    })
}

/// The newest notification id of an account (0: none): where a new stream starts.
pub async fn latest_id(conn: &impl ConnectionTrait, account_id: i64) -> AppResult<i64> {
    let latest: Option<i64> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(notification::Column::AccountId.eq(account_id))
        .order_by_desc(notification::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(latest.unwrap_or(0))
}

/// The account's notifications after `last_id`, oldest first, at most `limit`.
pub async fn after(
    conn: &impl ConnectionTrait,
    account_id: i64,
    last_id: i64,
    limit: u64,
) -> AppResult<Vec<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::AccountId.eq(account_id))
        .filter(notification::Column::Id.gt(last_id))
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// A center's short place name for messages: "平湖市文化馆" → "平湖".
pub fn place(center_name: &str) -> &str {
    let name = center_name.trim();
    let name = name.strip_suffix("文化馆").unwrap_or(name);
    let short = name
        .strip_suffix('市')
        .or_else(|| name.strip_suffix('区'))
        .or_else(|| name.strip_suffix('县'))
        .unwrap_or(name);
    if short.is_empty() { name } else { short }
}

/// An instant as messages show it: Asia/Shanghai local time, "2026-12-05 19:30".
pub fn when(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&super::season::shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The message of `PRODUCTION_SCHEDULED`: "沪剧《大雷雨》 平湖新场次 2026-12-05 19:30".
pub fn production_scheduled(
    title: &str,
    host_center_name: &str,
    starts_at: DateTime<Utc>,
) -> String {
    format!(
        "{title} {}新场次 {}",
        place(host_center_name),
        when(starts_at)
    )
}

/// The message of `PERFORMANCE_CANCELLED`: "沪剧《大雷雨》 2026-12-05 19:30 已取消：<reason>".
pub fn performance_cancelled(title: &str, starts_at: DateTime<Utc>, reason: &str) -> String {
    let reason: String = reason.chars().take(200).collect();
    format!("{title} {} 已取消：{reason}", when(starts_at))
}

/// The message of `WAITLIST_OFFER`: "沪剧《大雷雨》 2026-12-05 19:30：候补到 2 个座位，请于
/// 2026-12-01 20:00 前确认".
pub fn waitlist_offer(
    title: &str,
    starts_at: DateTime<Utc>,
    seats: i32,
    expires_at: DateTime<Utc>,
) -> String {
    format!(
        "{title} {}：候补到 {seats} 个座位，请于 {} 前确认",
        when(starts_at),
        when(expires_at)
    )
}

/// The message of `OFFER_EXPIRED`: "沪剧《大雷雨》 2026-12-05 19:30：候补座位的保留已过期".
pub fn offer_expired(title: &str, starts_at: DateTime<Utc>) -> String {
    format!("{title} {}：候补座位的保留已过期", when(starts_at))
}

/// The message of `BOOKING_SUSPENDED`: "多次未到场，预订暂停至 2026-12-05 19:30".
pub fn booking_suspended(until: DateTime<Utc>) -> String {
    format!("多次未到场，预订暂停至 {}", when(until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_work_the_place_and_the_local_time() {
        let start = DateTime::parse_from_rfc3339("2026-12-05T19:30:00+08:00")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let Some(start) = start else {
            panic!("a valid instant")
        };
        assert_eq!(
            production_scheduled("沪剧《大雷雨》", "平湖市文化馆", start),
            "沪剧《大雷雨》 平湖新场次 2026-12-05 19:30"
        );
        assert_eq!(place("金山区文化馆"), "金山");
        assert_eq!(place("嘉善县文化馆"), "嘉善");
        assert_eq!(place("Somewhere"), "Somewhere");
    }
}

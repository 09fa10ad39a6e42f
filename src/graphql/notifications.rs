//! Notifications: `myNotifications`, `markNotificationsRead`, and the `notificationAdded`
//! stream. Every rule (and the delivery design) is in `domain::notifications`; these
//! resolvers only parse, call and convert.

use super::reads;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Object};
use entity::notification;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::productions::Production;
use super::types::{
    ConnectionTotal, GqlDateTime, Performance, id_connection, local, parse_id_cursor,
};
use super::{caller, page_size, services};
use crate::domain::{catalog, notifications, productions};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, decode, encode};

/// A page of notifications.
pub type NotificationConnection = Connection<String, Notification, ConnectionTotal, EmptyFields>;

/// What a notification is about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::NotificationKind")]
pub enum NotificationKind {
    /// Seats are held for your waiting-list entry.
    WaitlistOffer,
    /// A waiting-list offer lapsed.
    OfferExpired,
    /// A center published a session of a production you follow.
    ProductionScheduled,
    /// A performance you hold tickets for was cancelled (and your booking with it).
    PerformanceCancelled,
    /// Your bookings are suspended after repeated no-shows.
    BookingSuspended,
}

/// Something the signed-in account is told; visible to that account only.
///
/// The contract's `waitlistEntry` field joins when the waiting list exists.
pub struct Notification(pub notification::Model);

#[Object]
impl Notification {
    /// Its global id.
    pub async fn id(&self) -> ID {
        ID(encode(Kind::Notification, self.0.id))
    }
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }
    async fn created_at(&self) -> GqlDateTime {
        local(self.0.created_at)
    }
    /// Whether `markNotificationsRead` marked it.
    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }
    /// A short sentence, Chinese, with the work's title ("沪剧《大雷雨》 平湖新场次
    /// 2026-12-05 19:30").
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// The performance it is about.
    async fn performance(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Performance>> {
        let Some(id) = self.0.performance_id else {
            return Ok(None);
        };
        Ok(catalog::performance(reads(ctx)?, caller(ctx), id)
            .await?
            .map(Performance))
    }
    /// The production it is about.
    async fn production(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Production>> {
        let Some(id) = self.0.production_id else {
            return Ok(None);
        };
        match productions::visible(reads(ctx)?, caller(ctx), id).await {
            Ok(model) => Ok(Some(Production(model))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
    /// The waiting-list entry it is about (an offer, its expiry).
    async fn waitlist_entry(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::waitlist::WaitlistEntry>> {
        let Some(id) = self.0.waitlist_entry_id else {
            return Ok(None);
        };
        match crate::domain::waitlist::visible(reads(ctx)?, caller(ctx), id).await {
            Ok(model) => Ok(Some(super::waitlist::WaitlistEntry(model))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}

/// Notification queries.
#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first (signed in).
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<NotificationConnection> {
        let first = page_size("first", first)?;
        let before_id = after
            .as_deref()
            .map(|c| parse_id_cursor("N", "after", c))
            .transpose()?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, has_next, total) = notifications::page(
            reads(ctx)?,
            caller(ctx),
            unread_only.unwrap_or(false),
            before_id,
            first,
            count,
        )
        .await?;
        Ok(id_connection(
            "N",
            rows,
            before_id.is_some(),
            has_next,
            total,
            |n| n.id,
            Notification,
        ))
    }
}

/// Notification mutations.
#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the caller's notifications read: those listed, or all when `ids` is null.
    /// Returns how many changed (ids of notifications already read, or not the caller's,
    /// change nothing).
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<i32> {
        let ids = ids
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        decode(Kind::Notification, id)
                            .map_err(|_| AppError::bad_input("ids", "not a Notification id"))
                    })
                    .collect::<AppResult<Vec<i64>>>()
            })
            .transpose()?;
        let changed = notifications::mark_read(&services(ctx)?.db, caller(ctx), ids).await?;
        Ok(i32::try_from(changed).unwrap_or(i32::MAX))
    }
}

/// Most notifications one wake-up reads at a time.
const READ_BATCH: u64 = 100;

/// The `notificationAdded` stream of the signed-in account: every notification made after it
/// starts, on any instance, once and in order (see `domain::notifications`).
pub async fn notification_added(
    ctx: &Context<'_>,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Notification>> + use<>> {
    let services = services(ctx)?.clone();
    let account = caller(ctx).identity()?.account_id;
    // Where to start, read before listening: one made in between is found by the next read.
    let mut last = notifications::latest_id(&services.db, account).await?;
    let mut signals = services.realtime.notification_signals();
    let mut closing = services.realtime.closing();
    metrics::gauge!("zouqin_notification_streams").increment(1.0);
    Ok(async_stream::stream! {
        let _guard = StreamGuard;
        let mut poll = tokio::time::interval(notifications::FALLBACK_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = signals.recv() => match received {
                    Ok(signal) if !signal.concerns(account) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
                _ = poll.tick() => {}
                // The server is shutting down: complete the subscription cleanly.
                _ = closing.wait_for(|closing| *closing) => break,
            }
            loop {
                match notifications::after(&services.db, account, last, READ_BATCH).await {
                    Ok(rows) => {
                        let full = rows.len() as u64 == READ_BATCH;
                        for row in rows {
                            last = row.id;
                            yield Ok(Notification(row));
                        }
                        if !full {
                            break;
                        }
                    }
                    // Read again at the next wake-up; nothing is lost meanwhile.
                    Err(err) => {
                        tracing::warn!(error = ?err, "reading notifications failed");
                        break;
                    }
                }
            }
        }
    })
}

struct StreamGuard;

impl Drop for StreamGuard {
    fn drop(&mut self) {
        metrics::gauge!("zouqin_notification_streams").decrement(1.0);
    }
}

//! Availability events and notification signals. Each instance keeps one in-process
//! broadcast channel of each that its subscribers read. On PostgreSQL, events are published
//! with `pg_notify` and every instance LISTENs and feeds its channels, so a booking on any
//! instance reaches subscribers on all of them; on SQLite (one instance) events go straight
//! into the channel. Notification signals only wake streams that read the `notification`
//! table (see `domain::notifications`); they go through no outbox: the notifying transaction
//! itself issues them.
//!
//! Publishing never waits for subscribers: the broadcast channel drops the oldest events for
//! a subscriber that falls behind, and that subscriber then receives a full refresh.
//!
//! Nor does it wait for PostgreSQL: events go to this instance's outbox, and one task sends
//! them, as many as gathered in 5 ms in one NOTIFY (a JSON array). PostgreSQL makes committing
//! transactions that NOTIFY take turns on one cluster-wide lock held through the commit's
//! WAL flush, so a NOTIFY per booking would cap the whole cluster at a few hundred bookings a
//! second; batched, a rush sends a few hundred NOTIFYs a second whatever its rate.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::db::Database;

/// The NOTIFY channel.
const CHANNEL: &str = "zouqin_availability";
/// The NOTIFY channel of notification signals: its payload is a JSON array of the account
/// ids that got notifications, or `"*"` (every account), sent by the transaction that wrote
/// them (so it is delivered on commit, never for a rollback).
pub const NOTIFICATION_CHANNEL: &str = "zouqin_notifications";
/// The performance id of an event that concerns every performance (a resynchronisation).
pub const EVERY_PERFORMANCE: i64 = 0;
/// Events buffered per subscriber before it counts as lagging.
const BUFFER: usize = 1024;
/// Events waiting to be sent to PostgreSQL; past this, events are delivered locally only.
const OUTBOX: usize = 65_536;
/// Largest NOTIFY payload sent (PostgreSQL refuses 8,000 bytes and more).
const MAX_PAYLOAD: usize = 7_000;
/// How long the relay gathers events after the first one before it sends them: at most
/// 200 NOTIFY transactions a second per instance, for a few milliseconds of latency.
const GATHER: Duration = Duration::from_millis(5);

/// Something changed the availability of a performance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AvailabilityEvent {
    /// The performance.
    pub performance_id: i64,
    /// The seats whose state changed (empty for general admission).
    pub seat_ids: Vec<i64>,
    /// Every seat may have changed (e.g. the performance was cancelled).
    pub whole: bool,
    /// The seats were given back (a cancelled booking), not taken.
    #[serde(default)]
    pub freed: bool,
}

impl AvailabilityEvent {
    /// Some seats changed.
    pub fn seats(performance_id: i64, seat_ids: Vec<i64>) -> Self {
        Self {
            performance_id,
            seat_ids,
            whole: false,
            freed: false,
        }
    }

    /// Some seats were given back.
    pub fn freed(performance_id: i64, seat_ids: Vec<i64>) -> Self {
        Self {
            freed: true,
            ..Self::seats(performance_id, seat_ids)
        }
    }

    /// Everything changed.
    pub fn whole(performance_id: i64) -> Self {
        Self {
            performance_id,
            seat_ids: Vec::new(),
            whole: true,
            freed: false,
        }
    }
}

/// A wake-up for notification streams: these accounts (or every account) may have new
/// notifications. It carries no notification: streams read the table, so a lost or repeated
/// signal costs a delay or a read, never a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationSignal {
    /// These accounts.
    Accounts(std::sync::Arc<Vec<i64>>),
    /// Anyone (signals may have been missed, e.g. after the listener reconnected).
    Everyone,
}

impl NotificationSignal {
    /// Whether the signal concerns `account_id`.
    pub fn concerns(&self, account_id: i64) -> bool {
        match self {
            Self::Accounts(ids) => ids.contains(&account_id),
            Self::Everyone => true,
        }
    }

    /// Reads a NOTIFY payload (`"*"` or a JSON array of ids); anything else wakes everyone.
    pub fn decode(payload: &str) -> Self {
        match serde_json::from_str::<Vec<i64>>(payload) {
            Ok(ids) => Self::Accounts(std::sync::Arc::new(ids)),
            Err(_) => Self::Everyone,
        }
    }
}

/// The publishing and subscribing side of availability events.
#[derive(Clone, Debug)]
pub struct Realtime {
    sender: broadcast::Sender<AvailabilityEvent>,
    notifications: broadcast::Sender<NotificationSignal>,
    outbox: Option<tokio::sync::mpsc::Sender<AvailabilityEvent>>,
    /// Set when an event reached this instance only (outbox full, NOTIFY failed): the next
    /// NOTIFY then tells every instance to refresh everything.
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Realtime {
    /// Starts the relay. On PostgreSQL it waits (up to a few seconds) until this instance
    /// is LISTENing, so no event published after start-up is missed; the listener then
    /// reconnects by itself whenever its connection drops.
    pub async fn start(db: &Database) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let (notifications, _) = broadcast::channel(BUFFER);
        if let Some(pool) = db.pg_pool.clone() {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(listen(
                pool,
                sender.clone(),
                notifications.clone(),
                ready_tx,
            ));
            if tokio::time::timeout(Duration::from_secs(5), ready_rx)
                .await
                .is_err()
            {
                tracing::warn!("the availability listener is not up yet; it keeps trying");
            }
        }
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outbox = db.pg_pool.clone().map(|pool| {
            let (outbox, pending) = tokio::sync::mpsc::channel(OUTBOX);
            tokio::spawn(relay(pool, pending, sender.clone(), lost.clone()));
            outbox
        });
        Self {
            sender,
            notifications,
            outbox,
            lost,
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Publishes an event to every instance's subscribers (on PostgreSQL through the
    /// outbox: it returns at once). Failures are logged, not returned: the change it
    /// reports has already committed.
    pub async fn publish(&self, event: AvailabilityEvent) {
        metrics::counter!("zouqin_availability_events_total").increment(1);
        let Some(outbox) = &self.outbox else {
            let _ = self.sender.send(event);
            return;
        };
        if let Err(e) = outbox.try_send(event) {
            tracing::warn!("the availability outbox is full or closed; delivering locally only");
            self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = self.sender.send(e.into_inner());
        }
    }

    /// Wakes this instance's notification streams of `accounts` after the transaction that
    /// notified them committed. Only SQLite (one instance) needs it: on PostgreSQL that
    /// transaction issued a `pg_notify`, which reaches every instance's listener, this one
    /// included.
    pub fn notified(&self, accounts: &[i64]) {
        if self.outbox.is_none() && !accounts.is_empty() {
            let _ = self
                .notifications
                .send(NotificationSignal::Accounts(std::sync::Arc::new(
                    accounts.to_vec(),
                )));
        }
    }

    /// How many notification streams listen on this instance.
    pub fn notification_streams(&self) -> usize {
        self.notifications.receiver_count()
    }

    /// A new receiver of every notification signal from now on.
    pub fn notification_signals(&self) -> broadcast::Receiver<NotificationSignal> {
        self.notifications.subscribe()
    }

    /// A new receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AvailabilityEvent> {
        self.sender.subscribe()
    }

    /// Resolves when the server shuts down: subscriptions then complete cleanly.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every subscription on this instance (at shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// How many subscribers are listening on this instance.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Sends the outbox's events to PostgreSQL, as many per NOTIFY as are waiting. When events
/// could only be delivered locally, the next NOTIFY starts with a resynchronisation
/// (`whole(EVERY_PERFORMANCE)`), so other instances' subscribers refresh in full.
async fn relay(
    pool: sea_orm::sqlx::PgPool,
    mut pending: tokio::sync::mpsc::Receiver<AvailabilityEvent>,
    local: broadcast::Sender<AvailabilityEvent>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let mut batch: Vec<AvailabilityEvent> = Vec::new();
    let mut carried: Option<AvailabilityEvent> = None;
    loop {
        let first = match carried.take() {
            Some(event) => event,
            None => match pending.recv().await {
                Some(event) => event,
                None => return,
            },
        };
        tokio::time::sleep(GATHER).await;
        let resync = lost.swap(false, Ordering::Relaxed);
        if resync {
            batch.push(AvailabilityEvent::whole(EVERY_PERFORMANCE));
        }
        batch.push(first);
        let mut payload = encode(&batch);
        while let Ok(event) = pending.try_recv() {
            batch.push(event);
            let longer = encode(&batch);
            if longer.len() > MAX_PAYLOAD {
                carried = batch.pop();
                break;
            }
            payload = longer;
        }
        if let Err(e) = sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "pg_notify failed; delivering locally only");
            lost.store(true, Ordering::Relaxed);
            for event in batch.drain(..) {
                let _ = local.send(event);
            }
        }
        batch.clear();
    }
}

fn encode(events: &[AvailabilityEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads a NOTIFY payload: a JSON array of events (or one event, as older versions sent).
fn decode(payload: &str) -> Result<Vec<AvailabilityEvent>, serde_json::Error> {
    serde_json::from_str::<Vec<AvailabilityEvent>>(payload)
        .or_else(|_| serde_json::from_str::<AvailabilityEvent>(payload).map(|e| vec![e]))
}

async fn listen(
    pool: sea_orm::sqlx::PgPool,
    sender: broadcast::Sender<AvailabilityEvent>,
    notifications: broadcast::Sender<NotificationSignal>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen_all([CHANNEL, NOTIFICATION_CHANNEL]).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                } else {
                    match ready.take() {
                        // Nobody waits any more if start-up gave up on us: events may
                        // have been missed meanwhile, so refresh as after a reconnection.
                        Some(ready) => {
                            if ready.send(()).is_err() {
                                let _ = sender.send(AvailabilityEvent::whole(EVERY_PERFORMANCE));
                            }
                        }
                        // Back after a disconnection: events may have been missed, so every
                        // subscriber refreshes its performance in full.
                        None => {
                            let _ = sender.send(AvailabilityEvent::whole(EVERY_PERFORMANCE));
                        }
                    }
                    // Signals may have been missed while not listening: every notification
                    // stream reads its table again.
                    let _ = notifications.send(NotificationSignal::Everyone);
                    loop {
                        match listener.recv().await {
                            Ok(note) if note.channel() == NOTIFICATION_CHANNEL => {
                                let _ =
                                    notifications.send(NotificationSignal::decode(note.payload()));
                            }
                            Ok(note) => match decode(note.payload()) {
                                Ok(events) => {
                                    for event in events {
                                        let _ = sender.send(event);
                                    }
                                }
                                Err(e) => tracing::warn!(error = %e, "bad availability payload"),
                            },
                            Err(e) => {
                                tracing::warn!(error = %e, "availability listener lost its connection");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open the availability listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

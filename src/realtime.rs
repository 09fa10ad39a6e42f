//! Availability events. Each instance keeps one in-process broadcast channel that its
//! subscribers read. On PostgreSQL, events are published with `pg_notify` and every
//! instance LISTENs and feeds its channel, so a booking on any instance reaches subscribers
//! on all of them; on SQLite (one instance) events go straight into the channel.
//!
//! Publishing never waits for subscribers: the broadcast channel drops the oldest events for
//! a subscriber that falls behind, and that subscriber then receives a full refresh.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::db::Database;

/// The NOTIFY channel.
const CHANNEL: &str = "zouqin_availability";
/// The performance id of an event that concerns every performance (a resynchronisation).
pub const EVERY_PERFORMANCE: i64 = 0;
/// Events buffered per subscriber before it counts as lagging.
const BUFFER: usize = 1024;

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

/// The publishing and subscribing side of availability events.
#[derive(Clone, Debug)]
pub struct Realtime {
    sender: broadcast::Sender<AvailabilityEvent>,
    pg_pool: Option<sea_orm::sqlx::PgPool>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Realtime {
    /// Starts the relay. On PostgreSQL it waits (up to a few seconds) until this instance
    /// is LISTENing, so no event published after start-up is missed; the listener then
    /// reconnects by itself whenever its connection drops.
    pub async fn start(db: &Database) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        if let Some(pool) = db.pg_pool.clone() {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(listen(pool, sender.clone(), ready_tx));
            if tokio::time::timeout(Duration::from_secs(5), ready_rx)
                .await
                .is_err()
            {
                tracing::warn!("the availability listener is not up yet; it keeps trying");
            }
        }
        Self {
            sender,
            pg_pool: db.pg_pool.clone(),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Publishes an event to every instance's subscribers. Failures are logged, not
    /// returned: the booking it reports has already committed.
    pub async fn publish(&self, event: AvailabilityEvent) {
        self.count_event();
        match &self.pg_pool {
            Some(pool) => {
                let payload = match serde_json::to_string(&event) {
                    Ok(payload) => payload,
                    Err(e) => {
                        tracing::error!(error = %e, "could not encode an availability event");
                        return;
                    }
                };
                if let Err(e) = sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(pool)
                    .await
                {
                    tracing::warn!(error = %e, "pg_notify failed; delivering locally only");
                    let _ = self.sender.send(event);
                }
            }
            None => {
                let _ = self.sender.send(event);
            }
        }
    }

    /// For a writer that sends the NOTIFY from its own statement (delivered exactly when
    /// that statement's transaction commits): the channel and payload, on PostgreSQL.
    /// The writer calls [`Realtime::count_event`] once it committed.
    pub fn notify_args(&self, event: &AvailabilityEvent) -> Option<(&'static str, String)> {
        self.pg_pool.as_ref()?;
        serde_json::to_string(event)
            .ok()
            .map(|payload| (CHANNEL, payload))
    }

    /// Counts an event published through [`Realtime::notify_args`].
    pub fn count_event(&self) {
        metrics::counter!("zouqin_availability_events_total").increment(1);
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

async fn listen(
    pool: sea_orm::sqlx::PgPool,
    sender: broadcast::Sender<AvailabilityEvent>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                } else {
                    match ready.take() {
                        Some(ready) => {
                            let _ = ready.send(());
                        }
                        // Back after a disconnection: events may have been missed, so every
                        // subscriber refreshes its performance in full.
                        None => {
                            let _ = sender.send(AvailabilityEvent::whole(EVERY_PERFORMANCE));
                        }
                    }
                    loop {
                        match listener.recv().await {
                            Ok(note) => match serde_json::from_str(note.payload()) {
                                Ok(event) => {
                                    let _ = sender.send(event);
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

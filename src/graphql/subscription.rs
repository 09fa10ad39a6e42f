//! `seatAvailability`: live updates after every booking, cancellation and performance
//! cancellation, from every instance; `notificationAdded`: the signed-in account's
//! notifications, made on any instance.

use async_graphql::{Context, ID, SimpleObject, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::types::{Seat, SeatAvailability, SeatState};
use super::{caller, services};
use crate::domain::{booking, catalog, shares};
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, decode, encode};
use crate::realtime::AvailabilityEvent;

/// What changed.
#[derive(SimpleObject)]
pub struct AvailabilityUpdate {
    /// The performance.
    pub performance_id: ID,
    /// Seats or places left.
    pub seats_available: i32,
    /// What the subscriber could book now (see `Performance.seatsAvailableToViewer`).
    pub seats_available_to_viewer: i32,
    /// The seats whose state changed, with their new state (empty for general admission).
    pub changed_seats: Vec<SeatAvailability>,
}

/// The subscription root.
pub struct Subscription;

async fn update_for(
    db: &sea_orm::DatabaseConnection,
    caller: &crate::auth::Caller,
    event: &AvailabilityEvent,
) -> AppResult<AvailabilityUpdate> {
    let perf = catalog::performance(db, caller, event.performance_id)
        .await?
        .ok_or(AppError::NotFound("performance"))?;
    let pools = shares::counts(db, &[perf.id])
        .await?
        .remove(&perf.id)
        .unwrap_or_default();
    let free = Some(pools.free());
    let for_viewer =
        shares::available_to_viewer(db, caller, &perf, &pools, crate::domain::now()).await?;
    let unavailable = booking::unavailable_seats(db, perf.id).await?;
    let seat_ids: Vec<i64> = if event.whole {
        crate::domain::venues::seats(db, perf.venue_id)
            .await?
            .iter()
            .map(|s| s.id)
            .collect()
    } else {
        event.seat_ids.clone()
    };
    let seats = booking::seats_by_id(db, &seat_ids).await?;
    let cancelled = perf.status == entity::enums::PerformanceStatus::Cancelled;
    let changed_seats = seat_ids
        .iter()
        .filter_map(|id| seats.get(id).cloned())
        .map(|seat| SeatAvailability {
            state: if cancelled {
                SeatState::Taken
            } else {
                SeatState::of(unavailable.get(&seat.id))
            },
            seat: Seat(seat),
        })
        .collect();
    Ok(AvailabilityUpdate {
        performance_id: ID(encode(Kind::Performance, perf.id)),
        seats_available: catalog::seats_available(&perf, free),
        seats_available_to_viewer: for_viewer,
        changed_seats,
    })
}

#[Subscription]
impl Subscription {
    /// Availability of one performance, pushed after every change on any instance.
    async fn seat_availability(
        &self,
        ctx: &Context<'_>,
        performance_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AvailabilityUpdate>>> {
        let id = decode(Kind::Performance, &performance_id)?;
        let services = services(ctx)?.clone();
        let caller = caller(ctx).clone();
        catalog::performance(&services.db, &caller, id)
            .await?
            .ok_or(AppError::NotFound("performance"))?;
        let mut receiver = services.realtime.subscribe();
        let mut closing = services.realtime.closing();
        metrics::gauge!("zouqin_subscriptions").increment(1.0);
        Ok(async_stream::stream! {
            let _guard = SubscriptionGuard;
            loop {
                let received = tokio::select! {
                    received = receiver.recv() => received,
                    // The server is shutting down: complete the subscription cleanly.
                    _ = closing.wait_for(|closing| *closing) => break,
                };
                let event = match received {
                    Ok(event) if event.performance_id == id => event,
                    Ok(event) if event.performance_id == crate::realtime::EVERY_PERFORMANCE => {
                        AvailabilityEvent::whole(id)
                    }
                    Ok(_) => continue,
                    // Fell behind: send one full refresh instead of the missed events.
                    Err(RecvError::Lagged(_)) => AvailabilityEvent::whole(id),
                    Err(RecvError::Closed) => break,
                };
                yield update_for(&services.db, &caller, &event).await.map_err(Into::into);
            }
        })
    }

    /// The signed-in account's notifications, each pushed once and in order as it is made
    /// on any instance (those made before the subscription started: `myNotifications`).
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<
        impl Stream<Item = async_graphql::Result<super::notifications::Notification>> + use<>,
    > {
        super::notifications::notification_added(ctx).await
    }
}

struct SubscriptionGuard;

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        metrics::gauge!("zouqin_subscriptions").decrement(1.0);
    }
}

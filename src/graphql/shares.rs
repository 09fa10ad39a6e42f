//! Seat shares as the API shows them: `SeatShare`, and the per-viewer count of what the
//! caller could book (the rules are in [`crate::domain::shares`]).

use super::reads;
use async_graphql::{Context, Object};

use super::loaders::PoolsOf;
use super::types::{Center, load_center};
use super::{caller, loader};
use crate::domain::shares::{self, PoolCount, Pools};
use crate::error::AppError;

/// Seats of one performance kept for residents of one home center until `sharesReleaseAt`.
pub struct SeatShare(PoolCount);

#[Object]
impl SeatShare {
    /// The home center whose residents the seats are kept for.
    async fn center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.center_id).await?)
    }
    /// Seats in the share.
    async fn seats(&self) -> i32 {
        self.0.seats as i32
    }
    /// Seats sold from it.
    async fn booked(&self) -> i32 {
        self.0.booked as i32
    }
}

/// The pools of a performance, through the request's loader.
pub(super) async fn pools(ctx: &Context<'_>, performance_id: i64) -> async_graphql::Result<Pools> {
    Ok(loader(ctx)?
        .load_one(PoolsOf(performance_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default())
}

/// `Performance.seatShares`.
pub(super) async fn seat_shares(
    ctx: &Context<'_>,
    performance_id: i64,
) -> async_graphql::Result<Vec<SeatShare>> {
    Ok(pools(ctx, performance_id)
        .await?
        .shares()
        .into_iter()
        .map(SeatShare)
        .collect())
}

/// `Performance.seatsAvailableToViewer`.
pub(super) async fn available_to_viewer(
    ctx: &Context<'_>,
    perf: &entity::performance::Model,
) -> async_graphql::Result<i32> {
    let pools = pools(ctx, perf.id).await?;
    Ok(
        shares::available_to_viewer(reads(ctx)?, caller(ctx), perf, &pools, crate::domain::now())
            .await?,
    )
}

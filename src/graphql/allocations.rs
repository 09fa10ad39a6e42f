//! Seasonal allocations.

use super::reads;
use async_graphql::{Context, ID, InputObject, Object};

use super::types::SeasonalAllocation;
use super::{caller, services};
use crate::domain::allocations::{self, Proposal};
use crate::domain::season::Season;
use crate::error::AppError;
use crate::ids::{Kind, decode};

/// `proposeAllocation` input.
#[derive(InputObject)]
pub struct ProposeAllocationInput {
    /// Year.
    pub year: i32,
    /// 1 to 4.
    pub quarter: i32,
    /// The center sending productions.
    pub provider_center_id: ID,
    /// The center hosting them.
    pub host_center_id: ID,
    /// How many exchange sessions.
    pub performance_quota: i32,
    /// Free text.
    pub note: Option<String>,
}

/// Allocation queries.
#[derive(Default)]
pub struct AllocationQuery;

#[Object]
impl AllocationQuery {
    /// Allocations where the caller's center is a party (staff only), oldest first, at most 200:
    /// filter by `year` for more.
    async fn seasonal_allocations(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        quarter: Option<i32>,
        center_id: Option<ID>,
    ) -> async_graphql::Result<Vec<SeasonalAllocation>> {
        let center = center_id.map(|id| decode(Kind::Center, &id)).transpose()?;
        let rows = allocations::list(reads(ctx)?, caller(ctx), year, quarter, center).await?;
        Ok(rows.into_iter().map(SeasonalAllocation).collect())
    }
}

/// Allocation mutations.
#[derive(Default)]
pub struct AllocationMutation;

#[Object]
impl AllocationMutation {
    /// Proposes an allocation; the caller's center must be the provider or the host.
    async fn propose_allocation(
        &self,
        ctx: &Context<'_>,
        input: ProposeAllocationInput,
    ) -> async_graphql::Result<SeasonalAllocation> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::Scheduler)?;
        let season = Season::new(input.year, input.quarter)?;
        let provider = decode(Kind::Center, &input.provider_center_id)
            .map_err(|_| AppError::bad_input("providerCenterId", "no such center"))?;
        let host = decode(Kind::Center, &input.host_center_id)
            .map_err(|_| AppError::bad_input("hostCenterId", "no such center"))?;
        let model = allocations::propose(
            &services(ctx)?.db,
            caller,
            Proposal {
                season,
                provider_center_id: provider,
                host_center_id: host,
                performance_quota: input.performance_quota,
                note: input.note,
            },
        )
        .await?;
        Ok(SeasonalAllocation(model))
    }

    /// The other party accepts or declines a PROPOSED allocation.
    async fn respond_to_allocation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        accept: bool,
    ) -> async_graphql::Result<SeasonalAllocation> {
        let id = decode(Kind::SeasonalAllocation, &id)?;
        Ok(SeasonalAllocation(
            allocations::respond(&services(ctx)?.db, caller(ctx), id, accept).await?,
        ))
    }

    /// The proposer withdraws its allocation.
    async fn withdraw_allocation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SeasonalAllocation> {
        let id = decode(Kind::SeasonalAllocation, &id)?;
        Ok(SeasonalAllocation(
            allocations::withdraw(&services(ctx)?.db, caller(ctx), id).await?,
        ))
    }
}

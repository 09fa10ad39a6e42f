//! Batch loading, so a page of performances with their venues, centers and availability
//! costs a fixed number of queries whatever its size.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::{account, center, performance, production, seat, venue};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::db::replica::Route;
use crate::domain::{no_shows, shares};

/// A load failure (cloneable, as DataLoader requires); remembers whether the database was
/// away, so that a batched load answers `UNAVAILABLE` like any other read.
#[derive(Clone, Debug)]
pub struct LoadError {
    detail: String,
    unavailable: bool,
}

impl From<sea_orm::DbErr> for LoadError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self {
            unavailable: crate::db::is_unavailable(&err),
            detail: err.to_string(),
        }
    }
}

impl From<crate::error::AppError> for LoadError {
    fn from(err: crate::error::AppError) -> Self {
        Self {
            unavailable: matches!(err, crate::error::AppError::Unavailable(_)),
            detail: format!("{err:?}"),
        }
    }
}

impl From<LoadError> for crate::error::AppError {
    fn from(err: LoadError) -> Self {
        let detail = format!("loader: {}", err.detail);
        if err.unavailable {
            crate::error::AppError::Unavailable(detail)
        } else {
            crate::error::AppError::Internal(detail)
        }
    }
}

/// Loads rows by id for one request, from the database the request reads
/// ([`Route::reads`]: the replica for an anonymous query, the primary once the request
/// turns out to be a mutation).
pub struct DbLoader {
    route: Route,
}

impl DbLoader {
    /// A loader reading along `route`.
    pub fn new(route: Route) -> Self {
        Self { route }
    }

    fn db(&self) -> &DatabaseConnection {
        self.route.reads()
    }
}

/// Key: a center id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CenterId(pub i64);
/// Key: a venue id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VenueId(pub i64);
/// Key: an account id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(pub i64);
/// Key: a seat id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeatId(pub i64);
/// Key: a production id (of a performance the caller sees, so no visibility check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProductionId(pub i64);
/// Key: a performance id, for its row: the performance of a booking, a ticket or a waiting
/// entry the caller sees (so no visibility check). A request reads it once: a page of 20
/// bookings costs one statement for their performances, not 20. (Nothing a booking or a
/// check-in writes is in that row; the scheduling mutations return the row they wrote.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PerformanceId(pub i64);
/// Key: a performance id, for its seat pools (free seats, shares).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolsOf(pub i64);

impl Loader<CenterId> for DbLoader {
    type Value = center::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[CenterId]) -> Result<HashMap<CenterId, Self::Value>, Self::Error> {
        let rows = center::Entity::find()
            .filter(center::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (CenterId(r.id), r)).collect())
    }
}

impl Loader<PerformanceId> for DbLoader {
    type Value = performance::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PerformanceId],
    ) -> Result<HashMap<PerformanceId, Self::Value>, Self::Error> {
        let rows = performance::Entity::find()
            .filter(performance::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (PerformanceId(r.id), r)).collect())
    }
}

impl Loader<ProductionId> for DbLoader {
    type Value = production::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProductionId],
    ) -> Result<HashMap<ProductionId, Self::Value>, Self::Error> {
        let rows = production::Entity::find()
            .filter(production::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (ProductionId(r.id), r)).collect())
    }
}

impl Loader<VenueId> for DbLoader {
    type Value = venue::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[VenueId]) -> Result<HashMap<VenueId, Self::Value>, Self::Error> {
        let rows = venue::Entity::find()
            .filter(venue::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (VenueId(r.id), r)).collect())
    }
}

impl Loader<AccountId> for DbLoader {
    type Value = account::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[AccountId],
    ) -> Result<HashMap<AccountId, Self::Value>, Self::Error> {
        let rows = account::Entity::find()
            .filter(account::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (AccountId(r.id), r)).collect())
    }
}

impl Loader<SeatId> for DbLoader {
    type Value = seat::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[SeatId]) -> Result<HashMap<SeatId, Self::Value>, Self::Error> {
        let rows = seat::Entity::find()
            .filter(seat::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| (SeatId(r.id), r)).collect())
    }
}

impl Loader<PoolsOf> for DbLoader {
    type Value = shares::Pools;
    type Error = LoadError;

    async fn load(&self, keys: &[PoolsOf]) -> Result<HashMap<PoolsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let pools = shares::counts(self.db(), &ids).await?;
        Ok(pools
            .into_iter()
            .map(|(id, pools)| (PoolsOf(id), pools))
            .collect())
    }
}

/// Key: a booking, for its tickets. Never cached (see [`crate::graphql::request_data`]): a
/// booking's tickets change under mutations that a request may run after reading them, so
/// each read is fresh; the tickets of a whole page of bookings still load in one statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TicketsOf(pub i64);

impl Loader<TicketsOf> for DbLoader {
    type Value = Vec<entity::ticket::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[TicketsOf],
    ) -> Result<HashMap<TicketsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let grouped = crate::domain::booking::tickets_of(self.db(), &ids).await?;
        Ok(grouped
            .into_iter()
            .map(|(id, tickets)| (TicketsOf(id), tickets))
            .collect())
    }
}

/// Key: an account, for its no-show count over the last `window_days` and its suspension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoShowStanding {
    /// The account.
    pub account_id: i64,
    /// `ZOUQIN_NO_SHOW_WINDOW_DAYS`.
    pub window_days: u32,
}

impl Loader<NoShowStanding> for DbLoader {
    type Value = no_shows::Standing;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[NoShowStanding],
    ) -> Result<HashMap<NoShowStanding, Self::Value>, Self::Error> {
        let now = crate::domain::now();
        let mut out = HashMap::new();
        let mut windows: Vec<u32> = keys.iter().map(|k| k.window_days).collect();
        windows.sort_unstable();
        windows.dedup();
        for window_days in windows {
            let ids: Vec<i64> = keys
                .iter()
                .filter(|k| k.window_days == window_days)
                .map(|k| k.account_id)
                .collect();
            let window = chrono::Duration::days(i64::from(window_days));
            for (account_id, standing) in no_shows::standings(self.db(), &ids, window, now).await? {
                out.insert(
                    NoShowStanding {
                        account_id,
                        window_days,
                    },
                    standing,
                );
            }
        }
        Ok(out)
    }
}

/// Key: a booking, for its no-show record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoShowOf(pub i64);

impl Loader<NoShowOf> for DbLoader {
    type Value = entity::no_show::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[NoShowOf]) -> Result<HashMap<NoShowOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(no_shows::of_bookings(self.db(), &ids)
            .await?
            .into_iter()
            .map(|(id, n)| (NoShowOf(id), n))
            .collect())
    }
}

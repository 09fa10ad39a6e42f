//! The GraphQL layer: schema assembly, request context, and one query/mutation object per
//! capability. Resolvers read the context, call one domain function and convert types.

pub mod accounts;
pub mod allocations;
pub mod booking;
pub mod catalog;
pub mod extensions;
pub mod ledger;
pub mod limits;
pub mod loaders;
pub mod notifications;
pub mod operations;
pub mod productions;
pub mod routing;
pub mod scheduling;
pub mod shares;
pub mod subscription;
pub mod types;
pub mod waitlist;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::Caller;
use crate::auth::token::TokenKeys;
use crate::config::Settings;
use crate::domain::accounts::Origin;
use crate::error::{AppError, AppResult};
use crate::realtime::Realtime;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH};
pub use routing::{reads, report_reads};

/// Everything a resolver may use, shared by all requests.
#[derive(Clone)]
pub struct Services {
    /// The primary database: every write, and the reads [`routing`] keeps there.
    pub db: DatabaseConnection,
    /// The streaming read replica, when `ZOUQIN_READ_DATABASE_URL` is set.
    pub replica: Option<crate::db::replica::Replica>,
    /// Availability events.
    pub realtime: Realtime,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// Server settings.
    pub settings: Settings,
    /// The booking service's per-instance state.
    pub bookings: crate::domain::booking::Booker,
    /// Which access tokens are no longer good (deactivations, role and password changes).
    pub revocations: crate::auth::revocation::Revocations,
}

/// All query fields.
#[derive(MergedObject, Default)]
pub struct Query(
    catalog::CatalogQuery,
    accounts::AccountQuery,
    allocations::AllocationQuery,
    booking::BookingQuery,
    operations::OperationsQuery,
    ledger::LedgerQuery,
    productions::ProductionQuery,
    notifications::NotificationQuery,
    waitlist::WaitlistQuery,
);

/// All mutation fields.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    scheduling::SchedulingMutation,
    allocations::AllocationMutation,
    booking::BookingMutation,
    operations::OperationsMutation,
    ledger::LedgerMutation,
    productions::ProductionMutation,
    notifications::NotificationMutation,
    waitlist::WaitlistMutation,
);

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, subscription::Subscription>;

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, subscription::Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
}

/// Builds the schema. `services` is None only for printing the SDL.
///
/// The cost limits live in [`limits`], checked right after parsing (async-graphql's
/// complexity visitor is not used: it re-expands fragments at every spread). Its depth and
/// recursion limits stay as a second line; they only ever see documents already bounded.
pub fn build(services: Option<Services>) -> AppSchema {
    let introspection = services.as_ref().is_none_or(|s| s.settings.introspection);
    let model = std::sync::Arc::new(limits::SchemaModel::new(&builder().finish().sdl()));
    let mut builder = builder()
        .limit_depth(MAX_DEPTH)
        .limit_recursive_depth(limits::MAX_NESTING)
        .limit_directives(10)
        .extension(extensions::ErrorCodes::new(model))
        // After `ErrorCodes`, which parses the document that routing looks at.
        .extension(routing::Routing);
    if !introspection {
        builder = builder.disable_introspection();
    }
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// The request's DataLoader, caching what it loaded for the rest of the request.
pub type RequestLoader = DataLoader<loaders::DbLoader, async_graphql::dataloader::HashMapCache>;

/// Per-request data: who is calling and from where, the request's route (which database
/// it reads) and its DataLoader, which reads along that route.
pub fn request_data(
    caller: Caller,
    origin: Origin,
    route: routing::Route,
    clock: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> (Caller, Origin, routing::Route, RequestLoader) {
    // A per-request cache: a row loaded once (or prefetched for a whole page) is not loaded
    // again however the resolvers' loads happen to fall into batches. Its batches run as
    // tasks of their own, which watch the request's clock flag too (see
    // `crate::public_cache`).
    let loader = DataLoader::with_cache(
        loaders::DbLoader::new(route.clone()),
        move |batch| match &clock {
            Some(read) => tokio::spawn(crate::domain::watching_clock(read.clone(), batch)),
            None => tokio::spawn(batch),
        },
        async_graphql::dataloader::HashMapCache::default(),
    );
    // A booking's tickets change under the mutations a request may run after reading them
    // (`cancelBooking`, `checkIn`, …): they are batched, never served from the cache.
    // (`clear` makes the key's entry, which `enable_cache` expects to exist.)
    loader.clear::<loaders::TicketsOf>();
    loader.enable_cache::<loaders::TicketsOf>(false);
    (caller, origin, route, loader)
}

/// The shared services.
pub fn services<'a>(ctx: &Context<'a>) -> AppResult<&'a Services> {
    ctx.data::<Services>()
        .map_err(|_| AppError::Internal("services missing from the schema".to_owned()))
}

/// The caller (anonymous when the request carried no token).
pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller::Anonymous;
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// The request's DataLoader.
pub fn loader<'a>(ctx: &Context<'a>) -> AppResult<&'a RequestLoader> {
    ctx.data::<RequestLoader>()
        .map_err(|_| AppError::Internal("loader missing from the request".to_owned()))
}

/// Checks a page size argument: default 20, at most 100.
pub fn page_size(field: &str, value: Option<i32>) -> AppResult<u64> {
    match value {
        None => Ok(20),
        Some(n) if (0..=100).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(
            field,
            format!("{field} must be between 0 and 100"),
        )),
    }
}

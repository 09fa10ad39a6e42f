//! Which database a resolver reads ([`crate::db::replica`] has the rule). The HTTP layer
//! puts a [`Route`] into each request's data; the [`Routing`] extension sends a request to
//! the primary once its parsed document shows a mutation or subscription; resolvers of
//! queries and output types read through [`reads`] (reports through [`report_reads`]),
//! mutations keep writing through `Services::db`.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Context, Request, ServerResult};
use sea_orm::DatabaseConnection;

pub use crate::db::replica::Route;
use crate::error::AppResult;

/// The connection for a query's reads: the replica or the primary, as routed. A request
/// executed without a route (none is today) reads the primary, which is always right.
pub fn reads<'a>(ctx: &Context<'a>) -> AppResult<&'a DatabaseConnection> {
    match ctx.data_opt::<Route>() {
        Some(route) => Ok(route.reads()),
        None => Ok(&super::services(ctx)?.db),
    }
}

/// The connection for a report (`exchangeReport`, `auditLog`): the replica only when it has
/// every write committed before this request ([`Route::report_reads`]).
pub async fn report_reads<'a>(ctx: &Context<'a>) -> AppResult<&'a DatabaseConnection> {
    match ctx.data_opt::<Route>() {
        Some(route) => Ok(route.report_reads().await),
        None => Ok(&super::services(ctx)?.db),
    }
}

/// The extension factory.
pub struct Routing;

impl ExtensionFactory for Routing {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Routing)
    }
}

/// The type of the operation a document runs under `name`: the one so named, or the only
/// one when no name is given; `None` when there is no such operation or the choice is
/// ambiguous (execution then refuses the document anyway).
pub fn operation_of(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    let mut operations = document.operations.iter();
    let chosen = match name {
        Some(name) => operations.find(|(n, _)| n.map(|n| n.as_str()) == Some(name))?,
        None => {
            let only = operations.next()?;
            if operations.next().is_some() {
                return None;
            }
            only
        }
    };
    Some(chosen.1.node.ty)
}

/// The operation `request` runs, from its already parsed document.
pub fn operation_type(request: &mut Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    operation_of(document, name.as_deref())
}

#[async_trait::async_trait]
impl Extension for Routing {
    /// Runs after the document was parsed (by `ErrorCodes`, registered before this one), so
    /// it costs no second parse: anything but a plain query reads the primary.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if !matches!(operation_type(&mut request), Some(OperationType::Query))
            && let Some(route) = request
                .data
                .get(&TypeId::of::<Route>())
                .and_then(|data| data.downcast_ref::<Route>())
        {
            route.writes();
        }
        next.run(ctx, request).await
    }
}

//! Productions: reading them, `createProduction`, following. Every rule is in
//! `domain::productions`; these resolvers only parse, call and convert.

use super::reads;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object};
use entity::production;

use super::types::{
    Center, ConnectionTotal, GqlDateTime, PerformanceCategory, PerformanceConnection,
    id_connection, load_center, local, parse_id_cursor,
};
use super::{caller, page_size, services};
use crate::domain::catalog::PerformanceFilter;
use crate::domain::productions::{self, NewProduction, ProductionFilter as Filter};
use crate::ids::{Kind, decode, encode};

/// A page of productions.
pub type ProductionConnection = Connection<String, Production, ConnectionTotal, EmptyFields>;

/// The work (剧目, exhibition, race) that sessions stage, possibly at several centers:
/// 《大雷雨》 in Jinshan, then again in Pinghu. Every performance belongs to one.
pub struct Production(pub production::Model);

#[Object]
impl Production {
    /// Its global id.
    pub async fn id(&self) -> ID {
        ID(encode(Kind::Production, self.0.id))
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn category(&self) -> PerformanceCategory {
        self.0.category.into()
    }
    /// Whose production it is; every session of it has this origin center.
    async fn origin_center(&self, ctx: &Context<'_>) -> async_graphql::Result<Center> {
        Ok(load_center(ctx, self.0.origin_center_id).await?)
    }
    /// Its published sessions, at any center, by start.
    async fn performances(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<PerformanceConnection> {
        let filter = PerformanceFilter {
            production_id: Some(self.0.id),
            status: Some(entity::enums::PerformanceStatus::Published),
            ..Default::default()
        };
        Ok(super::catalog::performance_page(ctx, filter, first, after, None, None).await?)
    }
    /// How many residents follow it.
    async fn followers(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let count = productions::followers(reads(ctx)?, self.0.id).await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
    /// Whether the caller follows it (false for anyone but a resident).
    async fn viewer_follows(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(productions::follows(reads(ctx)?, caller(ctx), self.0.id).await?)
    }
    /// When it was created.
    async fn created_at(&self) -> GqlDateTime {
        local(self.0.created_at)
    }
}

/// Filters of `productions`.
#[derive(InputObject, Default)]
pub struct ProductionFilter {
    /// Of this origin center.
    pub origin_center_id: Option<ID>,
    /// Words in the title or description (case-insensitive).
    pub search: Option<String>,
}

/// `createProduction` input.
#[derive(InputObject)]
pub struct CreateProductionInput {
    /// Title of the work.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: PerformanceCategory,
}

/// Production queries.
#[derive(Default)]
pub struct ProductionQuery;

#[Object]
impl ProductionQuery {
    /// A production by id.
    async fn production(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Production>> {
        let id = decode(Kind::Production, &id)?;
        Ok(Some(Production(
            productions::visible(reads(ctx)?, caller(ctx), id).await?,
        )))
    }

    /// The productions the caller may see, oldest first.
    async fn productions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProductionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ProductionConnection> {
        let filter = filter.unwrap_or_default();
        let filter = Filter {
            origin_center_id: filter
                .origin_center_id
                .map(|id| decode(Kind::Center, &id))
                .transpose()?,
            search: filter.search,
        };
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("PR", "after", c))
            .transpose()?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, has_next, total) =
            productions::page(reads(ctx)?, caller(ctx), &filter, after_id, first, count).await?;
        Ok(id_connection(
            "PR",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |p| p.id,
            Production,
        ))
    }
}

/// Production mutations.
#[derive(Default)]
pub struct ProductionMutation;

#[Object]
impl ProductionMutation {
    /// Announces a production of the caller's center (SCHEDULER and up); it is public at once.
    async fn create_production(
        &self,
        ctx: &Context<'_>,
        input: CreateProductionInput,
    ) -> async_graphql::Result<Production> {
        let made = productions::create(
            &services(ctx)?.db,
            caller(ctx),
            NewProduction {
                title: input.title,
                description: input.description.unwrap_or_default(),
                category: input.category.into(),
            },
        )
        .await?;
        Ok(Production(made))
    }

    /// Follows a production (residents): a session of it published anywhere notifies you.
    async fn follow_production(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Production> {
        let id = decode(Kind::Production, &id)?;
        Ok(Production(
            productions::set_following(&services(ctx)?.db, caller(ctx), id, true).await?,
        ))
    }

    /// Stops following a production (residents); following nothing is fine.
    async fn unfollow_production(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Production> {
        let id = decode(Kind::Production, &id)?;
        Ok(Production(
            productions::set_following(&services(ctx)?.db, caller(ctx), id, false).await?,
        ))
    }
}

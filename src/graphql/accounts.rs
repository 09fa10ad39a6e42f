//! Accounts: `me`, registration, login, token refresh, logout, staff creation.

use super::reads;
use async_graphql::{Context, ID, InputObject, Object};

use super::types::{Account, AuthPayload, Role};
use super::{caller, services};
use crate::auth::password;
use crate::domain::accounts::{self, Email, NewResident, NewStaff, Origin};
use crate::error::AppError;
use crate::ids::{Kind, decode};

/// `registerResident` input.
#[derive(InputObject)]
pub struct RegisterResidentInput {
    /// Login email (unique, case-insensitive).
    pub email: String,
    /// 10 to 256 characters.
    pub password: String,
    /// The name shown to others.
    pub display_name: String,
    /// The center on the side the resident lives.
    pub home_center_id: ID,
}

/// `createStaffAccount` input.
#[derive(InputObject)]
pub struct CreateStaffInput {
    /// Login email (unique, case-insensitive).
    pub email: String,
    /// 10 to 256 characters.
    pub password: String,
    /// The name shown to others.
    pub display_name: String,
    /// CENTER_ADMIN, SCHEDULER or USHER.
    pub role: Role,
}

/// Where the request came from (for the per-IP limits).
pub(crate) fn origin(ctx: &Context<'_>) -> Origin {
    ctx.data_opt::<Origin>().cloned().unwrap_or(Origin {
        ip: "unknown".to_owned(),
        ip_limit: 0,
    })
}

/// Account queries.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in account (null when anonymous).
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Account>> {
        let Some(id) = caller(ctx).account_id() else {
            return Ok(None);
        };
        let account = accounts::find(reads(ctx)?, id).await?;
        match account {
            Some(account) if account.active => Ok(Some(Account::from(account))),
            _ => Err(AppError::Unauthenticated("the account no longer exists".to_owned()).into()),
        }
    }
}

/// Account mutations.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a resident account and signs it in.
    async fn register_resident(
        &self,
        ctx: &Context<'_>,
        input: RegisterResidentInput,
    ) -> async_graphql::Result<AuthPayload> {
        let services = services(ctx)?;
        let email = Email::parse("email", &input.email)?;
        password::validate(&input.password, "password")?;
        let display_name = accounts::display_name("displayName", &input.display_name)?;
        let home_center_id = decode(Kind::Center, &input.home_center_id)
            .map_err(|_| AppError::bad_input("homeCenterId", "no such center"))?;
        let session = accounts::register_resident(
            &services.db,
            &services.keys,
            NewResident {
                email,
                password: input.password,
                display_name,
                home_center_id,
            },
            &origin(ctx),
        )
        .await?;
        Ok(AuthPayload(session))
    }

    /// Signs in with email and password.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let services = services(ctx)?;
        let session =
            accounts::login(&services.db, &services.keys, &email, password, &origin(ctx)).await?;
        Ok(AuthPayload(session))
    }

    /// Trades a refresh token for new tokens; the old one is spent. Presenting a spent
    /// token revokes its whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let services = services(ctx)?;
        Ok(AuthPayload(
            accounts::refresh(&services.db, &services.keys, &refresh_token).await?,
        ))
    }

    /// Ends the session the refresh token belongs to.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        Ok(accounts::logout(&services(ctx)?.db, &refresh_token).await?)
    }

    /// A CENTER_ADMIN adds a staff member to its own center.
    async fn create_staff_account(
        &self,
        ctx: &Context<'_>,
        input: CreateStaffInput,
    ) -> async_graphql::Result<Account> {
        let caller = caller(ctx);
        caller.staff(entity::enums::Role::CenterAdmin)?;
        let email = Email::parse("email", &input.email)?;
        password::validate(&input.password, "password")?;
        let display_name = accounts::display_name("displayName", &input.display_name)?;
        let account = accounts::create_staff(
            &services(ctx)?.db,
            caller,
            NewStaff {
                email,
                password: input.password,
                display_name,
                role: input.role.into(),
            },
        )
        .await?;
        Ok(Account::from(account))
    }
}

//! Operating Zouqin: the audit log, a center's staff list, staff roles, deactivation,
//! password changes and resets, and profiles. Every rule is in `domain::administration`
//! and `domain::audit`; these resolvers only parse, call and convert.

use super::{reads, report_reads};
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object};
use entity::audit_entry;

use super::accounts::origin;
use super::loaders::{AccountId, CenterId};
use super::types::{
    Account, Center, ConnectionTotal, GqlDateTime, Role, id_connection, local, parse_id_cursor,
};
use super::{caller, loader, page_size, services};
use crate::domain::administration::{self, ProfileChanges};
use crate::domain::{accounts, audit};
use crate::error::AppError;
use crate::ids::{Kind, decode, encode};

/// A page of accounts.
pub type AccountConnection = Connection<String, Account, ConnectionTotal, EmptyFields>;
/// A page of audit entries.
pub type AuditEntryConnection = Connection<String, AuditEntry, ConnectionTotal, EmptyFields>;

/// Who did what, when, to which object. Entries are never changed or removed.
pub struct AuditEntry(pub audit_entry::Model);

#[Object]
impl AuditEntry {
    /// Its global id.
    pub async fn id(&self) -> ID {
        ID(encode(Kind::AuditEntry, self.0.id))
    }
    /// When it was done.
    async fn at(&self) -> GqlDateTime {
        local(self.0.at)
    }
    /// The account that did it (null: the command line or the demo loader).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Account>> {
        let Some(id) = self.0.actor_id else {
            return Ok(None);
        };
        Ok(loader(ctx)?
            .load_one(AccountId(id))
            .await
            .map_err(AppError::from)?
            .map(Account::from))
    }
    /// The center whose log this is.
    async fn center(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Center>> {
        let Some(id) = self.0.center_id else {
            return Ok(None);
        };
        Ok(loader(ctx)?
            .load_one(CenterId(id))
            .await
            .map_err(AppError::from)?
            .map(Center))
    }
    /// What was done, e.g. `performance.publish`, `account.set_role`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The global id of the object it was done to.
    async fn subject_id(&self) -> Option<ID> {
        let kind = Kind::from_name(self.0.subject_type.as_deref()?)?;
        Some(ID(encode(kind, self.0.subject_id?)))
    }
    /// JSON text: what changed (never a password or a token); `via` says `cli` or `demo`
    /// for what the command line or the demo loader did.
    async fn details(&self) -> Option<&str> {
        self.0.details.as_deref()
    }
}

/// A password reset token for one account: hand it to its owner; it works once, until
/// `expiresAt`.
pub struct PasswordReset(pub administration::IssuedReset);

#[Object]
impl PasswordReset {
    /// The token (shown once; the server keeps only its hash).
    async fn token(&self) -> &str {
        &self.0.token
    }
    /// When it stops working (24 hours after issue).
    async fn expires_at(&self) -> GqlDateTime {
        local(self.0.expires_at)
    }
}

/// `updateMyProfile` input: absent fields keep their value.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    /// The name shown to others.
    pub display_name: Option<String>,
    /// A resident's home center (staff have none).
    pub home_center_id: Option<ID>,
}

/// Operations queries.
#[derive(Default)]
pub struct OperationsQuery;

#[Object]
impl OperationsQuery {
    /// The caller's center's audit log, newest first, optionally of one action
    /// (CENTER_ADMIN).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        action: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("L", "after", c))
            .transpose()?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, has_next, total) = audit::page(
            report_reads(ctx).await?,
            caller(ctx),
            action.as_deref(),
            after_id,
            first,
            count,
        )
        .await?;
        Ok(id_connection(
            "L",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |e| e.id,
            AuditEntry,
        ))
    }

    /// The caller's center's staff, deactivated ones included, by creation, optionally of
    /// one role (CENTER_ADMIN).
    async fn center_accounts(
        &self,
        ctx: &Context<'_>,
        role: Option<Role>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AccountConnection> {
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("A", "after", c))
            .transpose()?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, has_next, total) = administration::center_accounts(
            reads(ctx)?,
            caller(ctx),
            role.map(Into::into),
            after_id,
            first,
            count,
        )
        .await?;
        Ok(id_connection(
            "A",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |a| a.id,
            Account::from,
        ))
    }
}

/// Operations mutations.
#[derive(Default)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// A CENTER_ADMIN gives one of its center's staff another staff role. Its access tokens
    /// stop working within seconds; the new role applies from its next refresh.
    async fn set_staff_role(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        role: Role,
    ) -> async_graphql::Result<Account> {
        let id = decode(Kind::Account, &account_id)?;
        Ok(Account::from(
            administration::set_staff_role(&services(ctx)?.db, caller(ctx), id, role.into())
                .await?,
        ))
    }

    /// A CENTER_ADMIN deactivates one of its center's staff; a resident itself. The account
    /// cannot sign in again, and its tokens stop working within seconds.
    async fn deactivate_account(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
    ) -> async_graphql::Result<Account> {
        let id = decode(Kind::Account, &account_id)?;
        Ok(Account::from(
            administration::deactivate(&services(ctx)?.db, caller(ctx), id).await?,
        ))
    }

    /// A CENTER_ADMIN makes a single-use, 24-hour password reset token for one of its
    /// center's staff.
    async fn issue_password_reset(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
    ) -> async_graphql::Result<PasswordReset> {
        let id = decode(Kind::Account, &account_id)?;
        Ok(PasswordReset(
            administration::issue_password_reset(&services(ctx)?.db, caller(ctx), id).await?,
        ))
    }

    /// Sets a new password with a reset token (once); every session of the account ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        Ok(administration::reset_password(&services(ctx)?.db, &token, new_password).await?)
    }

    /// Changes the signed-in account's password; every other session ends.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        Ok(administration::change_password(
            &services(ctx)?.db,
            caller(ctx),
            current_password,
            new_password,
            &origin(ctx),
        )
        .await?)
    }

    /// Changes the signed-in account's display name, or a resident's home center.
    async fn update_my_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> async_graphql::Result<Account> {
        let display_name = input
            .display_name
            .as_deref()
            .map(|name| accounts::display_name("displayName", name))
            .transpose()?;
        let home_center_id = input
            .home_center_id
            .map(|id| {
                decode(Kind::Center, &id)
                    .map_err(|_| AppError::bad_input("homeCenterId", "no such center"))
            })
            .transpose()?;
        Ok(Account::from(
            administration::update_profile(
                &services(ctx)?.db,
                caller(ctx),
                ProfileChanges {
                    display_name,
                    home_center_id,
                },
            )
            .await?,
        ))
    }
}

//! Account administration: a center's staff list, staff roles, deactivation, password
//! changes and resets, and profiles.
//!
//! The rules, all decided here:
//! - A CENTER_ADMIN manages the staff of its own center (any staff role, CENTER_ADMIN
//!   included, itself included); another center's accounts and residents do not exist for
//!   it (`NOT_FOUND`). Any other staff role is `FORBIDDEN`. Staff roles only: `RESIDENT` is
//!   `BAD_USER_INPUT` (residents register themselves; staff and residents are different
//!   people).
//! - A resident may deactivate itself; any other account does not exist for it.
//! - A center never loses its last active CENTER_ADMIN (`CONFLICT`), under any concurrency:
//!   every change that could remove one first locks the center's row (`FOR UPDATE`; on
//!   SQLite the write transaction is `BEGIN IMMEDIATE`), then counts the other active
//!   admins. The caller's own authority is then re-read under that lock, so a token that
//!   still says CENTER_ADMIN after a demotion acts no more.
//! - Deactivation, a role change and a password reset raise the account's token epoch (its
//!   access tokens are refused within seconds everywhere, see `auth::revocation`);
//!   deactivation and resets also end every session; a password change ends every session
//!   but the caller's.
//! - A deactivated account cannot be changed further through the API (`CONFLICT`); only
//!   `zouqin reset-password --reactivate` brings it back.
//!
//! Every change writes its audit entry in its own transaction.

use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use entity::{account, account_security, center, password_reset, refresh_session};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::accounts::{self, Email, Origin};
use super::audit::{self, Action, Actor, Via};
use super::now;
use crate::auth::revocation::TokenState;
use crate::auth::{self, Caller, Staff, password};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::ids::{self, Kind};

/// How long a password reset token is valid.
pub const RESET_TTL: Duration = Duration::hours(24);

/// An account the caller may see: itself, or (for staff) one of its own center's staff.
/// Everyone else's is `NOT_FOUND`.
pub async fn visible(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    id: i64,
) -> AppResult<account::Model> {
    let account = accounts::find(conn, id)
        .await?
        .ok_or(AppError::NotFound("account"))?;
    let own = caller.account_id() == Some(id);
    let same_center = caller.staff_center().is_some() && caller.staff_center() == account.center_id;
    if own || same_center {
        Ok(account)
    } else {
        Err(AppError::NotFound("account"))
    }
}

/// `centerAccounts`: the CENTER_ADMIN's center's staff (deactivated ones included), by
/// creation, optionally of one role; keyset pages by id. Returns the page, whether more
/// follow, and the total when `count`.
pub async fn center_accounts(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    role: Option<Role>,
    after_id: Option<i64>,
    first: u64,
    count: bool,
) -> AppResult<(Vec<account::Model>, bool, u64)> {
    let admin = caller.staff(Role::CenterAdmin)?;
    let mut query = account::Entity::find().filter(account::Column::CenterId.eq(admin.center_id));
    if let Some(role) = role {
        query = query.filter(account::Column::Role.eq(role));
    }
    let total = if count {
        query.clone().count(conn).await?
    } else {
        0
    };
    if let Some(after) = after_id {
        query = query.filter(account::Column::Id.gt(after));
    }
    let (items, has_next) =
        super::catalog::page_of(conn, query.order_by_asc(account::Column::Id), first).await?;
    Ok((items, has_next, total))
}

/// Locks the center's row for the rest of the transaction: every change that could take
/// away an active CENTER_ADMIN queues here (SQLite's `BEGIN IMMEDIATE` already has).
async fn lock_center(conn: &impl ConnectionTrait, center_id: i64) -> AppResult<()> {
    db::found(
        center::Entity::find_by_id(center_id)
            .lock_exclusive()
            .one(conn)
            .await?,
        "center",
    )?;
    Ok(())
}

/// The account's row, locked for the rest of the transaction.
async fn lock_account(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// One of `center_id`'s staff, locked; `NOT_FOUND` for residents and other centers' accounts.
async fn staff_member(
    conn: &impl ConnectionTrait,
    center_id: i64,
    id: i64,
) -> AppResult<account::Model> {
    match lock_account(conn, id).await? {
        Some(account) if account.center_id == Some(center_id) && account.role != Role::Resident => {
            Ok(account)
        }
        _ => Err(AppError::NotFound("account")),
    }
}

/// `CONFLICT` unless `center_id` keeps an active CENTER_ADMIN other than `leaving`.
async fn keep_an_admin(conn: &impl ConnectionTrait, center_id: i64, leaving: i64) -> AppResult<()> {
    let others = account::Entity::find()
        .filter(account::Column::CenterId.eq(center_id))
        .filter(account::Column::Role.eq(Role::CenterAdmin))
        .filter(account::Column::Active.eq(true))
        .filter(account::Column::Id.ne(leaving))
        .count(conn)
        .await?;
    if others == 0 {
        Err(AppError::conflict(
            "the center would be left without an active CENTER_ADMIN",
        ))
    } else {
        Ok(())
    }
}

/// Re-reads the acting admin under the center's lock: its token may be a few seconds older
/// than a demotion or deactivation.
async fn still_admin(conn: &impl ConnectionTrait, admin: Staff) -> AppResult<()> {
    match accounts::find(conn, admin.account_id).await? {
        Some(me) if !me.active => Err(AppError::Unauthenticated(
            "the account is deactivated".to_owned(),
        )),
        Some(me) if me.role == Role::CenterAdmin && me.center_id == Some(admin.center_id) => Ok(()),
        _ => Err(AppError::Forbidden(
            "this needs the CENTER_ADMIN role".to_owned(),
        )),
    }
}

/// The account's security row (absent: epoch 0, password never changed).
async fn security(
    conn: &impl ConnectionTrait,
    account_id: i64,
) -> AppResult<Option<account_security::Model>> {
    Ok(account_security::Entity::find_by_id(account_id)
        .one(conn)
        .await?)
}

/// The account's current token epoch, for the tokens of a session opened now.
pub async fn token_epoch(conn: &impl ConnectionTrait, account_id: i64) -> AppResult<i64> {
    Ok(security(conn, account_id)
        .await?
        .map_or(0, |s| s.token_epoch))
}

/// When the account's password was last changed or reset, if ever.
pub async fn password_changed_at(
    conn: &impl ConnectionTrait,
    account_id: i64,
) -> AppResult<Option<DateTime<Utc>>> {
    Ok(security(conn, account_id)
        .await?
        .and_then(|s| s.password_changed_at))
}

/// The account's token state, read in the caller's transaction after its row lock.
async fn token_state(
    conn: &impl ConnectionTrait,
    account: &account::Model,
) -> AppResult<TokenState> {
    Ok(TokenState::of(
        account.active,
        security(conn, account.id).await?.as_ref(),
    ))
}

/// Stores a raised token epoch (and, with `password_changed`, that the password changed at
/// `at`).
async fn save_epoch(
    conn: &impl ConnectionTrait,
    account_id: i64,
    state: &TokenState,
    at: DateTime<Utc>,
    password_changed: bool,
) -> AppResult<()> {
    let mut row = account_security::ActiveModel {
        account_id: Set(account_id),
        token_epoch: Set(state.epoch),
        token_epoch_at: Set(at),
        epoch_kept_session: Set(state.kept_session.clone()),
        epoch_kept_from: Set(state.kept_from),
        password_changed_at: NotSet,
    };
    let mut columns = vec![
        account_security::Column::TokenEpoch,
        account_security::Column::TokenEpochAt,
        account_security::Column::EpochKeptSession,
        account_security::Column::EpochKeptFrom,
    ];
    if password_changed {
        row.password_changed_at = Set(Some(at));
        columns.push(account_security::Column::PasswordChangedAt);
    }
    account_security::Entity::insert(row)
        .on_conflict(
            OnConflict::column(account_security::Column::AccountId)
                .update_columns(columns)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Revokes the account's sessions (refresh families), all of them or all but `keep`.
async fn end_sessions(
    conn: &impl ConnectionTrait,
    account_id: i64,
    keep: Option<&str>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let mut update = refresh_session::Entity::update_many()
        .col_expr(refresh_session::Column::RevokedAt, Expr::value(at))
        .filter(refresh_session::Column::AccountId.eq(account_id))
        .filter(refresh_session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(refresh_session::Column::FamilyId.ne(keep));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Voids the account's outstanding reset tokens.
async fn spend_resets(
    conn: &impl ConnectionTrait,
    account_id: i64,
    at: DateTime<Utc>,
) -> AppResult<()> {
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::SpentAt, Expr::value(at))
        .filter(password_reset::Column::AccountId.eq(account_id))
        .filter(password_reset::Column::SpentAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

async fn reload(conn: &impl ConnectionTrait, id: i64) -> AppResult<account::Model> {
    db::found(accounts::find(conn, id).await?, "account")
}

fn refuse_inactive(account: &account::Model) -> AppResult<()> {
    if account.active {
        Ok(())
    } else {
        Err(AppError::conflict("the account is deactivated"))
    }
}

/// `setStaffRole`: a CENTER_ADMIN gives one of its center's staff another staff role. The
/// account's access tokens are refused within seconds, so the new role applies from its
/// next refresh. Setting the role it has changes nothing (and writes no entry).
pub async fn set_staff_role(
    conn: &DatabaseConnection,
    caller: &Caller,
    account_id: i64,
    role: Role,
) -> AppResult<account::Model> {
    let admin = caller.staff(Role::CenterAdmin)?;
    if role == Role::Resident {
        return Err(AppError::bad_input(
            "role",
            "staff accounts have a staff role; residents register themselves",
        ));
    }
    crate::write_txn!(conn, |txn| {
        lock_center(txn, admin.center_id).await?;
        let target = staff_member(txn, admin.center_id, account_id).await?;
        refuse_inactive(&target)?;
        if target.role == Role::CenterAdmin && role != Role::CenterAdmin {
            keep_an_admin(txn, admin.center_id, target.id).await?;
        }
        still_admin(txn, admin).await?;
        if target.role == role {
            return Ok(target);
        }
        let at = now();
        let state = token_state(txn, &target).await?.bumped(None);
        account::Entity::update_many()
            .col_expr(account::Column::Role, Expr::value(role))
            .filter(account::Column::Id.eq(target.id))
            .exec(txn)
            .await?;
        save_epoch(txn, target.id, &state, at, false).await?;
        audit::record(
            txn,
            admin,
            Action::AccountSetRole,
            (Kind::Account, target.id),
            json!({ "from": auth::role_name(target.role), "to": auth::role_name(role) }),
        )
        .await?;
        reload(txn, target.id).await
    })
}

/// `deactivateAccount`: a CENTER_ADMIN deactivates one of its center's staff (itself
/// included, while another active admin remains); a resident deactivates itself. The
/// account can no longer log in or refresh, and its access tokens are refused within
/// seconds on every instance. Deactivating a deactivated account is `CONFLICT`.
pub async fn deactivate(
    conn: &DatabaseConnection,
    caller: &Caller,
    account_id: i64,
) -> AppResult<account::Model> {
    let identity = caller.identity()?;
    if identity.role == Role::Resident {
        if identity.account_id != account_id {
            return Err(AppError::NotFound("account"));
        }
        return crate::write_txn!(conn, |txn| {
            let me = lock_account(txn, account_id)
                .await?
                .ok_or(AppError::NotFound("account"))?;
            refuse_inactive(&me)?;
            switch_off(txn, &me).await?;
            audit::record(
                txn,
                Actor::account(&me),
                Action::AccountDeactivate,
                (Kind::Account, me.id),
                json!({}),
            )
            .await?;
            reload(txn, me.id).await
        });
    }
    let admin = caller.staff(Role::CenterAdmin)?;
    crate::write_txn!(conn, |txn| {
        lock_center(txn, admin.center_id).await?;
        let target = staff_member(txn, admin.center_id, account_id).await?;
        refuse_inactive(&target)?;
        if target.role == Role::CenterAdmin {
            keep_an_admin(txn, admin.center_id, target.id).await?;
        }
        still_admin(txn, admin).await?;
        switch_off(txn, &target).await?;
        audit::record(
            txn,
            admin,
            Action::AccountDeactivate,
            (Kind::Account, target.id),
            json!({}),
        )
        .await?;
        reload(txn, target.id).await
    })
}

/// Deactivates `account`: inactive, epoch raised, every session and reset token void.
async fn switch_off(conn: &impl ConnectionTrait, account: &account::Model) -> AppResult<()> {
    let at = now();
    let state = token_state(conn, account).await?.bumped(None);
    account::Entity::update_many()
        .col_expr(account::Column::Active, Expr::value(false))
        .filter(account::Column::Id.eq(account.id))
        .exec(conn)
        .await?;
    save_epoch(conn, account.id, &state, at, false).await?;
    end_sessions(conn, account.id, None, at).await?;
    spend_resets(conn, account.id, at).await
}

/// A reset token as handed to the CENTER_ADMIN (shown once; stored only as its hash).
#[derive(Debug, Clone)]
pub struct IssuedReset {
    /// 256 random bits, URL-safe base64.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// `issuePasswordReset`: a CENTER_ADMIN makes a single-use token (valid [`RESET_TTL`]) with
/// which one of its center's active staff sets a new password. Earlier unused tokens of
/// that account stop working.
pub async fn issue_password_reset(
    conn: &DatabaseConnection,
    caller: &Caller,
    account_id: i64,
) -> AppResult<IssuedReset> {
    let admin = caller.staff(Role::CenterAdmin)?;
    let token = auth::random_token(32);
    let hash = auth::token_hash(&token);
    crate::write_txn!(conn, |txn| {
        lock_center(txn, admin.center_id).await?;
        let target = staff_member(txn, admin.center_id, account_id).await?;
        refuse_inactive(&target)?;
        still_admin(txn, admin).await?;
        let at = now();
        spend_resets(txn, target.id, at).await?;
        let expires_at = at + RESET_TTL;
        password_reset::Entity::insert(password_reset::ActiveModel {
            account_id: Set(target.id),
            token_hash: Set(hash.clone()),
            issued_by: Set(Some(admin.account_id)),
            issued_at: Set(at),
            expires_at: Set(expires_at),
            spent_at: Set(None),
            ..Default::default()
        })
        .exec(txn)
        .await?;
        audit::record(
            txn,
            admin,
            Action::AccountIssuePasswordReset,
            (Kind::Account, target.id),
            json!({ "expiresAt": expires_at.to_rfc3339() }),
        )
        .await?;
        Ok(IssuedReset {
            token: token.clone(),
            expires_at,
        })
    })
}

fn bad_reset_token() -> AppError {
    AppError::Unauthenticated("invalid, used or expired reset token".to_owned())
}

/// `resetPassword`: whoever holds a valid reset token sets the account's password, once.
/// Every session of the account ends and its access tokens are refused within seconds. An
/// unknown, used or expired token (or a deactivated account) is `UNAUTHENTICATED`.
pub async fn reset_password(
    conn: &DatabaseConnection,
    token: &str,
    new_password: String,
) -> AppResult<bool> {
    password::validate(&new_password, "newPassword")?;
    let hash = auth::token_hash(token);
    // Look before hashing, so junk tokens cost no argon2 work.
    let reset = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(hash.as_str()))
        .one(conn)
        .await?;
    match &reset {
        Some(reset) if reset.spent_at.is_none() && reset.expires_at > now() => {}
        _ => return Err(bad_reset_token()),
    }
    let phc = password::hash(new_password).await?;
    crate::write_txn!(conn, |txn| {
        let at = now();
        // The conditional update is the guard: a token is used once, on any instance.
        let claimed = password_reset::Entity::update_many()
            .col_expr(password_reset::Column::SpentAt, Expr::value(at))
            .filter(password_reset::Column::TokenHash.eq(hash.as_str()))
            .filter(password_reset::Column::SpentAt.is_null())
            .filter(password_reset::Column::ExpiresAt.gt(at))
            .exec(txn)
            .await?;
        if claimed.rows_affected != 1 {
            return Err(bad_reset_token());
        }
        let reset = db::found(
            password_reset::Entity::find()
                .filter(password_reset::Column::TokenHash.eq(hash.as_str()))
                .one(txn)
                .await?,
            "password reset",
        )?;
        let account = match lock_account(txn, reset.account_id).await? {
            Some(account) if account.active => account,
            _ => return Err(bad_reset_token()),
        };
        set_password(txn, &account, &phc, None, at).await?;
        let issued_by = reset.issued_by.map(|id| ids::encode(Kind::Account, id));
        audit::record(
            txn,
            Actor::account(&account),
            Action::AccountResetPassword,
            (Kind::Account, account.id),
            json!({ "issuedBy": issued_by }),
        )
        .await?;
        Ok(true)
    })
}

/// Stores a new password hash, ends the sessions (all, or all but `keep`), raises the token
/// epoch (keeping `keep`'s tokens), and voids outstanding reset tokens.
async fn set_password(
    conn: &impl ConnectionTrait,
    account: &account::Model,
    phc: &str,
    keep: Option<&str>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let state = token_state(conn, account).await?.bumped(keep);
    account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(phc))
        .filter(account::Column::Id.eq(account.id))
        .exec(conn)
        .await?;
    save_epoch(conn, account.id, &state, at, true).await?;
    end_sessions(conn, account.id, keep, at).await?;
    spend_resets(conn, account.id, at).await
}

/// `changePassword`: the signed-in account proves its current password and sets a new
/// one. Every other session ends (refresh tokens revoked, access tokens refused within
/// seconds); the caller's own session — the one its access token was issued for — goes
/// on. A wrong current password is `UNAUTHENTICATED`, changes nothing, and counts toward
/// the login lockout (`RATE_LIMITED` once locked).
pub async fn change_password(
    conn: &DatabaseConnection,
    caller: &Caller,
    current_password: String,
    new_password: String,
    origin: &Origin,
) -> AppResult<bool> {
    let identity = caller.identity()?;
    password::validate(&new_password, "newPassword")?;
    let account = match accounts::find(conn, identity.account_id).await? {
        Some(account) if account.active => account,
        _ => {
            return Err(AppError::Unauthenticated(
                "the account no longer exists".to_owned(),
            ));
        }
    };
    let attempt = accounts::password_attempt(conn, &account, origin).await?;
    let current_password = if current_password.len() > password::MAX_LEN * 4 {
        String::new()
    } else {
        current_password
    };
    let ok = password::verify(current_password, Some(account.password_hash.clone())).await?;
    accounts::settle_attempt(conn, attempt, ok).await?;
    if !ok {
        return Err(AppError::Unauthenticated(
            "the current password is wrong".to_owned(),
        ));
    }
    let phc = password::hash(new_password).await?;
    let keep = identity.session.clone();
    crate::write_txn!(conn, |txn| {
        let me = match lock_account(txn, account.id).await? {
            Some(me) if me.active => me,
            _ => {
                return Err(AppError::Unauthenticated(
                    "the account no longer exists".to_owned(),
                ));
            }
        };
        if me.password_hash != account.password_hash {
            return Err(AppError::conflict(
                "the password was changed meanwhile; sign in again",
            ));
        }
        set_password(txn, &me, &phc, keep.as_deref(), now()).await?;
        audit::record(
            txn,
            Actor::account(&me),
            Action::AccountChangePassword,
            (Kind::Account, me.id),
            json!({}),
        )
        .await?;
        Ok(true)
    })
}

/// The validated fields of `updateMyProfile` (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// A new display name (already validated).
    pub display_name: Option<String>,
    /// A new home center (residents only).
    pub home_center_id: Option<i64>,
}

/// `updateMyProfile`: the signed-in account changes its display name, and a resident its
/// home center (staff have none: `BAD_USER_INPUT` on `homeCenterId`). Nothing to change
/// changes nothing (and writes no entry).
pub async fn update_profile(
    conn: &DatabaseConnection,
    caller: &Caller,
    changes: ProfileChanges,
) -> AppResult<account::Model> {
    let identity = caller.identity()?;
    if let Some(home) = changes.home_center_id {
        if identity.role != Role::Resident {
            return Err(AppError::bad_input(
                "homeCenterId",
                "staff accounts have no home center",
            ));
        }
        if center::Entity::find_by_id(home).one(conn).await?.is_none() {
            return Err(AppError::bad_input("homeCenterId", "no such center"));
        }
    }
    crate::write_txn!(conn, |txn| {
        let me = match lock_account(txn, identity.account_id).await? {
            Some(me) if me.active => me,
            _ => {
                return Err(AppError::Unauthenticated(
                    "the account no longer exists".to_owned(),
                ));
            }
        };
        let name = changes
            .display_name
            .clone()
            .filter(|name| *name != me.display_name);
        let home = changes
            .home_center_id
            .filter(|home| me.role == Role::Resident && Some(*home) != me.home_center_id);
        if name.is_none() && home.is_none() {
            return Ok(me);
        }
        let mut update = account::Entity::update_many().filter(account::Column::Id.eq(me.id));
        let mut details = serde_json::Map::new();
        if let Some(name) = &name {
            update = update.col_expr(account::Column::DisplayName, Expr::value(name.clone()));
            details.insert("displayName".to_owned(), json!(name));
        }
        if let Some(home) = home {
            update = update.col_expr(account::Column::HomeCenterId, Expr::value(home));
            details.insert(
                "homeCenterId".to_owned(),
                json!(ids::encode(Kind::Center, home)),
            );
        }
        update.exec(txn).await?;
        audit::record(
            txn,
            Actor::account(&me),
            Action::AccountUpdateProfile,
            (Kind::Account, me.id),
            serde_json::Value::Object(details),
        )
        .await?;
        reload(txn, me.id).await
    })
}

/// `zouqin reset-password`: the operator sets an account's password from the command line
/// (recovering a center whose last admin is locked out). Like `resetPassword` it ends every
/// session, raises the token epoch and voids reset tokens; the new password also ends the
/// login lockout (failures against the old password no longer count). With `reactivate` a
/// deactivated account is active again. Audited with no actor and `details.via = "cli"`.
pub async fn reset_password_cli(
    conn: &DatabaseConnection,
    email: &str,
    new_password: String,
    reactivate: bool,
) -> AppResult<account::Model> {
    let email = Email::parse("email", email)?;
    password::validate(&new_password, "password")?;
    let account = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| AppError::bad_input("email", "no account has this email"))?;
    let phc = password::hash(new_password).await?;
    crate::write_txn!(conn, |txn| {
        let me = db::found(lock_account(txn, account.id).await?, "account")?;
        let at = now();
        set_password(txn, &me, &phc, None, at).await?;
        let reactivated = reactivate && !me.active;
        if reactivated {
            account::Entity::update_many()
                .col_expr(account::Column::Active, Expr::value(true))
                .filter(account::Column::Id.eq(me.id))
                .exec(txn)
                .await?;
        }
        let center = if me.role == Role::Resident {
            None
        } else {
            me.center_id
        };
        audit::record(
            txn,
            Actor::operator(Via::Cli, center),
            Action::AccountResetPassword,
            (Kind::Account, me.id),
            json!({ "reactivated": reactivated }),
        )
        .await?;
        reload(txn, me.id).await
    })
}

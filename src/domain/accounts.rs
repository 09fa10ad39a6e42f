//! Accounts: registration, login with brute-force protection, refresh-token rotation,
//! logout, and staff management.

use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use entity::{account, center, login_attempt, refresh_session};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::audit::{self, Action, Actor, Via};
use super::{now, text};
use crate::auth::{self, Caller, Identity, password, token::TokenKeys};
use crate::db::violates;
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// Failed logins that lock an account.
pub const LOCKOUT_FAILURES: usize = 5;
/// The window in which they are counted, and how long the lock lasts after the first.
pub const LOCKOUT_WINDOW: Duration = Duration::minutes(15);
/// Lifetime of a refresh token.
pub const REFRESH_TTL: Duration = Duration::days(30);
/// The per-IP window for login and registration attempts.
const IP_WINDOW: Duration = Duration::minutes(1);

/// A normalised email: trimmed, lower-cased, shaped like `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an email for the input field `field`.
    pub fn parse(field: &str, raw: &str) -> AppResult<Self> {
        let email = raw.trim().to_lowercase();
        let bad = || AppError::bad_input(field, "not a valid email address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(email))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a successful login, registration or refresh hands back.
#[derive(Debug, Clone)]
pub struct Session {
    /// The short-lived JWT.
    pub access_token: String,
    /// The opaque refresh token (shown once; stored only as a hash).
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// The account.
    pub account: account::Model,
}

/// Where a login or registration attempt came from, and the per-IP limit in force.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client IP as the edge saw it.
    pub ip: String,
    /// Attempts allowed per IP per minute (0: no per-IP limit).
    pub ip_limit: u32,
}

/// The identity a token would carry for this account, outside any session and under
/// token epoch 0 (an account whose tokens were never revoked); sessions fill in both.
pub fn identity_of(account: &account::Model) -> Identity {
    Identity {
        account_id: account.id,
        role: account.role,
        center_id: if account.role == Role::Resident {
            None
        } else {
            account.center_id
        },
        epoch: 0,
        session: None,
    }
}

async fn open_session(
    conn: &impl ConnectionTrait,
    keys: &TokenKeys,
    account: account::Model,
    family_id: Option<String>,
) -> AppResult<Session> {
    let now = now();
    let refresh_token = auth::random_token(32);
    let family_id = family_id.unwrap_or_else(|| auth::random_token(16));
    refresh_session::ActiveModel {
        account_id: Set(account.id),
        family_id: Set(family_id.clone()),
        token_hash: Set(auth::token_hash(&refresh_token)),
        issued_at: Set(now),
        expires_at: Set(now + REFRESH_TTL),
        used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let identity = Identity {
        epoch: super::administration::token_epoch(conn, account.id).await?,
        session: Some(family_id),
        ..identity_of(&account)
    };
    let (access_token, expires_at) = keys.issue(&identity, now)?;
    Ok(Session {
        access_token,
        refresh_token,
        expires_at,
        account,
    })
}

/// Records an attempt and refuses it when the client IP has used up its minute.
async fn check_ip(
    conn: &DatabaseConnection,
    kind: &str,
    account_id: Option<i64>,
    origin: &Origin,
) -> AppResult<i64> {
    let now = now();
    let attempt = login_attempt::ActiveModel {
        kind: Set(kind.to_owned()),
        account_id: Set(account_id),
        client_ip: Set(origin.ip.clone()),
        attempted_at: Set(now),
        outcome: Set("PENDING".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    if origin.ip_limit == 0 {
        return Ok(attempt.id);
    }
    let recent: Vec<DateTime<Utc>> = login_attempt::Entity::find()
        .select_only()
        .column(login_attempt::Column::AttemptedAt)
        .filter(login_attempt::Column::ClientIp.eq(origin.ip.as_str()))
        .filter(login_attempt::Column::AttemptedAt.gt(now - IP_WINDOW))
        .filter(login_attempt::Column::Id.lte(attempt.id))
        .order_by_desc(login_attempt::Column::Id)
        .limit(u64::from(origin.ip_limit) + 1)
        .into_tuple()
        .all(conn)
        .await?;
    if recent.len() > origin.ip_limit as usize {
        set_outcome(conn, attempt.id, "REFUSED").await?;
        let oldest_counted = recent.iter().min().copied().unwrap_or(now);
        return Err(rate_limited(oldest_counted + IP_WINDOW, now));
    }
    Ok(attempt.id)
}

fn rate_limited(until: DateTime<Utc>, now: DateTime<Utc>) -> AppError {
    let seconds = (until - now).num_milliseconds().max(0);
    AppError::RateLimited {
        retry_after_seconds: (seconds + 999) / 1000,
    }
}

async fn set_outcome(conn: &impl ConnectionTrait, id: i64, outcome: &str) -> AppResult<()> {
    login_attempt::Entity::update_many()
        .col_expr(login_attempt::Column::Outcome, Expr::value(outcome))
        .filter(login_attempt::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// When the account's login lock (if any) ends. Counts failures (and attempts still being
/// checked) made before `attempt_id`, within the window, since the last success: so the
/// sixth of six concurrent guesses is refused too, on any instance.
async fn locked_until(
    conn: &DatabaseConnection,
    account_id: i64,
    attempt_id: i64,
    now: DateTime<Utc>,
    password_changed_at: Option<DateTime<Utc>>,
) -> AppResult<Option<DateTime<Utc>>> {
    // Guesses against a password that has since been changed or reset no longer count.
    let counted_since = match password_changed_at {
        Some(changed) if changed > now - LOCKOUT_WINDOW => changed,
        _ => now - LOCKOUT_WINDOW,
    };
    let last_success: Option<i64> = login_attempt::Entity::find()
        .select_only()
        .column_as(login_attempt::Column::Id.max(), "max_id")
        .filter(login_attempt::Column::AccountId.eq(account_id))
        .filter(login_attempt::Column::Outcome.eq("SUCCESS"))
        .into_tuple::<Option<i64>>()
        .one(conn)
        .await?
        .flatten();
    let failures: Vec<DateTime<Utc>> = login_attempt::Entity::find()
        .select_only()
        .column(login_attempt::Column::AttemptedAt)
        .filter(login_attempt::Column::AccountId.eq(account_id))
        .filter(login_attempt::Column::Kind.eq("LOGIN"))
        .filter(login_attempt::Column::Outcome.is_in(["FAILURE", "PENDING"]))
        .filter(login_attempt::Column::AttemptedAt.gt(counted_since))
        .filter(login_attempt::Column::Id.lt(attempt_id))
        .filter(login_attempt::Column::Id.gt(last_success.unwrap_or(0)))
        .order_by_asc(login_attempt::Column::AttemptedAt)
        .into_tuple()
        .all(conn)
        .await?;
    if failures.len() < LOCKOUT_FAILURES {
        return Ok(None);
    }
    // The lock lasts until fewer than LOCKOUT_FAILURES failures remain in the window.
    let first_that_must_expire = failures[failures.len() - LOCKOUT_FAILURES];
    Ok(Some(first_that_must_expire + LOCKOUT_WINDOW))
}

/// `login`: checks the per-IP limit, the account lockout, then the password.
pub async fn login(
    conn: &DatabaseConnection,
    keys: &TokenKeys,
    email: &str,
    password_text: String,
    origin: &Origin,
) -> AppResult<Session> {
    let invalid = || AppError::Unauthenticated("invalid email or password".to_owned());
    let account = match Email::parse("email", email) {
        Ok(email) => {
            account::Entity::find()
                .filter(account::Column::Email.eq(email.as_str()))
                .one(conn)
                .await?
        }
        Err(_) => None,
    };
    // An unknown email is limited per IP only; a known account is also locked out.
    let attempt_id = match &account {
        Some(account) => password_attempt(conn, account, origin).await?,
        None => check_ip(conn, "LOGIN", None, origin).await?,
    };
    let password_text = if password_text.len() > password::MAX_LEN * 4 {
        String::new()
    } else {
        password_text
    };
    let ok = password::verify(
        password_text,
        account.as_ref().map(|a| a.password_hash.clone()),
    )
    .await?;
    match account {
        Some(account) if ok && account.active => {
            set_outcome(conn, attempt_id, "SUCCESS").await?;
            crate::write_txn!(conn, |txn| {
                open_session(txn, keys, account.clone(), None).await
            })
        }
        _ => {
            set_outcome(conn, attempt_id, "FAILURE").await?;
            Err(invalid())
        }
    }
}

/// Records a password check for `account` (other than a login: `changePassword`) as a
/// login attempt, so it is limited like one: the per-IP limit and the account lockout
/// apply (`RATE_LIMITED`). Settle it with [`settle_attempt`].
pub(crate) async fn password_attempt(
    conn: &DatabaseConnection,
    account: &account::Model,
    origin: &Origin,
) -> AppResult<i64> {
    let attempt_id = check_ip(conn, "LOGIN", Some(account.id), origin).await?;
    let now = now();
    if let Some(until) = locked_until(
        conn,
        account.id,
        attempt_id,
        now,
        super::administration::password_changed_at(conn, account.id).await?,
    )
    .await?
        && until > now
    {
        set_outcome(conn, attempt_id, "REFUSED").await?;
        return Err(rate_limited(until, now));
    }
    Ok(attempt_id)
}

/// Records how a [`password_attempt`] ended.
pub(crate) async fn settle_attempt(
    conn: &DatabaseConnection,
    attempt_id: i64,
    ok: bool,
) -> AppResult<()> {
    set_outcome(conn, attempt_id, if ok { "SUCCESS" } else { "FAILURE" }).await
}

/// The validated fields of `registerResident`.
#[derive(Debug)]
pub struct NewResident {
    /// The login email.
    pub email: Email,
    /// The password (validated length).
    pub password: String,
    /// The name shown to others.
    pub display_name: String,
    /// The center on the side the resident lives.
    pub home_center_id: i64,
}

/// `registerResident`: creates a resident and signs it in.
pub async fn register_resident(
    conn: &DatabaseConnection,
    keys: &TokenKeys,
    input: NewResident,
    origin: &Origin,
) -> AppResult<Session> {
    let attempt_id = check_ip(conn, "REGISTER", None, origin).await?;
    if center::Entity::find_by_id(input.home_center_id)
        .one(conn)
        .await?
        .is_none()
    {
        return Err(AppError::bad_input("homeCenterId", "no such center"));
    }
    let hash = password::hash(input.password).await?;
    let result = crate::write_txn!(conn, |txn| {
        let account = insert_account(
            txn,
            &input.email,
            &hash,
            &input.display_name,
            Role::Resident,
            None,
            Some(input.home_center_id),
        )
        .await?;
        audit::record(
            txn,
            Actor::account(&account),
            Action::AccountRegister,
            (Kind::Account, account.id),
            json!({}),
        )
        .await?;
        open_session(txn, keys, account, None).await
    });
    set_outcome(
        conn,
        attempt_id,
        if result.is_ok() { "SUCCESS" } else { "FAILURE" },
    )
    .await?;
    result
}

async fn insert_account(
    conn: &impl ConnectionTrait,
    email: &Email,
    password_hash: &str,
    display_name: &str,
    role: Role,
    center_id: Option<i64>,
    home_center_id: Option<i64>,
) -> AppResult<account::Model> {
    account::ActiveModel {
        email: Set(email.as_str().to_owned()),
        password_hash: Set(password_hash.to_owned()),
        display_name: Set(display_name.to_owned()),
        role: Set(role),
        center_id: Set(center_id),
        home_center_id: Set(home_center_id),
        active: Set(true),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|err| {
        if violates(&err, "account_email_key") {
            AppError::Conflict {
                message: "an account with this email exists".to_owned(),
                with: None,
            }
        } else {
            err.into()
        }
    })
}

/// Validates a display name.
pub fn display_name(field: &str, raw: &str) -> AppResult<String> {
    text(field, raw, 100)
}

/// Takes the lock of a session (a family of rotated refresh tokens) until the transaction
/// ends: the row of the family's first token, `FOR UPDATE`. Refresh, logout and reuse
/// detection all take it before they look at a token's state, so they happen one at a time
/// per session, and each sees what the one before it committed (on PostgreSQL every
/// statement after the lock reads afresh; on SQLite `write_txn!` is `BEGIN IMMEDIATE`, which
/// already serializes writers). Without it a refresh could read its token as live, a
/// logout revoke the family meanwhile, and the refresh then add a live token to the
/// family that logout had just ended.
async fn lock_family(conn: &impl ConnectionTrait, family_id: &str) -> AppResult<()> {
    refresh_session::Entity::find()
        .select_only()
        .column(refresh_session::Column::Id)
        .filter(refresh_session::Column::FamilyId.eq(family_id))
        .order_by_asc(refresh_session::Column::Id)
        .limit(1)
        .lock_exclusive()
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(())
}

/// The refresh token with this hash, read under its family's lock (see [`lock_family`]).
async fn locked_session(
    conn: &impl ConnectionTrait,
    hash: &str,
) -> AppResult<Option<refresh_session::Model>> {
    let Some(family_id) = refresh_session::Entity::find()
        .select_only()
        .column(refresh_session::Column::FamilyId)
        .filter(refresh_session::Column::TokenHash.eq(hash))
        .into_tuple::<String>()
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    lock_family(conn, &family_id).await?;
    Ok(refresh_session::Entity::find()
        .filter(refresh_session::Column::TokenHash.eq(hash))
        .one(conn)
        .await?)
}

enum Refreshed {
    Rotated(Box<Session>),
    Reused,
}

/// `refreshToken`: rotates the token. A token that was already used revokes its whole
/// family: whoever holds the newest token of that session must sign in again. Runs under
/// the family's lock, so a concurrent logout either ends the session before (and this
/// refresh is refused) or after (and ends the token this refresh hands out too).
pub async fn refresh(
    conn: &DatabaseConnection,
    keys: &TokenKeys,
    token: &str,
) -> AppResult<Session> {
    let invalid = || AppError::Unauthenticated("invalid or expired refresh token".to_owned());
    let hash = auth::token_hash(token);
    let outcome = crate::write_txn!(conn, |txn| {
        let Some(session) = locked_session(txn, &hash).await? else {
            return Err(invalid());
        };
        let now = now();
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(invalid());
        }
        let claimed = refresh_session::Entity::update_many()
            .col_expr(refresh_session::Column::UsedAt, Expr::value(now))
            .filter(refresh_session::Column::Id.eq(session.id))
            .filter(refresh_session::Column::UsedAt.is_null())
            .filter(refresh_session::Column::RevokedAt.is_null())
            .exec(txn)
            .await?;
        if claimed.rows_affected != 1 {
            revoke_family(txn, &session.family_id).await?;
            return Ok(Refreshed::Reused);
        }
        let account = account::Entity::find_by_id(session.account_id)
            .one(txn)
            .await?;
        match account {
            Some(account) if account.active => Ok(Refreshed::Rotated(Box::new(
                open_session(txn, keys, account, Some(session.family_id)).await?,
            ))),
            _ => {
                revoke_family(txn, &session.family_id).await?;
                Ok(Refreshed::Reused)
            }
        }
    })?;
    match outcome {
        Refreshed::Rotated(session) => Ok(*session),
        Refreshed::Reused => Err(invalid()),
    }
}

async fn revoke_family(conn: &impl ConnectionTrait, family_id: &str) -> AppResult<()> {
    refresh_session::Entity::update_many()
        .col_expr(refresh_session::Column::RevokedAt, Expr::value(now()))
        .filter(refresh_session::Column::FamilyId.eq(family_id))
        .filter(refresh_session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// `logout`: revokes the refresh token's family (that session only), under the family's
/// lock (see [`lock_family`]), so every token of the family is dead once it answers `true`,
/// including one that a concurrent refresh handed out.
pub async fn logout(conn: &DatabaseConnection, token: &str) -> AppResult<bool> {
    let hash = auth::token_hash(token);
    crate::write_txn!(conn, |txn| {
        match locked_session(txn, &hash).await? {
            Some(session) if session.revoked_at.is_none() => {
                revoke_family(txn, &session.family_id).await?;
                Ok(true)
            }
            _ => Err(AppError::Unauthenticated(
                "invalid or expired refresh token".to_owned(),
            )),
        }
    })
}

/// The validated fields of `createStaffAccount`.
#[derive(Debug)]
pub struct NewStaff {
    /// The login email.
    pub email: Email,
    /// The password (validated length).
    pub password: String,
    /// The name shown to others.
    pub display_name: String,
    /// A staff role.
    pub role: Role,
}

/// `createStaffAccount`: a CENTER_ADMIN adds staff to its own center.
pub async fn create_staff(
    conn: &DatabaseConnection,
    caller: &Caller,
    input: NewStaff,
) -> AppResult<account::Model> {
    let admin = caller.staff(Role::CenterAdmin)?;
    if input.role == Role::Resident {
        return Err(AppError::bad_input(
            "role",
            "staff accounts need a staff role; residents register themselves",
        ));
    }
    let hash = password::hash(input.password).await?;
    crate::write_txn!(conn, |txn| {
        let account = insert_account(
            txn,
            &input.email,
            &hash,
            &input.display_name,
            input.role,
            Some(admin.center_id),
            None,
        )
        .await?;
        audit::record(
            txn,
            admin,
            Action::AccountCreate,
            (Kind::Account, account.id),
            json!({ "role": auth::role_name(input.role) }),
        )
        .await?;
        Ok(account)
    })
}

/// Creates an account from the command line (no caller: the operator is trusted).
pub async fn create_account_cli(
    conn: &DatabaseConnection,
    email: &str,
    role: Role,
    center_code: Option<&str>,
    display: Option<&str>,
    password_text: String,
) -> AppResult<account::Model> {
    let email = Email::parse("email", email)?;
    password::validate(&password_text, "password")?;
    let center = match center_code {
        Some(code) => Some(
            center::Entity::find()
                .filter(center::Column::Code.eq(code))
                .one(conn)
                .await?
                .ok_or_else(|| {
                    AppError::bad_input("center", format!("no center with code {code}"))
                })?,
        ),
        None => None,
    };
    let Some(center) = center else {
        return Err(AppError::bad_input(
            "center",
            "--center is required (the staff member's center, or a resident's home center)",
        ));
    };
    let name = display_name(
        "displayName",
        display.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("staff")),
    )?;
    let hash = password::hash(password_text).await?;
    create_by_operator(conn, Via::Cli, &email, &hash, &name, role, center.id).await
}

/// Creates an account for the operator (the command line or the demo loader: no account
/// acts), with a password already hashed; audited as `account.create` with the actor null
/// and `details.via` saying which. `center_id` is a staff member's center or a resident's
/// home center.
pub async fn create_by_operator(
    conn: &DatabaseConnection,
    via: Via,
    email: &Email,
    password_hash: &str,
    display_name: &str,
    role: Role,
    center_id: i64,
) -> AppResult<account::Model> {
    let (staff_center, home) = if role == Role::Resident {
        (None, Some(center_id))
    } else {
        (Some(center_id), None)
    };
    crate::write_txn!(conn, |txn| {
        let account = insert_account(
            txn,
            email,
            password_hash,
            display_name,
            role,
            staff_center,
            home,
        )
        .await?;
        audit::record(
            txn,
            Actor::operator(via, staff_center),
            Action::AccountCreate,
            (Kind::Account, account.id),
            json!({ "role": auth::role_name(role) }),
        )
        .await?;
        Ok(account)
    })
}

/// Loads an account by id.
pub async fn find(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id).one(conn).await?)
}

/// Whether `caller` may see `account`'s email in full: the account itself, or a
/// CENTER_ADMIN of the account's own center.
pub fn may_see_email(caller: &Caller, account: &account::Model) -> bool {
    match caller {
        Caller::Account(identity) => {
            identity.account_id == account.id
                || (identity.role == Role::CenterAdmin
                    && account.center_id.is_some()
                    && identity.center_id == account.center_id)
        }
        Caller::Anonymous => false,
    }
}

/// `x***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

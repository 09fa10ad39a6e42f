//! Refusing access tokens within seconds on every instance: tokens of a deactivated
//! account, tokens issued before a role change or a password reset, and tokens of the
//! sessions a password change ended.
//!
//! An access token carries the account's *token epoch* at issue (`ver`) and its session
//! (`sid`, the refresh family). Deactivation, a role change and a password reset raise the
//! epoch in the same transaction as the change; a password change raises it too but keeps
//! the caller's own session ([`TokenState::bumped`]).
//!
//! Each instance keeps a snapshot of the accounts whose epoch changed within an access
//! token's lifetime (every older token has expired anyway), reloaded every
//! [`POLL_EVERY`] by one indexed query. A request with a token looks its account up in that
//! snapshot: no database work on the request path, and none at all for anonymous requests.
//! A snapshot older than [`TRUST_FOR`] (the reload is failing or late) is not used: the
//! request then reads the account's row itself. So a change committed at `t` is seen by
//! every request that starts after `t + TRUST_FOR` on any instance.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use entity::account_security;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Statement};

use super::Identity;
use crate::error::AppResult;

/// How often each instance reloads the recently changed accounts.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How old a snapshot may be and still be used; the bound on how long a refused token may
/// still be accepted (API.md promises 5 seconds).
pub const TRUST_FOR: Duration = Duration::from_secs(3);

/// How far back the snapshot looks: an access token's lifetime, the 5 s leeway of its
/// expiry check, and a minute for clocks of instances that disagree.
fn window() -> chrono::Duration {
    super::token::ACCESS_TTL + chrono::Duration::seconds(65)
}

/// What decides whether an account's access tokens are still good.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenState {
    /// Deactivated accounts have no valid token.
    pub active: bool,
    /// Tokens issued under an older epoch are refused…
    pub epoch: i64,
    /// …except this session's…
    pub kept_session: Option<String>,
    /// …from this epoch on.
    pub kept_from: Option<i64>,
}

impl TokenState {
    /// The state of an account: whether it is active, and its security row (absent:
    /// epoch 0, nothing kept).
    pub fn of(active: bool, security: Option<&account_security::Model>) -> Self {
        Self {
            active,
            epoch: security.map_or(0, |s| s.token_epoch),
            kept_session: security.and_then(|s| s.epoch_kept_session.clone()),
            kept_from: security.and_then(|s| s.epoch_kept_from),
        }
    }

    /// Whether a token with this identity is still good.
    pub fn admits(&self, identity: &Identity) -> bool {
        // Issued after every change this state knows of (the state is a moment old: an
        // account reactivated since is inactive here, but its epoch was raised with it).
        if identity.epoch > self.epoch {
            return true;
        }
        // Deactivation raises the epoch too; an inactive account's current-epoch token can
        // only come from a login that raced with the deactivation.
        if !self.active {
            return false;
        }
        if identity.epoch == self.epoch {
            return true;
        }
        match (&self.kept_session, self.kept_from, &identity.session) {
            (Some(kept), Some(from), Some(session)) => kept == session && identity.epoch >= from,
            _ => false,
        }
    }

    /// The state after the epoch is raised. `keep` names a session whose current tokens
    /// stay good (a password change keeps the caller's session): every token of it that is
    /// good now stays good; every other older token is refused.
    pub fn bumped(&self, keep: Option<&str>) -> Self {
        let (kept_session, kept_from) = match keep {
            Some(session) => {
                let from = match (&self.kept_session, self.kept_from) {
                    (Some(kept), Some(from)) if kept == session => from.min(self.epoch),
                    _ => self.epoch,
                };
                (Some(session.to_owned()), Some(from))
            }
            None => (None, None),
        };
        Self {
            active: self.active,
            epoch: self.epoch + 1,
            kept_session,
            kept_from,
        }
    }
}

struct Snapshot {
    /// When the query that made it was sent (None: never loaded).
    taken: Option<Instant>,
    accounts: HashMap<i64, TokenState>,
}

struct Inner {
    conn: DatabaseConnection,
    snapshot: RwLock<Arc<Snapshot>>,
}

/// This instance's view of recently changed accounts; cheap to clone.
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revocations")
    }
}

/// The token state in a row of [`RECENT`] or [`ONE`].
fn state_of(row: &QueryResult) -> AppResult<TokenState> {
    Ok(TokenState {
        active: row.try_get("", "active")?,
        epoch: row.try_get::<Option<i64>>("", "token_epoch")?.unwrap_or(0),
        kept_session: row.try_get("", "epoch_kept_session")?,
        kept_from: row.try_get("", "epoch_kept_from")?,
    })
}

/// The accounts whose epoch changed since `$1` (the index on `token_epoch_at`).
const RECENT: &str = "SELECT s.account_id, a.active, s.token_epoch, s.epoch_kept_session, s.epoch_kept_from \
     FROM account_security s JOIN account a ON a.id = s.account_id WHERE s.token_epoch_at > $1";

/// One account's state, by primary key.
const ONE: &str = "SELECT a.active, s.token_epoch, s.epoch_kept_session, s.epoch_kept_from \
     FROM account a LEFT JOIN account_security s ON s.account_id = a.id WHERE a.id = $1";

async fn load(conn: &DatabaseConnection) -> AppResult<HashMap<i64, TokenState>> {
    let since = crate::domain::now() - window();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            RECENT,
            [since.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "account_id")?, state_of(row)?)))
        .collect()
}

impl Revocations {
    /// Starts reloading the snapshot every [`POLL_EVERY`] until the last clone is dropped.
    pub fn start(conn: DatabaseConnection) -> Self {
        let inner = Arc::new(Inner {
            conn,
            snapshot: RwLock::new(Arc::new(Snapshot {
                taken: None,
                accounts: HashMap::new(),
            })),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let sent = Instant::now();
                match load(&inner.conn).await {
                    Ok(accounts) => {
                        let fresh = Arc::new(Snapshot {
                            taken: Some(sent),
                            accounts,
                        });
                        *inner
                            .snapshot
                            .write()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
                        if failing {
                            tracing::info!("token revocations are loading again");
                            failing = false;
                        }
                    }
                    Err(err) => {
                        if !failing {
                            tracing::warn!(error = ?err, "cannot load token revocations; requests with a token check their account directly");
                            failing = true;
                        }
                    }
                }
            }
        });
        Self { inner }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether a verified token's identity is still good: from the snapshot when it is
    /// fresh, else from the account's row.
    pub async fn admits(&self, identity: &Identity) -> AppResult<bool> {
        let snapshot = self.snapshot();
        if snapshot.taken.is_some_and(|t| t.elapsed() < TRUST_FOR) {
            return Ok(snapshot
                .accounts
                .get(&identity.account_id)
                .is_none_or(|state| state.admits(identity)));
        }
        let conn = &self.inner.conn;
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                ONE,
                [identity.account_id.into()],
            ))
            .await?;
        match row {
            Some(row) => Ok(state_of(&row)?.admits(identity)),
            None => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::enums::Role;

    fn token(epoch: i64, session: &str) -> Identity {
        Identity {
            account_id: 1,
            role: Role::Scheduler,
            center_id: Some(1),
            epoch,
            session: Some(session.to_owned()),
        }
    }

    fn fresh() -> TokenState {
        TokenState {
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_bump_refuses_every_older_token() {
        let state = fresh().bumped(None);
        assert!(!state.admits(&token(0, "a")));
        assert!(state.admits(&token(1, "a")));
    }

    #[test]
    fn a_deactivated_account_admits_no_token_it_knows_of() {
        let mut state = fresh().bumped(None).bumped(None);
        state.active = false;
        assert!(!state.admits(&token(2, "a")));
        assert!(!state.admits(&token(0, "a")));
    }

    #[test]
    fn a_token_newer_than_the_state_is_admitted_even_if_the_state_says_inactive() {
        let mut deactivated = fresh().bumped(None);
        deactivated.active = false;
        assert!(
            !deactivated.admits(&token(1, "a")),
            "a token of the racing login"
        );
        assert!(
            deactivated.admits(&token(2, "b")),
            "issued after a reactivation"
        );
    }

    #[test]
    fn a_bump_that_keeps_a_session_refuses_only_the_others() {
        let state = fresh().bumped(Some("a"));
        assert!(state.admits(&token(0, "a")));
        assert!(!state.admits(&token(0, "b")));
        assert!(state.admits(&token(1, "b")));
    }

    #[test]
    fn keeping_the_same_session_twice_keeps_its_oldest_good_tokens() {
        let state = fresh().bumped(Some("a")).bumped(Some("a"));
        assert!(state.admits(&token(0, "a")));
        assert!(state.admits(&token(1, "a")));
        assert!(!state.admits(&token(1, "b")));
    }

    #[test]
    fn keeping_another_session_ends_the_one_kept_before() {
        let state = fresh().bumped(Some("a")).bumped(Some("b"));
        assert!(!state.admits(&token(0, "a")));
        assert!(state.admits(&token(1, "b")));
        assert!(!state.admits(&token(0, "b")));
    }

    #[test]
    fn a_plain_bump_after_a_kept_one_ends_the_kept_session_too() {
        let state = fresh().bumped(Some("a")).bumped(None).bumped(Some("a"));
        assert!(!state.admits(&token(0, "a")));
        assert!(!state.admits(&token(1, "a")));
        assert!(state.admits(&token(2, "a")));
    }
}

//! No-shows: the time-driven step that settles performances once they end, the strikes that
//! suspend a resident's bookings, and the host center's excuse.
//!
//! **Marking.** Any instance may run [`mark_due`] at any moment (the server runs it every
//! `ZOUQIN_NO_SHOW_SWEEP_SECS`). Each batch is one transaction that claims up to
//! [`BATCH`] published performances that ended and are not yet settled (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so instances running at once take different performances;
//! SQLite's `BEGIN IMMEDIATE` makes them take turns), turns their VALID tickets into
//! NO_SHOW, records one `no_show` per CONFIRMED booking none of whose tickets was checked in,
//! and marks the performances settled. Every write is conditional (`status = 'VALID'`,
//! `ON CONFLICT (booking_id) DO NOTHING`, `no_shows_marked_at IS NULL`), and `no_show`'s
//! primary key is the booking: a booking counts once however often, and wherever, the step
//! runs. A half-checked-in booking is not a no-show (its unused tickets still become
//! NO_SHOW); a cancelled booking never is.
//!
//! **Strikes.** A no-show happens at the end of its performance. `strikes` unexcused
//! no-shows no more than `window` apart (the last one and the `strikes − 1` before it)
//! suspend the resident's bookings and waiting-list joins until `suspension` after that last
//! one, on every center's performances. The suspension is kept in `booking_suspension`,
//! rewritten from the `no_show` rows whenever they change (a new no-show, an excuse), so the
//! booking paths check it with one primary-key read.
//!
//! **Time.** Nothing here reads the clock: the step and the excuse take the instant they
//! run at, so tests run the step "as of" a later instant instead of waiting for a
//! performance to end.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::enums::{NotificationKind, PerformanceStatus, Role};
use entity::{booking, booking_suspension, no_show, performance};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::notifications::{self, Note, Notified, Recipients};
use super::text;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};

/// Performances one transaction of the step settles at most (a short transaction, even
/// when an instance finds a long backlog after being down).
pub const BATCH: u64 = 20;

/// The no-show rule: `strikes` no-shows within `window` suspend for `suspension`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How many no-shows suspend (at least 1).
    pub strikes: usize,
    /// How far apart, at most, the first and the last of them may be.
    pub window: Duration,
    /// How long the suspension lasts after the last of them.
    pub suspension: Duration,
}

impl Policy {
    /// The rule from its settings (`ZOUQIN_NO_SHOW_STRIKES`, `…_WINDOW_DAYS`, `…_SUSPENSION_DAYS`).
    pub fn new(strikes: u32, window_days: u32, suspension_days: u32) -> Self {
        Self {
            strikes: strikes.max(1) as usize,
            window: Duration::days(i64::from(window_days)),
            suspension: Duration::days(i64::from(suspension_days)),
        }
    }

    /// The earliest no-show that can still matter at `now`: one older than this can neither
    /// end a suspension that lasts past `now` nor be in the window of one that does.
    fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.window - self.suspension
    }
}

/// When the suspension that `times` (a resident's unexcused no-shows, oldest first) bring
/// ends: `suspension` after the latest no-show that has at least `strikes − 1` others no
/// more than `window` before it. `None`: they bring none (which may lie in the past).
pub fn suspension_until(times: &[DateTime<Utc>], policy: &Policy) -> Option<DateTime<Utc>> {
    let mut first = 0;
    let mut until = None;
    for (last, at) in times.iter().enumerate() {
        while *at - times[first] > policy.window {
            first += 1;
        }
        if last + 1 - first >= policy.strikes {
            until = Some(*at + policy.suspension);
        }
    }
    until
}

/// What one run of the step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// Performances settled.
    pub performances: usize,
    /// Tickets turned from VALID into NO_SHOW.
    pub tickets: u64,
    /// No-shows recorded (bookings none of whose tickets was checked in).
    pub no_shows: usize,
    /// Residents whose suspension was written anew (suspended at `now`).
    pub suspended: usize,
}

impl std::ops::AddAssign for Marked {
    fn add_assign(&mut self, other: Self) {
        self.performances += other.performances;
        self.tickets += other.tickets;
        self.no_shows += other.no_shows;
        self.suspended += other.suspended;
    }
}

/// Runs [`mark_due`] every `every` until `closing` turns true (see [`super::repeat`]).
pub async fn sweep(
    conn: DatabaseConnection,
    policy: Policy,
    every: std::time::Duration,
    realtime: crate::realtime::Realtime,
) {
    let closing = realtime.closing();
    super::repeat("no-shows", every, closing, || async {
        let (_, notified) = mark_due_notifying(&conn, &policy, super::now()).await?;
        realtime.notified(&notified.0);
        Ok(())
    })
    .await;
}

/// The step: settles every published performance that ended at or before `now`, a batch
/// per transaction. Performances another instance is settling at that moment are left to it.
pub async fn mark_due(
    conn: &DatabaseConnection,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<Marked> {
    Ok(mark_due_notifying(conn, policy, now).await?.0)
}

/// [`mark_due`], also returning the residents it told of their suspension
/// (`BOOKING_SUSPENDED`, written in the batch's transaction), for
/// [`Realtime::notified`](crate::realtime::Realtime::notified).
pub async fn mark_due_notifying(
    conn: &DatabaseConnection,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<(Marked, Notified)> {
    let mut total = Marked::default();
    let mut notified = Notified::default();
    // A plain read first: most sweeps find nothing, and then take no write lock (SQLite has
    // one for the whole database).
    while any_due(conn, now).await? {
        let (batch, told) = crate::write_txn!(conn, |txn| { mark_batch(txn, policy, now).await })?;
        notified.extend(told);
        if batch.performances == 0 {
            break;
        }
        total += batch;
    }
    if total.performances > 0 {
        tracing::info!(
            performances = total.performances,
            tickets = total.tickets,
            no_shows = total.no_shows,
            suspended = total.suspended,
            "no-shows marked"
        );
    }
    Ok((total, notified))
}

fn due(now: DateTime<Utc>) -> sea_orm::Select<performance::Entity> {
    performance::Entity::find()
        .filter(performance::Column::Status.eq(PerformanceStatus::Published))
        .filter(performance::Column::NoShowsMarkedAt.is_null())
        .filter(performance::Column::EndsAt.lte(now))
}

async fn any_due(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<bool> {
    let first: Option<i64> = due(now)
        .select_only()
        .column(performance::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(first.is_some())
}

#[derive(FromQueryResult)]
struct Holder {
    account_id: i64,
}

async fn mark_batch(
    txn: &impl ConnectionTrait,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<(Marked, Notified)> {
    // SQLite renders no lock clause: its writers already take turns.
    let claimed: Vec<(i64, DateTime<Utc>)> = due(now)
        .select_only()
        .column(performance::Column::Id)
        .column(performance::Column::EndsAt)
        .order_by_asc(performance::Column::EndsAt)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(txn)
        .await?;
    let mut marked = Marked::default();
    let mut holders = Vec::new();
    for (id, ends_at) in claimed {
        let (tickets, recorded) = settle(txn, id, ends_at, now).await?;
        marked.tickets += tickets;
        marked.no_shows += recorded.len();
        marked.performances += 1;
        holders.extend(recorded);
    }
    let notified = suspend_repeat_offenders(txn, policy, holders, now).await?;
    marked.suspended = notified.0.len();
    Ok((marked, notified))
}

/// Settles one performance that ended at `ends_at`, in the caller's transaction: its VALID
/// tickets become NO_SHOW, each CONFIRMED booking none of whose tickets was checked in is
/// recorded as a no-show of its holder at `ends_at`, and the performance is marked settled.
/// Returns the tickets changed and the holders of the no-shows recorded now (a booking
/// recorded before is not recorded again).
pub(crate) async fn settle(
    txn: &impl ConnectionTrait,
    performance_id: i64,
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<(u64, Vec<i64>)> {
    let backend = txn.get_database_backend();
    let tickets = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE ticket SET status = 'NO_SHOW' WHERE performance_id = $1 AND status = 'VALID'",
            [performance_id.into()],
        ))
        .await?
        .rows_affected();
    let recorded = Holder::find_by_statement(Statement::from_sql_and_values(
        backend,
        "INSERT INTO no_show (booking_id, account_id, performance_id, at, recorded_at) \
         SELECT b.id, b.account_id, b.performance_id, $2, $3 FROM booking b \
         WHERE b.performance_id = $1 AND b.status = 'CONFIRMED' \
           AND NOT EXISTS (SELECT 1 FROM ticket t \
                           WHERE t.booking_id = b.id AND t.status = 'CHECKED_IN') \
         ON CONFLICT (booking_id) DO NOTHING \
         RETURNING account_id",
        [performance_id.into(), ends_at.into(), now.into()],
    ))
    .all(txn)
    .await?;
    performance::Entity::update_many()
        .col_expr(performance::Column::NoShowsMarkedAt, Expr::value(now))
        .filter(performance::Column::Id.eq(performance_id))
        .filter(performance::Column::NoShowsMarkedAt.is_null())
        .exec(txn)
        .await?;
    Ok((
        tickets,
        recorded.into_iter().map(|h| h.account_id).collect(),
    ))
}

#[derive(FromQueryResult)]
struct Offender {
    account_id: i64,
}

/// Rewrites the suspension of those of `accounts` who now have enough recent no-shows to be
/// suspended (a new no-show can only add a suspension, never lift one), and tells each
/// (`BOOKING_SUSPENDED`, in the same transaction). Returns those suspended at `now`.
async fn suspend_repeat_offenders(
    txn: &impl ConnectionTrait,
    policy: &Policy,
    accounts: Vec<i64>,
    now: DateTime<Utc>,
) -> AppResult<Notified> {
    let accounts: Vec<i64> = accounts
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut suspended = Notified::default();
    for chunk in accounts.chunks(500) {
        let placeholders: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
        let mut values: Vec<sea_orm::Value> =
            vec![policy.horizon(now).into(), (policy.strikes as i64).into()];
        values.extend(chunk.iter().map(|id| sea_orm::Value::from(*id)));
        let offenders = Offender::find_by_statement(Statement::from_sql_and_values(
            txn.get_database_backend(),
            format!(
                "SELECT account_id FROM no_show \
                 WHERE excused_at IS NULL AND at >= $1 AND account_id IN ({}) \
                 GROUP BY account_id HAVING COUNT(*) >= $2",
                placeholders.join(", ")
            ),
            values,
        ))
        .all(txn)
        .await?;
        for offender in offenders {
            if let Some(until) = recompute(txn, policy, offender.account_id, now).await? {
                suspended.extend(
                    notifications::notify(
                        txn,
                        Recipients::Accounts(&[offender.account_id]),
                        Note {
                            kind: NotificationKind::BookingSuspended,
                            performance_id: None,
                            production_id: None,
                            message: notifications::booking_suspended(until),
                            waitlist_entry_id: None,
                        },
                    )
                    .await?,
                );
            }
        }
    }
    Ok(suspended)
}

/// Rewrites a resident's suspension from its unexcused no-shows, as of `now`; returns it
/// when it lasts past `now`.
///
/// The account row is taken `FOR NO KEY UPDATE` first, so two transactions rewriting one
/// resident's suspension (two batches of the step, an excuse) take turns, and the second
/// reads the no-shows the first committed: the last write always sees every no-show. That
/// lock does not conflict with the `FOR KEY SHARE` that inserting the resident's bookings
/// and no-shows takes. (SQLite: writers take turns anyway.)
async fn recompute(
    txn: &impl ConnectionTrait,
    policy: &Policy,
    account_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    entity::account::Entity::find_by_id(account_id)
        .select_only()
        .column(entity::account::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<i64>()
        .one(txn)
        .await?;
    let times: Vec<DateTime<Utc>> = no_show::Entity::find()
        .select_only()
        .column(no_show::Column::At)
        .filter(no_show::Column::AccountId.eq(account_id))
        .filter(no_show::Column::ExcusedAt.is_null())
        .filter(no_show::Column::At.gte(policy.horizon(now)))
        .order_by_asc(no_show::Column::At)
        .into_tuple()
        .all(txn)
        .await?;
    let backend = txn.get_database_backend();
    match suspension_until(&times, policy).filter(|until| *until > now) {
        Some(until) => {
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO booking_suspension (account_id, suspended_until, updated_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE \
                 SET suspended_until = excluded.suspended_until, updated_at = excluded.updated_at",
                [account_id.into(), until.into(), now.into()],
            ))
            .await?;
            Ok(Some(until))
        }
        None => {
            booking_suspension::Entity::delete_by_id(account_id)
                .exec(txn)
                .await?;
            Ok(None)
        }
    }
}

/// `BOOKING_SUSPENDED` (with when it ends) if the resident's bookings are suspended at
/// `now`. Called by the exact booking path inside its transaction, and by waiting-list joins.
pub async fn refuse_if_suspended(
    conn: &impl ConnectionTrait,
    account_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let suspension = booking_suspension::Entity::find_by_id(account_id)
        .one(conn)
        .await?;
    match suspension {
        Some(s) if s.suspended_until > now => Err(AppError::BookingSuspended {
            until: s.suspended_until,
        }),
        _ => Ok(()),
    }
}

/// A resident's record as `Account` shows it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Unexcused no-shows since `now − window` (those that count toward a suspension).
    pub no_shows: i64,
    /// When the current suspension ends, if one lasts past `now`.
    pub suspended_until: Option<DateTime<Utc>>,
}

#[derive(FromQueryResult)]
struct Count {
    account_id: i64,
    n: i64,
}

/// The standing of several accounts at `now`, in two queries whatever their number.
pub async fn standings(
    conn: &impl ConnectionTrait,
    account_ids: &[i64],
    window: Duration,
    now: DateTime<Utc>,
) -> AppResult<HashMap<i64, Standing>> {
    let mut out: HashMap<i64, Standing> = account_ids
        .iter()
        .map(|id| (*id, Standing::default()))
        .collect();
    for chunk in account_ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let mut values: Vec<sea_orm::Value> = vec![(now - window).into()];
        values.extend(chunk.iter().map(|id| sea_orm::Value::from(*id)));
        let counts = Count::find_by_statement(Statement::from_sql_and_values(
            conn.get_database_backend(),
            format!(
                "SELECT account_id, COUNT(*) AS n FROM no_show \
                 WHERE excused_at IS NULL AND at >= $1 AND account_id IN ({}) \
                 GROUP BY account_id",
                placeholders.join(", ")
            ),
            values,
        ))
        .all(conn)
        .await?;
        for count in counts {
            out.entry(count.account_id).or_default().no_shows = count.n;
        }
        let suspensions = booking_suspension::Entity::find()
            .filter(booking_suspension::Column::AccountId.is_in(chunk.iter().copied()))
            .filter(booking_suspension::Column::SuspendedUntil.gt(now))
            .all(conn)
            .await?;
        for s in suspensions {
            out.entry(s.account_id).or_default().suspended_until = Some(s.suspended_until);
        }
    }
    Ok(out)
}

/// The no-show records of bookings, by booking id.
pub async fn of_bookings(
    conn: &impl ConnectionTrait,
    booking_ids: &[i64],
) -> AppResult<HashMap<i64, no_show::Model>> {
    Ok(no_show::Entity::find()
        .filter(no_show::Column::BookingId.is_in(booking_ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|n| (n.booking_id, n))
        .collect())
}

/// `excuseNoShow`: the host center's SCHEDULER or CENTER_ADMIN takes a no-show off its
/// holder's record (with a reason), which lifts a suspension it caused. `FORBIDDEN` for
/// other roles; `NOT_FOUND` for a booking the caller may not see (another center's);
/// `CONFLICT` when the booking is not a no-show, or is excused already.
pub async fn excuse(
    conn: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    booking_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<booking::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    let reason = text("reason", reason, 2000)?;
    let booking = super::booking::visible(conn, caller, booking_id).await?;
    crate::write_txn!(conn, |txn| {
        let changed = no_show::Entity::update_many()
            .col_expr(no_show::Column::ExcusedAt, Expr::value(now))
            .col_expr(no_show::Column::ExcusedBy, Expr::value(staff.account_id))
            .col_expr(no_show::Column::Excuse, Expr::value(reason.clone()))
            .filter(no_show::Column::BookingId.eq(booking_id))
            .filter(no_show::Column::ExcusedAt.is_null())
            .exec(txn)
            .await?;
        if changed.rows_affected != 1 {
            let recorded = no_show::Entity::find_by_id(booking_id).one(txn).await?;
            return Err(AppError::conflict(match recorded {
                Some(_) => "this no-show is excused already",
                None => "this booking is not a no-show",
            }));
        }
        super::audit::record(
            txn,
            staff,
            super::audit::Action::NoShowExcuse,
            (crate::ids::Kind::Booking, booking_id),
            serde_json::json!({ "reason": reason, "holder": booking.account_id }),
        )
        .await?;
        recompute(txn, policy, booking.account_id, now).await?;
        Ok(booking.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid") + Duration::days(n)
    }

    #[test]
    fn three_no_shows_within_the_window_suspend_from_the_last() {
        let policy = Policy::new(3, 180, 30);
        let times = [day(0), day(90), day(180)];
        assert_eq!(suspension_until(&times, &policy), Some(day(210)));
    }

    #[test]
    fn one_outside_the_window_does_not_count() {
        let policy = Policy::new(3, 180, 30);
        let times = [day(0), day(90), day(180) + Duration::minutes(1)];
        assert_eq!(suspension_until(&times, &policy), None);
    }

    #[test]
    fn two_no_shows_never_suspend_with_three_strikes() {
        let policy = Policy::new(3, 180, 30);
        assert_eq!(suspension_until(&[day(0), day(1)], &policy), None);
        assert_eq!(suspension_until(&[], &policy), None);
    }

    #[test]
    fn the_latest_strike_decides_when_it_ends() {
        let policy = Policy::new(3, 180, 30);
        let times = [day(0), day(10), day(20), day(300), day(310), day(320)];
        assert_eq!(suspension_until(&times, &policy), Some(day(350)));
        // A fourth no-show inside the window moves the end.
        let times = [day(0), day(10), day(20), day(25)];
        assert_eq!(suspension_until(&times, &policy), Some(day(55)));
    }
}

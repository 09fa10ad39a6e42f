//! A streaming read replica (`ZOUQIN_READ_DATABASE_URL`): a hot standby of the PostgreSQL
//! primary that takes the reads which may be a little stale, and a watcher that says, at
//! every moment, whether it is fresh enough to be used.
//!
//! # The routing rule
//!
//! - **Mutations and subscriptions** read and write the primary, always (a mutation's
//!   payload is read back from where it was written).
//! - **Anonymous queries** (no `Authorization`) read the replica while it is fresh, else the
//!   primary. An anonymous caller has no writes of its own to read back: its only mutations
//!   (`registerResident`, `login`) answer from the primary, and what follows is signed in.
//! - **Signed-in queries** read the primary, so a caller always reads its own writes — except
//!   the reports (`exchangeReport`, `auditLog`, `GET /reports/exchange.csv`), which read the
//!   replica only when it is fresh *and* it has replayed the primary's WAL position read
//!   during the request ([`Replica::caught_up`]). Every write committed before that read —
//!   the caller's own included — is then on the standby too, so the report shows what the
//!   primary would. Otherwise the primary.
//! - **Degrade, never error.** A read-only request that read the replica and met a
//!   connection-level error (`UNAVAILABLE`: pool timeout, I/O, class 08, 57P0x) marks the
//!   replica not fresh and runs again, whole, on the primary; the caller sees a normal
//!   answer. One that met an `INTERNAL` error runs again on the primary too (a standby
//!   cancels queries that conflict with the replay, with SQLSTATE 40001), without marking
//!   it. The read pool's acquire timeout is [`READ_ACQUIRE_TIMEOUT`], so a dead standby
//!   costs little.
//!
//! Time never comes from the database (`domain::now()` is the server's clock), so which
//! server answers cannot change an answer that depends on the time.
//!
//! # Freshness
//!
//! Every [`POLL_EVERY`] the watcher ([`Replica::watch`]) reads the primary's
//! `pg_current_wal_lsn()`, then the standby's `pg_is_in_recovery()` and
//! `pg_last_wal_replay_lsn()`. It keeps the primary's positions of the last `max_lag` in a
//! short ring, and the replica is fresh iff the standby has replayed at least the position
//! the primary had `max_lag` ago: nothing older than `max_lag` (plus one poll) is missing
//! from it. A standby that cannot be reached, errs, or is not in recovery (a promoted former
//! standby no longer follows the primary) is not fresh. The answer is one atomic, so asking
//! it costs a request nothing.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector};
use tokio::sync::OnceCell;

use super::Database;

/// How often the watcher compares the standby with the primary.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long a read waits for a standby connection before the request falls back to the
/// primary: short, so a standby that went away costs the first request after it little.
pub const READ_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a report waits for the standby to replay up to the primary's position before
/// it reads the primary instead: a report takes far longer than this, and a busy primary is
/// always a few records ahead of the standby.
pub const REPORT_CATCH_UP: Duration = Duration::from_millis(50);
/// How often the standby's position is re-read meanwhile.
const REPORT_CATCH_UP_POLL: Duration = Duration::from_millis(5);
/// The longest one probe may take; a slower one counts as "not fresh".
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The read pool on the standby and what the watcher last learnt about it. Cheap to clone.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    conn: DatabaseConnection,
    pool: PgPool,
    primary: PgPool,
    max_lag: Duration,
    fresh: AtomicBool,
    /// The standby's replay position as last seen (0 before the first answer).
    replayed: AtomicU64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("fresh", &self.is_fresh())
            .field("max_lag", &self.inner.max_lag)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// The read pool on `url`, a standby of `primary`. Opened lazily: no connection is made
    /// here, so a standby that is down at start does not stop the server (reads go to the
    /// primary until the watcher finds it fresh). `primary` must be PostgreSQL.
    pub fn open(url: &str, primary: &Database, max_lag: Duration) -> Result<Self, String> {
        let Some(primary_pool) = primary.pg_pool.clone() else {
            return Err("a read replica needs a PostgreSQL primary".to_owned());
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| format!("ZOUQIN_READ_DATABASE_URL is not a PostgreSQL URL: {e}"))?;
        // As many connections as the primary's pool: the replica takes the same reads.
        // Unlike the primary's pool, every connection is pinged before use (sqlx's default):
        // the ping is bounded by the acquire timeout, so a standby that hangs (rather than
        // refusing connections) costs a read [`READ_ACQUIRE_TIMEOUT`] and an answer from the
        // primary, never a request stuck on a statement that will not return.
        let pool = PgPoolOptions::new()
            .max_connections(primary_pool.options().get_max_connections())
            .acquire_timeout(READ_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            inner: Arc::new(Inner {
                conn: SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
                pool,
                primary: primary_pool,
                max_lag,
                fresh: AtomicBool::new(false),
                replayed: AtomicU64::new(0),
            }),
        })
    }

    /// The connection reads go through when routed here.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.inner.conn
    }

    /// Whether the standby is at most `max_lag` behind, as of the last poll.
    pub fn is_fresh(&self) -> bool {
        self.inner.fresh.load(Ordering::Acquire)
    }

    /// A read on the standby failed for want of a connection: stop routing here until the
    /// watcher finds it fresh again.
    pub fn mark_stale(&self) {
        self.set_fresh(false);
    }

    fn set_fresh(&self, fresh: bool) {
        self.inner.fresh.store(fresh, Ordering::Release);
        metrics::gauge!("zouqin_replica_fresh").set(if fresh { 1.0 } else { 0.0 });
    }

    /// Whether the standby is fresh and has replayed at least the primary's WAL position
    /// as of now (one round trip to the primary, then the standby's position, re-read for up
    /// to [`REPORT_CATCH_UP`] while it is short of it). True means every write committed
    /// before this call can be read on the standby.
    pub async fn caught_up(&self) -> bool {
        if !self.is_fresh() {
            return false;
        }
        let Ok(Ok(target)) =
            tokio::time::timeout(PROBE_TIMEOUT, primary_lsn(&self.inner.primary)).await
        else {
            return false;
        };
        if self.inner.replayed.load(Ordering::Acquire) >= target {
            return true;
        }
        // A busy primary is always a little ahead: give the standby a moment to replay up
        // to the target rather than sending every report to the primary.
        let deadline = Instant::now() + REPORT_CATCH_UP;
        loop {
            match tokio::time::timeout(PROBE_TIMEOUT, standby_lsn(&self.inner.pool)).await {
                Ok(Ok(Some(replayed))) => {
                    self.inner.replayed.fetch_max(replayed, Ordering::AcqRel);
                    if replayed >= target {
                        return true;
                    }
                }
                _ => return false,
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(REPORT_CATCH_UP_POLL).await;
        }
    }

    /// Polls the primary and the standby every [`POLL_EVERY`] and keeps the freshness up to
    /// date, until `closing` turns true (at shutdown).
    pub async fn watch(self, mut closing: tokio::sync::watch::Receiver<bool>) {
        let mut ring = Ring::default();
        let mut warned_not_standby = false;
        let mut ticker = tokio::time::interval(POLL_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = closing.wait_for(|closing| *closing) => return,
            }
            let fresh = match self.probe(&mut ring).await {
                Probe::Replayed { replayed, primary } => {
                    warned_not_standby = false;
                    self.inner.replayed.store(replayed, Ordering::Release);
                    metrics::gauge!("zouqin_replica_lag_bytes")
                        .set(primary.saturating_sub(replayed) as f64);
                    ring.target().is_some_and(|target| replayed >= target)
                }
                Probe::NotStandby => {
                    if !warned_not_standby {
                        tracing::warn!(
                            "ZOUQIN_READ_DATABASE_URL is not in recovery (not a standby): reads stay on the primary"
                        );
                        warned_not_standby = true;
                    }
                    false
                }
                Probe::Failed => false,
            };
            if fresh != self.is_fresh() {
                tracing::info!(fresh, "read replica freshness changed");
            }
            self.set_fresh(fresh);
        }
    }

    /// One comparison: the primary's position first, then the standby's, so a standby that
    /// has replayed the position just read is not behind at all.
    async fn probe(&self, ring: &mut Ring) -> Probe {
        let primary =
            match tokio::time::timeout(PROBE_TIMEOUT, primary_lsn(&self.inner.primary)).await {
                Ok(Ok(lsn)) => lsn,
                _ => return Probe::Failed,
            };
        ring.push(Instant::now(), primary, self.inner.max_lag);
        match tokio::time::timeout(PROBE_TIMEOUT, standby_lsn(&self.inner.pool)).await {
            Ok(Ok(Some(replayed))) => Probe::Replayed { replayed, primary },
            Ok(Ok(None)) => Probe::NotStandby,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "read replica probe failed");
                Probe::Failed
            }
            Err(_) => Probe::Failed,
        }
    }
}

/// What one probe found.
enum Probe {
    /// The standby's replay position, and the primary's just before.
    Replayed { replayed: u64, primary: u64 },
    /// The server answered but is not in recovery.
    NotStandby,
    /// One of the two did not answer.
    Failed,
}

/// The primary's WAL positions of the last `max_lag`, oldest first, plus the newest one
/// older than that (the position the standby must have replayed).
#[derive(Default)]
struct Ring {
    samples: VecDeque<(Instant, u64)>,
}

impl Ring {
    fn push(&mut self, at: Instant, lsn: u64, max_lag: Duration) {
        self.samples.push_back((at, lsn));
        // Keep one sample at or before `at - max_lag` (the target), drop those before it.
        if let Some(horizon) = at.checked_sub(max_lag) {
            while self.samples.get(1).is_some_and(|(t, _)| *t <= horizon) {
                self.samples.pop_front();
            }
        }
    }

    /// The position the standby must have replayed to be fresh: the primary's as of
    /// `max_lag` ago — or, while the watcher has not run that long, its first sample, which
    /// is stricter.
    fn target(&self) -> Option<u64> {
        self.samples.front().map(|(_, lsn)| *lsn)
    }
}

/// The primary's current WAL write position, as a byte offset.
async fn primary_lsn(pool: &PgPool) -> Result<u64, sea_orm::sqlx::Error> {
    let lsn: i64 = sea_orm::sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0')::int8")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(lsn).unwrap_or(0))
}

/// The standby's replay position as a byte offset; `None` when the server is not in
/// recovery (it is not a standby, or no longer one).
async fn standby_lsn(pool: &PgPool) -> Result<Option<u64>, sea_orm::sqlx::Error> {
    let (in_recovery, lsn): (bool, Option<i64>) = sea_orm::sqlx::query_as(
        "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0')::int8",
    )
    .fetch_one(pool)
    .await?;
    Ok(match (in_recovery, lsn) {
        (true, Some(lsn)) => Some(u64::try_from(lsn).unwrap_or(0)),
        _ => None,
    })
}

/// Which server one request reads, decided as it arrives and narrowed as it is parsed. One
/// per HTTP request (shared by the operations of a batch); clones share it.
#[derive(Clone)]
pub struct Route {
    inner: Arc<RouteInner>,
}

struct RouteInner {
    primary: DatabaseConnection,
    replica: Option<Replica>,
    /// Reads go to the replica (an anonymous query while it was fresh); cleared for a
    /// mutation or subscription.
    to_replica: AtomicBool,
    /// The request writes (a mutation or subscription): reports stay on the primary too.
    writes: AtomicBool,
    /// Whether a read actually went to the replica (then a connection error is retried).
    used_replica: AtomicBool,
    /// The reports' decision, taken once per request (it costs a primary round trip).
    reports: OnceCell<bool>,
}

impl Route {
    /// A route for a request: anonymous reads go to `replica` if it is fresh now.
    pub fn new(primary: DatabaseConnection, replica: Option<Replica>, anonymous: bool) -> Self {
        let to_replica = anonymous && replica.as_ref().is_some_and(Replica::is_fresh);
        Self {
            inner: Arc::new(RouteInner {
                primary,
                replica,
                to_replica: AtomicBool::new(to_replica),
                writes: AtomicBool::new(false),
                used_replica: AtomicBool::new(false),
                reports: OnceCell::new(),
            }),
        }
    }

    /// A route that never leaves the primary.
    pub fn primary(primary: DatabaseConnection) -> Self {
        Self::new(primary, None, false)
    }

    /// The request turned out to write (a mutation or subscription): everything it reads
    /// comes from the primary, so it reads back its own writes.
    pub fn writes(&self) {
        self.inner.writes.store(true, Ordering::Release);
        self.inner.to_replica.store(false, Ordering::Release);
    }

    /// Whether the request writes.
    pub fn is_write(&self) -> bool {
        self.inner.writes.load(Ordering::Acquire)
    }

    /// The connection for the request's ordinary reads.
    pub fn reads(&self) -> &DatabaseConnection {
        match &self.inner.replica {
            Some(replica) if self.inner.to_replica.load(Ordering::Acquire) => {
                self.inner.used_replica.store(true, Ordering::Release);
                replica.conn()
            }
            _ => &self.inner.primary,
        }
    }

    /// The connection for a report: the replica when the request's ordinary reads go there,
    /// or when the replica has caught up with the primary's current position (so the
    /// caller's own writes are there); else the primary.
    pub async fn report_reads(&self) -> &DatabaseConnection {
        let Some(replica) = &self.inner.replica else {
            return &self.inner.primary;
        };
        if self.is_write() {
            return &self.inner.primary;
        }
        if self.inner.to_replica.load(Ordering::Acquire) {
            return self.reads();
        }
        let caught_up = *self
            .inner
            .reports
            .get_or_init(|| async { replica.caught_up().await })
            .await;
        if caught_up {
            self.inner.used_replica.store(true, Ordering::Release);
            replica.conn()
        } else {
            &self.inner.primary
        }
    }

    /// Whether any read of the request went to the replica.
    pub fn used_replica(&self) -> bool {
        self.inner.used_replica.load(Ordering::Acquire)
    }

    /// Whether this request could read the replica at all (so it is worth keeping a copy of
    /// it to run again on the primary).
    pub fn may_use_replica(&self) -> bool {
        self.inner.replica.is_some()
    }

    /// The replica, if one is configured.
    pub fn replica(&self) -> Option<&Replica> {
        self.inner.replica.as_ref()
    }

    /// Counts the request in the routing metrics, once it has run. Writes are not reads.
    pub fn record(&self) {
        if self.inner.replica.is_none() || self.is_write() {
            return;
        }
        let server = if self.used_replica() {
            "replica"
        } else {
            "primary"
        };
        metrics::counter!("zouqin_replica_routed_reads_total", "server" => server).increment(1);
    }
}

/// Counts a request that read the replica, met a connection error and ran again on the
/// primary.
pub fn record_fallback() {
    metrics::counter!("zouqin_replica_fallbacks_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_primary_position_of_max_lag_ago() {
        let start = Instant::now();
        let lag = Duration::from_millis(1000);
        let mut ring = Ring::default();
        assert_eq!(ring.target(), None);
        for i in 0..30u64 {
            ring.push(start + Duration::from_millis(100 * i), 1000 + i, lag);
        }
        // Last sample at 2.9 s: the newest one at or before 1.9 s is the 20th (1019).
        assert_eq!(ring.target(), Some(1019));
        assert!(ring.samples.len() <= 12, "{}", ring.samples.len());
    }

    #[test]
    fn before_max_lag_has_passed_the_first_sample_is_the_target() {
        let start = Instant::now();
        let mut ring = Ring::default();
        ring.push(start, 7, Duration::from_secs(60));
        ring.push(
            start + Duration::from_millis(100),
            9,
            Duration::from_secs(60),
        );
        assert_eq!(ring.target(), Some(7));
    }
}

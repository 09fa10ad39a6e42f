//! Connecting to SQLite or PostgreSQL, migrating safely with several replicas, and running
//! write transactions that retry when the database asks for it. [`replica`] is the
//! optional streaming read replica and the rule for which reads go there.

pub mod replica;

use std::str::FromStr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};

use crate::error::{AppError, AppResult};

/// An open database: the sea-orm connection, plus the raw PostgreSQL pool that LISTEN needs.
#[derive(Clone, Debug)]
pub struct Database {
    /// The connection every query goes through.
    pub conn: DatabaseConnection,
    /// Present on PostgreSQL only.
    pub pg_pool: Option<sea_orm::sqlx::PgPool>,
}

impl Database {
    /// Which SQL dialect this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }
}

/// A pooled PostgreSQL connection idle longer than this is pinged before it is used.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);
/// How long a connection waits for SQLite's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The settings of every PostgreSQL pool (the primary's and a read replica's).
///
/// sqlx already pings every connection when it goes back to the pool; pinging it again
/// before each use cost a second round trip per statement (a browse page ran 12 round
/// trips for 4 statements). Only a connection that sat idle long enough for the server to
/// have gone away since is checked before use.
pub fn pg_pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_CHECK_AFTER {
                    sea_orm::sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Opens a pool for `url` (SQLite in WAL mode with a busy timeout, or PostgreSQL).
/// `acquire_timeout` bounds how long anything waits for a connection, including the time
/// spent trying to open one: while the database is away, a request fails with
/// `UNAVAILABLE` after at most that long instead of hanging.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<Database, DbErr> {
    let sqlx_err = |e: sea_orm::sqlx::Error| DbErr::Conn(RuntimeErr::Internal(e.to_string()));
    if crate::config::is_postgres_url(url) {
        let options = PgConnectOptions::from_str(url).map_err(sqlx_err)?;
        let pool = pg_pool_options(max_connections, acquire_timeout)
            .connect_with(options)
            .await
            .map_err(sqlx_err)?;
        Ok(Database {
            conn: SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone()),
            pg_pool: Some(pool),
        })
    } else if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(sqlx_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(sqlx_err)?;
        Ok(Database {
            conn: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
            pg_pool: None,
        })
    } else {
        Err(DbErr::Conn(RuntimeErr::Internal(
            "DATABASE_URL must start with sqlite: or postgres://".to_owned(),
        )))
    }
}

/// Key of the PostgreSQL advisory lock held while migrating ("zouqin" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7a6f_7571_696e;

/// How often an instance asks again for the migration lock another instance holds.
const MIGRATION_LOCK_POLL: Duration = Duration::from_millis(100);

/// Runs pending migrations. On PostgreSQL an advisory lock makes replicas that start
/// together migrate one after the other (the later ones then find nothing to do).
///
/// The lock is asked for with `pg_try_advisory_lock`, again and again, never waited for
/// inside a statement: a waiting statement keeps its snapshot open, and a migration that
/// builds an index `CONCURRENTLY` waits for every older snapshot of its database to end —
/// it would wait for the instance that waits for it.
pub async fn migrate(db: &Database) -> Result<(), DbErr> {
    match &db.pg_pool {
        Some(pool) => {
            let conn_err =
                |e: sea_orm::sqlx::Error| DbErr::Conn(RuntimeErr::Internal(e.to_string()));
            let mut lock_conn = pool.acquire().await.map_err(conn_err)?;
            loop {
                let (locked,): (bool,) = sea_orm::sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .fetch_one(&mut *lock_conn)
                    .await
                    .map_err(conn_err)?;
                if locked {
                    break;
                }
                tokio::time::sleep(MIGRATION_LOCK_POLL).await;
            }
            let result = Migrator::up(&db.conn, None).await;
            let unlock = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .execute(&mut *lock_conn)
                .await;
            if let Err(e) = unlock {
                // Dropping the connection closes the session, which releases the lock too.
                tracing::warn!(error = %e, "could not release the migration lock");
                lock_conn.detach();
            }
            result
        }
        None => Migrator::up(&db.conn, None).await,
    }
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, so it waits
/// (up to the busy timeout) for the write lock up front instead of failing with
/// "database is locked" when a read later turns into a write.
pub async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// How many times a write transaction is tried when the database reports a transient conflict.
pub const WRITE_ATTEMPTS: u32 = 8;

/// Runs a block in a write transaction, committing on `Ok` and rolling back on `Err`.
/// Serialization failures, deadlocks and busy answers are retried with a short jittered
/// back-off, so they never reach the caller as errors.
///
/// `write_txn!(conn, |txn| { … })` evaluates to `AppResult<T>`; inside the block `txn` is a
/// `&DatabaseTransaction` and `?` leaves the block (rolling back). A macro rather than a
/// closure keeps borrows of the caller's locals simple and the future `Send`.
#[macro_export]
macro_rules! write_txn {
    ($conn:expr, |$txn:ident| $body:block) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome: $crate::error::AppResult<_> = async {
                let owned = $crate::db::begin_write($conn).await?;
                let result: $crate::error::AppResult<_> = {
                    let $txn = &owned;
                    async { $body }.await
                };
                $crate::db::finish(owned, result).await
            }
            .await;
            match outcome {
                Err(err) if err.is_transient() && attempt < $crate::db::WRITE_ATTEMPTS => {
                    $crate::db::back_off(attempt).await;
                }
                other => break other,
            }
        }
    }};
}

/// Commits on `Ok`, rolls back on `Err`.
pub async fn finish<T>(txn: DatabaseTransaction, result: AppResult<T>) -> AppResult<T> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(err) => {
            txn.rollback().await?;
            Err(err)
        }
    }
}

/// Waits a little before retrying a transaction (jittered, growing with the attempt).
pub async fn back_off(attempt: u32) {
    let jitter = rand::random::<u64>() % (5 * u64::from(attempt));
    tokio::time::sleep(Duration::from_millis(2 + jitter)).await;
}

/// Whether a database error is one the transaction should simply be run again for.
pub fn is_transient(err: &DbErr) -> bool {
    let sqlx_err = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_err.as_ref() {
        sea_orm::sqlx::Error::Database(db_err) => {
            let code = db_err.code().unwrap_or_default();
            // PostgreSQL: serialization_failure, deadlock_detected.
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
            matches!(
                code.as_ref(),
                "40001" | "40P01" | "5" | "6" | "261" | "517" | "262"
            )
        }
        _ => false,
    }
}

/// Whether a database error means the database cannot be reached right now: no connection
/// could be had within the acquire timeout, the pool is closed, or a connection broke
/// (refused, reset, closed, an I/O error, or the server saying it is shutting down or not
/// yet accepting connections). These answer `UNAVAILABLE`; running the transaction again
/// would only keep the client waiting past the acquire timeout.
pub fn is_unavailable(err: &DbErr) -> bool {
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    sqlx_unavailable(sqlx_err)
}

/// [`is_unavailable`] for an error straight from sqlx.
pub fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::PoolTimedOut | Error::PoolClosed | Error::Io(_) | Error::WorkerCrashed => true,
        Error::Database(db_err) => {
            let code = db_err.code().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), admin_shutdown, crash_shutdown,
            // cannot_connect_now.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}

/// Whether `err` is a violation of the unique index or constraint called `name`.
pub fn violates(err: &DbErr, name: &str) -> bool {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(detail)) => {
            detail.contains(name) || sqlite_unique_matches(&detail, name)
        }
        _ => false,
    }
}

/// SQLite names the columns, not the index, in its message ("UNIQUE constraint failed:
/// booking.account_id, booking.idempotency_key"); this maps our index names to those columns.
fn sqlite_unique_matches(detail: &str, name: &str) -> bool {
    let columns = match name {
        "account_email_key" => "account.email",
        "booking_idempotency_key" => "booking.account_id, booking.idempotency_key",
        "ticket_live_inventory_key" => "ticket.inventory_id",
        "ticket_code_key" => "ticket.code",
        "allocation_open_per_season_key" => "seasonal_allocation.year",
        "venue_center_name_key" => "venue.center_id, venue.name",
        "center_code_key" => "center.code",
        _ => return false,
    };
    detail.contains(columns)
}

/// Answers whether the database is reachable (for `/readyz`).
pub async fn ping(db: &Database) -> bool {
    db.conn.ping().await.is_ok()
}

/// Maps a missing row to `NOT_FOUND` with the given noun.
pub fn found<T>(row: Option<T>, what: &'static str) -> AppResult<T> {
    row.ok_or(AppError::NotFound(what))
}

//! The public answer cache: anonymous GraphQL queries answered from memory while the
//! database provably holds what it held when the answer was computed.
//!
//! Most of the traffic a culture platform sees is people browsing without signing in, and
//! they all ask the same few questions (the next performances, a performance's page). Each
//! instance keeps the serialized answers of such queries and serves one again only when it
//! is exactly what executing the query would give now:
//!
//! - **Only anonymous, single queries.** No token (a signed-in caller's answer depends on
//!   who it is, and must show its own writes at once), no mutation or subscription, no
//!   batch. The key is the whole request: media type, document, operation name, variables.
//! - **Only answers without errors**, so a refusal or an outage is never replayed.
//! - **Only answers that did not read the clock.** A field whose value depends on the time
//!   (a share released at a given minute, say) reads it through [`crate::domain::now`],
//!   which marks the request; its answer is not kept.
//! - **The database has not changed.** PostgreSQL's `pg_current_snapshot()` names which
//!   transactions are committed. It is read before the query runs and again after: equal,
//!   nothing committed in between, so every statement of the request saw that one state,
//!   and the answer is stored with it. Serving it again takes one more read of the
//!   snapshot: equal, no write has committed since, on this instance or any other, through
//!   the API or not; the answer is exact. Any committed write (a booking, a rename, a
//!   time-driven step) changes the snapshot, so a busy database simply misses.
//! - **Bounded in age and size**: an entry lives at most `ZOUQIN_PUBLIC_CACHE_MS` (0 turns
//!   the cache off), and the entries weigh at most [`BUDGET_BYTES`] in all.
//!
//! SQLite has no such snapshot, so the cache is off there (the embedded default serves one
//! small site, where the database is never the limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;

/// The most bytes of answers an instance keeps.
pub const BUDGET_BYTES: u64 = 32 * 1024 * 1024;

/// The largest single answer kept (a larger one is recomputed each time).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What identifies an answer: everything in the request that can change it (the caller is
/// anonymous by construction).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The media type the answer is written in.
    pub media: u8,
    /// The document as sent.
    pub query: String,
    /// The operation to run, if named.
    pub operation_name: Option<String>,
    /// The variables, serialized.
    pub variables: String,
}

#[derive(Clone)]
struct Answer {
    body: Bytes,
    snapshot: Arc<str>,
    stored: Instant,
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Key, Answer> for Weigh {
    fn weight(&self, key: &Key, answer: &Answer) -> u64 {
        (key.query.len() + key.variables.len() + answer.body.len() + 128) as u64
    }
}

/// One instance's cache of public answers.
#[derive(Clone)]
pub struct PublicCache {
    entries: Arc<quick_cache::sync::Cache<Key, Answer, Weigh>>,
    max_age: Duration,
}

impl PublicCache {
    /// A cache whose entries live at most `max_age` (zero: a cache that keeps nothing).
    pub fn new(max_age: Duration) -> Self {
        Self {
            entries: Arc::new(quick_cache::sync::Cache::with_weighter(
                4096,
                BUDGET_BYTES,
                Weigh,
            )),
            max_age,
        }
    }

    /// Whether anything is ever kept.
    pub fn enabled(&self) -> bool {
        !self.max_age.is_zero()
    }

    /// The stored answer for `key` if it is younger than the age bound, with the snapshot it
    /// was computed at (the caller serves it only if the snapshot is still current).
    pub fn candidate(&self, key: &Key) -> Option<(Bytes, Arc<str>)> {
        let answer = self.entries.get(key)?;
        if answer.stored.elapsed() >= self.max_age {
            self.entries.remove(key);
            return None;
        }
        Some((answer.body, answer.snapshot))
    }

    /// Keeps `body` as the answer to `key` at `snapshot`.
    pub fn store(&self, key: Key, body: Bytes, snapshot: Arc<str>) {
        if body.len() > MAX_ANSWER_BYTES {
            return;
        }
        self.entries.insert(
            key,
            Answer {
                body,
                snapshot,
                stored: Instant::now(),
            },
        );
    }
}

/// The current snapshot (which transactions are committed) of the PostgreSQL server behind
/// `conn` — on a hot standby, of what it has replayed — or `None` when it cannot be read
/// (the request then runs without the cache).
pub async fn snapshot(conn: &sea_orm::DatabaseConnection) -> Option<Arc<str>> {
    use sea_orm::ConnectionTrait;
    let statement = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_current_snapshot()::text AS snapshot",
    );
    let row = conn.query_one_raw(statement).await.ok()??;
    row.try_get::<String>("", "snapshot").ok().map(Arc::from)
}

/// A flag a request's work sets when it reads the clock.
pub fn clock_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Whether the work watched by `flag` read the clock.
pub fn read_clock(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}

//! The rules, one module per capability. Each public function takes the caller's identity
//! explicitly, owns its transaction, and returns an [`AppError`](crate::error::AppError)
//! that names the broken rule.

pub mod accounts;
pub mod administration;
pub mod allocations;
pub mod audit;
pub mod booking;
pub mod catalog;
pub mod checkin;
pub mod exchange_report;
pub mod no_shows;
pub mod notifications;
pub mod productions;
pub mod scheduling;
pub mod season;
pub mod shares;
pub mod venues;
pub mod waitlist;

use chrono::{DateTime, SubsecRound, Utc};

/// Runs a time-driven step every `every` until `closing` turns true (the server's shutdown).
/// Every instance runs one of each: which instance does the work does not matter, and none is
/// special (each step claims its rows). The first run comes after a random part of `every`,
/// so instances started together do not sweep in step. A failed run is logged (as `what`)
/// and tried again next time.
pub async fn repeat<F, Fut, T>(
    what: &'static str,
    every: std::time::Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::AppResult<T>>,
{
    let jitter = every.mul_f64(rand::random::<f64>());
    let mut next = tokio::time::Instant::now() + jitter;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = closing.wait_for(|closed| *closed) => return,
        }
        if let Err(err) = step().await {
            tracing::warn!(error = ?err, step = what, "a time-driven step failed; it runs again at the next sweep");
        }
        next = tokio::time::Instant::now() + every;
    }
}

tokio::task_local! {
    /// Set while a request whose answer may be kept runs (see [`crate::public_cache`]):
    /// [`now`] raises it, so an answer that depends on the time is never served again.
    static CLOCK_READ: std::sync::Arc<std::sync::atomic::AtomicBool>;
}

/// The current instant, truncated to microseconds (what PostgreSQL stores), so a value
/// read back equals the value written. Every read of the time in the domain goes through
/// here, which is what lets a request tell whether its answer depended on the time.
pub fn now() -> DateTime<Utc> {
    let _ = CLOCK_READ.try_with(|read| read.store(true, std::sync::atomic::Ordering::Relaxed));
    Utc::now().trunc_subsecs(6)
}

/// Runs `work` with [`now`] raising `read` whenever it is called from within.
pub async fn watching_clock<F: std::future::Future>(
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
    work: F,
) -> F::Output {
    CLOCK_READ.scope(read, work).await
}

/// Trims `value` and checks it has between 1 and `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> crate::error::AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(crate::error::AppError::bad_input(
            field,
            "must not be empty",
        ));
    }
    if value.chars().count() > max {
        return Err(crate::error::AppError::bad_input(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(crate::error::AppError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

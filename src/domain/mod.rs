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
pub mod venues;

use chrono::{DateTime, SubsecRound, Utc};

/// The current instant, truncated to microseconds (what PostgreSQL stores), so a value
/// read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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

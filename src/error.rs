//! `AppError`: every failure the service can answer, each variant tied to one
//! `extensions.code` of API.md's Errors table.

use async_graphql::ErrorExtensions;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;

/// The one error type of the domain layer; the GraphQL layer turns it into a coded error.
///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` type
/// into an uncoded error, so leaving it out makes `?` in a resolver use the coded
/// conversion below and nothing else.
#[derive(Debug)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no identity where one is needed, a bad token, wrong credentials.
    Unauthenticated(String),
    /// `FORBIDDEN`: the caller can see the object but may not do this to it.
    Forbidden(String),
    /// `NOT_FOUND`: no such object, or one the caller may not see.
    NotFound(&'static str),
    /// `BAD_USER_INPUT`: an invalid argument; `field` is the input field as the schema spells it.
    BadInput {
        /// The schema name of the offending input field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `CONFLICT`: the object's state forbids the operation.
    Conflict {
        /// What conflicts.
        message: String,
        /// The global id of the object it conflicts with, when there is one.
        with: Option<String>,
    },
    /// `SEAT_UNAVAILABLE`: the listed seats are taken.
    SeatUnavailable {
        /// Global ids of the taken seats.
        seat_ids: Vec<String>,
    },
    /// `SOLD_OUT`: not enough seats or places left for this request.
    SoldOut {
        /// What is left.
        message: String,
        /// When seats now kept for other centers' residents open to all (when some are).
        shares_release_at: Option<DateTime<Utc>>,
    },
    /// `LIMIT_EXCEEDED`: the per-resident ticket limit would be passed.
    LimitExceeded(String),
    /// `QUOTA_EXCEEDED`: the seasonal allocation has no slot left.
    QuotaExceeded(String),
    /// `BOOKING_CLOSED`: the performance is not bookable now.
    BookingClosed(String),
    /// `ALREADY_CHECKED_IN`: the ticket was scanned before.
    AlreadyCheckedIn {
        /// When it was first scanned.
        checked_in_at: DateTime<Utc>,
    },
    /// `RATE_LIMITED`: too many attempts.
    RateLimited {
        /// Seconds until a new attempt may succeed.
        retry_after_seconds: i64,
    },
    /// `UNAVAILABLE`: the database cannot be reached right now (answered within the pool's
    /// acquire timeout, never a hang). The detail is logged, never shown.
    Unavailable(String),
    /// `BOOKING_SUSPENDED`: the resident may not book or join a waiting list now, after
    /// repeated no-shows.
    BookingSuspended {
        /// When the suspension ends.
        until: DateTime<Utc>,
    },
    /// `INTERNAL`: anything else. The detail is logged, never shown.
    Internal(String),
}

/// What `UNAVAILABLE` tells clients to wait before trying again (`retryAfterSeconds`): about
/// how long a database restart or a fail-over takes to start answering.
pub const UNAVAILABLE_RETRY_AFTER_SECS: i64 = 2;

/// Shorthand for domain results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A `BAD_USER_INPUT` naming `field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// A `CONFLICT` with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            with: None,
        }
    }

    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::SeatUnavailable { .. } => "SEAT_UNAVAILABLE",
            Self::SoldOut { .. } => "SOLD_OUT",
            Self::LimitExceeded(_) => "LIMIT_EXCEEDED",
            Self::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            Self::BookingClosed(_) => "BOOKING_CLOSED",
            Self::AlreadyCheckedIn { .. } => "ALREADY_CHECKED_IN",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::BookingSuspended { .. } => "BOOKING_SUSPENDED",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The message shown to clients (never internal details).
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::LimitExceeded(m)
            | Self::QuotaExceeded(m)
            | Self::BookingClosed(m) => m.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadInput { message, .. }
            | Self::Conflict { message, .. }
            | Self::SoldOut { message, .. } => message.clone(),
            Self::SeatUnavailable { .. } => "seats are no longer available".to_owned(),
            Self::AlreadyCheckedIn { .. } => "ticket already checked in".to_owned(),
            Self::RateLimited { .. } => "too many attempts; try again later".to_owned(),
            Self::Unavailable(_) => {
                "the service cannot reach its database right now; try again shortly".to_owned()
            }
            Self::BookingSuspended { until } => format!(
                "booking is suspended after repeated no-shows until {}",
                crate::domain::season::local_rfc3339(*until)
            ),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// Whether the database asked us to run the transaction again (serialization failure,
    /// deadlock, or SQLite's busy/locked answers).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Internal(detail) if detail.starts_with(TRANSIENT_MARK))
    }
}

const TRANSIENT_MARK: &str = "transient: ";

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if crate::db::is_transient(&err) {
            return Self::Internal(format!("{TRANSIENT_MARK}{err}"));
        }
        if crate::db::is_unavailable(&err) {
            return Self::Unavailable(format!("database: {err}"));
        }
        Self::Internal(format!("database: {err}"))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(format!("blocking task: {err}"))
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            Self::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error".to_owned()
            }
            Self::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "database unavailable");
                self.message()
            }
            other => other.message(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                Self::BadInput { field, .. } => ext.set("field", field.as_str()),
                Self::Conflict {
                    with: Some(with), ..
                } => ext.set("conflictsWith", with.as_str()),
                Self::SeatUnavailable { seat_ids } => ext.set("seatIds", seat_ids.clone()),
                Self::AlreadyCheckedIn { checked_in_at } => {
                    ext.set("checkedInAt", checked_in_at.to_rfc3339())
                }
                Self::RateLimited {
                    retry_after_seconds,
                } => ext.set("retryAfterSeconds", *retry_after_seconds),
                Self::Unavailable(_) => ext.set("retryAfterSeconds", UNAVAILABLE_RETRY_AFTER_SECS),
                Self::SoldOut {
                    shares_release_at: Some(at),
                    ..
                } => ext.set("sharesReleaseAt", crate::domain::season::local_rfc3339(*at)),
                Self::BookingSuspended { until } => {
                    ext.set("until", crate::domain::season::local_rfc3339(*until))
                }
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

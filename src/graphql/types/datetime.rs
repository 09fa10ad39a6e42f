//! The `DateTime` scalar: instants in, instants out in Asia/Shanghai local time.

use async_graphql::{InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, FixedOffset, Utc};

use crate::domain::season::shanghai;
use crate::error::{AppError, AppResult};

/// The `DateTime` scalar: an RFC 3339 instant with its offset. Instants leave the API in
/// Asia/Shanghai local time (`2019-07-01T19:30:00+08:00`); any offset is accepted on input.
///
/// Input is parsed when a resolver reads it ([`GqlDateTime::get`]), so a malformed value is
/// `BAD_USER_INPUT` naming its input field rather than an uncoded parse error.
#[derive(Clone, Debug)]
pub struct GqlDateTime(Result<DateTime<FixedOffset>, String>);

#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for GqlDateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        Ok(Self(match value {
            Value::String(text) => DateTime::parse_from_rfc3339(text.trim())
                .map_err(|e| format!("not an RFC 3339 date-time with offset: {e}")),
            _ => Err("a date-time is a string like 2030-07-01T19:30:00+08:00".to_owned()),
        }))
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        match &self.0 {
            Ok(instant) => Value::String(instant.to_rfc3339()),
            Err(_) => Value::Null,
        }
    }
}

impl GqlDateTime {
    /// The instant, or `BAD_USER_INPUT` naming `field`.
    pub fn get(&self, field: &str) -> AppResult<DateTime<Utc>> {
        self.0
            .as_ref()
            .map(|instant| instant.with_timezone(&Utc))
            .map_err(|message| AppError::bad_input(field, message.clone()))
    }

    /// An optional input instant.
    pub fn opt(value: &Option<Self>, field: &str) -> AppResult<Option<DateTime<Utc>>> {
        value.as_ref().map(|v| v.get(field)).transpose()
    }
}

/// Every instant leaves the API in Asia/Shanghai local time, with its offset.
pub fn local(instant: DateTime<Utc>) -> GqlDateTime {
    GqlDateTime(Ok(instant.with_timezone(&shanghai())))
}

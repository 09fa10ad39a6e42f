//! Seasons: calendar quarters in Asia/Shanghai local time.
//!
//! Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so a fixed offset is
//! exact for every date this system deals with and needs no time-zone database.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

use crate::error::{AppError, AppResult};

/// UTC+8, the local time of all three centers.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("BUG: +08:00 is a valid offset")
}

/// A calendar quarter, e.g. 2019-Q3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Season {
    /// The year.
    pub year: i32,
    /// 1 to 4.
    pub quarter: u32,
}

impl Season {
    /// Validates a year and quarter given as input.
    pub fn new(year: i32, quarter: i32) -> AppResult<Self> {
        if !(1..=4).contains(&quarter) {
            return Err(AppError::bad_input(
                "quarter",
                "quarter must be 1, 2, 3 or 4",
            ));
        }
        if !(2000..=2200).contains(&year) {
            return Err(AppError::bad_input(
                "year",
                "year must be between 2000 and 2200",
            ));
        }
        Ok(Self {
            year,
            quarter: quarter as u32,
        })
    }

    /// The season an instant falls in, by its local (Asia/Shanghai) date.
    pub fn containing(instant: DateTime<Utc>) -> Self {
        let local = instant.with_timezone(&shanghai());
        Self {
            year: local.year(),
            quarter: (local.month() - 1) / 3 + 1,
        }
    }

    /// The first local day of the quarter.
    pub fn starts_on(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.quarter - 1) * 3 + 1, 1)
            .expect("BUG: the first day of a quarter exists")
    }

    /// The last local day of the quarter (inclusive).
    pub fn ends_on(&self) -> NaiveDate {
        self.next()
            .starts_on()
            .pred_opt()
            .expect("BUG: a quarter has a last day")
    }

    /// The following quarter.
    pub fn next(&self) -> Self {
        if self.quarter == 4 {
            Self {
                year: self.year + 1,
                quarter: 1,
            }
        } else {
            Self {
                year: self.year,
                quarter: self.quarter + 1,
            }
        }
    }

    /// The first instant of the quarter (local midnight).
    pub fn starts_at(&self) -> DateTime<Utc> {
        local_midnight(self.starts_on())
    }

    /// The first instant after the quarter.
    pub fn ends_before(&self) -> DateTime<Utc> {
        local_midnight(self.next().starts_on())
    }
}

/// An instant as RFC 3339 in Asia/Shanghai local time, as the API writes every instant
/// (`2019-07-01T19:30:00+08:00`).
pub fn local_rfc3339(instant: DateTime<Utc>) -> String {
    instant.with_timezone(&shanghai()).to_rfc3339()
}

/// Midnight of a local date, as an instant.
pub fn local_midnight(date: NaiveDate) -> DateTime<Utc> {
    shanghai()
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("BUG: midnight exists"))
        .single()
        .expect("BUG: a fixed offset has no gaps")
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_season_is_bounded_by_local_midnights() {
        let q3 = Season::new(2019, 3).expect("valid");
        assert_eq!(q3.starts_on().to_string(), "2019-07-01");
        assert_eq!(q3.ends_on().to_string(), "2019-09-30");
        assert_eq!(q3.starts_at().to_rfc3339(), "2019-06-30T16:00:00+00:00");
        let last_minute = DateTime::parse_from_rfc3339("2019-09-30T23:59:00+08:00").expect("valid");
        let first_minute =
            DateTime::parse_from_rfc3339("2019-10-01T00:00:00+08:00").expect("valid");
        assert_eq!(Season::containing(last_minute.with_timezone(&Utc)), q3);
        assert_eq!(
            Season::containing(first_minute.with_timezone(&Utc)),
            q3.next()
        );
    }
}

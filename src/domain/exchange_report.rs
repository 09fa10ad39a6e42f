//! The exchange report the two culture bureaus ask for: per quarter and provider → host
//! pair, the exchange sessions (origin center ≠ host center) and what became of them.
//!
//! It is answered from the performances, bookings and tickets themselves, never from a
//! counter that could drift from them, in two aggregate statements whatever the size of the
//! history (see BENCHMARKS.md for their plans):
//!
//! 1. the sessions of the period by quarter and pair (`performance_exchange_idx`), with the
//!    pair's ACCEPTED allocation of that quarter joined in;
//! 2. their live tickets by quarter, pair and holder's home center: an index-only walk of
//!    each session's range of `ticket_performance_home_idx` (performance, status, home
//!    center), with no row of `booking` or `account` read.
//!
//! What the figures mean, so they reconcile with `performanceBookings` and ticket states:
//! - a session belongs to the quarter of the local (Asia/Shanghai) date of its start;
//!   drafts do not exist for the report (they are visible to the host only);
//! - `sessionsScheduled` = every published or cancelled session = held + cancelled +
//!   published sessions that have not ended yet;
//! - `sessionsHeld` = published and ended; `sessionsCancelled` = cancelled;
//! - `seatsOffered` = the capacity of the published sessions (cancelled ones offered none);
//! - `ticketsSold` = their tickets that are not cancelled (VALID, CHECKED_IN, NO_SHOW): the
//!   tickets of the CONFIRMED bookings `performanceBookings` lists;
//! - `attendances` = CHECKED_IN tickets; `noShows` = NO_SHOW tickets (seats left empty;
//!   an excuse takes a no-show off the resident's record, not off the report);
//! - `byHomeCenter`: `ticketsSold` and `attendances` split by the holder's home center when
//!   the ticket was issued (`ticket.home_center_id`, the center whose share the booking was
//!   counted against too): a resident who moves later does not carry past attendances to the
//!   new center, so a closed quarter's figures never change.
//!
//! Staff see the rows of the pairs their own center is part of; nobody else sees any.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::enums::Role;
use entity::seasonal_allocation;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, IsolationLevel,
    Statement, TransactionTrait,
};

use super::season::Season;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};

/// Most rows one `exchangeReport` answer holds: one quarter of every pair a center can be
/// part of (2 × 99 others, at the 100 centers `graphql::limits` allows, plus room); a whole
/// year above that is refused with `BAD_USER_INPUT` on `quarter` (ask quarter by quarter).
/// It bounds what the list may cost a request.
pub const MAX_ROWS: usize = 200;

/// Most reports one instance computes at once. A report reads a year of tickets (at
/// culture-cloud size ~150,000 index entries, tens of milliseconds); a burst of them must
/// not take every connection of the pool from the bookings, so the rest wait their turn
/// here, holding no connection.
pub const MAX_RUNNING: usize = 4;

/// How long a report waits for its turn before it is answered `UNAVAILABLE`.
const QUEUE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_RUNNING);

/// The quarters a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The year.
    pub year: i32,
    /// One quarter, or the whole year.
    pub quarter: Option<u32>,
}

impl Period {
    /// Validates `year` (2000–2200) and `quarter` (1–4, or none for the whole year).
    pub fn new(year: i32, quarter: Option<i32>) -> AppResult<Self> {
        let first = Season::new(year, quarter.unwrap_or(1))?;
        Ok(Self {
            year: first.year,
            quarter: quarter.map(|_| first.quarter),
        })
    }

    fn seasons(&self) -> (Season, Season) {
        let first = Season {
            year: self.year,
            quarter: self.quarter.unwrap_or(1),
        };
        let last = Season {
            year: self.year,
            quarter: self.quarter.unwrap_or(4),
        };
        (first, last)
    }
}

/// Tickets and attendances of one home center's residents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeCenterCount {
    /// The home center.
    pub center_id: i64,
    /// Tickets sold to its residents.
    pub tickets: i64,
    /// Their tickets that were checked in.
    pub attendances: i64,
}

/// One quarter of one provider → host pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The quarter.
    pub season: Season,
    /// The center the productions come from (the sessions' origin).
    pub provider_center_id: i64,
    /// The center that hosts them.
    pub host_center_id: i64,
    /// The pair's ACCEPTED allocation of that quarter, if any.
    pub allocation: Option<seasonal_allocation::Model>,
    /// Published or cancelled sessions.
    pub sessions_scheduled: i64,
    /// Published and ended.
    pub sessions_held: i64,
    /// Cancelled.
    pub sessions_cancelled: i64,
    /// Capacity of the published sessions.
    pub seats_offered: i64,
    /// Tickets that are not cancelled.
    pub tickets_sold: i64,
    /// Checked-in tickets.
    pub attendances: i64,
    /// NO_SHOW tickets.
    pub no_shows: i64,
    /// Tickets and attendances by the holder's home center, by center id.
    pub by_home_center: Vec<HomeCenterCount>,
}

/// `exchangeReport(year, quarter)` for the caller: staff (any role) see the pairs their
/// center is part of; residents are `FORBIDDEN`, anonymous callers `UNAUTHENTICATED`.
pub async fn report(
    conn: &DatabaseConnection,
    caller: &Caller,
    period: Period,
    now: DateTime<Utc>,
) -> AppResult<Vec<Row>> {
    let staff = caller.staff(Role::Usher)?;
    rows(conn, staff.center_id, period, now).await
}

#[derive(FromQueryResult)]
struct SessionFigures {
    quarter: i64,
    provider: i64,
    host: i64,
    scheduled: i64,
    held: i64,
    cancelled: i64,
    seats_offered: i64,
}

#[derive(FromQueryResult)]
struct TicketFigures {
    quarter: i64,
    provider: i64,
    host: i64,
    home_center_id: Option<i64>,
    tickets: i64,
    attendances: i64,
    no_shows: i64,
}

/// Which sessions the report counts: the exchange sessions (origin ≠ host, drafts aside)
/// starting in the period, of pairs `center_id` is part of. Parameters: `$1` the period's
/// first instant, `$5` the first instant after it, `$6` the center.
const EXCHANGE_SESSIONS: &str = "p.starts_at >= $1 AND p.starts_at < $5 \
     AND p.origin_center_id <> p.host_center_id AND p.status <> 'DRAFT' \
     AND (p.origin_center_id = $6 OR p.host_center_id = $6)";

/// A session's quarter, by the local date of its start: `$2`, `$3`, `$4` are the first
/// instants of quarters 2, 3 and 4 of the year.
const QUARTER_OF_START: &str = "CAST(CASE WHEN p.starts_at < $2 THEN 1 WHEN p.starts_at < $3 THEN 2 \
     WHEN p.starts_at < $4 THEN 3 ELSE 4 END AS BIGINT)";

/// Statement 1: the sessions by quarter and pair, with the pair's ACCEPTED allocation of the
/// quarter (`$7` now, `$8` the year).
fn sessions_statement() -> String {
    format!(
        "SELECT g.quarter, g.provider, g.host, g.scheduled, g.held, g.cancelled, g.seats_offered, \
            a.id AS a_id, a.year AS a_year, a.quarter AS a_quarter, \
            a.provider_center_id AS a_provider_center_id, a.host_center_id AS a_host_center_id, \
            a.proposed_by_center_id AS a_proposed_by_center_id, \
            a.performance_quota AS a_performance_quota, \
            a.performances_scheduled AS a_performances_scheduled, a.status AS a_status, \
            a.note AS a_note, a.created_at AS a_created_at, a.responded_at AS a_responded_at \
         FROM ( \
            SELECT {QUARTER_OF_START} AS quarter, \
                p.origin_center_id AS provider, p.host_center_id AS host, \
                COUNT(*) AS scheduled, \
                SUM(CASE WHEN p.status = 'PUBLISHED' AND p.ends_at <= $7 THEN 1 ELSE 0 END) AS held, \
                SUM(CASE WHEN p.status = 'CANCELLED' THEN 1 ELSE 0 END) AS cancelled, \
                SUM(CASE WHEN p.status = 'PUBLISHED' THEN p.capacity ELSE 0 END) \
                    AS seats_offered \
            FROM performance p \
            WHERE {EXCHANGE_SESSIONS} \
            GROUP BY 1, 2, 3) g \
         LEFT JOIN seasonal_allocation a \
            ON a.year = $8 AND a.quarter = g.quarter AND a.provider_center_id = g.provider \
           AND a.host_center_id = g.host AND a.status = 'ACCEPTED' \
         ORDER BY g.quarter, g.provider, g.host"
    )
}

/// Statement 2: the sessions' live tickets by quarter, pair, holder's home center (as it
/// was when the ticket was issued).
fn tickets_statement() -> String {
    format!(
        "SELECT {QUARTER_OF_START} AS quarter, \
            p.origin_center_id AS provider, p.host_center_id AS host, \
            t.home_center_id AS home_center_id, \
            COUNT(*) AS tickets, \
            SUM(CASE WHEN t.status = 'CHECKED_IN' THEN 1 ELSE 0 END) AS attendances, \
            SUM(CASE WHEN t.status = 'NO_SHOW' THEN 1 ELSE 0 END) AS no_shows \
         FROM performance p \
         JOIN ticket t ON t.performance_id = p.id \
         WHERE {EXCHANGE_SESSIONS} AND t.status <> 'CANCELLED' \
         GROUP BY 1, 2, 3, 4"
    )
}

/// The two statements with their parameters, for BENCHMARKS.md's plans and for [`rows`].
pub fn statements(
    backend: DbBackend,
    center_id: i64,
    period: Period,
    now: DateTime<Utc>,
) -> [Statement; 2] {
    let (first, last) = period.seasons();
    let quarter_start = |quarter: u32| {
        Season {
            year: period.year,
            quarter,
        }
        .starts_at()
    };
    let common: Vec<sea_orm::Value> = vec![
        first.starts_at().into(),
        quarter_start(2).into(),
        quarter_start(3).into(),
        quarter_start(4).into(),
        last.ends_before().into(),
        center_id.into(),
    ];
    let mut with_now = common.clone();
    with_now.push(now.into());
    with_now.push(period.year.into());
    [
        Statement::from_sql_and_values(backend, sessions_statement(), with_now),
        Statement::from_sql_and_values(backend, tickets_statement(), common),
    ]
}

/// The report's rows for the staff of `center_id`, as of `now` (which sessions have ended),
/// once a turn is free (at most [`MAX_RUNNING`] at once per instance).
///
/// Both statements read one snapshot (a read-only REPEATABLE READ transaction on
/// PostgreSQL; on SQLite a read transaction is one snapshot already), so a booking or a
/// check-in committed between them cannot make the rows disagree with each other.
pub async fn rows(
    conn: &DatabaseConnection,
    center_id: i64,
    period: Period,
    now: DateTime<Utc>,
) -> AppResult<Vec<Row>> {
    let _turn = match tokio::time::timeout(QUEUE_TIMEOUT, RUNNING.acquire()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(AppError::Unavailable(
                "too many reports are being computed: try again shortly".to_owned(),
            ));
        }
    };
    let backend = conn.get_database_backend();
    let txn = match backend {
        DbBackend::Postgres => {
            conn.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => conn.begin().await?,
    };
    let [sessions, tickets] = statements(backend, center_id, period, now);
    let sessions = txn.query_all_raw(sessions).await?;
    let tickets = TicketFigures::find_by_statement(tickets).all(&txn).await?;
    txn.commit().await?;

    let mut out: BTreeMap<(i64, i64, i64), Row> = BTreeMap::new();
    for row in &sessions {
        let figures = SessionFigures::from_query_result(row, "")?;
        let allocation_id: Option<i64> = row.try_get("", "a_id")?;
        let allocation = match allocation_id {
            Some(_) => Some(seasonal_allocation::Model::from_query_result(row, "a_")?),
            None => None,
        };
        let season = Season {
            year: period.year,
            quarter: figures.quarter as u32,
        };
        out.insert(
            (figures.quarter, figures.provider, figures.host),
            Row {
                season,
                provider_center_id: figures.provider,
                host_center_id: figures.host,
                allocation,
                sessions_scheduled: figures.scheduled,
                sessions_held: figures.held,
                sessions_cancelled: figures.cancelled,
                seats_offered: figures.seats_offered,
                tickets_sold: 0,
                attendances: 0,
                no_shows: 0,
                by_home_center: Vec::new(),
            },
        );
    }
    for t in tickets {
        let Some(row) = out.get_mut(&(t.quarter, t.provider, t.host)) else {
            // Not reachable with one snapshot: tickets belong to a counted session.
            continue;
        };
        row.tickets_sold += t.tickets;
        row.attendances += t.attendances;
        row.no_shows += t.no_shows;
        if let Some(center_id) = t.home_center_id {
            row.by_home_center.push(HomeCenterCount {
                center_id,
                tickets: t.tickets,
                attendances: t.attendances,
            });
        }
    }
    let mut rows: Vec<Row> = out.into_values().collect();
    for row in &mut rows {
        row.by_home_center.sort_by_key(|h| h.center_id);
    }
    Ok(rows)
}

/// The report as CSV: UTF-8 with a byte-order mark (so spreadsheet programs read the
/// Chinese names right), a header row, one row per quarter and pair, then two columns per
/// center (`tickets: <name>`, `attendances: <name>`) for its residents; fields quoted as
/// RFC 4180 says (commas, quotes, line breaks), lines ended by CRLF.
pub fn to_csv(rows: &[Row], centers: &[entity::center::Model]) -> String {
    let name = |id: i64| {
        centers
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let mut header: Vec<String> = [
        "year",
        "quarter",
        "season_starts_on",
        "season_ends_on",
        "provider_center",
        "host_center",
        "allocation_quota",
        "sessions_scheduled",
        "sessions_held",
        "sessions_cancelled",
        "seats_offered",
        "tickets_sold",
        "attendances",
        "no_shows",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    for center in centers {
        header.push(format!("tickets: {}", center.name));
        header.push(format!("attendances: {}", center.name));
    }
    let mut out = String::from("\u{feff}");
    write_record(&mut out, &header);
    for row in rows {
        let mut fields = vec![
            row.season.year.to_string(),
            row.season.quarter.to_string(),
            row.season.starts_on().to_string(),
            row.season.ends_on().to_string(),
            name(row.provider_center_id),
            name(row.host_center_id),
            row.allocation
                .as_ref()
                .map(|a| a.performance_quota.to_string())
                .unwrap_or_default(),
            row.sessions_scheduled.to_string(),
            row.sessions_held.to_string(),
            row.sessions_cancelled.to_string(),
            row.seats_offered.to_string(),
            row.tickets_sold.to_string(),
            row.attendances.to_string(),
            row.no_shows.to_string(),
        ];
        for center in centers {
            let count = row.by_home_center.iter().find(|h| h.center_id == center.id);
            fields.push(count.map_or(0, |c| c.tickets).to_string());
            fields.push(count.map_or(0, |c| c.attendances).to_string());
        }
        write_record(&mut out, &fields);
    }
    out
}

fn write_record(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

/// `BAD_USER_INPUT` on `quarter` when a whole-year GraphQL answer would pass [`MAX_ROWS`].
pub fn check_size(rows: &[Row]) -> AppResult<()> {
    if rows.len() > MAX_ROWS {
        return Err(AppError::bad_input(
            "quarter",
            format!(
                "the year has {} report rows, more than {MAX_ROWS}: ask one quarter at a time (or use the CSV)",
                rows.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted() {
        let mut out = String::new();
        write_record(
            &mut out,
            &[
                "plain".to_owned(),
                "a, b".to_owned(),
                "say \"hi\"".to_owned(),
                "two\nlines".to_owned(),
            ],
        );
        assert_eq!(out, "plain,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
    }
}

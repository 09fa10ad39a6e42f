//! The exchange ledger (issue 15): no-shows counted on both sides, the suspensions they
//! bring, the host's excuse, and the quarterly exchange report with its CSV and the seeded
//! 2018 history (see ../shared/design/API.md, "Rules of the exchange").
//!
//! Time: the no-show step is a library function that takes the instant it runs at, so most
//! tests book performances in the future and run the step "as of" after their end. The
//! tests that need a performance to have really ended (the background sweep, the report's
//! `sessionsHeld`) schedule one that ends a few seconds from now.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, FixedOffset, SubsecRound, Utc};
use serde_json::{Value, json};
use zouqin::domain::no_shows::{self, Marked};
use zouqin::domain::season::Season;

use crate::helpers::*;

mod attendance;
mod history;
mod report;

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

const BOOK: &str = "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id status \
     tickets { id code status } } }";
const BOOKING: &str = "query($id: ID!) { booking(id: $id) { id status noShowAt noShowExcusedAt \
     tickets { code status } } }";
const ME: &str = "{ me { id noShows bookingSuspendedUntil } }";
const EXCUSE: &str = "mutation($id: ID!, $r: String!) { excuseNoShow(bookingId: $id, reason: $r) \
     { id status noShowAt noShowExcusedAt } }";
const CHECK_IN: &str = "mutation($c: String!) { checkInTicket(code: $c) { status } }";
const REPORT: &str = "query($y: Int!, $q: Int) { exchangeReport(year: $y, quarter: $q) { \
     season { year quarter startsOn endsOn } providerCenter { code } hostCenter { code } \
     allocation { id performanceQuota } sessionsScheduled sessionsHeld sessionsCancelled \
     seatsOffered ticketsSold attendances noShows \
     byHomeCenter { center { code } tickets attendances } } }";
const PERFORMANCE_BOOKINGS: &str = "query($p: ID!) { performanceBookings(performanceId: $p, first: 100) \
     { totalCount edges { node { status holder { noShows bookingSuspendedUntil } \
     tickets { status } } } } }";

// ---------------------------------------------------------------------------------------
// Set-up through the API
// ---------------------------------------------------------------------------------------

static VENUES: AtomicU64 = AtomicU64::new(0);

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Now, in whole seconds (the database keeps microseconds at most; whole seconds compare
/// equal after the round trip on both).
fn now_s() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn instant(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

/// A general-admission venue of the admin's center; returns its id.
async fn venue(app: &TestApp, admin: &str, capacity: i64) -> String {
    let name = format!(
        "Ledger hall {} {}",
        std::process::id(),
        VENUES.fetch_add(1, Ordering::Relaxed)
    );
    let r = app
        .gql(
            Some(admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": name, "address": "1 Culture Road", "kind": "HALL",
                           "seating": "GENERAL_ADMISSION", "capacity": capacity } }),
        )
        .await;
    r.data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned()
}

/// Schedules and publishes a session at `venue` from `starts` to `ends`; `extra` is merged
/// into the input (e.g. `originCenterId`, `allocationId`). Returns its id.
async fn session(
    app: &TestApp,
    admin: &str,
    venue: &str,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    extra: Value,
) -> String {
    let input = json!({
        "venueId": venue, "title": "浙沪共村晚", "category": "GALA",
        "startsAt": at(starts), "endsAt": at(ends), "perResidentLimit": 4,
    });
    app.published_performance(admin, input, &extra).await
}

/// A published session at a new venue of the admin's center.
async fn show(app: &TestApp, admin: &str, starts: DateTime<Utc>, ends: DateTime<Utc>) -> String {
    let venue = venue(app, admin, 50).await;
    session(app, admin, &venue, starts, ends, json!({})).await
}

async fn book(app: &TestApp, token: &str, perf: &str, quantity: i64) -> Gql {
    app.gql(
        Some(token),
        BOOK,
        json!({ "i": { "performanceId": perf, "quantity": quantity } }),
    )
    .await
}

/// Books and returns (booking id, ticket codes); panics on a refusal.
async fn booked(app: &TestApp, token: &str, perf: &str, quantity: i64) -> (String, Vec<String>) {
    let r = book(app, token, perf, quantity).await;
    let booking = &r.data()["bookSeats"];
    let codes = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_owned())
        .collect();
    (booking["id"].as_str().expect("id").to_owned(), codes)
}

async fn check_in(app: &TestApp, usher: &str, code: &str) {
    let r = app.gql(Some(usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

/// The no-show step of this instance's settings, run as of `as_of`.
async fn run_step(app: &TestApp, as_of: DateTime<Utc>) -> Marked {
    let policy = app.state().services.settings.no_shows.policy();
    no_shows::mark_due(&app.db.conn, &policy, as_of)
        .await
        .unwrap_or_else(|e| panic!("the no-show step failed: {e:?}"))
}

/// (`noShows`, `bookingSuspendedUntil`) of the signed-in account.
async fn standing(app: &TestApp, token: &str) -> (i64, Option<DateTime<FixedOffset>>) {
    let r = app.gql(Some(token), ME, json!({})).await;
    let me = &r.data()["me"];
    (
        me["noShows"].as_i64().expect("noShows"),
        me["bookingSuspendedUntil"].as_str().map(instant),
    )
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.gql(Some(token), BOOKING, json!({ "id": id })).await;
    r.data()["booking"].clone()
}

fn statuses(booking: &Value) -> Vec<String> {
    let mut statuses: Vec<String> = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["status"].as_str().expect("status").to_owned())
        .collect();
    statuses.sort();
    statuses
}

fn end_of(start: DateTime<Utc>) -> DateTime<Utc> {
    start + Duration::hours(2)
}

// ---------------------------------------------------------------------------------------
// The exchange report
// ---------------------------------------------------------------------------------------

/// A report row reduced to what the fixtures count, keyed by (year, quarter, provider, host).
type Key = (i64, i64, String, String);

fn rows_by_key(rows: &Value) -> BTreeMap<Key, Value> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let key = (
                row["season"]["year"].as_i64().expect("year"),
                row["season"]["quarter"].as_i64().expect("quarter"),
                row["providerCenter"]["code"]
                    .as_str()
                    .expect("code")
                    .to_owned(),
                row["hostCenter"]["code"].as_str().expect("code").to_owned(),
            );
            (key, row.clone())
        })
        .collect()
}

/// Every row the token sees for the years of `seasons`.
async fn report(app: &TestApp, token: &str, seasons: &[Season]) -> BTreeMap<Key, Value> {
    let mut years: Vec<i32> = seasons.iter().map(|s| s.year).collect();
    years.sort_unstable();
    years.dedup();
    let mut rows = BTreeMap::new();
    for year in years {
        let r = app.gql(Some(token), REPORT, json!({ "y": year })).await;
        rows.extend(rows_by_key(&r.data()["exchangeReport"]));
    }
    rows
}

fn key(season: Season, provider: &str, host: &str) -> Key {
    (
        i64::from(season.year),
        i64::from(season.quarter),
        provider.to_owned(),
        host.to_owned(),
    )
}

fn home(row: &Value) -> BTreeMap<String, (i64, i64)> {
    row["byHomeCenter"]
        .as_array()
        .expect("byHomeCenter")
        .iter()
        .map(|h| {
            (
                h["center"]["code"].as_str().expect("code").to_owned(),
                (
                    h["tickets"].as_i64().expect("tickets"),
                    h["attendances"].as_i64().expect("attendances"),
                ),
            )
        })
        .collect()
}

fn figures(row: &Value) -> [i64; 7] {
    [
        "sessionsScheduled",
        "sessionsHeld",
        "sessionsCancelled",
        "seatsOffered",
        "ticketsSold",
        "attendances",
        "noShows",
    ]
    .map(|f| row[f].as_i64().unwrap_or_else(|| panic!("{f}: {row}")))
}

//! Booking, check-in and live availability (see ../shared/design/API.md and DOMAIN.md).
//!
//! Every concurrency test fires real HTTP requests at once, spread over the two instances of
//! `spawn_pair()` (one database), and then checks the invariants both through GraphQL and
//! straight in the database.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

pub(crate) const BOOK: &str = "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id status seatsTogether \
     tickets { id code status seat { id section row number } } } }";
pub(crate) const CANCEL_BOOKING: &str =
    "mutation($id: ID!) { cancelBooking(id: $id) { id status tickets { status seat { id } } } }";
const CANCEL_PERFORMANCE: &str =
    "mutation($id: ID!, $r: String!) { cancelPerformance(id: $id, reason: $r) { id status } }";
const AVAILABILITY: &str = "query($id: ID!) { performance(id: $id) { status capacity seatsAvailable \
     seatMap { seat { id } state } } }";
const BOOKING: &str = "query($id: ID!) { booking(id: $id) { id status \
     tickets { id code status checkedInAt seat { id } } } }";
const MY_BOOKINGS: &str =
    "{ myBookings(first: 100) { totalCount edges { node { id status tickets { status } } } } }";
const CHECK_IN: &str =
    "mutation($c: String!) { checkInTicket(code: $c) { id code status checkedInAt } }";
const TICKET: &str = "query($c: String!) { ticket(code: $c) { id code status checkedInAt \
     performance { id } } }";
pub(crate) const SUBSCRIPTION: &str = "subscription($p: ID!) { seatAvailability(performanceId: $p) \
     { performanceId seatsAvailable seatsAvailableToViewer changedSeats { seat { id } state } } }";

// ---------------------------------------------------------------------------------------
// Set-up through the API
// ---------------------------------------------------------------------------------------

static VENUES: AtomicU64 = AtomicU64::new(0);

/// A seat of a venue, as `Venue.seats` lists it.
#[derive(Debug, Clone)]
pub(crate) struct SeatRef {
    pub(crate) id: String,
    pub(crate) number: i64,
}

/// A published (or draft) performance and its seats, in seat-map order.
#[derive(Debug, Clone)]
pub(crate) struct Show {
    pub(crate) id: String,
    pub(crate) seats: Vec<SeatRef>,
}

/// How a venue is seated.
pub(crate) enum Layout<'a> {
    /// Rows of one section, nearest the stage first: (label, seats).
    Rows(&'a [(&'a str, i64)]),
    /// General admission with this capacity.
    General(i64),
}

pub(crate) fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// `now + d`, as the API wants it.
pub(crate) fn in_(d: Duration) -> String {
    at(Utc::now() + d)
}

/// Creates a venue of the admin's center; returns its id and its seats.
pub(crate) async fn venue(
    app: &TestApp,
    admin: &str,
    layout: Layout<'_>,
) -> (String, Vec<SeatRef>) {
    let name = format!(
        "Hall {} {}",
        std::process::id(),
        VENUES.fetch_add(1, Ordering::Relaxed)
    );
    let input = match layout {
        Layout::Rows(rows) => json!({
            "name": name, "address": "1 Culture Road, Pinghu", "kind": "THEATER",
            "seating": "RESERVED",
            "sections": [{
                "name": "Stalls",
                "rows": rows.iter().map(|(label, seats)| json!({ "label": label, "seats": seats }))
                    .collect::<Vec<_>>(),
            }],
        }),
        Layout::General(capacity) => json!({
            "name": name, "address": "Shantang village riverbank", "kind": "OUTDOOR",
            "seating": "GENERAL_ADMISSION", "capacity": capacity,
        }),
    };
    let r = app
        .gql(
            Some(admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id seats { id number } } }",
            json!({ "i": input }),
        )
        .await;
    let venue = &r.data()["createVenue"];
    let seats = venue["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| SeatRef {
            id: s["id"].as_str().expect("seat id").to_owned(),
            number: s["number"].as_i64().expect("number"),
        })
        .collect();
    (venue["id"].as_str().expect("venue id").to_owned(), seats)
}

/// Schedules a performance at a new venue (starting in two days unless `extra` says
/// otherwise; `extra`'s fields are merged into the input) and publishes it when `publish`.
pub(crate) async fn show_with(
    app: &TestApp,
    admin: &str,
    layout: Layout<'_>,
    extra: Value,
    publish: bool,
) -> Show {
    let (venue_id, seats) = venue(app, admin, layout).await;
    let mut input = json!({
        "venueId": venue_id,
        "title": "沪剧《大雷雨》",
        "category": "OPERA",
        "startsAt": in_(Duration::days(2)),
        "endsAt": in_(Duration::days(2) + Duration::hours(2)),
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            input.insert(k.clone(), v.clone());
        }
    }
    let r = app
        .gql(
            Some(admin),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id status } }",
            json!({ "i": input }),
        )
        .await;
    let id = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_owned();
    if publish {
        let r = app
            .gql(
                Some(admin),
                "mutation($id: ID!) { publishPerformance(id: $id) { id status } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
    }
    Show { id, seats }
}

/// A published performance starting in two days.
pub(crate) async fn show(app: &TestApp, admin: &str, layout: Layout<'_>, extra: Value) -> Show {
    show_with(app, admin, layout, extra, true).await
}

/// `rows` rows of `per_row` seats, labelled A, B, C…
pub(crate) fn grid(rows: usize, per_row: i64) -> Vec<(&'static str, i64)> {
    const LABELS: [&str; 26] = [
        "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T",
        "U", "V", "W", "X", "Y", "Z", "AA", "AB",
    ];
    LABELS[..rows].iter().map(|l| (*l, per_row)).collect()
}

// ---------------------------------------------------------------------------------------
// Booking helpers
// ---------------------------------------------------------------------------------------

pub(crate) async fn book_quantity(app: &TestApp, token: &str, perf: &str, quantity: i64) -> Gql {
    app.gql(
        Some(token),
        BOOK,
        json!({ "i": { "performanceId": perf, "quantity": quantity } }),
    )
    .await
}

pub(crate) async fn book_seats(app: &TestApp, token: &str, perf: &str, seats: &[&str]) -> Gql {
    app.gql(
        Some(token),
        BOOK,
        json!({ "i": { "performanceId": perf, "seatIds": seats } }),
    )
    .await
}

/// Two instances on one database, the Pinghu admin, a published performance in a new hall
/// of `rows`, and `residents` residents' tokens.
async fn rush_setup(
    rows: &[(&str, i64)],
    residents: usize,
) -> (TestApp, TestApp, String, Show, Vec<String>) {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let perf = show(&a, &admin, Layout::Rows(rows), json!({})).await;
    let residents = a.residents_fast(residents, "pinghu").await;
    (a, b, admin, perf, residents)
}

/// Every resident books `quantity` at once, alternating between the two instances.
async fn rush(
    a: &TestApp,
    b: &TestApp,
    residents: &[String],
    perf: &str,
    quantity: i64,
) -> Vec<Gql> {
    join_all(residents.iter().enumerate().map(|(i, token)| {
        let app = if i % 2 == 0 { a } else { b };
        book_quantity(app, token, perf, quantity)
    }))
    .await
}

/// `CONFIRMED` for a booking made, else the error code (`NO_CODE` when there is none).
pub(crate) fn outcome(r: &Gql) -> String {
    if r.body.get("errors").is_none() && r.body["data"]["bookSeats"]["id"].is_string() {
        assert_eq!(r.body["data"]["bookSeats"]["status"], "CONFIRMED");
        "CONFIRMED".to_owned()
    } else {
        r.code().unwrap_or("NO_CODE").to_owned()
    }
}

pub(crate) fn tally(
    results: &[Gql],
    outcome_of: impl Fn(&Gql) -> String,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in results {
        *counts.entry(outcome_of(r)).or_insert(0) += 1;
    }
    counts
}

/// The seat ids of a successful `bookSeats` answer.
pub(crate) fn booked_seats(r: &Gql) -> Vec<String> {
    r.data()["bookSeats"]["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["seat"]["id"].as_str().expect("seat id").to_owned())
        .collect()
}

/// (row, seat number) of each ticket of a booking, sorted.
fn booked_places(booking: &Value) -> Vec<(String, i64)> {
    let mut places: Vec<(String, i64)> = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| {
            (
                t["seat"]["row"].as_str().expect("row").to_owned(),
                t["seat"]["number"].as_i64().expect("number"),
            )
        })
        .collect();
    places.sort();
    places
}

fn ticket_codes(r: &Gql) -> Vec<String> {
    r.data()["bookSeats"]["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_owned())
        .collect()
}

pub(crate) async fn seats_available(app: &TestApp, perf: &str) -> i64 {
    let r = app.anon(AVAILABILITY, json!({ "id": perf })).await;
    r.data()["performance"]["seatsAvailable"]
        .as_i64()
        .expect("seatsAvailable")
}

pub(crate) fn row_id(kind: zouqin::ids::Kind, global: &str) -> i64 {
    zouqin::ids::decode(kind, global).expect("a global id of the right kind")
}

/// The performance's non-cancelled tickets, read straight from the database.
pub(crate) async fn live_tickets(app: &TestApp, perf: &str) -> Vec<entity::ticket::Model> {
    entity::ticket::Entity::find()
        .filter(
            entity::ticket::Column::PerformanceId.eq(row_id(zouqin::ids::Kind::Performance, perf)),
        )
        .filter(entity::ticket::Column::Status.ne(entity::enums::TicketStatus::Cancelled))
        .all(&app.db.conn)
        .await
        .expect("tickets")
}

fn instant(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

// ---------------------------------------------------------------------------------------
// The rush and the other races
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_of_300_pairs_on_400_seats_sells_each_seat_exactly_once() {
    let (a, b, admin, perf, residents) = rush_setup(&grid(20, 20), 300).await;
    assert_eq!(perf.seats.len(), 400);

    let results = rush(&a, &b, &residents, &perf.id, 2).await;

    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&200), "outcomes: {counts:?}");
    for r in &results {
        let o = outcome(r);
        assert!(
            // A quantity names no seat, so it is never SEAT_UNAVAILABLE.
            ["CONFIRMED", "SOLD_OUT"].contains(&o.as_str()),
            "unexpected answer in the rush: {}",
            r.body
        );
    }
    // Every ticket of every successful booking holds a distinct seat.
    let mut seen = HashSet::new();
    for r in results.iter().filter(|r| outcome(r) == "CONFIRMED") {
        let seats = booked_seats(r);
        assert_eq!(seats.len(), 2, "a booking of 2 has 2 tickets: {}", r.body);
        for seat in seats {
            assert!(seen.insert(seat.clone()), "seat {seat} was sold twice");
        }
    }
    assert_eq!(seen.len(), 400);
    let all: HashSet<String> = perf.seats.iter().map(|s| s.id.clone()).collect();
    assert_eq!(seen, all, "the sold seats are exactly the venue's seats");

    // Both instances agree that nothing is left.
    assert_eq!(seats_available(&a, &perf.id).await, 0);
    assert_eq!(seats_available(&b, &perf.id).await, 0);
    let map = a.anon(AVAILABILITY, json!({ "id": perf.id })).await;
    assert!(
        map.data()["performance"]["seatMap"]
            .as_array()
            .expect("seat map")
            .iter()
            .all(|s| s["state"] == "TAKEN")
    );
    let bookings = a
        .gql(
            Some(&admin),
            "query($p: ID!) { performanceBookings(performanceId: $p) { totalCount } }",
            json!({ "p": perf.id }),
        )
        .await;
    assert_eq!(bookings.data()["performanceBookings"]["totalCount"], 200);

    // And the database agrees: 400 live tickets on 400 distinct seats and inventory rows.
    let tickets = live_tickets(&a, &perf.id).await;
    assert_eq!(tickets.len(), 400);
    let seats: HashSet<Option<i64>> = tickets.iter().map(|t| t.seat_id).collect();
    assert_eq!(seats.len(), 400);
    assert!(!seats.contains(&None));
    let inventory: HashSet<i64> = tickets.iter().map(|t| t.inventory_id).collect();
    assert_eq!(inventory.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_residents_asking_for_one_seat_leave_one_winner() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let rows = grid(3, 10);
    let perf = show(&a, &admin, Layout::Rows(&rows), json!({})).await;
    let wanted = perf.seats[14].id.clone();
    let residents = a.residents_fast(20, "pinghu").await;

    let results = join_all(residents.iter().enumerate().map(|(i, token)| {
        let app = if i % 2 == 0 { &a } else { &b };
        let wanted = wanted.clone();
        let perf = perf.id.clone();
        async move { book_seats(app, token, &perf, &[&wanted]).await }
    }))
    .await;

    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&1), "outcomes: {counts:?}");
    assert_eq!(
        counts.get("SEAT_UNAVAILABLE"),
        Some(&19),
        "outcomes: {counts:?}"
    );
    for r in results.iter().filter(|r| outcome(r) != "CONFIRMED") {
        let listed: Vec<&str> = r.error()["extensions"]["seatIds"]
            .as_array()
            .unwrap_or_else(|| panic!("SEAT_UNAVAILABLE lists the seats: {}", r.body))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(listed.contains(&wanted.as_str()), "{}", r.body);
    }
    let winner = results
        .iter()
        .find(|r| outcome(r) == "CONFIRMED")
        .expect("a winner");
    assert_eq!(booked_seats(winner), vec![wanted.clone()]);
    let tickets = live_tickets(&a, &perf.id).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(
        tickets[0].seat_id,
        Some(row_id(zouqin::ids::Kind::Seat, &wanted))
    );
    assert_eq!(seats_available(&b, &perf.id).await, 29);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_concurrent_bookings_by_one_resident_stop_at_the_limit_of_four() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let rows = grid(5, 10);
    let perf = show(
        &a,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 4 }),
    )
    .await;
    let token = a.residents_fast(1, "pinghu").await.remove(0);
    // Three ask for a quantity, three for explicit seats of the back row.
    let back_row: Vec<String> = perf.seats[40..43].iter().map(|s| s.id.clone()).collect();

    let results = join_all((0..6).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let token = token.clone();
        let perf = perf.id.clone();
        let seat = back_row[i % 3].clone();
        async move {
            if i < 3 {
                book_quantity(app, &token, &perf, 1).await
            } else {
                book_seats(app, &token, &perf, &[&seat]).await
            }
        }
    }))
    .await;

    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&4), "outcomes: {counts:?}");
    assert_eq!(
        counts.get("LIMIT_EXCEEDED"),
        Some(&2),
        "outcomes: {counts:?}"
    );
    let mine = a.gql(Some(&token), MY_BOOKINGS, json!({})).await;
    assert_eq!(mine.data()["myBookings"]["totalCount"], 4);
    assert_eq!(live_tickets(&a, &perf.id).await.len(), 4);
    // The limit stays reached afterwards, on either instance.
    let again = book_quantity(&b, &token, &perf.id, 1).await;
    assert_eq!(again.code(), Some("LIMIT_EXCEEDED"));
}

#[tokio::test]
async fn lowering_the_limit_keeps_what_residents_hold_and_refuses_more() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 4 }),
    )
    .await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let held = book_quantity(&app, &token, &perf.id, 3).await;
    let booking_id = held.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { updatePerformance(id: $id, input: { perResidentLimit: 2 }) { perResidentLimit } }",
            json!({ "id": perf.id }),
        )
        .await;
    assert_eq!(r.data()["updatePerformance"]["perResidentLimit"], 2);
    // The three tickets bought under the old limit stay.
    let r = app
        .gql(
            Some(&token),
            "query($id: ID!) { booking(id: $id) { status tickets { status } } }",
            json!({ "id": booking_id }),
        )
        .await;
    assert_eq!(r.data()["booking"]["status"], "CONFIRMED");
    assert_eq!(
        r.data()["booking"]["tickets"].as_array().map(Vec::len),
        Some(3)
    );
    // Not one more under the new one.
    let r = book_quantity(&app, &token, &perf.id, 1).await;
    assert_eq!(r.code(), Some("LIMIT_EXCEEDED"), "{}", r.body);
    assert_eq!(seats_available(&app, &perf.id).await, 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_larger_than_the_limit_is_limit_exceeded_at_once() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 2 }),
    )
    .await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 3).await;
    assert_eq!(r.code(), Some("LIMIT_EXCEEDED"));
    assert_eq!(seats_available(&app, &perf.id).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_sent_concurrently_makes_one_booking() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let rows = grid(3, 10);
    let perf = show(
        &a,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 10 }),
    )
    .await;
    let token = a.residents_fast(1, "pinghu").await.remove(0);

    // Three rounds, each firing the same request four times at once over both instances.
    let mut ids = Vec::new();
    for round in 0..3 {
        let key = format!("checkout-{round}");
        let input =
            json!({ "i": { "performanceId": perf.id, "quantity": 2, "idempotencyKey": key } });
        let results = join_all((0..4).map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            app.gql(Some(&token), BOOK, input.clone())
        }))
        .await;
        let booked: HashSet<String> = results
            .iter()
            .map(|r| {
                r.data()["bookSeats"]["id"]
                    .as_str()
                    .expect("booking id")
                    .to_owned()
            })
            .collect();
        assert_eq!(booked.len(), 1, "one booking per key: {results:?}");
        let seats: HashSet<Vec<String>> = results.iter().map(booked_seats).collect();
        assert_eq!(seats.len(), 1, "every answer shows the same seats");
        ids.extend(booked);
    }
    let mine = a.gql(Some(&token), MY_BOOKINGS, json!({})).await;
    assert_eq!(mine.data()["myBookings"]["totalCount"], 3);
    assert_eq!(live_tickets(&a, &perf.id).await.len(), 6);
    assert_eq!(seats_available(&b, &perf.id).await, 24);

    // A later retry still answers the same booking.
    let retry = a
        .gql(
            Some(&token),
            BOOK,
            json!({ "i": { "performanceId": perf.id, "quantity": 2, "idempotencyKey": "checkout-0" } }),
        )
        .await;
    assert!(
        ids.contains(
            &retry.data()["bookSeats"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        )
    );

    // The same key for a different request is a conflict, and books nothing.
    let different = b
        .gql(
            Some(&token),
            BOOK,
            json!({ "i": { "performanceId": perf.id, "quantity": 3, "idempotencyKey": "checkout-0" } }),
        )
        .await;
    assert_eq!(different.code(), Some("CONFLICT"), "{}", different.body);
    let explicit = b
        .gql(
            Some(&token),
            BOOK,
            json!({ "i": { "performanceId": perf.id, "seatIds": [perf.seats[29].id], "idempotencyKey": "checkout-1" } }),
        )
        .await;
    assert_eq!(explicit.code(), Some("CONFLICT"), "{}", explicit.body);
    assert_eq!(live_tickets(&a, &perf.id).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_belongs_to_one_resident() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    let input =
        json!({ "i": { "performanceId": perf.id, "quantity": 1, "idempotencyKey": "same-key" } });
    let first = app.gql(Some(&tokens[0]), BOOK, input.clone()).await;
    let second = app.gql(Some(&tokens[1]), BOOK, input).await;
    assert_ne!(
        first.data()["bookSeats"]["id"],
        second.data()["bookSeats"]["id"]
    );
    assert_eq!(seats_available(&app, &perf.id).await, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_bookers_for_thirty_general_admission_places_leave_ten_sold_out() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let perf = show(&a, &admin, Layout::General(30), json!({})).await;
    assert!(perf.seats.is_empty());
    let residents = a.residents_fast(40, "pinghu").await;

    let results = rush(&a, &b, &residents, &perf.id, 1).await;

    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&30), "outcomes: {counts:?}");
    assert_eq!(counts.get("SOLD_OUT"), Some(&10), "outcomes: {counts:?}");
    for r in results.iter().filter(|r| outcome(r) == "CONFIRMED") {
        let tickets = r.data()["bookSeats"]["tickets"]
            .as_array()
            .expect("tickets");
        assert_eq!(tickets.len(), 1);
        assert!(
            tickets[0]["seat"].is_null(),
            "general admission has no seat"
        );
    }
    assert_eq!(seats_available(&a, &perf.id).await, 0);
    assert_eq!(seats_available(&b, &perf.id).await, 0);
    let tickets = live_tickets(&a, &perf.id).await;
    assert_eq!(tickets.len(), 30);
    let places: HashSet<i64> = tickets.iter().map(|t| t.inventory_id).collect();
    assert_eq!(places.len(), 30, "no place is sold twice");
}

#[tokio::test]
async fn general_admission_takes_a_quantity_not_seat_ids() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let ga = show(&app, &admin, Layout::General(10), json!({})).await;
    let rows = grid(1, 5);
    let reserved = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_seats(&app, &token, &ga.id, &[&reserved.seats[0].id]).await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "seatIds");
    assert_eq!(seats_available(&app, &ga.id).await, 10);
    assert_eq!(seats_available(&app, &reserved.id).await, 5);
}

// ---------------------------------------------------------------------------------------
// Best seats together
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn three_seats_on_an_empty_venue_are_together_in_the_middle_of_the_front_row() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = [("A", 9), ("B", 9), ("C", 9)];
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 3).await;
    let booking = &r.data()["bookSeats"];
    assert_eq!(booking["seatsTogether"], true);
    let seats = booked_places(booking);
    assert_eq!(
        seats,
        vec![
            ("A".to_owned(), 4),
            ("A".to_owned(), 5),
            ("A".to_owned(), 6)
        ]
    );
}

#[tokio::test]
async fn the_next_group_sits_together_in_the_next_row_when_the_front_row_has_no_block() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = [("A", 5), ("B", 5)];
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    // Leave only A1, A2, A4, A5 free in the front row: no block of three there.
    book_seats(&app, &tokens[0], &perf.id, &[&perf.seats[2].id])
        .await
        .data();
    let r = book_quantity(&app, &tokens[1], &perf.id, 3).await;
    let booking = &r.data()["bookSeats"];
    assert_eq!(booking["seatsTogether"], true);
    let seats = booked_places(booking);
    assert_eq!(
        seats,
        vec![
            ("B".to_owned(), 2),
            ("B".to_owned(), 3),
            ("B".to_owned(), 4)
        ]
    );
}

#[tokio::test]
async fn when_no_row_has_a_block_the_booking_still_succeeds_with_seats_apart() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = [("A", 3), ("B", 3)];
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 10 }),
    )
    .await;
    let tokens = app.residents_fast(3, "pinghu").await;
    // Take the middle seat of each row: A1, A3, B1, B3 stay free, no two adjacent.
    let middles: Vec<&str> = perf
        .seats
        .iter()
        .filter(|s| s.number == 2)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(middles.len(), 2);
    book_seats(&app, &tokens[0], &perf.id, &middles)
        .await
        .data();

    let r = book_quantity(&app, &tokens[1], &perf.id, 2).await;
    let booking = &r.data()["bookSeats"];
    assert_eq!(booking["seatsTogether"], false);
    let got = booked_seats(&r);
    assert_eq!(got.len(), 2);
    let free: HashSet<&str> = perf
        .seats
        .iter()
        .filter(|s| s.number != 2)
        .map(|s| s.id.as_str())
        .collect();
    assert!(got.iter().all(|s| free.contains(s.as_str())));
    assert_ne!(got[0], got[1]);
    assert_eq!(seats_available(&app, &perf.id).await, 2);

    // Two left: three is refused as sold out, two still book.
    let r = book_quantity(&app, &tokens[2], &perf.id, 3).await;
    assert_eq!(r.code(), Some("SOLD_OUT"));
    let r = book_quantity(&app, &tokens[2], &perf.id, 2).await;
    assert_eq!(r.data()["bookSeats"]["seatsTogether"], false);
    assert_eq!(seats_available(&app, &perf.id).await, 0);
}

// ---------------------------------------------------------------------------------------
// Cancelling
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_cancelled_booking_frees_its_seats_for_others() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    let wanted = [perf.seats[4].id.as_str(), perf.seats[5].id.as_str()];
    let first = book_seats(&app, &tokens[0], &perf.id, &wanted).await;
    let booking_id = first.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(seats_available(&app, &perf.id).await, 18);
    let taken = book_seats(&app, &tokens[1], &perf.id, &wanted).await;
    assert_eq!(taken.code(), Some("SEAT_UNAVAILABLE"));

    let cancelled = app
        .gql(
            Some(&tokens[0]),
            CANCEL_BOOKING,
            json!({ "id": booking_id }),
        )
        .await;
    let cancelled = &cancelled.data()["cancelBooking"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(
        cancelled["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .all(|t| t["status"] == "CANCELLED")
    );
    assert_eq!(seats_available(&app, &perf.id).await, 20);

    let second = book_seats(&app, &tokens[1], &perf.id, &wanted).await;
    let mut got = booked_seats(&second);
    got.sort();
    let mut expected: Vec<String> = wanted.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(live_tickets(&app, &perf.id).await.len(), 2);
}

#[tokio::test]
async fn cancelling_a_booking_gives_back_the_residents_allowance() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 2 }),
    )
    .await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let first = book_quantity(&app, &token, &perf.id, 2).await;
    let id = first.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        book_quantity(&app, &token, &perf.id, 1).await.code(),
        Some("LIMIT_EXCEEDED")
    );
    app.gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await
        .data();
    let again = book_quantity(&app, &token, &perf.id, 2).await;
    assert_eq!(outcome(&again), "CONFIRMED", "{}", again.body);
}

#[tokio::test]
async fn another_residents_booking_cannot_be_cancelled_or_read() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let owner = app.resident("owner@residents.example", &world.pinghu).await;
    let other = app
        .resident("other@residents.example", &world.jinshan)
        .await;
    let r = book_quantity(&app, &owner, &perf.id, 2).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();

    let cancel = app
        .gql(Some(&other), CANCEL_BOOKING, json!({ "id": id }))
        .await;
    assert_eq!(cancel.code(), Some("NOT_FOUND"));
    let read = app.gql(Some(&other), BOOKING, json!({ "id": id })).await;
    assert_eq!(read.code(), Some("NOT_FOUND"));
    let node = app
        .gql(
            Some(&other),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        node.code(),
        Some("NOT_FOUND"),
        "node(id:) must not reveal another resident's booking: {}",
        node.body
    );

    // The owner still has it, whole.
    let mine = app.gql(Some(&owner), BOOKING, json!({ "id": id })).await;
    assert_eq!(mine.data()["booking"]["status"], "CONFIRMED");
    assert_eq!(
        mine.data()["booking"]["tickets"]
            .as_array()
            .expect("tickets")
            .len(),
        2
    );
}

#[tokio::test]
async fn cancelling_a_performance_cancels_every_booking_and_closes_booking() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(3, "pinghu").await;
    let mut bookings = Vec::new();
    for token in &tokens {
        let r = book_quantity(&app, token, &perf.id, 2).await;
        bookings.push((
            token.clone(),
            r.data()["bookSeats"]["id"].as_str().expect("id").to_owned(),
        ));
    }
    let r = app
        .gql(
            Some(&admin),
            CANCEL_PERFORMANCE,
            json!({ "id": perf.id, "r": "typhoon warning" }),
        )
        .await;
    assert_eq!(r.data()["cancelPerformance"]["status"], "CANCELLED");

    for (token, id) in &bookings {
        let b = app.gql(Some(token), BOOKING, json!({ "id": id })).await;
        let booking = &b.data()["booking"];
        assert_eq!(booking["status"], "CANCELLED");
        let tickets = booking["tickets"].as_array().expect("tickets");
        assert_eq!(tickets.len(), 2);
        assert!(
            tickets.iter().all(|t| t["status"] == "CANCELLED"),
            "{booking}"
        );
    }
    assert!(live_tickets(&app, &perf.id).await.is_empty());
    let availability = app.anon(AVAILABILITY, json!({ "id": perf.id })).await;
    assert_eq!(availability.data()["performance"]["status"], "CANCELLED");
    assert_eq!(availability.data()["performance"]["seatsAvailable"], 0);

    let late = book_quantity(&app, &tokens[0], &perf.id, 1).await;
    assert_eq!(late.code(), Some("BOOKING_CLOSED"));
    let late = book_seats(&app, &tokens[1], &perf.id, &[&perf.seats[0].id]).await;
    assert_eq!(late.code(), Some("BOOKING_CLOSED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_performance_cancelled_during_a_rush_keeps_no_live_ticket() {
    // The cancellation is sent as soon as the first booking is confirmed, while the others are
    // in flight; an attempt counts only when it really landed mid-rush (some bookings were
    // confirmed before it, some refused after it).
    for attempt in 1..=5 {
        let (a, b, admin, perf, residents) = rush_setup(&grid(5, 10), 40).await;
        let first = std::sync::Arc::new(tokio::sync::Notify::new());
        let bookings = join_all(residents.iter().enumerate().map(|(i, token)| {
            let app = if i % 2 == 0 { &a } else { &b };
            let first = first.clone();
            let perf = perf.id.clone();
            async move {
                let r = book_quantity(app, token, &perf, 1).await;
                if outcome(&r) == "CONFIRMED" {
                    first.notify_one();
                }
                r
            }
        }));
        let cancel = async {
            let _ = tokio::time::timeout(StdDuration::from_secs(20), first.notified()).await;
            b.gql(
                Some(&admin),
                CANCEL_PERFORMANCE,
                json!({ "id": perf.id, "r": "power cut" }),
            )
            .await
        };
        let (results, cancelled) = tokio::join!(bookings, cancel);
        assert_eq!(cancelled.data()["cancelPerformance"]["status"], "CANCELLED");
        let counts = tally(&results, outcome);
        for o in counts.keys() {
            assert!(
                ["CONFIRMED", "BOOKING_CLOSED"].contains(&o.as_str()),
                "unexpected answer {o}: {counts:?}"
            );
        }
        assert!(
            live_tickets(&a, &perf.id).await.is_empty(),
            "a booking committed after the cancellation"
        );
        let confirmed = entity::booking::Entity::find()
            .filter(
                entity::booking::Column::PerformanceId
                    .eq(row_id(zouqin::ids::Kind::Performance, &perf.id)),
            )
            .filter(entity::booking::Column::Status.eq(entity::enums::BookingStatus::Confirmed))
            .all(&a.db.conn)
            .await
            .expect("bookings");
        assert!(
            confirmed.is_empty(),
            "a confirmed booking survived: {counts:?}"
        );
        if counts.contains_key("CONFIRMED") && counts.contains_key("BOOKING_CLOSED") {
            return;
        }
        eprintln!("attempt {attempt}: the cancellation did not land mid-rush ({counts:?}); again");
    }
    panic!("in five attempts the cancellation never landed while bookings were in flight");
}

// ---------------------------------------------------------------------------------------
// Who may book what, and when
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// The parallel path (PostgreSQL): bookings of one performance do not wait for each other
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quantity_booking_passes_over_seats_another_transaction_is_claiming_on_postgres() {
    if postgres_or_skip(
        "a_quantity_booking_passes_over_seats_another_transaction_is_claiming_on_postgres",
    )
    .is_none()
    {
        return;
    }
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    // A5 and A6 are the best pair of the empty hall; another transaction holds their rows,
    // as a booking in flight on another instance would.
    let best = [perf.seats[4].id.as_str(), perf.seats[5].id.as_str()];
    let claiming = app.db.conn.begin().await.expect("begin");
    let locked = claiming
        .execute_unprepared(&format!(
            "SELECT id FROM inventory WHERE performance_id = {} AND seat_id IN ({}, {}) FOR UPDATE",
            row_id(zouqin::ids::Kind::Performance, &perf.id),
            row_id(zouqin::ids::Kind::Seat, best[0]),
            row_id(zouqin::ids::Kind::Seat, best[1]),
        ))
        .await
        .expect("lock two inventory rows");
    assert_eq!(locked.rows_affected(), 2);

    // The booking does not wait for that transaction: it takes the next-best pair.
    let r = tokio::time::timeout(
        StdDuration::from_secs(60),
        book_quantity(&app, &tokens[0], &perf.id, 2),
    )
    .await
    .expect("the booking finished while the other transaction still held A5 and A6");
    assert_eq!(r.data()["bookSeats"]["seatsTogether"], true, "{}", r.body);
    let got = booked_seats(&r);
    assert!(
        got.iter().all(|s| !best.contains(&s.as_str())),
        "the held seats were not sold"
    );
    let rows_got: HashSet<&str> = r.data()["bookSeats"]["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["seat"]["row"].as_str().expect("row"))
        .collect();
    assert_eq!(rows_got, HashSet::from(["A"]), "still the front row");

    // The holder gives up: those seats were never sold and are there for the next booking.
    claiming.rollback().await.expect("rollback");
    let mine = book_seats(&app, &tokens[1], &perf.id, &best).await;
    assert_eq!(outcome(&mine), "CONFIRMED", "{}", mine.body);
    assert_eq!(live_tickets(&app, &perf.id).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_exactly_enough_seats_for_a_rush_nobody_is_told_sold_out() {
    // 100 residents, 200 seats, pairs, two instances at once: any SOLD_OUT would be a lie.
    let (a, b, admin, perf, residents) = rush_setup(&grid(10, 20), 100).await;
    let results = rush(&a, &b, &residents, &perf.id, 2).await;
    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&100), "outcomes: {counts:?}");
    assert_eq!(seats_available(&a, &perf.id).await, 0);
    let tickets = live_tickets(&b, &perf.id).await;
    let seats: HashSet<Option<i64>> = tickets.iter().map(|t| t.seat_id).collect();
    assert_eq!(seats.len(), 200);

    // The same with general admission, one place each.
    let ga = show(&a, &admin, Layout::General(40), json!({})).await;
    let results = rush(&a, &b, &residents[..40], &ga.id, 1).await;
    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&40), "outcomes: {counts:?}");
    assert_eq!(live_tickets(&a, &ga.id).await.len(), 40);
}

#[tokio::test]
async fn the_best_seats_given_back_by_a_cancellation_are_offered_first() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(3, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(3, "pinghu").await;
    let first = book_quantity(&app, &tokens[0], &perf.id, 2).await;
    let mut best = booked_seats(&first);
    best.sort();
    let second = book_quantity(&app, &tokens[1], &perf.id, 2).await;
    assert!(booked_seats(&second).iter().all(|s| !best.contains(s)));

    let cancelled = app
        .gql(
            Some(&tokens[0]),
            CANCEL_BOOKING,
            json!({ "id": first.data()["bookSeats"]["id"] }),
        )
        .await;
    assert_eq!(cancelled.data()["cancelBooking"]["status"], "CANCELLED");
    let third = book_quantity(&app, &tokens[2], &perf.id, 2).await;
    let mut got = booked_seats(&third);
    got.sort();
    assert_eq!(
        got, best,
        "the freed middle of the front row is the best pair again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explicit_seats_and_quantities_racing_on_two_instances_never_share_a_seat() {
    let (a, b, _, perf, residents) = rush_setup(&grid(5, 20), 90).await;
    // 60 residents ask for 2 seats anywhere; 30 ask for particular pairs of the front rows,
    // where the quantity bookings go first, some of them for the same pair.
    let results = join_all(residents.iter().enumerate().map(|(i, token)| {
        let app = if i % 2 == 0 { &a } else { &b };
        let perf = perf.clone();
        async move {
            if i % 3 == 0 {
                let pair = (i / 3) % 20 * 2;
                let seats = [
                    perf.seats[pair].id.as_str(),
                    perf.seats[pair + 1].id.as_str(),
                ];
                (i, book_seats(app, token, &perf.id, &seats).await)
            } else {
                (i, book_quantity(app, token, &perf.id, 2).await)
            }
        }
    }))
    .await;

    let mut seen = HashSet::new();
    let mut confirmed = 0;
    for (i, r) in &results {
        let o = outcome(r);
        match o.as_str() {
            "CONFIRMED" => {
                confirmed += 1;
                let seats = booked_seats(r);
                assert_eq!(seats.len(), 2, "{}", r.body);
                for seat in seats {
                    assert!(seen.insert(seat.clone()), "seat {seat} was sold twice");
                }
            }
            "SEAT_UNAVAILABLE" => assert_eq!(i % 3, 0, "only named seats can be unavailable"),
            "SOLD_OUT" => assert_ne!(i % 3, 0, "only a quantity can be sold out"),
            _ => panic!("unexpected answer: {}", r.body),
        }
    }
    // 100 seats, at most 180 asked: the hall sells out unless named pairs were lost in
    // races, and never more than it has.
    assert!(confirmed <= 50);
    let tickets = live_tickets(&a, &perf.id).await;
    assert_eq!(tickets.len(), confirmed * 2);
    let distinct: HashSet<i64> = tickets.iter().map(|t| t.inventory_id).collect();
    assert_eq!(distinct.len(), tickets.len());
    assert_eq!(
        seats_available(&b, &perf.id).await,
        100 - 2 * confirmed as i64
    );
    // A quantity booking is refused only when fewer than 2 seats are left.
    if results.iter().any(|(_, r)| outcome(r) == "SOLD_OUT") {
        assert!(seats_available(&a, &perf.id).await < 2);
    }
}

#[tokio::test]
async fn staff_cannot_book() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    for token in [&admin, &usher] {
        let r = book_quantity(&app, token, &perf.id, 1).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    assert_eq!(seats_available(&app, &perf.id).await, 10);
}

#[tokio::test]
async fn anonymous_callers_cannot_book() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let r = app
        .anon(
            BOOK,
            json!({ "i": { "performanceId": perf.id, "quantity": 1 } }),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    let mine = app.anon(MY_BOOKINGS, json!({})).await;
    assert_eq!(mine.code(), Some("UNAUTHENTICATED"));
    assert_eq!(seats_available(&app, &perf.id).await, 10);
}

#[tokio::test]
async fn booking_a_draft_is_not_found() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let draft = show_with(&app, &admin, Layout::Rows(&rows), json!({}), false).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &draft.id, 1).await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = book_seats(&app, &token, &draft.id, &[&draft.seats[0].id]).await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    // A performance that never existed reads the same.
    let missing = zouqin::ids::encode(zouqin::ids::Kind::Performance, 987_654);
    let r = book_quantity(&app, &token, &missing, 1).await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn booking_before_the_window_opens_is_booking_closed() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "bookingOpensAt": in_(Duration::days(1)) }),
    )
    .await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 1).await;
    assert_eq!(r.code(), Some("BOOKING_CLOSED"));
    assert_eq!(seats_available(&app, &perf.id).await, 10);
}

#[tokio::test]
async fn booking_opens_at_publication_by_default() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let before = Utc::now();
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let r = app
        .anon(
            "query($id: ID!) { performance(id: $id) { bookingOpensAt bookingClosesAt startsAt } }",
            json!({ "id": perf.id }),
        )
        .await;
    let p = &r.data()["performance"];
    let opens = instant(p["bookingOpensAt"].as_str().expect("opens"));
    assert!(opens >= before - Duration::seconds(1) && opens <= Utc::now() + Duration::seconds(1));
    assert_eq!(p["bookingClosesAt"], p["startsAt"]);
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    assert_eq!(
        outcome(&book_quantity(&app, &token, &perf.id, 1).await),
        "CONFIRMED"
    );
}

#[tokio::test]
async fn seat_ids_and_quantity_together_or_neither_are_bad_input() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    for input in [
        json!({ "performanceId": perf.id, "seatIds": [perf.seats[0].id], "quantity": 1 }),
        json!({ "performanceId": perf.id }),
    ] {
        let r = app.gql(Some(&token), BOOK, json!({ "i": input })).await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
        let field = r.error()["extensions"]["field"].as_str();
        assert!(
            matches!(field, Some("seatIds" | "quantity")),
            "extensions.field names the input: {}",
            r.body
        );
    }
    for quantity in [0, -1, 101] {
        let r = book_quantity(&app, &token, &perf.id, quantity).await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "quantity {quantity}");
        assert_eq!(r.error()["extensions"]["field"], "quantity");
    }
    let twice = book_seats(
        &app,
        &token,
        &perf.id,
        &[&perf.seats[0].id, &perf.seats[0].id],
    )
    .await;
    assert_eq!(twice.code(), Some("BAD_USER_INPUT"));
    let not_a_seat = book_seats(&app, &token, &perf.id, &[&perf.id]).await;
    assert_eq!(not_a_seat.code(), Some("BAD_USER_INPUT"));
    assert_eq!(not_a_seat.error()["extensions"]["field"], "seatIds");
    assert_eq!(seats_available(&app, &perf.id).await, 10);
}

#[tokio::test]
async fn a_seat_of_another_venue_is_bad_input_and_books_nothing() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let elsewhere = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_seats(
        &app,
        &token,
        &perf.id,
        &[&perf.seats[0].id, &elsewhere.seats[1].id],
    )
    .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "seatIds");
    assert_eq!(seats_available(&app, &perf.id).await, 10);
    let mine = app.gql(Some(&token), MY_BOOKINGS, json!({})).await;
    assert_eq!(mine.data()["myBookings"]["totalCount"], 0);
}

#[tokio::test]
async fn a_partly_taken_selection_books_nothing_and_names_the_taken_seats() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    book_seats(&app, &tokens[0], &perf.id, &[&perf.seats[3].id])
        .await
        .data();
    let r = book_seats(
        &app,
        &tokens[1],
        &perf.id,
        &[&perf.seats[2].id, &perf.seats[3].id],
    )
    .await;
    assert_eq!(r.code(), Some("SEAT_UNAVAILABLE"));
    assert_eq!(
        r.error()["extensions"]["seatIds"],
        json!([perf.seats[3].id])
    );
    assert_eq!(seats_available(&app, &perf.id).await, 9);
    let mine = app.gql(Some(&tokens[1]), MY_BOOKINGS, json!({})).await;
    assert_eq!(mine.data()["myBookings"]["totalCount"], 0);
}

#[tokio::test]
async fn my_bookings_lists_only_the_callers_own_bookings() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    let mut mine = HashSet::new();
    for _ in 0..2 {
        let r = book_quantity(&app, &tokens[0], &perf.id, 1).await;
        mine.insert(r.data()["bookSeats"]["id"].as_str().expect("id").to_owned());
    }
    let theirs = book_quantity(&app, &tokens[1], &perf.id, 1).await;
    let theirs = theirs.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let list = app.gql(Some(&tokens[0]), MY_BOOKINGS, json!({})).await;
    let connection = &list.data()["myBookings"];
    assert_eq!(connection["totalCount"], 2);
    let listed: HashSet<String> = connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, mine);
    assert!(!listed.contains(&theirs));

    let other = app.gql(Some(&tokens[1]), MY_BOOKINGS, json!({})).await;
    assert_eq!(other.data()["myBookings"]["totalCount"], 1);
    assert_eq!(
        other.data()["myBookings"]["edges"][0]["node"]["id"],
        theirs.as_str()
    );
}

#[tokio::test]
async fn booking_and_cancelling_stop_when_the_booking_window_closes() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 1).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    let r = app
        .gql(
            Some(&admin),
            "mutation($id: ID!, $i: UpdatePerformanceInput!) { updatePerformance(id: $id, input: $i) { id } }",
            json!({ "id": perf.id, "i": {
                "bookingOpensAt": in_(-Duration::hours(2)),
                "bookingClosesAt": in_(-Duration::hours(1)),
            } }),
        )
        .await;
    r.data();

    let late = book_quantity(&app, &token, &perf.id, 1).await;
    assert_eq!(late.code(), Some("BOOKING_CLOSED"));
    let cancel = app
        .gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await;
    assert_eq!(cancel.code(), Some("BOOKING_CLOSED"));
    let b = app.gql(Some(&token), BOOKING, json!({ "id": id })).await;
    assert_eq!(b.data()["booking"]["status"], "CONFIRMED");
    assert_eq!(seats_available(&app, &perf.id).await, 9);
}

#[tokio::test]
async fn a_booking_cannot_be_cancelled_twice() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 2).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    app.gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await
        .data();
    let again = app
        .gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await;
    assert_eq!(again.code(), Some("CONFLICT"));
    assert_eq!(seats_available(&app, &perf.id).await, 10);
}

#[tokio::test]
async fn only_host_schedulers_read_the_bookings_of_a_performance() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let jinshan_admin = app.admin("jinshan").await;
    let scheduler = app
        .staff(&admin, "scheduler@pinghu.example", "SCHEDULER")
        .await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let resident = app
        .resident("owner@residents.example", &world.jinshan)
        .await;
    let r = book_quantity(&app, &resident, &perf.id, 2).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();

    let list = "query($p: ID!) { performanceBookings(performanceId: $p) { totalCount \
                edges { node { id holder { email } tickets { code } } } } }";
    let r = app
        .gql(Some(&scheduler), list, json!({ "p": perf.id }))
        .await;
    let connection = &r.data()["performanceBookings"];
    assert_eq!(connection["totalCount"], 1);
    assert_eq!(connection["edges"][0]["node"]["id"], id.as_str());
    assert_eq!(
        connection["edges"][0]["node"]["holder"]["email"],
        "o***@residents.example"
    );
    let read = app
        .gql(Some(&scheduler), BOOKING, json!({ "id": id }))
        .await;
    assert_eq!(read.data()["booking"]["id"], id.as_str());

    for token in [&usher, &jinshan_admin, &resident] {
        let r = app.gql(Some(token), list, json!({ "p": perf.id })).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    let read = app
        .gql(Some(&jinshan_admin), BOOKING, json!({ "id": id }))
        .await;
    assert_eq!(read.code(), Some("NOT_FOUND"));
}

// ---------------------------------------------------------------------------------------
// Check-in
// ---------------------------------------------------------------------------------------

/// A published Pinghu performance starting within the check-in window (in one hour).
async fn tonight(app: &TestApp, admin: &str, extra: Value) -> Show {
    let mut input = json!({
        "startsAt": in_(Duration::hours(1)),
        "endsAt": in_(Duration::hours(3)),
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            input.insert(k.clone(), v.clone());
        }
    }
    let rows = grid(2, 10);
    show(app, admin, Layout::Rows(&rows), input).await
}

#[tokio::test]
async fn a_pinghu_usher_checks_in_a_ticket_once() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 2).await;
    let booking_id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    let codes = ticket_codes(&r);

    let before = Utc::now();
    let first = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": codes[0] }))
        .await;
    let ticket = &first.data()["checkInTicket"];
    assert_eq!(ticket["status"], "CHECKED_IN");
    assert_eq!(ticket["code"], codes[0].as_str());
    let checked_in_at = instant(ticket["checkedInAt"].as_str().expect("checkedInAt set"));
    assert!(checked_in_at >= before - Duration::seconds(1));
    assert!(checked_in_at <= Utc::now() + Duration::seconds(1));

    let second = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": codes[0] }))
        .await;
    assert_eq!(second.code(), Some("ALREADY_CHECKED_IN"));
    let reported = second.error()["extensions"]["checkedInAt"]
        .as_str()
        .unwrap_or_else(|| panic!("extensions.checkedInAt: {}", second.body));
    assert_eq!(instant(reported), checked_in_at);

    // The holder sees it; the other ticket stays valid.
    let b = app
        .gql(Some(&token), BOOKING, json!({ "id": booking_id }))
        .await;
    let tickets = b.data()["booking"]["tickets"].as_array().expect("tickets");
    let by_code: HashMap<&str, &Value> = tickets
        .iter()
        .map(|t| (t["code"].as_str().expect("code"), t))
        .collect();
    assert_eq!(by_code[codes[0].as_str()]["status"], "CHECKED_IN");
    assert_eq!(by_code[codes[1].as_str()]["status"], "VALID");
    assert!(by_code[codes[1].as_str()]["checkedInAt"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_is_never_both_checked_in_and_cancelled() {
    // The holder cancels while an usher scans, 20 times over two instances: one of them
    // wins each time, and the seat of a checked-in ticket is never given back.
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let usher = a.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&a, &admin, json!({})).await;
    let tokens = a.residents_fast(20, "pinghu").await;
    let mut outcomes = HashMap::new();
    for token in &tokens {
        let r = book_quantity(&a, token, &perf.id, 1).await;
        let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
        let code = ticket_codes(&r).remove(0);
        let (cancelled, scanned) = tokio::join!(
            b.gql(Some(token), CANCEL_BOOKING, json!({ "id": id })),
            a.gql(Some(&usher), CHECK_IN, json!({ "c": code })),
        );
        let cancelled_ok = cancelled.body.get("errors").is_none();
        let scanned_ok = scanned.body.get("errors").is_none();
        assert!(
            cancelled_ok != scanned_ok,
            "exactly one may win: {} / {}",
            cancelled.body,
            scanned.body
        );
        if scanned_ok {
            assert_eq!(cancelled.code(), Some("CONFLICT"), "{}", cancelled.body);
        } else {
            assert_eq!(scanned.code(), Some("CONFLICT"), "{}", scanned.body);
        }
        *outcomes.entry(scanned_ok).or_insert(0) += 1;
    }
    // Every checked-in ticket still holds its seat; every cancelled one gave it back.
    let live = live_tickets(&a, &perf.id).await;
    assert_eq!(live.len(), outcomes.get(&true).copied().unwrap_or(0));
    assert!(
        live.iter()
            .all(|t| t.status == entity::enums::TicketStatus::CheckedIn)
    );
    assert_eq!(
        seats_available(&b, &perf.id).await,
        20 - live.len() as i64,
        "outcomes: {outcomes:?}"
    );
}

#[tokio::test]
async fn a_typed_code_in_lower_case_without_dashes_checks_in() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);
    let typed = code.to_lowercase().replace('-', " ");
    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": typed })).await;
    assert_eq!(r.data()["checkInTicket"]["code"], code.as_str());
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

#[tokio::test]
async fn an_usher_of_another_center_finds_no_such_ticket() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let jinshan_admin = app.admin("jinshan").await;
    let jinshan_usher = app
        .staff(&jinshan_admin, "usher@jinshan.example", "USHER")
        .await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "jinshan").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    let r = app
        .gql(Some(&jinshan_usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = app
        .gql(Some(&jinshan_usher), TICKET, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = app
        .gql(Some(&jinshan_admin), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let tickets = live_tickets(&app, &perf.id).await;
    assert_eq!(tickets[0].status, entity::enums::TicketStatus::Valid);
}

#[tokio::test]
async fn an_unknown_code_is_not_found() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let r = app
        .gql(
            Some(&usher),
            CHECK_IN,
            json!({ "c": zouqin::domain::booking::ticket_code() }),
        )
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_cancelled_ticket_cannot_be_checked_in() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 1).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    let code = ticket_codes(&r).remove(0);
    app.gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await
        .data();

    let scan = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(scan.code(), Some("CONFLICT"));
    let lookup = app.gql(Some(&usher), TICKET, json!({ "c": code })).await;
    assert_eq!(lookup.data()["ticket"]["status"], "CANCELLED");
    assert!(lookup.data()["ticket"]["checkedInAt"].is_null());
}

#[tokio::test]
async fn host_staff_look_tickets_up_by_code_but_residents_may_not() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let scheduler = app
        .staff(&admin, "scheduler@pinghu.example", "SCHEDULER")
        .await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    for staff in [&usher, &scheduler, &admin] {
        let r = app.gql(Some(staff), TICKET, json!({ "c": code })).await;
        let ticket = &r.data()["ticket"];
        assert_eq!(ticket["code"], code.as_str());
        assert_eq!(ticket["status"], "VALID");
        assert_eq!(ticket["performance"]["id"], perf.id.as_str());
    }
    let r = app.gql(Some(&token), TICKET, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"));
    let r = app.gql(Some(&token), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"));
    let r = app.anon(TICKET, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        live_tickets(&app, &perf.id).await[0].status,
        entity::enums::TicketStatus::Valid
    );
}

#[tokio::test]
async fn check_in_is_refused_for_a_performance_two_days_away() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let lookup = app.gql(Some(&usher), TICKET, json!({ "c": code })).await;
    assert_eq!(lookup.data()["ticket"]["status"], "VALID");
}

#[tokio::test]
async fn check_in_opens_at_the_configured_number_of_minutes_before_the_start() {
    let app = spawn().await;
    let mut narrow = settings();
    narrow.checkin_opens_minutes = 30;
    let strict = spawn_on(&app.database_url, narrow).await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    // Starts in an hour: outside a 30-minute window, inside the default 180-minute one.
    let r = strict
        .gql(Some(&usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_scanning_one_ticket_at_once_admit_it_once() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let ushers = [
        a.staff(&admin, "usher1@pinghu.example", "USHER").await,
        a.staff(&admin, "usher2@pinghu.example", "USHER").await,
    ];
    let perf = tonight(&a, &admin, json!({ "perResidentLimit": 10 })).await;
    let token = a.residents_fast(1, "pinghu").await.remove(0);
    let codes = ticket_codes(&book_quantity(&a, &token, &perf.id, 8).await);
    assert_eq!(codes.len(), 8);

    // Every ticket is scanned at the same moment at two doors, one on each instance.
    let scans = join_all(codes.iter().flat_map(|code| {
        [(&a, &ushers[0]), (&b, &ushers[1])]
            .into_iter()
            .map(move |(app, usher)| async move {
                (
                    code.clone(),
                    app.gql(Some(usher), CHECK_IN, json!({ "c": code })).await,
                )
            })
    }))
    .await;

    for code in &codes {
        let answers: Vec<&Gql> = scans
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(answers.len(), 2);
        let admitted: Vec<&&Gql> = answers
            .iter()
            .filter(|r| r.body.get("errors").is_none())
            .collect();
        assert_eq!(
            admitted.len(),
            1,
            "exactly one scan admits {code}: {answers:?}"
        );
        let refused: Vec<&&Gql> = answers
            .iter()
            .filter(|r| r.body.get("errors").is_some())
            .collect();
        assert_eq!(
            refused[0].code(),
            Some("ALREADY_CHECKED_IN"),
            "{}",
            refused[0].body
        );
        let at_admission = instant(
            admitted[0].data()["checkInTicket"]["checkedInAt"]
                .as_str()
                .expect("checkedInAt"),
        );
        let reported = instant(
            refused[0].error()["extensions"]["checkedInAt"]
                .as_str()
                .expect("extensions.checkedInAt"),
        );
        assert_eq!(reported, at_admission);
    }
    let tickets = live_tickets(&a, &perf.id).await;
    assert!(
        tickets.iter().all(
            |t| t.status == entity::enums::TicketStatus::CheckedIn && t.checked_in_at.is_some()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Live availability over WebSocket
// ---------------------------------------------------------------------------------------

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WS_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// A `graphql-transport-ws` (or legacy `graphql-ws`) client.
pub(crate) struct Ws {
    stream: WsStream,
    legacy: bool,
    /// One deadline for every message still to come (see [`Ws::all_within`]).
    overall: Option<tokio::time::Instant>,
}

impl Ws {
    pub(crate) async fn connect(app: &TestApp, token: Option<&str>, protocol: &'static str) -> Ws {
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (stream, response) =
            tokio::time::timeout(WS_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .expect("WebSocket handshake in time")
                .expect("WebSocket handshake");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        let mut ws = Ws {
            overall: None,
            stream,
            legacy: protocol == "graphql-ws",
        };
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = ws.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// From now on, every message must arrive within `limit` of now, together.
    fn all_within(&mut self, limit: StdDuration) {
        self.overall = Some(tokio::time::Instant::now() + limit);
    }

    /// The next protocol message (answering pings on the way), or a panic after the timeout
    /// (or the overall deadline, when one is set).
    async fn next(&mut self) -> Value {
        let mut deadline = tokio::time::Instant::now() + WS_TIMEOUT;
        if let Some(overall) = self.overall {
            deadline = deadline.min(overall);
        }
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a WebSocket message in time")
                .expect("the WebSocket stays open")
                .expect("a WebSocket message");
            let text = match message {
                Message::Text(text) => text.to_string(),
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(frame) => panic!("the server closed the WebSocket: {frame:?}"),
                other => panic!("unexpected WebSocket message: {other:?}"),
            };
            let value: Value = serde_json::from_str(&text).expect("JSON message");
            match value["type"].as_str() {
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                Some("pong") | Some("ka") => {}
                _ => return value,
            }
        }
    }

    /// Subscribes to `seatAvailability` and waits until the server listens for events.
    pub(crate) async fn subscribe(&mut self, app: &TestApp, id: &str, performance: &str) {
        let listening = app.subscribers().await;
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({
            "id": id,
            "type": kind,
            "payload": { "query": SUBSCRIPTION, "variables": { "p": performance } },
        }))
        .await;
        let deadline = tokio::time::Instant::now() + WS_TIMEOUT;
        while app.subscribers().await <= listening {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the subscription never started listening"
            );
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }

    /// The next `seatAvailability` update of subscription `id`.
    pub(crate) async fn update(&mut self, id: &str) -> Value {
        let message = self.next().await;
        let data = if self.legacy { "data" } else { "next" };
        assert_eq!(message["type"], data, "{message}");
        assert_eq!(message["id"], id);
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["seatAvailability"].clone()
    }
}

fn seat_states(update: &Value) -> HashMap<String, String> {
    update["changedSeats"]
        .as_array()
        .expect("changedSeats")
        .iter()
        .map(|s| {
            (
                s["seat"]["id"].as_str().expect("seat id").to_owned(),
                s["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

/// Subscribes on `watcher`, books, cancels the booking and then the performance on `actor`,
/// and checks each update the subscriber receives.
async fn availability_reaches_the_subscriber(watcher: &TestApp, actor: &TestApp) {
    let admin = actor.admin("pinghu").await;
    let rows = grid(2, 10);
    let perf = show(actor, &admin, Layout::Rows(&rows), json!({})).await;
    let token = actor.residents_fast(1, "pinghu").await.remove(0);
    let mut ws = Ws::connect(watcher, Some(&token), "graphql-transport-ws").await;
    ws.subscribe(watcher, "1", &perf.id).await;

    // A booking.
    let wanted = [perf.seats[7].id.as_str(), perf.seats[8].id.as_str()];
    let booked = book_seats(actor, &token, &perf.id, &wanted).await;
    let booking_id = booked.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let update = ws.update("1").await;
    assert_eq!(update["performanceId"], perf.id.as_str());
    assert_eq!(update["seatsAvailable"], 18);
    let states = seat_states(&update);
    for seat in wanted {
        assert_eq!(
            states.get(seat).map(String::as_str),
            Some("TAKEN"),
            "{update}"
        );
    }

    // A booking cancellation.
    actor
        .gql(Some(&token), CANCEL_BOOKING, json!({ "id": booking_id }))
        .await
        .data();
    let update = ws.update("1").await;
    assert_eq!(update["seatsAvailable"], 20);
    let states = seat_states(&update);
    for seat in wanted {
        assert_eq!(
            states.get(seat).map(String::as_str),
            Some("AVAILABLE"),
            "{update}"
        );
    }

    // A performance cancellation: nothing is left.
    book_quantity(actor, &token, &perf.id, 1).await.data();
    let update = ws.update("1").await;
    assert_eq!(update["seatsAvailable"], 19);
    actor
        .gql(
            Some(&admin),
            CANCEL_PERFORMANCE,
            json!({ "id": perf.id, "r": "the river flooded" }),
        )
        .await
        .data();
    let update = ws.update("1").await;
    assert_eq!(update["performanceId"], perf.id.as_str());
    assert_eq!(update["seatsAvailable"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_sees_bookings_and_cancellations_on_its_own_instance() {
    let app = spawn().await;
    availability_reaches_the_subscriber(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_on_one_instance_sees_bookings_made_on_another_on_postgres() {
    if postgres_or_skip("a_subscriber_on_one_instance_sees_bookings_made_on_another_on_postgres")
        .is_none()
    {
        return;
    }
    let (a, b) = spawn_pair().await;
    availability_reaches_the_subscriber(&b, &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_sees_every_booking_of_a_concurrent_burst() {
    let (a, b, _, perf, residents) = rush_setup(&grid(2, 10), 10).await;
    let mut ws = Ws::connect(&a, None, "graphql-transport-ws").await;
    ws.subscribe(&a, "burst", &perf.id).await;
    // Without PostgreSQL, events reach only the instance that made them.
    let cross = postgres_base().is_some();

    let results = join_all(residents.iter().enumerate().map(|(i, token)| {
        let app = if cross && i % 2 == 1 { &b } else { &a };
        book_quantity(app, token, &perf.id, 2)
    }))
    .await;
    let mut sold = HashSet::new();
    for r in &results {
        sold.extend(booked_seats(r));
    }
    assert_eq!(sold.len(), 20);

    // Ten updates, all within one bound (not ten seconds each).
    ws.all_within(WS_TIMEOUT);
    let mut seen = HashSet::new();
    let mut lowest = i64::MAX;
    for _ in 0..10 {
        let update = ws.update("burst").await;
        lowest = lowest.min(update["seatsAvailable"].as_i64().expect("count"));
        for (seat, state) in seat_states(&update) {
            assert_eq!(state, "TAKEN");
            seen.insert(seat);
        }
    }
    assert_eq!(seen, sold, "every booked seat was reported taken");
    assert_eq!(lowest, 0);
}

#[tokio::test]
async fn a_check_in_sends_no_availability_update() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    let mut ws = Ws::connect(&app, Some(&tokens[0]), "graphql-transport-ws").await;
    ws.subscribe(&app, "door", &perf.id).await;
    let admitted = book_quantity(&app, &tokens[0], &perf.id, 2).await;
    assert_eq!(ws.update("door").await["seatsAvailable"], 18);
    let leaving = book_quantity(&app, &tokens[1], &perf.id, 3).await;
    assert_eq!(ws.update("door").await["seatsAvailable"], 15);
    for code in ticket_codes(&admitted) {
        let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
        assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
    }
    // The next update the subscriber gets is the cancellation's: the check-ins sent none.
    let id = leaving.data()["bookSeats"]["id"].as_str().expect("id");
    app.gql(Some(&tokens[1]), CANCEL_BOOKING, json!({ "id": id }))
        .await
        .data();
    let update = ws.update("door").await;
    assert_eq!(update["seatsAvailable"], 18, "{update}");
    let freed = seat_states(&update);
    assert_eq!(freed.len(), 3, "{update}");
    assert!(freed.values().all(|state| state == "AVAILABLE"), "{update}");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_also_streams_availability() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::General(50), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let mut ws = Ws::connect(&app, Some(&token), "graphql-ws").await;
    ws.subscribe(&app, "7", &perf.id).await;
    book_quantity(&app, &token, &perf.id, 3).await.data();
    let update = ws.update("7").await;
    assert_eq!(update["performanceId"], perf.id.as_str());
    assert_eq!(update["seatsAvailable"], 47);
    assert_eq!(update["changedSeats"], json!([]));
}

#[tokio::test]
async fn subscribing_to_a_draft_is_not_found() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 5);
    let draft = show_with(&app, &admin, Layout::Rows(&rows), json!({}), false).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let mut ws = Ws::connect(&app, Some(&token), "graphql-transport-ws").await;
    ws.send(json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": SUBSCRIPTION, "variables": { "p": draft.id } },
    }))
    .await;
    let message = ws.next().await;
    // Either a protocol `error` or a `next` whose payload carries the GraphQL error.
    let code = match message["type"].as_str() {
        Some("error") => &message["payload"][0]["extensions"]["code"],
        Some("next") => {
            assert!(message["payload"]["data"].is_null(), "{message}");
            &message["payload"]["errors"][0]["extensions"]["code"]
        }
        _ => panic!("unexpected answer: {message}"),
    };
    assert_eq!(code, "NOT_FOUND", "{message}");
}

#[tokio::test]
async fn a_bad_token_in_connection_init_is_refused() {
    let app = spawn().await;
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    stream
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged" } })
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let answer = tokio::time::timeout(WS_TIMEOUT, stream.next())
        .await
        .expect("an answer in time");
    match answer {
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(Message::Text(text))) => {
            let value: Value = serde_json::from_str(text.as_str()).expect("json");
            assert_ne!(
                value["type"], "connection_ack",
                "a forged token was accepted"
            );
        }
        Some(Ok(other)) => panic!("unexpected message: {other:?}"),
    }
}

#[tokio::test]
async fn the_best_block_is_found_past_the_first_read_of_a_large_fragmented_hall() {
    // 3 rows of 400 seats: the free-seat search reads 600 seats at a time, so a block that
    // only exists in row C (seats 801..1200 in preference order) needs a second read.
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let world = app.world().await;
    let rows = grid(3, 400);
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&rows),
        json!({ "perResidentLimit": 100 }),
    )
    .await;
    // Take every other seat of rows A and B: no two adjacent seats are left there.
    let odd: Vec<&str> = perf.seats[..800]
        .iter()
        .filter(|s| s.number % 2 == 1)
        .map(|s| s.id.as_str())
        .collect();
    for (i, chunk) in odd.chunks(100).enumerate() {
        let token = app
            .resident(&format!("fragmenter{i}@residents.example"), &world.pinghu)
            .await;
        let r = book_seats(&app, &token, &perf.id, chunk).await;
        r.data();
    }
    let token = app.resident("pair@residents.example", &world.pinghu).await;
    let r = book_quantity(&app, &token, &perf.id, 2).await;
    assert_eq!(r.data()["bookSeats"]["seatsTogether"], true);
    let got = booked_places(&r.data()["bookSeats"]);
    // The middle pair that strands no seat: 199-200 leaves runs of 198 and 200.
    assert_eq!(got, vec![("C".to_owned(), 199), ("C".to_owned(), 200)]);
}

/// Reads a QR drawn as `Ticket.qrSvg` draws it (one `M x y h w v w H x V y` square per dark
/// module) back into its text, with a QR decoder of its own.
fn decode_qr_svg(svg: &str) -> String {
    let number = |name: &str| -> usize {
        let at = svg.find(&format!("{name}=\"")).expect("a size") + name.len() + 2;
        svg[at..]
            .split('"')
            .next()
            .expect("digits")
            .parse()
            .expect("a number")
    };
    let (width, height) = (number("width"), number("height"));
    let mut pixels = vec![255u8; width * height];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .expect("a path")
        .split('"')
        .next()
        .expect("d");
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let (xy, rest) = square.split_once('h').expect("h");
        let (x, y) = xy.split_once(' ').expect("x y");
        let (x, y): (usize, usize) = (x.parse().expect("x"), y.parse().expect("y"));
        let side: usize = rest.split('v').next().expect("side").parse().expect("side");
        for row in y..y + side {
            for col in x..x + side {
                pixels[row * width + col] = 0;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the drawing");
    grids[0].decode().expect("a readable QR").1
}

#[tokio::test]
async fn a_tickets_qr_svg_reads_back_as_its_code_for_its_holder() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 6);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    book_quantity(&app, &tokens[0], &perf.id, 2).await.data();
    let r = app
        .gql(
            Some(&tokens[0]),
            "{ myBookings { nodes { tickets { code qrSvg } } } }",
            json!({}),
        )
        .await;
    let tickets = r.data()["myBookings"]["nodes"][0]["tickets"]
        .as_array()
        .expect("tickets")
        .clone();
    assert_eq!(tickets.len(), 2);
    for ticket in &tickets {
        let svg = ticket["qrSvg"].as_str().expect("markup");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "inline SVG, no XML prolog"
        );
        assert!(!svg.contains("<script"), "nothing but a drawing");
        assert_eq!(decode_qr_svg(svg), ticket["code"].as_str().expect("code"));
    }
    assert_ne!(tickets[0]["qrSvg"], tickets[1]["qrSvg"]);
}

//! Booking, check-in and live availability (see ../shared/design/API.md and DOMAIN.md).
//!
//! Every concurrency test fires real HTTP requests at once, spread over the two instances of
//! `spawn_pair()` (one database), and then checks the invariants both through GraphQL and
//! straight in the database.

use std::collections::HashMap;
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

mod access;
mod best_seats;
mod cancelling;
mod check_in;
mod live;
mod races;

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

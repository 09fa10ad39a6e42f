//! Live availability over WebSocket: what a subscriber to `seatAvailability` receives.

use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::*;

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

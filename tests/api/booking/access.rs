//! Who may book what, and when: roles, drafts, the booking window and bad input.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use serde_json::json;

use super::*;

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

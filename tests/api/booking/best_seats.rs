//! Best seats together: where a group is seated, and what a cancellation gives back.

use std::collections::HashSet;

use serde_json::json;

use super::*;

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

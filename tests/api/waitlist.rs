//! The waiting list (API.md "Rules of the exchange": The waiting list), through the API:
//! joining, offers of particular HELD seats made as seats come free, accept / decline /
//! leave, expiry on whichever instance is up, and the invariants under concurrency.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use futures::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};

use crate::booking::{
    CANCEL_BOOKING, Layout, Show, book_quantity, grid, live_tickets, outcome, row_id,
    seats_available, show, tally,
};
use crate::helpers::*;

const JOIN: &str = "mutation($p: ID!, $q: Int!) { joinWaitlist(input: { performanceId: $p, quantity: $q }) \
     { id status quantity position offerExpiresAt offeredSeats { id } } }";
const ENTRY: &str = "query($id: ID!) { node(id: $id) { ... on WaitlistEntry { id status quantity \
     position offerExpiresAt offeredSeats { id } booking { id } } } }";
const ACCEPT: &str = "mutation($id: ID!) { acceptWaitlistOffer(id: $id) { id status \
     tickets { seat { id } } } }";
const DECLINE: &str = "mutation($id: ID!) { declineWaitlistOffer(id: $id) { id status } }";
const LEAVE: &str = "mutation($id: ID!) { leaveWaitlist(id: $id) { id status } }";
const PERF: &str = "query($id: ID!) { performance(id: $id) { seatsAvailable waitlistLength \
     bookingClosesAt viewerWaitlistEntry { id status } seatMap { seat { id } state } } }";

/// Joins; returns the entry id (panics on an error).
async fn join(app: &TestApp, token: &str, perf: &str, quantity: i64) -> String {
    let r = app
        .gql(Some(token), JOIN, json!({ "p": perf, "q": quantity }))
        .await;
    r.data()["joinWaitlist"]["id"]
        .as_str()
        .expect("entry id")
        .to_owned()
}

async fn entry(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(Some(token), ENTRY, json!({ "id": id }))
        .await
        .data()["node"]
        .clone()
}

fn booking_id(r: &Gql) -> String {
    r.data()["bookSeats"]["id"]
        .as_str()
        .expect("booking id")
        .to_owned()
}

/// Seat ids by state, from the seat map.
async fn seat_states(app: &TestApp, perf: &str) -> HashMap<String, Vec<String>> {
    let r = app.anon(PERF, json!({ "id": perf })).await;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for s in r.data()["performance"]["seatMap"]
        .as_array()
        .expect("seat map")
    {
        out.entry(s["state"].as_str().expect("state").to_owned())
            .or_default()
            .push(s["seat"]["id"].as_str().expect("seat id").to_owned());
    }
    out
}

/// Straight in the database: no inventory row both sold and held, every held row's entry
/// OFFERED and holding exactly its quantity, and the seat-pool counters equal to live
/// tickets plus held seats.
async fn check_holds(app: &TestApp, perf: &str) -> HashMap<i64, usize> {
    let perf_id = row_id(zouqin::ids::Kind::Performance, perf);
    let rows = entity::inventory::Entity::find()
        .filter(entity::inventory::Column::PerformanceId.eq(perf_id))
        .all(&app.db.conn)
        .await
        .expect("inventory");
    assert!(
        rows.iter()
            .all(|r| r.booking_id.is_none() || r.held_by.is_none()),
        "a seat is both sold and held"
    );
    let mut held: HashMap<i64, usize> = HashMap::new();
    for r in rows.iter().filter_map(|r| r.held_by) {
        *held.entry(r).or_default() += 1;
    }
    let entries = entity::waitlist_entry::Entity::find()
        .filter(entity::waitlist_entry::Column::PerformanceId.eq(perf_id))
        .all(&app.db.conn)
        .await
        .expect("entries");
    for e in &entries {
        let holds = held.get(&e.id).copied().unwrap_or(0);
        if e.status == entity::enums::WaitlistStatus::Offered {
            assert_eq!(
                holds, e.quantity as usize,
                "an offer holds its party's seats"
            );
        } else {
            assert_eq!(holds, 0, "only an open offer holds seats");
        }
    }
    let booked: i64 = entity::seat_pool::Entity::find()
        .filter(entity::seat_pool::Column::PerformanceId.eq(perf_id))
        .all(&app.db.conn)
        .await
        .expect("pools")
        .iter()
        .map(|p| i64::from(p.booked))
        .sum();
    let tickets = live_tickets(app, perf).await.len();
    assert_eq!(
        booked as usize,
        tickets + held.values().sum::<usize>(),
        "the pools count live tickets and held seats"
    );
    held
}

/// Makes every open offer of the performance due now (time moved by rewriting rows).
async fn offers_run_out(app: &TestApp, perf: &str) {
    let perf_id = row_id(zouqin::ids::Kind::Performance, perf);
    let past = Utc::now() - Duration::seconds(1);
    app.db
        .conn
        .execute_raw(Statement::from_sql_and_values(
            app.db.conn.get_database_backend(),
            "UPDATE waitlist_entry SET offer_expires_at = $1 \
             WHERE performance_id = $2 AND status = 'OFFERED'",
            [past.into(), perf_id.into()],
        ))
        .await
        .expect("rewrite offers");
}

/// A sold-out performance of `seats` seats in one row, sold in pairs to fresh residents;
/// returns it with each pair's (token, booking id).
async fn sold_out(
    app: &TestApp,
    seats: i64,
    extra: Value,
) -> (String, Show, Vec<(String, String)>) {
    let admin = app.admin("pinghu").await;
    let perf = show(app, &admin, Layout::Rows(&[("A", seats)]), extra).await;
    let holders = app.residents_fast((seats / 2) as usize, "pinghu").await;
    let mut bookings = Vec::new();
    for token in holders {
        let r = book_quantity(app, &token, &perf.id, 2).await;
        bookings.push((token, booking_id(&r)));
    }
    assert_eq!(seats_available(app, &perf.id).await, 0);
    (admin, perf, bookings)
}

// ---------------------------------------------------------------------------------------
// The rules, one instance (both databases)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_freed_pair_is_offered_held_and_accepted_as_exactly_those_seats() {
    let app = spawn().await;
    let (_, perf, bookings) = sold_out(&app, 4, json!({})).await;
    let waiting = app.residents_fast(2, "jinshan").await;
    let refused = book_quantity(&app, &waiting[0], &perf.id, 2).await;
    assert_eq!(refused.code(), Some("SOLD_OUT"));
    let first = join(&app, &waiting[0], &perf.id, 2).await;
    let second = join(&app, &waiting[1], &perf.id, 2).await;
    let e = entry(&app, &waiting[1], &second).await;
    assert_eq!(
        (e["status"].as_str(), e["position"].as_i64()),
        (Some("WAITING"), Some(2))
    );
    let again = app
        .gql(Some(&waiting[0]), JOIN, json!({ "p": perf.id, "q": 1 }))
        .await;
    assert_eq!(
        again.code(),
        Some("CONFLICT"),
        "one live entry per resident"
    );

    let c = app
        .gql(
            Some(&bookings[0].0),
            CANCEL_BOOKING,
            json!({ "id": bookings[0].1 }),
        )
        .await;
    assert_eq!(c.data()["cancelBooking"]["status"], "CANCELLED");
    let offered = entry(&app, &waiting[0], &first).await;
    assert_eq!(offered["status"], "OFFERED");
    let seats: HashSet<String> = offered["offeredSeats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(seats.len(), 2);
    let states = seat_states(&app, &perf.id).await;
    let held: HashSet<String> = states["HELD"].iter().cloned().collect();
    assert_eq!(held, seats, "the offered seats show HELD");
    assert_eq!(seats_available(&app, &perf.id).await, 0);
    assert_eq!(entry(&app, &waiting[1], &second).await["position"], 1);
    // Nobody else books the held seats, even by naming them.
    let intruder = app.residents_fast(1, "pinghu").await;
    let named: Vec<&str> = seats.iter().map(String::as_str).collect();
    let r = app
        .gql(
            Some(&intruder[0]),
            crate::booking::BOOK,
            json!({ "i": { "performanceId": perf.id, "seatIds": named } }),
        )
        .await;
    assert!(
        ["SOLD_OUT", "SEAT_UNAVAILABLE"].contains(&r.code().unwrap_or("")),
        "{}",
        r.body
    );
    check_holds(&app, &perf.id).await;

    let accepted = app
        .gql(Some(&waiting[0]), ACCEPT, json!({ "id": first }))
        .await;
    let booked: HashSet<String> = accepted.data()["acceptWaitlistOffer"]["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["seat"]["id"].as_str().expect("seat").to_owned())
        .collect();
    assert_eq!(booked, seats, "accepting books exactly the held seats");
    // The offer was told, in the transaction that made it, about exactly this entry.
    let notes = app
        .gql(
            Some(&waiting[0]),
            "{ myNotifications(first: 10) { edges { node { kind waitlistEntry { id } } } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<(String, Value)> = notes.data()["myNotifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["kind"].as_str().expect("kind").to_owned(),
                e["node"]["waitlistEntry"]["id"].clone(),
            )
        })
        .collect();
    assert_eq!(kinds, vec![("WAITLIST_OFFER".to_owned(), json!(first))]);
    let done = entry(&app, &waiting[0], &first).await;
    assert_eq!(done["status"], "BOOKED");
    assert!(done["booking"]["id"].is_string());
    let twice = app
        .gql(Some(&waiting[0]), ACCEPT, json!({ "id": first }))
        .await;
    assert_eq!(twice.code(), Some("CONFLICT"));
    check_holds(&app, &perf.id).await;
    // Another resident's entry is nobody else's business.
    let other = app
        .gql(Some(&waiting[0]), ENTRY, json!({ "id": second }))
        .await;
    assert_eq!(other.code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_declined_offer_passes_its_seats_to_the_next_entry_and_leaving_ends_an_entry() {
    let app = spawn().await;
    let (_, perf, bookings) = sold_out(&app, 4, json!({})).await;
    let waiting = app.residents_fast(3, "jiashan").await;
    let ids = [
        join(&app, &waiting[0], &perf.id, 2).await,
        join(&app, &waiting[1], &perf.id, 2).await,
        join(&app, &waiting[2], &perf.id, 2).await,
    ];
    let decline_early = app
        .gql(Some(&waiting[0]), DECLINE, json!({ "id": ids[0] }))
        .await;
    assert_eq!(
        decline_early.code(),
        Some("CONFLICT"),
        "nothing to decline yet"
    );
    let left = app
        .gql(Some(&waiting[2]), LEAVE, json!({ "id": ids[2] }))
        .await;
    assert_eq!(left.data()["leaveWaitlist"]["status"], "LEFT");
    app.gql(
        Some(&bookings[1].0),
        CANCEL_BOOKING,
        json!({ "id": bookings[1].1 }),
    )
    .await
    .data();
    assert_eq!(entry(&app, &waiting[0], &ids[0]).await["status"], "OFFERED");
    let d = app
        .gql(Some(&waiting[0]), DECLINE, json!({ "id": ids[0] }))
        .await;
    assert_eq!(d.data()["declineWaitlistOffer"]["status"], "DECLINED");
    let next = entry(&app, &waiting[1], &ids[1]).await;
    assert_eq!(next["status"], "OFFERED");
    assert_eq!(next["offeredSeats"].as_array().expect("seats").len(), 2);
    assert_eq!(seats_available(&app, &perf.id).await, 0);
    // Leaving with an open offer passes it on too: nobody waits, so the seats are free.
    let l = app
        .gql(Some(&waiting[1]), LEAVE, json!({ "id": ids[1] }))
        .await;
    assert_eq!(l.data()["leaveWaitlist"]["status"], "LEFT");
    assert_eq!(seats_available(&app, &perf.id).await, 2);
    check_holds(&app, &perf.id).await;
}

#[tokio::test]
async fn while_residents_wait_the_public_books_nothing_and_joining_needs_a_reason() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::Rows(&[("A", 4)]), json!({})).await;
    let r = app.residents_fast(4, "pinghu").await;
    let early = app
        .gql(Some(&r[1]), JOIN, json!({ "p": perf.id, "q": 2 }))
        .await;
    assert_eq!(
        early.code(),
        Some("CONFLICT"),
        "seats can be booked now: no waiting"
    );
    let first = book_quantity(&app, &r[0], &perf.id, 3).await;
    let first_id = booking_id(&first);
    let too_many = app
        .gql(Some(&r[1]), JOIN, json!({ "p": perf.id, "q": 5 }))
        .await;
    assert_eq!(too_many.code(), Some("LIMIT_EXCEEDED"));
    let entry_id = join(&app, &r[1], &perf.id, 2).await;
    // One seat is free, but an entry waits: it is not the public's.
    let r2 = book_quantity(&app, &r[2], &perf.id, 1).await;
    assert_eq!(r2.code(), Some("SOLD_OUT"), "{}", r2.body);
    let staff = app
        .gql(Some(&admin), JOIN, json!({ "p": perf.id, "q": 1 }))
        .await;
    assert!(staff.code().is_some(), "staff do not join");
    app.gql(Some(&r[0]), CANCEL_BOOKING, json!({ "id": first_id }))
        .await
        .data();
    assert_eq!(entry(&app, &r[1], &entry_id).await["status"], "OFFERED");
    // Nobody waits any more: the two seats left are the public's again.
    assert_eq!(seats_available(&app, &perf.id).await, 2);
    assert_eq!(
        outcome(&book_quantity(&app, &r[3], &perf.id, 2).await),
        "CONFIRMED"
    );
    check_holds(&app, &perf.id).await;
}

/// A party of 4 behind which pairs are served: after two passes (the setting), freed seats
/// gather for it, and it is served before the pairs behind it.
#[tokio::test]
async fn a_large_party_passed_over_twice_is_served_next() {
    let mut settings = settings();
    settings.waitlist.max_passes = 2;
    let app = spawn_with_settings(settings).await;
    let (_, perf, bookings) = sold_out(&app, 8, json!({})).await;
    let party = app.residents_fast(1, "jinshan").await;
    let pairs = app.residents_fast(4, "jinshan").await;
    let party_entry = join(&app, &party[0], &perf.id, 4).await;
    let mut pair_entries = Vec::new();
    for token in &pairs {
        pair_entries.push(join(&app, token, &perf.id, 2).await);
    }
    let cancel = |i: usize| {
        let (token, id) = bookings[i].clone();
        let app = &app;
        async move {
            app.gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
                .await
                .data();
        }
    };
    cancel(0).await;
    cancel(1).await;
    assert_eq!(
        entry(&app, &pairs[0], &pair_entries[0]).await["status"],
        "OFFERED"
    );
    assert_eq!(
        entry(&app, &pairs[1], &pair_entries[1]).await["status"],
        "OFFERED"
    );
    assert_eq!(
        entry(&app, &party[0], &party_entry).await["status"],
        "WAITING"
    );
    // Passed over twice: the next freed pair waits for the party instead of going to pair 3.
    cancel(2).await;
    assert_eq!(
        entry(&app, &pairs[2], &pair_entries[2]).await["status"],
        "WAITING"
    );
    assert_eq!(
        seats_available(&app, &perf.id).await,
        2,
        "free, but the list's"
    );
    let public = app.residents_fast(1, "pinghu").await;
    assert_eq!(
        book_quantity(&app, &public[0], &perf.id, 2).await.code(),
        Some("SOLD_OUT")
    );
    cancel(3).await;
    let served = entry(&app, &party[0], &party_entry).await;
    assert_eq!(served["status"], "OFFERED");
    assert_eq!(served["offeredSeats"].as_array().expect("seats").len(), 4);
    assert_eq!(
        entry(&app, &pairs[2], &pair_entries[2]).await["status"],
        "WAITING"
    );
    check_holds(&app, &perf.id).await;
}

#[tokio::test]
async fn an_offer_never_outlives_the_booking_window_and_cancelling_the_performance_ends_entries() {
    let app = spawn().await;
    let closes = Utc::now() + Duration::minutes(10);
    let (admin, perf, bookings) =
        sold_out(&app, 2, json!({ "bookingClosesAt": closes.to_rfc3339() })).await;
    let waiting = app.residents_fast(2, "pinghu").await;
    let first = join(&app, &waiting[0], &perf.id, 2).await;
    let second = join(&app, &waiting[1], &perf.id, 2).await;
    app.gql(
        Some(&bookings[0].0),
        CANCEL_BOOKING,
        json!({ "id": bookings[0].1 }),
    )
    .await
    .data();
    let offered = entry(&app, &waiting[0], &first).await;
    let expires =
        chrono::DateTime::parse_from_rfc3339(offered["offerExpiresAt"].as_str().expect("expiry"))
            .expect("rfc3339");
    assert!(
        (expires.with_timezone(&Utc) - closes).num_seconds().abs() <= 1,
        "the offer ends when booking closes, not 60 minutes later"
    );
    let r = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { cancelPerformance(id: $id, reason: \"storm\") { status } }",
            json!({ "id": perf.id }),
        )
        .await;
    assert_eq!(r.data()["cancelPerformance"]["status"], "CANCELLED");
    assert_eq!(
        entry(&app, &waiting[0], &first).await["status"],
        "CANCELLED"
    );
    assert_eq!(
        entry(&app, &waiting[1], &second).await["status"],
        "CANCELLED"
    );
    check_holds(&app, &perf.id).await;
}

/// An offer past its time can't be accepted; the expiry step passes its seats on. Racing
/// an acceptance with the step leaves exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accept_racing_expiry_has_exactly_one_winner() {
    let app = spawn().await;
    let services = app.state().services.clone();
    for round in 0..6 {
        let (_, perf, bookings) = sold_out(&app, 2, json!({})).await;
        let waiting = app.residents_fast(2, "pinghu").await;
        let first = join(&app, &waiting[0], &perf.id, 2).await;
        let second = join(&app, &waiting[1], &perf.id, 2).await;
        app.gql(
            Some(&bookings[0].0),
            CANCEL_BOOKING,
            json!({ "id": bookings[0].1 }),
        )
        .await
        .data();
        offers_run_out(&app, &perf.id).await;
        let (accepted, expired) = tokio::join!(
            app.gql(Some(&waiting[0]), ACCEPT, json!({ "id": first })),
            zouqin::domain::waitlist::expire_due(
                &services.db,
                &services.realtime,
                &services.bookings,
                Utc::now()
            )
        );
        expired.expect("expiry step");
        // The offer was past its time when the acceptance came: it never wins.
        assert_eq!(
            accepted.code(),
            Some("CONFLICT"),
            "round {round}: {}",
            accepted.body
        );
        let e = entry(&app, &waiting[0], &first).await;
        assert_eq!(e["status"], "EXPIRED", "round {round}");
        let next = entry(&app, &waiting[1], &second).await;
        assert_eq!(
            next["status"], "OFFERED",
            "round {round}: the seats passed on"
        );
        check_holds(&app, &perf.id).await;
        // In time, an acceptance racing the step wins, and the step leaves it alone.
        let (accepted, step) = tokio::join!(
            app.gql(Some(&waiting[1]), ACCEPT, json!({ "id": second })),
            zouqin::domain::waitlist::expire_due(
                &services.db,
                &services.realtime,
                &services.bookings,
                Utc::now()
            )
        );
        step.expect("expiry step");
        assert_eq!(
            accepted.data()["acceptWaitlistOffer"]["status"],
            "CONFIRMED",
            "round {round}"
        );
        check_holds(&app, &perf.id).await;
    }
}

/// A resident who books directly (nobody else waiting) leaves its own entry: its open offer's
/// seats pass on instead of lingering.
#[tokio::test]
async fn booking_directly_resolves_the_residents_own_entry() {
    let app = spawn().await;
    let (_, perf, bookings) = sold_out(&app, 4, json!({})).await;
    let waiting = app.residents_fast(1, "pinghu").await;
    let id = join(&app, &waiting[0], &perf.id, 2).await;
    app.gql(
        Some(&bookings[0].0),
        CANCEL_BOOKING,
        json!({ "id": bookings[0].1 }),
    )
    .await
    .data();
    assert_eq!(entry(&app, &waiting[0], &id).await["status"], "OFFERED");
    app.gql(
        Some(&bookings[1].0),
        CANCEL_BOOKING,
        json!({ "id": bookings[1].1 }),
    )
    .await
    .data();
    let direct = book_quantity(&app, &waiting[0], &perf.id, 1).await;
    assert_eq!(outcome(&direct), "CONFIRMED", "{}", direct.body);
    assert_eq!(entry(&app, &waiting[0], &id).await["status"], "LEFT");
    assert_eq!(seats_available(&app, &perf.id).await, 3);
    check_holds(&app, &perf.id).await;
}

// ---------------------------------------------------------------------------------------
// Two instances
// ---------------------------------------------------------------------------------------

/// 20 seats sold out, 30 residents waiting for 2 each, 10 bookings cancelled at once over
/// both instances: exactly 10 offers, no seat in two offers or held and sold, and nothing
/// available to the public at any moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_cancellations_make_exactly_ten_offers_across_two_instances() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let perf = show(&a, &admin, Layout::Rows(&grid(2, 10)), json!({})).await;
    let holders = a.residents_fast(10, "pinghu").await;
    let mut bookings = Vec::new();
    for (i, token) in holders.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        bookings.push((
            token.clone(),
            booking_id(&book_quantity(app, token, &perf.id, 2).await),
        ));
    }
    let waiting = a.residents_fast(30, "jiashan").await;
    for (i, token) in waiting.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        join(app, token, &perf.id, 2).await;
    }
    let watching = std::sync::atomic::AtomicBool::new(true);
    let watcher = async {
        let mut seen = Vec::new();
        while watching.load(std::sync::atomic::Ordering::Relaxed) {
            seen.push(seats_available(&b, &perf.id).await);
        }
        seen
    };
    let cancels = async {
        let results = join_all(bookings.iter().enumerate().map(|(i, (token, id))| {
            let app = if i % 2 == 0 { &a } else { &b };
            app.gql(Some(token), CANCEL_BOOKING, json!({ "id": id }))
        }))
        .await;
        watching.store(false, std::sync::atomic::Ordering::Relaxed);
        results
    };
    let (seen, results) = tokio::join!(watcher, cancels);
    for r in &results {
        assert_eq!(r.data()["cancelBooking"]["status"], "CANCELLED");
    }
    assert!(
        seen.iter().all(|n| *n == 0),
        "seatsAvailable moved: {seen:?}"
    );
    assert_eq!(seats_available(&a, &perf.id).await, 0);
    let held = check_holds(&a, &perf.id).await;
    assert_eq!(held.len(), 10, "exactly ten offers");
    assert!(held.values().all(|n| *n == 2));
    let entries = entity::waitlist_entry::Entity::find()
        .filter(
            entity::waitlist_entry::Column::PerformanceId
                .eq(row_id(zouqin::ids::Kind::Performance, &perf.id)),
        )
        .all(&a.db.conn)
        .await
        .expect("entries");
    let offered: Vec<i64> = entries
        .iter()
        .filter(|e| e.status == entity::enums::WaitlistStatus::Offered)
        .map(|e| e.id)
        .collect();
    let mut joined: Vec<i64> = entries.iter().map(|e| e.id).collect();
    joined.sort_unstable();
    let first_ten: Vec<i64> = joined.into_iter().take(10).collect();
    let mut sorted = offered.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, first_ten,
        "the first ten in joining order got the offers"
    );
    let states = seat_states(&a, &perf.id).await;
    assert_eq!(states.get("HELD").map_or(0, Vec::len), 20);
    let counts = tally(&results, |r| r.code().unwrap_or("CANCELLED").to_owned());
    assert_eq!(counts.get("CANCELLED"), Some(&10));
}

/// The instance that made an offer dies (kill -9): the other instance's expiry step still
/// expires it and passes the seats on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_made_by_a_killed_instance_still_expires_and_passes_on() {
    let url = fresh_database().await;
    let sweep = [("ZOUQIN_WAITLIST_SWEEP_SECS", "1")];
    let mut a = spawn_process_with(&url, &sweep).await;
    a.seed_world().await;
    let b = spawn_process_with(&url, &sweep).await;
    let (_, perf, bookings) = sold_out(&a, 2, json!({})).await;
    let waiting = a.residents_fast(2, "pinghu").await;
    let first = join(&a, &waiting[0], &perf.id, 2).await;
    let second = join(&a, &waiting[1], &perf.id, 2).await;
    a.gql(
        Some(&bookings[0].0),
        CANCEL_BOOKING,
        json!({ "id": bookings[0].1 }),
    )
    .await
    .data();
    assert_eq!(entry(&b, &waiting[0], &first).await["status"], "OFFERED");
    let mut child = a.process.take().expect("a process");
    child.start_kill().expect("kill -9");
    child.wait().await.expect("reaped");
    offers_run_out(&b, &perf.id).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let e = entry(&b, &waiting[1], &second).await;
        if e["status"] == "OFFERED" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the offer never passed on: {e}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(entry(&b, &waiting[0], &first).await["status"], "EXPIRED");
    let notes = b
        .gql(
            Some(&waiting[0]),
            "{ myNotifications(first: 10) { edges { node { kind } } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<&str> = notes.data()["myNotifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        vec!["OFFER_EXPIRED", "WAITLIST_OFFER"],
        "newest first"
    );
    let late = b
        .gql(Some(&waiting[0]), ACCEPT, json!({ "id": first }))
        .await;
    assert_eq!(late.code(), Some("CONFLICT"));
    check_holds(&b, &perf.id).await;
}

/// Seats a share kept are offered to the waiting list first when the share is released.
#[tokio::test]
async fn released_share_seats_go_to_the_waiting_list_first() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&[("A", 4)]),
        json!({
            "seatShares": [{ "centerId": w.pinghu, "seats": 2 }],
            "startsAt": crate::booking::in_(Duration::days(5)),
            "endsAt": crate::booking::in_(Duration::days(5) + Duration::hours(2)),
        }),
    )
    .await;
    let jinshan = app.residents_fast(2, "jinshan").await;
    assert_eq!(
        outcome(&book_quantity(&app, &jinshan[0], &perf.id, 2).await),
        "CONFIRMED"
    );
    let refused = book_quantity(&app, &jinshan[1], &perf.id, 2).await;
    assert_eq!(refused.code(), Some("SOLD_OUT"));
    assert!(refused.error()["extensions"]["sharesReleaseAt"].is_string());
    let id = join(&app, &jinshan[1], &perf.id, 2).await;
    let r = app
        .gql(
            Some(&admin),
            "mutation($id: ID!, $i: UpdatePerformanceInput!) { updatePerformance(id: $id, input: $i) { id } }",
            json!({ "id": perf.id, "i": { "sharesReleaseAt": crate::booking::in_(-Duration::minutes(1)) } }),
        )
        .await;
    r.data();
    let e = entry(&app, &jinshan[1], &id).await;
    assert_eq!(
        e["status"], "OFFERED",
        "the released pair went to the list: {e}"
    );
    let pinghu = app.residents_fast(1, "pinghu").await;
    assert_eq!(
        book_quantity(&app, &pinghu[0], &perf.id, 1).await.code(),
        Some("SOLD_OUT")
    );
    check_holds(&app, &perf.id).await;
}

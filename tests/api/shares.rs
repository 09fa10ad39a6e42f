//! Seat shares by home center (API.md "Rules of the exchange": Seat shares; DOMAIN.md
//! invariant 8): set by staff, taken by bookings on both paths, given back by
//! cancellations, released at `sharesReleaseAt`, exact under a rush on two instances.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::booking::{
    BOOK, CANCEL_BOOKING, Layout, Show, Ws, at, book_quantity, grid, in_, live_tickets, outcome,
    row_id, seats_available, show, show_with, tally,
};
use crate::helpers::*;

const SHARES: &str = "query($id: ID!) { performance(id: $id) { seatsAvailable \
     seatsAvailableToViewer sharesReleaseAt seatShares { center { code } seats booked } } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdatePerformanceInput!) { \
     updatePerformance(id: $id, input: $i) { id sharesReleaseAt } }";
const SCHEDULE: &str = "mutation($i: SchedulePerformanceInput!) { \
     schedulePerformance(input: $i) { id startsAt bookingClosesAt sharesReleaseAt \
     seatShares { center { code } seats booked } } }";

/// The performance's shares as the API shows them: center code → (seats, booked).
async fn shares_of(
    app: &TestApp,
    token: Option<&str>,
    perf: &str,
) -> (Value, HashMap<String, (i64, i64)>) {
    let r = app.gql(token, SHARES, json!({ "id": perf })).await;
    let p = r.data()["performance"].clone();
    let shares = p["seatShares"]
        .as_array()
        .expect("seatShares")
        .iter()
        .map(|s| {
            (
                s["center"]["code"].as_str().expect("code").to_owned(),
                (
                    s["seats"].as_i64().expect("seats"),
                    s["booked"].as_i64().expect("booked"),
                ),
            )
        })
        .collect();
    (p, shares)
}

async fn viewer_count(app: &TestApp, token: Option<&str>, perf: &str) -> i64 {
    shares_of(app, token, perf).await.0["seatsAvailableToViewer"]
        .as_i64()
        .expect("seatsAvailableToViewer")
}

/// Checks the counters against the tickets, straight in the database: per pool, the seats
/// sold (`seat_pool.booked`) equal its live tickets, and no slot holds more than its seats.
/// With `before_release`, also that every ticket from a share is held by a resident of that
/// share's center. Returns the live tickets per pool (0: the open pool).
async fn check_pools(app: &TestApp, perf: &str, before_release: bool) -> HashMap<i64, usize> {
    let perf_id = row_id(zouqin::ids::Kind::Performance, perf);
    let slots = entity::seat_pool::Entity::find()
        .filter(entity::seat_pool::Column::PerformanceId.eq(perf_id))
        .all(&app.db.conn)
        .await
        .expect("slots");
    let mut booked: HashMap<i64, usize> = HashMap::new();
    for slot in &slots {
        assert!(
            slot.booked >= 0 && slot.booked <= slot.seats,
            "a slot counts {} of {} seats",
            slot.booked,
            slot.seats
        );
        *booked.entry(slot.center_id).or_default() += slot.booked as usize;
    }
    let tickets = live_tickets(app, perf).await;
    let mut per_pool: HashMap<i64, usize> = HashMap::new();
    for t in &tickets {
        *per_pool.entry(t.pool_center_id).or_default() += 1;
    }
    for (pool, count) in &booked {
        assert_eq!(
            per_pool.get(pool).copied().unwrap_or(0),
            *count,
            "pool {pool}: the counter and the live tickets disagree"
        );
    }
    assert_eq!(
        per_pool.values().sum::<usize>(),
        booked.values().sum::<usize>(),
        "tickets from a pool that has no counter"
    );
    let seats: HashSet<i64> = tickets.iter().map(|t| t.inventory_id).collect();
    assert_eq!(seats.len(), tickets.len(), "a seat was sold twice");
    if before_release {
        let homes = holders_homes(app, &tickets).await;
        for t in tickets.iter().filter(|t| t.pool_center_id != 0) {
            assert_eq!(
                homes[&t.booking_id],
                Some(t.pool_center_id),
                "a share's seat went to a resident of another center"
            );
        }
    }
    per_pool
}

/// The holder's home center of each ticket's booking.
async fn holders_homes(
    app: &TestApp,
    tickets: &[entity::ticket::Model],
) -> HashMap<i64, Option<i64>> {
    let bookings = entity::booking::Entity::find()
        .filter(entity::booking::Column::Id.is_in(tickets.iter().map(|t| t.booking_id)))
        .all(&app.db.conn)
        .await
        .expect("bookings");
    let accounts: HashMap<i64, Option<i64>> = entity::account::Entity::find()
        .filter(entity::account::Column::Id.is_in(bookings.iter().map(|b| b.account_id)))
        .all(&app.db.conn)
        .await
        .expect("accounts")
        .into_iter()
        .map(|a| (a.id, a.home_center_id))
        .collect();
    bookings
        .into_iter()
        .map(|b| (b.id, accounts[&b.account_id]))
        .collect()
}

fn center_id(global: &str) -> i64 {
    row_id(zouqin::ids::Kind::Center, global)
}

/// `extra` for a performance five days ahead, so its shares (released 48 hours before the
/// start by default) still hold.
fn later(mut extra: Value) -> Value {
    extra["startsAt"] = json!(in_(Duration::days(5)));
    extra["endsAt"] = json!(in_(Duration::days(5) + Duration::hours(2)));
    extra
}

fn shares_input(list: &[(&str, i64)]) -> Value {
    json!(
        list.iter()
            .map(|(center, seats)| json!({ "centerId": center, "seats": seats }))
            .collect::<Vec<_>>()
    )
}

// ---------------------------------------------------------------------------------------
// The rush
// ---------------------------------------------------------------------------------------

/// A 400-seat performance, 150 seats kept for Pinghu, 150 for Jinshan, 100 open; 300 Pinghu,
/// 300 Jinshan and 100 Jiashan residents rush 2 seats each, at once, over two instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_on_shares_sells_each_share_only_to_its_center_and_the_rest_after_release() {
    let (a, b) = spawn_pair().await;
    let w = a.world().await;
    let admin = a.admin("pinghu").await;
    let perf = show(
        &a,
        &admin,
        Layout::Rows(&grid(20, 20)),
        later(json!({ "seatShares": shares_input(&[(&w.pinghu, 150), (&w.jinshan, 150)]) })),
    )
    .await;
    let pinghu = a.residents_fast(300, "pinghu").await;
    let jinshan = a.residents_fast(300, "jinshan").await;
    let jiashan = a.residents_fast(100, "jiashan").await;
    let everyone: Vec<(&str, &String)> = pinghu
        .iter()
        .map(|t| ("pinghu", t))
        .chain(jinshan.iter().map(|t| ("jinshan", t)))
        .chain(jiashan.iter().map(|t| ("jiashan", t)))
        .collect();
    // Interleave the centers so every share and the pool are contended from the start.
    let mut order: Vec<usize> = (0..everyone.len()).collect();
    order.sort_by_key(|i| (i % 300, i / 300));
    let results = join_all(order.iter().enumerate().map(|(n, &i)| {
        let app = if n % 2 == 0 { &a } else { &b };
        book_quantity(app, everyone[i].1, &perf.id, 2)
    }))
    .await;
    let counts = tally(&results, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&200), "outcomes: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 700);
    assert_eq!(counts.get("SOLD_OUT"), Some(&500), "outcomes: {counts:?}");

    let per_pool = check_pools(&a, &perf.id, true).await;
    let (pinghu_id, jinshan_id) = (center_id(&w.pinghu), center_id(&w.jinshan));
    assert_eq!(per_pool.get(&pinghu_id), Some(&150));
    assert_eq!(per_pool.get(&jinshan_id), Some(&150));
    assert_eq!(per_pool.get(&0), Some(&100));
    // Pinghu residents hold their share plus whatever they took of the open pool, no more.
    let tickets = live_tickets(&a, &perf.id).await;
    let homes = holders_homes(&a, &tickets).await;
    let held_by = |center: i64| {
        tickets
            .iter()
            .filter(|t| homes[&t.booking_id] == Some(center))
            .collect::<Vec<_>>()
    };
    let pinghu_pool = held_by(pinghu_id)
        .iter()
        .filter(|t| t.pool_center_id == 0)
        .count();
    assert_eq!(held_by(pinghu_id).len(), 150 + pinghu_pool);
    let jiashan_tickets = held_by(center_id(&w.jiashan));
    assert!(jiashan_tickets.iter().all(|t| t.pool_center_id == 0));
    assert_eq!(tickets.len(), 400);
    for app in [&a, &b] {
        let (p, shares) = shares_of(app, None, &perf.id).await;
        assert_eq!(p["seatsAvailable"], 0);
        assert_eq!(shares["pinghu"], (150, 150));
        assert_eq!(shares["jinshan"], (150, 150));
    }

    // Ten Jinshan bookings from the Jinshan share are cancelled: their 20 seats go back to
    // that share, so they stay Jinshan's until the release.
    let from_jinshan_share: HashSet<i64> = tickets
        .iter()
        .filter(|t| t.pool_center_id == jinshan_id)
        .map(|t| t.booking_id)
        .collect();
    let mut cancelled = 0;
    let mut refused_pinghu = Vec::new();
    for (r, &i) in results.iter().zip(&order) {
        let (home, token) = everyone[i];
        if outcome(r) == "CONFIRMED" {
            let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
            if cancelled < 10
                && home == "jinshan"
                && from_jinshan_share.contains(&row_id(zouqin::ids::Kind::Booking, &id))
            {
                let c = a
                    .gql(Some(token), CANCEL_BOOKING, json!({ "id": id }))
                    .await;
                assert_eq!(c.data()["cancelBooking"]["status"], "CANCELLED");
                cancelled += 1;
            }
        } else if home == "pinghu" && refused_pinghu.len() < 10 {
            refused_pinghu.push(token.clone());
        }
    }
    assert_eq!(cancelled, 10);
    let (p, shares) = shares_of(&a, Some(&refused_pinghu[0]), &perf.id).await;
    assert_eq!(p["seatsAvailable"], 20);
    assert_eq!(
        p["seatsAvailableToViewer"], 0,
        "Jinshan's seats are not Pinghu's"
    );
    assert_eq!(shares["jinshan"], (150, 130));
    let idle_jinshan = a.residents_fast(1, "jinshan").await;
    assert_eq!(viewer_count(&b, Some(&idle_jinshan[0]), &perf.id).await, 4);
    let refused = book_quantity(&b, &refused_pinghu[0], &perf.id, 2).await;
    assert_eq!(refused.code(), Some("SOLD_OUT"), "{}", refused.body);
    let release = p["sharesReleaseAt"].as_str().expect("a release time");
    assert_eq!(
        refused.error()["extensions"]["sharesReleaseAt"].as_str(),
        Some(release),
        "SOLD_OUT says when the kept seats open"
    );
    check_pools(&a, &perf.id, true).await;

    // Staff release the shares now: the remaining demand books them.
    let r = a
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "sharesReleaseAt": in_(-Duration::minutes(1)) } }),
        )
        .await;
    r.data();
    assert_eq!(
        viewer_count(&a, Some(&refused_pinghu[0]), &perf.id).await,
        4
    );
    let again = join_all(refused_pinghu.iter().enumerate().map(|(n, token)| {
        let app = if n % 2 == 0 { &a } else { &b };
        book_quantity(app, token, &perf.id, 2)
    }))
    .await;
    let counts = tally(&again, outcome);
    assert_eq!(counts.get("CONFIRMED"), Some(&10), "outcomes: {counts:?}");
    assert_eq!(seats_available(&b, &perf.id).await, 0);
    let per_pool = check_pools(&a, &perf.id, false).await;
    assert_eq!(per_pool.values().sum::<usize>(), 400);
}

/// `updatePerformance` of the shares racing a rush never breaks the invariant: each update
/// either applies whole (never below what a share sold) or is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_shares_during_a_rush_keeps_the_counters_exact_on_postgres() {
    if postgres_or_skip("changing_shares_during_a_rush_keeps_the_counters_exact_on_postgres")
        .is_none()
    {
        return;
    }
    let (a, b) = spawn_pair().await;
    let w = a.world().await;
    let admin = a.admin("pinghu").await;
    let perf = show(
        &a,
        &admin,
        Layout::Rows(&grid(10, 20)),
        later(json!({ "seatShares": shares_input(&[(&w.jinshan, 60)]) })),
    )
    .await;
    let pinghu = a.residents_fast(80, "pinghu").await;
    let jinshan = a.residents_fast(40, "jinshan").await;
    let bookings = join_all(pinghu.iter().chain(&jinshan).enumerate().map(|(n, token)| {
        let app = if n % 2 == 0 { &a } else { &b };
        book_quantity(app, token, &perf.id, 2)
    }));
    let updates = async {
        let mut answers = Vec::new();
        for seats in [80, 40, 100, 20, 70, 50] {
            let r = b
                .gql(
                    Some(&admin),
                    UPDATE,
                    json!({ "id": perf.id, "i": { "seatShares": shares_input(&[(&w.jinshan, seats)]) } }),
                )
                .await;
            answers.push(r.code().map(str::to_owned));
        }
        answers
    };
    let (results, answers) = tokio::join!(bookings, updates);
    for code in answers.iter().flatten() {
        assert_eq!(
            code, "BAD_USER_INPUT",
            "an update is applied or refused: {answers:?}"
        );
    }
    for r in &results {
        let o = outcome(r);
        assert!(
            ["CONFIRMED", "SOLD_OUT"].contains(&o.as_str()),
            "{}",
            r.body
        );
    }
    let per_pool = check_pools(&a, &perf.id, true).await;
    let (_, shares) = shares_of(&a, None, &perf.id).await;
    let (seats, booked) = shares["jinshan"];
    assert!(booked <= seats);
    assert_eq!(
        per_pool.get(&center_id(&w.jinshan)).copied().unwrap_or(0) as i64,
        booked
    );
    let sold = per_pool.values().sum::<usize>() as i64;
    assert_eq!(sold + seats_available(&a, &perf.id).await, 200);
}

// ---------------------------------------------------------------------------------------
// Rules and edges
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn shares_past_the_capacity_or_for_an_unknown_center_are_bad_input() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let base = show_with(&app, &admin, Layout::Rows(&[("A", 10)]), json!({}), false).await;
    let venue = app
        .gql(
            Some(&admin),
            "query($id: ID!) { performance(id: $id) { venue { id } } }",
            json!({ "id": base.id }),
        )
        .await
        .data()["performance"]["venue"]["id"]
        .clone();
    let schedule = |extra: Value| {
        let mut input = json!({
            "venueId": venue, "title": "越剧《五女拜寿》", "category": "OPERA",
            "startsAt": in_(Duration::days(10)), "endsAt": in_(Duration::days(10) + Duration::hours(2)),
        });
        for (k, v) in extra.as_object().expect("object") {
            input[k] = v.clone();
        }
        let app = &app;
        let admin = &admin;
        async move { app.gql(Some(admin), SCHEDULE, json!({ "i": input })).await }
    };
    let too_many =
        schedule(json!({ "seatShares": shares_input(&[(&w.pinghu, 6), (&w.jinshan, 5)]) })).await;
    assert_eq!(too_many.code(), Some("BAD_USER_INPUT"), "{}", too_many.body);
    assert_eq!(too_many.error()["extensions"]["field"], "seatShares");
    let unknown = zouqin::ids::encode(zouqin::ids::Kind::Center, 987_654);
    let r = schedule(json!({ "seatShares": shares_input(&[(&unknown, 2)]) })).await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "seatShares");
    let r = schedule(json!({ "seatShares": [{ "centerId": "not-an-id", "seats": 2 }] })).await;
    assert_eq!(r.error()["extensions"]["field"], "seatShares");
    let r = schedule(json!({ "seatShares": shares_input(&[(&w.pinghu, -1)]) })).await;
    assert_eq!(r.error()["extensions"]["field"], "seatShares");
    // Release after the booking window closes.
    let r = schedule(json!({
        "seatShares": shares_input(&[(&w.jinshan, 4)]),
        "bookingClosesAt": in_(Duration::days(10) - Duration::hours(2)),
        "sharesReleaseAt": in_(Duration::days(10) - Duration::hours(1)),
    }))
    .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "sharesReleaseAt");
    // The whole capacity in shares is fine; the default release is 48 hours before the start.
    let ok =
        schedule(json!({ "seatShares": shares_input(&[(&w.pinghu, 6), (&w.jinshan, 4)]) })).await;
    let p = &ok.data()["schedulePerformance"];
    let starts =
        DateTime::parse_from_rfc3339(p["startsAt"].as_str().expect("start")).expect("rfc3339");
    let release = DateTime::parse_from_rfc3339(p["sharesReleaseAt"].as_str().expect("release"))
        .expect("rfc3339");
    assert_eq!(starts - release, Duration::hours(48));
    assert_eq!(p["seatShares"].as_array().expect("shares").len(), 2);
}

#[tokio::test]
async fn the_default_release_is_never_after_the_booking_window_closes() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let closes = Utc::now() + Duration::days(1);
    let perf = show_with(
        &app,
        &admin,
        Layout::Rows(&[("A", 10)]),
        json!({
            "seatShares": shares_input(&[(&w.jinshan, 4)]),
            "startsAt": in_(Duration::days(5)),
            "endsAt": in_(Duration::days(5) + Duration::hours(2)),
            "bookingClosesAt": at(closes),
        }),
        false,
    )
    .await;
    let staff_view = shares_of(&app, Some(&admin), &perf.id).await.0;
    let release =
        DateTime::parse_from_rfc3339(staff_view["sharesReleaseAt"].as_str().expect("release"))
            .expect("rfc3339");
    assert!((release.with_timezone(&Utc) - closes).num_seconds().abs() <= 1);
}

/// A Pinghu share of 3 on a 10-seat row: the second pair takes the last share seat and one
/// of the open pool; the share can't go below what it sold; a cancellation gives back.
#[tokio::test]
async fn a_booking_straddles_the_share_and_the_pool_and_a_cancellation_gives_back_to_both() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let perf = show(
        &app,
        &admin,
        Layout::Rows(&[("A", 10)]),
        later(json!({ "seatShares": shares_input(&[(&w.pinghu, 3)]) })),
    )
    .await;
    let first = app.resident("first@example.com", &w.pinghu).await;
    let second = app.resident("second@example.com", &w.pinghu).await;
    let guest = app.resident("guest@example.com", &w.jiashan).await;
    assert_eq!(viewer_count(&app, Some(&first), &perf.id).await, 4);
    assert_eq!(viewer_count(&app, Some(&guest), &perf.id).await, 4);
    assert_eq!(
        viewer_count(&app, None, &perf.id).await,
        7,
        "anyone: the open pool"
    );
    book_quantity(&app, &first, &perf.id, 2).await.data();
    let straddle = book_quantity(&app, &second, &perf.id, 2).await;
    let booking = straddle.data()["bookSeats"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let per_pool = check_pools(&app, &perf.id, true).await;
    assert_eq!(per_pool.get(&center_id(&w.pinghu)), Some(&3));
    assert_eq!(per_pool.get(&0), Some(&1));
    assert_eq!(shares_of(&app, None, &perf.id).await.1["pinghu"], (3, 3));
    assert_eq!(viewer_count(&app, None, &perf.id).await, 6);

    let below = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "seatShares": shares_input(&[(&w.pinghu, 2)]) } }),
        )
        .await;
    assert_eq!(below.code(), Some("BAD_USER_INPUT"), "{}", below.body);
    assert_eq!(below.error()["extensions"]["field"], "seatShares");
    let removed = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "seatShares": [] } }),
        )
        .await;
    assert_eq!(removed.error()["extensions"]["field"], "seatShares");
    // More shares than the open pool has left: 10 seats, 1 sold from the pool.
    let squeeze = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "seatShares": shares_input(&[(&w.pinghu, 3), (&w.jinshan, 7)]) } }),
        )
        .await;
    assert_eq!(squeeze.error()["extensions"]["field"], "seatShares");
    let grown = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "seatShares": shares_input(&[(&w.pinghu, 5)]) } }),
        )
        .await;
    grown.data();
    assert_eq!(shares_of(&app, None, &perf.id).await.1["pinghu"], (5, 3));
    assert_eq!(viewer_count(&app, None, &perf.id).await, 4);

    let c = app
        .gql(Some(&second), CANCEL_BOOKING, json!({ "id": booking }))
        .await;
    assert_eq!(c.data()["cancelBooking"]["status"], "CANCELLED");
    let per_pool = check_pools(&app, &perf.id, true).await;
    assert_eq!(per_pool.get(&center_id(&w.pinghu)), Some(&2));
    assert_eq!(per_pool.get(&0).copied().unwrap_or(0), 0);
    assert_eq!(shares_of(&app, None, &perf.id).await.1["pinghu"], (5, 2));
    assert_eq!(seats_available(&app, &perf.id).await, 8);
}

/// General admission: 30 places, 10 kept for Jinshan. Pinghu residents sell out the open
/// 20 and are then told when the kept places open; Jinshan residents still book.
#[tokio::test]
async fn general_admission_keeps_a_share_and_sold_out_says_when_it_opens() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let perf = show(
        &app,
        &admin,
        Layout::General(30),
        later(json!({ "seatShares": shares_input(&[(&w.jinshan, 10)]) })),
    )
    .await;
    let pinghu = app.residents_fast(6, "pinghu").await;
    for token in &pinghu[..5] {
        book_quantity(&app, token, &perf.id, 4).await.data();
    }
    let (p, _) = shares_of(&app, Some(&pinghu[5]), &perf.id).await;
    assert_eq!(p["seatsAvailable"], 10);
    assert_eq!(p["seatsAvailableToViewer"], 0);
    let refused = book_quantity(&app, &pinghu[5], &perf.id, 1).await;
    assert_eq!(refused.code(), Some("SOLD_OUT"), "{}", refused.body);
    assert_eq!(
        refused.error()["extensions"]["sharesReleaseAt"],
        p["sharesReleaseAt"]
    );
    let jinshan = app.resident("js@example.com", &w.jinshan).await;
    let r = app
        .gql(
            Some(&jinshan),
            BOOK,
            json!({ "i": { "performanceId": perf.id, "quantity": 4 } }),
        )
        .await;
    assert_eq!(
        r.data()["bookSeats"]["tickets"]
            .as_array()
            .expect("tickets")
            .len(),
        4
    );
    let per_pool = check_pools(&app, &perf.id, true).await;
    assert_eq!(per_pool.get(&center_id(&w.jinshan)), Some(&4));
    assert_eq!(per_pool.get(&0), Some(&20));
}

/// The release step opens the kept seats whichever instance runs it, and tells each
/// subscriber what it can now book.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_step_tells_subscribers_what_each_can_book() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = app.admin("pinghu").await;
    let perf: Show = show(
        &app,
        &admin,
        Layout::Rows(&[("A", 6)]),
        later(json!({ "seatShares": shares_input(&[(&w.jinshan, 4)]) })),
    )
    .await;
    let resident = app.resident("ph@example.com", &w.pinghu).await;
    let mut ws = Ws::connect(&app, Some(&resident), "graphql-transport-ws").await;
    ws.subscribe(&app, "1", &perf.id).await;
    let other = app.resident("ph2@example.com", &w.pinghu).await;
    book_quantity(&app, &other, &perf.id, 1).await.data();
    let update = ws.update("1").await;
    assert_eq!(update["seatsAvailable"], 5);
    assert_eq!(
        update["seatsAvailableToViewer"], 1,
        "the open pool's last seat"
    );

    // The release time passes; the step (any instance's) marks it and tells subscribers.
    let services = &app.state().services;
    let now = Utc::now() + Duration::days(3);
    let marked = zouqin::domain::shares::release_due(&services.db, &services.realtime, now)
        .await
        .expect("release step");
    assert!(marked >= 1);
    let again = zouqin::domain::shares::release_due(&services.db, &services.realtime, now)
        .await
        .expect("release step");
    assert_eq!(again, 0, "a released performance is marked once");
    let update = ws.update("1").await;
    assert_eq!(update["seatsAvailable"], 5);
    // The subscriber's count is computed at the real time: the shares still hold (the step
    // ran for a later instant), so it stays 1 until sharesReleaseAt really passes.
    assert_eq!(update["seatsAvailableToViewer"], 1);
    let r = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": perf.id, "i": { "sharesReleaseAt": in_(-Duration::seconds(1)) } }),
        )
        .await;
    r.data();
    assert_eq!(viewer_count(&app, Some(&resident), &perf.id).await, 4);
}

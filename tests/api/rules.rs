//! Rules of API.md that cut across capabilities: who sees an allocation, a ticket, an email;
//! the door's and the booking window's closing sides; seasons across a new year; the login
//! lockout's end; races between a cancellation and itself, and between a move and a schedule.
//!
//! Time is moved by rewriting a row's instants in the database (a performance that started a
//! minute ago, failed logins sixteen minutes old), never by sleeping.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::*;

const VENUE: &str = "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }";
const SCHEDULE: &str =
    "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id status } }";
const PUBLISH: &str = "mutation($id: ID!) { publishPerformance(id: $id) { id status } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdatePerformanceInput!) { updatePerformance(id: $id, input: $i) { id startsAt endsAt } }";
const BOOK: &str = "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id status tickets { id code status } } }";
const CANCEL_BOOKING: &str = "mutation($id: ID!) { cancelBooking(id: $id) { id status } }";
const CHECK_IN: &str = "mutation($c: String!) { checkInTicket(code: $c) { status checkedInAt } }";
const TICKET: &str = "query($c: String!) { ticket(code: $c) { status } }";

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// A general-admission hall of `center`'s, optionally shared with other centers.
async fn hall(app: &TestApp, admin: &str, name: &str, shared_with: &[&str]) -> String {
    let r = app
        .gql(
            Some(admin),
            VENUE,
            json!({ "i": { "name": name, "address": "Border river", "kind": "OUTDOOR",
                "seating": "GENERAL_ADMISSION", "capacity": 100, "sharedWithCenterIds": shared_with } }),
        )
        .await;
    r.data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned()
}

/// Schedules (and optionally publishes) a performance; `extra` is merged into the input.
async fn performance(
    app: &TestApp,
    admin: &str,
    venue: &str,
    starts: DateTime<Utc>,
    extra: Value,
    publish: bool,
) -> String {
    let mut input = json!({ "venueId": venue, "title": "浙沪共村晚", "category": "GALA",
        "startsAt": iso(starts), "endsAt": iso(starts + Duration::hours(2)) });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    let r = app.gql(Some(admin), SCHEDULE, json!({ "i": input })).await;
    let id = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_owned();
    if publish {
        let r = app.gql(Some(admin), PUBLISH, json!({ "id": id })).await;
        assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
    }
    id
}

async fn book(app: &TestApp, token: &str, perf: &str, quantity: i64) -> Gql {
    app.gql(
        Some(token),
        BOOK,
        json!({ "i": { "performanceId": perf, "quantity": quantity } }),
    )
    .await
}

fn row_id(global: &str) -> i64 {
    zouqin::ids::decode(zouqin::ids::Kind::Performance, global).expect("performance id")
}

/// Moves a performance in time, as if the clock had moved instead.
async fn move_performance(app: &TestApp, perf: &str, starts: DateTime<Utc>, ends: DateTime<Utc>) {
    entity::performance::Entity::update_many()
        .col_expr(entity::performance::Column::StartsAt, Expr::value(starts))
        .col_expr(entity::performance::Column::EndsAt, Expr::value(ends))
        .filter(entity::performance::Column::Id.eq(row_id(perf)))
        .exec(&app.db.conn)
        .await
        .expect("move the performance");
}

/// An accepted Jinshan → Pinghu allocation for `season`, as (id, Jinshan admin, Pinghu admin).
async fn jinshan_to_pinghu(app: &TestApp, season: (i32, i32)) -> (String, String, String) {
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let r = app
        .gql(
            Some(&jinshan),
            "mutation($i: ProposeAllocationInput!) { proposeAllocation(input: $i) { id } }",
            json!({ "i": { "year": season.0, "quarter": season.1, "providerCenterId": world.jinshan,
                "hostCenterId": world.pinghu, "performanceQuota": 4 } }),
        )
        .await;
    let id = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("allocation id")
        .to_owned();
    let r = app
        .gql(
            Some(&pinghu),
            "mutation($id: ID!) { respondToAllocation(id: $id, accept: true) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["respondToAllocation"]["status"], "ACCEPTED");
    (id, jinshan, pinghu)
}

fn exchange(venue: &str, allocation: &str, world: &World, starts: &str, ends: &str) -> Value {
    json!({ "venueId": venue, "title": "沪剧《大雷雨》", "category": "OPERA", "startsAt": starts,
        "endsAt": ends, "allocationId": allocation, "originCenterId": world.jinshan })
}

#[tokio::test]
async fn a_performances_allocation_is_shown_only_to_staff_of_its_two_centers() {
    let app = spawn().await;
    let (allocation, jinshan, pinghu) = jinshan_to_pinghu(&app, (2027, 1)).await;
    let world = app.world().await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let input = exchange(
        &venue,
        &allocation,
        &world,
        "2027-02-10T19:00:00+08:00",
        "2027-02-10T21:00:00+08:00",
    );
    let r = app
        .gql(Some(&pinghu), SCHEDULE, json!({ "i": input }))
        .await;
    let perf = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql(Some(&pinghu), PUBLISH, json!({ "id": perf }))
        .await
        .data();
    let jiashan = app.admin("jiashan").await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let query = "query($id: ID!) { performance(id: $id) { title allocation { id } } }";
    for (who, token, shown) in [
        ("anonymous", None, false),
        ("a resident", Some(resident.as_str()), false),
        ("a third center", Some(jiashan.as_str()), false),
        ("the provider", Some(jinshan.as_str()), true),
        ("the host", Some(pinghu.as_str()), true),
    ] {
        let r = app.gql(token, query, json!({ "id": perf })).await;
        let performance = &r.data()["performance"];
        assert_eq!(performance["title"], "沪剧《大雷雨》", "{who}");
        if shown {
            assert_eq!(
                performance["allocation"]["id"],
                allocation.as_str(),
                "{who}"
            );
        } else {
            assert!(
                performance["allocation"].is_null(),
                "{who} sees the allocation: {}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn an_allocations_sessions_hide_the_hosts_drafts_from_the_provider() {
    let app = spawn().await;
    let (allocation, jinshan, pinghu) = jinshan_to_pinghu(&app, (2027, 1)).await;
    let world = app.world().await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let mut ids = Vec::new();
    for day in ["2027-02-10", "2027-02-11"] {
        let input = exchange(
            &venue,
            &allocation,
            &world,
            &format!("{day}T19:00:00+08:00"),
            &format!("{day}T21:00:00+08:00"),
        );
        let r = app
            .gql(Some(&pinghu), SCHEDULE, json!({ "i": input }))
            .await;
        ids.push(
            r.data()["schedulePerformance"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    app.gql(Some(&pinghu), PUBLISH, json!({ "id": ids[0] }))
        .await
        .data();
    let query = "query($id: ID!) { node(id: $id) { ... on SeasonalAllocation { performancesScheduled performances { id status } } } }";
    let listed = |r: &Gql| -> Vec<String> {
        r.data()["node"]["performances"]
            .as_array()
            .expect("performances")
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let host = app
        .gql(Some(&pinghu), query, json!({ "id": allocation }))
        .await;
    assert_eq!(listed(&host), ids, "the host sees its draft");
    let provider = app
        .gql(Some(&jinshan), query, json!({ "id": allocation }))
        .await;
    assert_eq!(
        listed(&provider),
        vec![ids[0].clone()],
        "the provider sees no draft"
    );
}

/// A published performance hosted by Pinghu at `venue`, starting in an hour, and a resident's
/// booking of `quantity` places: (performance, booking id, ticket codes and ids).
async fn booked_tonight(
    app: &TestApp,
    pinghu: &str,
    venue: &str,
    resident: &str,
    quantity: i64,
) -> (String, String, Vec<(String, String)>) {
    let perf = performance(
        app,
        pinghu,
        venue,
        Utc::now() + Duration::hours(1),
        json!({}),
        true,
    )
    .await;
    let r = book(app, resident, &perf, quantity).await;
    let booking = &r.data()["bookSeats"];
    let tickets = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| {
            (
                t["code"].as_str().expect("code").to_owned(),
                t["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    (
        perf,
        booking["id"].as_str().expect("booking id").to_owned(),
        tickets,
    )
}

#[tokio::test]
async fn a_ticket_by_global_id_is_not_found_for_another_resident_or_another_center() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let holder = app
        .resident("holder@residents.example", &world.pinghu)
        .await;
    let (_, _, tickets) = booked_tonight(&app, &pinghu, &venue, &holder, 1).await;
    let (code, id) = &tickets[0];
    let other = app.resident("other@residents.example", &world.pinghu).await;
    let jinshan = app.admin("jinshan").await;
    let jinshan_usher = app.staff(&jinshan, "usher@jinshan.example", "USHER").await;
    let pinghu_usher = app.staff(&pinghu, "usher@pinghu.example", "USHER").await;
    let query = "query($id: ID!) { node(id: $id) { id ... on Ticket { code status } } }";
    for (who, token) in [
        ("another resident", other.as_str()),
        ("another center's admin", jinshan.as_str()),
        ("another center's usher", jinshan_usher.as_str()),
    ] {
        let r = app.gql(Some(token), query, json!({ "id": id })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{who}: {}", r.body);
    }
    // As `ticket(code:)` answers an anonymous caller.
    let r = app.anon(query, json!({ "id": id })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "anonymous: {}", r.body);
    for (who, token) in [
        ("the holder", holder.as_str()),
        ("the host's usher", pinghu_usher.as_str()),
    ] {
        let r = app.gql(Some(token), query, json!({ "id": id })).await;
        assert_eq!(r.data()["node"]["code"], code.as_str(), "{who}");
    }
}

#[tokio::test]
async fn a_hosts_admin_sees_holders_emails_masked_even_for_residents_of_its_own_side() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let neighbour = app
        .resident("neighbour@residents.example", &world.pinghu)
        .await;
    let visitor = app
        .resident("visitor@residents.example", &world.jinshan)
        .await;
    let (perf, _, _) = booked_tonight(&app, &pinghu, &venue, &neighbour, 1).await;
    book(&app, &visitor, &perf, 1).await.data();
    let r = app
        .gql(
            Some(&pinghu),
            "query($id: ID!) { performanceBookings(performanceId: $id) { edges { node { holder { email homeCenter { code } } } } } }",
            json!({ "id": perf }),
        )
        .await;
    let mut seen: Vec<(String, String)> = r.data()["performanceBookings"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let holder = &e["node"]["holder"];
            (
                holder["homeCenter"]["code"]
                    .as_str()
                    .expect("code")
                    .to_owned(),
                holder["email"].as_str().expect("email").to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("jinshan".to_owned(), "v***@residents.example".to_owned()),
            ("pinghu".to_owned(), "n***@residents.example".to_owned()),
        ],
        "a resident belongs to no center's staff: only the resident sees its email whole"
    );
}

#[tokio::test]
async fn at_a_shared_venue_only_the_host_centers_usher_checks_in() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let jinshan = app.admin("jinshan").await;
    // Jinshan owns the riverbank and shares it with Pinghu, which hosts the race.
    let venue = hall(&app, &jinshan, "Shantang riverbank", &[&world.pinghu]).await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let (_, _, tickets) = booked_tonight(&app, &pinghu, &venue, &resident, 1).await;
    let code = &tickets[0].0;
    let owner_usher = app.staff(&jinshan, "usher@jinshan.example", "USHER").await;
    let r = app
        .gql(Some(&owner_usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    let host_usher = app.staff(&pinghu, "usher@pinghu.example", "USHER").await;
    let r = app
        .gql(Some(&host_usher), TICKET, json!({ "c": code }))
        .await;
    assert_eq!(
        r.data()["ticket"]["status"],
        "VALID",
        "the owner's attempt changed nothing"
    );
    let r = app
        .gql(Some(&host_usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

#[tokio::test]
async fn after_the_end_the_door_is_closed_and_the_ticket_stays_valid() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let (perf, _, tickets) = booked_tonight(&app, &pinghu, &venue, &resident, 2).await;
    let usher = app.staff(&pinghu, "usher@pinghu.example", "USHER").await;
    // Inside the door's hours (an hour before the start): admitted.
    let r = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": tickets[0].0 }))
        .await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
    // The performance ended a minute ago.
    let now = Utc::now();
    move_performance(
        &app,
        &perf,
        now - Duration::hours(2),
        now - Duration::minutes(1),
    )
    .await;
    let r = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": tickets[1].0 }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let r = app
        .gql(Some(&usher), TICKET, json!({ "c": tickets[1].0 }))
        .await;
    assert_eq!(r.data()["ticket"]["status"], "VALID");
}

#[tokio::test]
async fn by_default_booking_and_cancelling_close_at_the_start() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let (perf, booking, _) = booked_tonight(&app, &pinghu, &venue, &resident, 1).await;
    let r = app
        .anon(
            "query($id: ID!) { performance(id: $id) { startsAt bookingClosesAt } }",
            json!({ "id": perf }),
        )
        .await;
    let shown = &r.data()["performance"];
    assert_eq!(
        shown["bookingClosesAt"], shown["startsAt"],
        "the default close is the start"
    );
    // It started a minute ago.
    let now = Utc::now();
    move_performance(
        &app,
        &perf,
        now - Duration::minutes(1),
        now + Duration::hours(2),
    )
    .await;
    let other = app.resident("late@residents.example", &world.pinghu).await;
    let r = book(&app, &other, &perf, 1).await;
    assert_eq!(r.code(), Some("BOOKING_CLOSED"), "{}", r.body);
    let r = app
        .gql(Some(&resident), CANCEL_BOOKING, json!({ "id": booking }))
        .await;
    assert_eq!(r.code(), Some("BOOKING_CLOSED"), "{}", r.body);
}

#[tokio::test]
async fn moving_the_start_before_an_explicit_close_is_bad_input_on_the_close() {
    let app = spawn().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    let starts = Utc::now() + Duration::days(10);
    let perf = performance(
        &app,
        &pinghu,
        &venue,
        starts,
        json!({ "bookingClosesAt": iso(starts - Duration::days(1)) }),
        true,
    )
    .await;
    let r = app
        .gql(
            Some(&pinghu),
            UPDATE,
            json!({ "id": perf, "i": { "startsAt": iso(starts - Duration::days(2)),
                "endsAt": iso(starts - Duration::days(2) + Duration::hours(2)) } }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(
        r.error()["extensions"]["field"],
        "bookingClosesAt",
        "{}",
        r.body
    );
    // Nothing moved.
    let r = app
        .anon(
            "query($id: ID!) { performance(id: $id) { startsAt } }",
            json!({ "id": perf }),
        )
        .await;
    let shown = DateTime::parse_from_rfc3339(
        r.data()["performance"]["startsAt"]
            .as_str()
            .expect("startsAt"),
    )
    .expect("instant");
    assert_eq!(shown.timestamp(), starts.timestamp());
}

#[tokio::test]
async fn a_new_year_starts_a_new_season_at_local_midnight() {
    let app = spawn().await;
    let world = app.world().await;
    let (q4, _, pinghu) = jinshan_to_pinghu(&app, (2026, 4)).await;
    let jinshan = app.admin("jinshan").await;
    let r = app
        .gql(
            Some(&jinshan),
            "mutation($i: ProposeAllocationInput!) { proposeAllocation(input: $i) { id } }",
            json!({ "i": { "year": 2027, "quarter": 1, "providerCenterId": world.jinshan,
                "hostCenterId": world.pinghu, "performanceQuota": 4 } }),
        )
        .await;
    let q1 = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql(
        Some(&pinghu),
        "mutation($id: ID!) { respondToAllocation(id: $id, accept: true) { status } }",
        json!({ "id": q1 }),
    )
    .await
    .data();
    let venue = hall(&app, &pinghu, "Hall", &[]).await;
    // New Year's Eve, 23:00 in Pinghu: Q4 of 2026.
    let eve = ("2026-12-31T23:00:00+08:00", "2026-12-31T23:30:00+08:00");
    // 00:30 on New Year's Day in Pinghu, still December 31st in UTC: Q1 of 2027.
    let new_year = ("2026-12-31T16:30:00Z", "2026-12-31T17:30:00Z");
    for (allocation, (starts, ends), allowed) in [
        (&q1, eve, false),
        (&q4, new_year, false),
        (&q4, eve, true),
        (&q1, new_year, true),
    ] {
        let r = app
            .gql(
                Some(&pinghu),
                SCHEDULE,
                json!({ "i": exchange(&venue, allocation, &world, starts, ends) }),
            )
            .await;
        if allowed {
            assert_eq!(r.data()["schedulePerformance"]["status"], "DRAFT");
        } else {
            assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{starts}: {}", r.body);
            assert_eq!(r.error()["extensions"]["field"], "startsAt");
        }
    }
}

#[tokio::test]
async fn the_lockout_ends_fifteen_minutes_after_the_failures() {
    let app = spawn().await;
    for _ in 0..5 {
        let r = app.login("admin@pinghu.example", "not-the-password").await;
        assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    }
    let r = app.login("admin@pinghu.example", PASSWORD).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    let conn = &app.db.conn;
    let age = |minutes: i64| async move {
        entity::login_attempt::Entity::update_many()
            .col_expr(
                entity::login_attempt::Column::AttemptedAt,
                Expr::value(Utc::now() - Duration::minutes(minutes)),
            )
            .exec(conn)
            .await
            .expect("age the attempts");
    };
    // Fourteen minutes on: still locked.
    age(14).await;
    let r = app.login("admin@pinghu.example", PASSWORD).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    // Sixteen: the failures are out of the window.
    age(16).await;
    let r = app.login("admin@pinghu.example", PASSWORD).await;
    assert!(
        r.body["data"]["login"]["accessToken"].is_string(),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_cancellations_of_one_booking_give_the_allowance_back_once() {
    let (a, b) = spawn_pair().await;
    let world = a.world().await;
    let pinghu = a.admin("pinghu").await;
    let venue = hall(&a, &pinghu, "Hall", &[]).await;
    let resident = a.resident("r@residents.example", &world.pinghu).await;
    // The default limit is 4: two held, then both cancellations race.
    let (perf, booking, _) = booked_tonight(&a, &pinghu, &venue, &resident, 2).await;
    let barrier = Arc::new(Barrier::new(2));
    let cancel = |app: &TestApp| {
        let barrier = barrier.clone();
        let app = app.clone_client();
        let (resident, booking) = (resident.clone(), booking.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            app.gql(Some(&resident), CANCEL_BOOKING, json!({ "id": booking }))
                .await
        })
    };
    let (first, second) = (cancel(&a), cancel(&b));
    let answers = [first.await.expect("first"), second.await.expect("second")];
    let cancelled = answers
        .iter()
        .filter(|r| r.body["data"]["cancelBooking"]["status"] == "CANCELLED")
        .count();
    assert_eq!(
        cancelled,
        1,
        "{:?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let refused: Vec<_> = answers.iter().filter_map(Gql::code).collect();
    assert_eq!(refused, vec!["CONFLICT"]);
    // The allowance is back to 4, not 6: four more book, a fifth does not.
    let r = book(&a, &resident, &perf, 4).await;
    assert_eq!(r.data()["bookSeats"]["status"], "CONFIRMED");
    let r = book(&b, &resident, &perf, 1).await;
    assert_eq!(r.code(), Some("LIMIT_EXCEEDED"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_a_session_into_a_slot_being_scheduled_lets_one_of_them_win() {
    let (a, b) = spawn_pair().await;
    let pinghu = a.admin("pinghu").await;
    let venue = hall(&a, &pinghu, "Hall", &[]).await;
    let base = Utc::now() + Duration::days(20);
    for round in 0..5 {
        let day = base + Duration::days(round * 2);
        let moving = performance(&a, &pinghu, &venue, day, json!({}), false).await;
        // The move takes 14:00–16:00 while another session asks for 15:00–17:00.
        let target = day + Duration::hours(4);
        let barrier = Arc::new(Barrier::new(2));
        let update = {
            let (app, barrier, token, moving) = (
                a.clone_client(),
                barrier.clone(),
                pinghu.clone(),
                moving.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                app.gql(
                    Some(&token),
                    UPDATE,
                    json!({ "id": moving, "i": { "startsAt": iso(target), "endsAt": iso(target + Duration::hours(2)) } }),
                )
                .await
            })
        };
        let schedule = {
            let (app, barrier, token, venue) = (
                b.clone_client(),
                barrier.clone(),
                pinghu.clone(),
                venue.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                app.gql(
                    Some(&token),
                    SCHEDULE,
                    json!({ "i": { "venueId": venue, "title": "共同的记忆", "category": "EXHIBITION",
                        "startsAt": iso(target + Duration::hours(1)), "endsAt": iso(target + Duration::hours(3)) } }),
                )
                .await
            })
        };
        let (update, schedule) = (
            update.await.expect("update"),
            schedule.await.expect("schedule"),
        );
        let moved = update.body.get("errors").is_none();
        let scheduled = schedule.body.get("errors").is_none();
        assert!(
            moved != scheduled,
            "round {round}: exactly one may win: {} / {}",
            update.body,
            schedule.body
        );
        let loser = if moved { &schedule } else { &update };
        assert_eq!(loser.code(), Some("CONFLICT"), "{}", loser.body);
    }
    // The venue never holds two live sessions that overlap.
    let rows = entity::performance::Entity::find()
        .all(&a.db.conn)
        .await
        .expect("performances");
    for x in &rows {
        for y in &rows {
            if x.id < y.id && x.venue_id == y.venue_id {
                assert!(
                    x.ends_at <= y.starts_at || y.ends_at <= x.starts_at,
                    "{} and {} overlap",
                    x.id,
                    y.id
                );
            }
        }
    }
}

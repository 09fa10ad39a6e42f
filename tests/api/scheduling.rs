//! Scheduling: venues and their seats, performances and their life cycle, seasonal
//! allocations and their quotas, the public catalogue's pagination and filters, and what a
//! page of the catalogue costs in SQL statements (see ../shared/design/API.md).

use serde_json::{Value, json};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Helpers: what a scheduler does, over HTTP.
// ---------------------------------------------------------------------------------------

const CREATE_VENUE: &str = "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id name capacity seating center { code } seats { section row number label accessible } } }";

const SCHEDULE: &str = "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id title status startsAt endsAt hostCenter { code } originCenter { code } allocation { id } } }";

const PUBLISH: &str =
    "mutation($id: ID!) { publishPerformance(id: $id) { id status publishedAt } }";

const CANCEL: &str = "mutation($id: ID!, $reason: String!) { cancelPerformance(id: $id, reason: $reason) { id status cancellationReason } }";

const UPDATE: &str = "mutation($id: ID!, $i: UpdatePerformanceInput!) { updatePerformance(id: $id, input: $i) { id title startsAt } }";

const PROPOSE: &str =
    "mutation($i: ProposeAllocationInput!) { proposeAllocation(input: $i) { id status } }";

const RESPOND: &str = "mutation($id: ID!, $accept: Boolean!) { respondToAllocation(id: $id, accept: $accept) { id status } }";

const WITHDRAW: &str = "mutation($id: ID!) { withdrawAllocation(id: $id) { id status } }";

const ALLOCATION: &str = "query($id: ID!) { node(id: $id) { ... on SeasonalAllocation { id status performanceQuota performancesScheduled remaining season { year quarter startsOn endsOn } providerCenter { code } hostCenter { code } performances { id status } } } }";

const PERFORMANCE: &str =
    "query($id: ID!) { performance(id: $id) { id title status cancellationReason } }";

const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";

const LIST: &str = "query($f: PerformanceFilter, $first: Int) { performances(filter: $f, first: $first) { totalCount edges { node { id title } } } }";

/// A GraphQL answer that must be `BAD_USER_INPUT` naming `field`.
#[track_caller]
fn assert_bad_input(r: &Gql, field: &str) {
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{field}: {}", r.body);
    assert_eq!(
        r.error()["extensions"]["field"].as_str(),
        Some(field),
        "wrong field in {}",
        r.body
    );
}

/// `value` with `key` set (or replaced).
fn with(mut value: Value, key: &str, field: Value) -> Value {
    value[key] = field;
    value
}

/// A reserved theatre: "Stalls" rows A (10 seats, 1 and 2 accessible) and B (12), and
/// "池座" row 5 (3 seats).
fn theatre_input(name: &str) -> Value {
    json!({
        "name": name,
        "address": "1 Culture Road",
        "kind": "THEATER",
        "seating": "RESERVED",
        "sections": [
            { "name": "Stalls", "rows": [
                { "label": "A", "seats": 10, "accessibleSeats": [1, 2] },
                { "label": "B", "seats": 12 }
            ] },
            { "name": "池座", "rows": [ { "label": "5", "seats": 3 } ] }
        ]
    })
}

/// A general-admission hall of 200 places.
fn hall_input(name: &str) -> Value {
    json!({
        "name": name,
        "address": "2 Culture Road",
        "kind": "HALL",
        "seating": "GENERAL_ADMISSION",
        "capacity": 200
    })
}

async fn create_venue(app: &TestApp, token: &str, input: Value) -> Gql {
    app.gql(Some(token), CREATE_VENUE, json!({ "i": input }))
        .await
}

/// Creates a general-admission hall; returns its id.
async fn hall(app: &TestApp, token: &str, name: &str) -> String {
    let r = create_venue(app, token, hall_input(name)).await;
    r.data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned()
}

/// A `schedulePerformance` input of an opera session.
fn session(venue: &str, title: &str, starts_at: &str, ends_at: &str) -> Value {
    json!({
        "venueId": venue,
        "title": title,
        "category": "OPERA",
        "startsAt": starts_at,
        "endsAt": ends_at
    })
}

async fn schedule(app: &TestApp, token: &str, input: Value) -> Gql {
    app.gql(Some(token), SCHEDULE, json!({ "i": input })).await
}

/// Schedules a session that must succeed; returns its id.
async fn scheduled(app: &TestApp, token: &str, input: Value) -> String {
    let r = schedule(app, token, input).await;
    r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_owned()
}

async fn publish(app: &TestApp, token: &str, id: &str) -> Gql {
    app.gql(Some(token), PUBLISH, json!({ "id": id })).await
}

/// Schedules and publishes a session; returns its id.
async fn published(app: &TestApp, token: &str, input: Value) -> String {
    let id = scheduled(app, token, input).await;
    let r = publish(app, token, &id).await;
    assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
    id
}

async fn cancel(app: &TestApp, token: &str, id: &str, reason: &str) -> Gql {
    app.gql(Some(token), CANCEL, json!({ "id": id, "reason": reason }))
        .await
}

async fn propose(
    app: &TestApp,
    token: &str,
    (year, quarter): (i32, i32),
    provider: &str,
    host: &str,
    quota: i32,
) -> Gql {
    app.gql(
        Some(token),
        PROPOSE,
        json!({ "i": {
            "year": year,
            "quarter": quarter,
            "providerCenterId": provider,
            "hostCenterId": host,
            "performanceQuota": quota,
            "note": "接轨上海 精品文艺系列展演"
        } }),
    )
    .await
}

async fn respond(app: &TestApp, token: &str, id: &str, accept: bool) -> Gql {
    app.gql(Some(token), RESPOND, json!({ "id": id, "accept": accept }))
        .await
}

/// Jinshan proposes to send Pinghu `quota` sessions in `season`; Pinghu accepts. Returns
/// the allocation's id.
async fn accepted_jinshan_to_pinghu(
    app: &TestApp,
    jinshan: &str,
    pinghu: &str,
    season: (i32, i32),
    quota: i32,
) -> String {
    let world = app.world().await;
    let r = propose(app, jinshan, season, &world.jinshan, &world.pinghu, quota).await;
    let id = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("allocation id")
        .to_owned();
    let r = respond(app, pinghu, &id, true).await;
    assert_eq!(r.data()["respondToAllocation"]["status"], "ACCEPTED");
    id
}

/// The allocation as `token` sees it through `node(id:)`.
async fn allocation(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.gql(Some(token), ALLOCATION, json!({ "id": id })).await;
    r.data()["node"].clone()
}

/// An exchange session of `allocation` at `venue`.
fn exchange(venue: &str, allocation: &str, starts_at: &str, ends_at: &str) -> Value {
    with(
        session(venue, "沪剧《大雷雨》", starts_at, ends_at),
        "allocationId",
        json!(allocation),
    )
}

/// The titles of a `performances` answer, in order.
fn titles(r: &Gql) -> Vec<String> {
    r.data()["performances"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["title"].as_str().expect("title").to_owned())
        .collect()
}

async fn list(app: &TestApp, token: Option<&str>, filter: Value) -> Gql {
    app.gql(token, LIST, json!({ "f": filter, "first": 100 }))
        .await
}

// ---------------------------------------------------------------------------------------
// Venues.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_reserved_venue_gets_numbered_seats_labelled_in_the_language_of_each_section() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let r = create_venue(&app, &admin, theatre_input("平湖大剧院")).await;
    let venue = &r.data()["createVenue"];
    assert_eq!(venue["capacity"], 25);
    assert_eq!(venue["seating"], "RESERVED");
    assert_eq!(venue["center"]["code"], "pinghu");
    let seats = venue["seats"].as_array().expect("seats");
    assert_eq!(seats.len(), 25);
    let seat = |section: &str, row: &str, number: i64| {
        seats
            .iter()
            .find(|s| s["section"] == section && s["row"] == row && s["number"] == number)
            .unwrap_or_else(|| panic!("no seat {section} {row} {number}"))
    };
    assert_eq!(seat("Stalls", "A", 1)["label"], "Stalls row A seat 1");
    assert_eq!(seat("Stalls", "B", 12)["label"], "Stalls row B seat 12");
    assert_eq!(seat("池座", "5", 1)["label"], "池座5排1座");
    assert_eq!(seat("池座", "5", 3)["label"], "池座5排3座");
    let accessible: Vec<String> = seats
        .iter()
        .filter(|s| s["accessible"] == true)
        .map(|s| s["label"].as_str().expect("label").to_owned())
        .collect();
    assert_eq!(
        accessible,
        vec!["Stalls row A seat 1", "Stalls row A seat 2"]
    );
    let per_row = |section: &str, row: &str| {
        seats
            .iter()
            .filter(|s| s["section"] == section && s["row"] == row)
            .count()
    };
    assert_eq!(
        (
            per_row("Stalls", "A"),
            per_row("Stalls", "B"),
            per_row("池座", "5")
        ),
        (10, 12, 3)
    );
    // The venue reads back the same, to anyone.
    let id = venue["id"].as_str().expect("id");
    let r = app
        .anon(
            "query($id: ID!) { venue(id: $id) { capacity seats { label } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["venue"]["capacity"], 25);
    assert_eq!(
        r.data()["venue"]["seats"][0]["label"],
        "Stalls row A seat 1"
    );
    assert_eq!(
        r.data()["venue"]["seats"].as_array().expect("seats").len(),
        25
    );
}

#[tokio::test]
async fn a_general_admission_venue_has_the_capacity_it_was_given_and_no_seats() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    let r = create_venue(&app, &admin, hall_input("金山区文化馆多功能厅")).await;
    let venue = &r.data()["createVenue"];
    assert_eq!(venue["capacity"], 200);
    assert_eq!(venue["seating"], "GENERAL_ADMISSION");
    assert_eq!(venue["seats"], json!([]));
}

#[tokio::test]
async fn invalid_venue_inputs_are_bad_user_input_naming_the_field() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let hall = hall_input("Hall");
    let theatre = theatre_input("Theatre");
    let row = |seats: i64, accessible: Value| {
        with(
            theatre.clone(),
            "sections",
            json!([{ "name": "Stalls", "rows": [
                { "label": "A", "seats": seats, "accessibleSeats": accessible }
            ] }]),
        )
    };
    let cases = [
        (with(hall.clone(), "capacity", json!(0)), "capacity"),
        (with(hall.clone(), "capacity", json!(100_001)), "capacity"),
        (with(hall.clone(), "capacity", json!(-5)), "capacity"),
        (with(hall.clone(), "capacity", Value::Null), "capacity"),
        (with(theatre.clone(), "sections", json!([])), "sections"),
        (with(theatre.clone(), "sections", Value::Null), "sections"),
        (row(0, json!([])), "seats"),
        (row(10, json!([0])), "accessibleSeats"),
        (row(10, json!([11])), "accessibleSeats"),
        (row(10, json!([-1])), "accessibleSeats"),
        (with(hall.clone(), "name", json!("")), "name"),
        (with(hall.clone(), "name", json!("   ")), "name"),
        (with(theatre.clone(), "name", json!("")), "name"),
    ];
    for (input, field) in cases {
        let r = create_venue(&app, &admin, input.clone()).await;
        assert_bad_input(&r, field);
    }
    let world = app.world().await;
    let r = app
        .anon(
            "query($c: ID) { venues(centerId: $c) { totalCount } }",
            json!({ "c": world.pinghu }),
        )
        .await;
    assert_eq!(
        r.data()["venues"]["totalCount"],
        0,
        "no invalid venue may be created"
    );
    // The boundaries themselves are valid.
    for (name, capacity) in [("One", 1), ("Stadium", 100_000)] {
        let r = create_venue(
            &app,
            &admin,
            with(hall_input(name), "capacity", json!(capacity)),
        )
        .await;
        assert_eq!(r.data()["createVenue"]["capacity"], capacity);
    }
}

// ---------------------------------------------------------------------------------------
// Performances: validation, overlap, access.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_performance_inputs_are_bad_user_input_naming_the_field() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    let base = session(
        &venue,
        "大雷雨",
        "2030-05-01T19:00:00+08:00",
        "2030-05-01T21:00:00+08:00",
    );
    let cases = [
        (
            with(base.clone(), "endsAt", json!("2030-05-01T19:00:00+08:00")),
            "endsAt",
        ),
        (
            with(base.clone(), "endsAt", json!("2030-05-01T18:00:00+08:00")),
            "endsAt",
        ),
        (
            with(
                base.clone(),
                "bookingClosesAt",
                json!("2030-05-01T19:00:01+08:00"),
            ),
            "bookingClosesAt",
        ),
        (
            with(base.clone(), "perResidentLimit", json!(0)),
            "perResidentLimit",
        ),
        (with(base.clone(), "priceCents", json!(-1)), "priceCents"),
        (with(base.clone(), "title", json!("")), "title"),
        (with(base.clone(), "title", json!("  ")), "title"),
        (
            with(
                with(base.clone(), "startsAt", json!("2020-05-01T19:00:00+08:00")),
                "endsAt",
                json!("2020-05-01T21:00:00+08:00"),
            ),
            "startsAt",
        ),
    ];
    for (input, field) in cases {
        let r = schedule(&app, &admin, input).await;
        assert_bad_input(&r, field);
    }
    let r = list(&app, Some(&admin), json!({})).await;
    assert_eq!(
        r.data()["performances"]["totalCount"],
        0,
        "no invalid performance may be created"
    );
    // The booking window may close exactly at the start.
    let r = schedule(
        &app,
        &admin,
        with(
            base.clone(),
            "bookingClosesAt",
            json!("2030-05-01T19:00:00+08:00"),
        ),
    )
    .await;
    let id = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Updates are validated the same way.
    let r = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": id, "i": { "endsAt": "2030-05-01T18:00:00+08:00" } }),
        )
        .await;
    assert_bad_input(&r, "endsAt");
    let r = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": id, "i": { "perResidentLimit": 0 } }),
        )
        .await;
    assert_bad_input(&r, "perResidentLimit");
}

#[tokio::test]
async fn more_than_100_performances_per_page_is_bad_user_input() {
    let app = spawn().await;
    let r = app
        .anon("{ performances(first: 101) { totalCount } }", json!({}))
        .await;
    assert_bad_input(&r, "first");
    let r = app
        .anon("{ performances(last: 101) { totalCount } }", json!({}))
        .await;
    assert_bad_input(&r, "last");
    let r = app
        .anon("{ performances(first: 100) { totalCount } }", json!({}))
        .await;
    assert_eq!(r.data()["performances"]["totalCount"], 0);
}

#[tokio::test]
async fn a_session_overlapping_a_draft_or_published_one_at_the_same_venue_is_a_conflict() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    let other_venue = hall(&app, &admin, "Other hall").await;
    let draft = scheduled(
        &app,
        &admin,
        session(
            &venue,
            "Draft",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
    )
    .await;
    let overlapping = [
        ("2030-05-01T20:00:00+08:00", "2030-05-01T22:00:00+08:00"),
        ("2030-05-01T18:00:00+08:00", "2030-05-01T19:00:01+08:00"),
        ("2030-05-01T19:30:00+08:00", "2030-05-01T20:00:00+08:00"),
        ("2030-05-01T18:00:00+08:00", "2030-05-01T23:00:00+08:00"),
        // The same interval, written in UTC.
        ("2030-05-01T11:00:00Z", "2030-05-01T13:00:00Z"),
    ];
    for (starts, ends) in overlapping {
        let r = schedule(&app, &admin, session(&venue, "Clash", starts, ends)).await;
        assert_eq!(r.code(), Some("CONFLICT"), "{starts}–{ends}: {}", r.body);
    }
    let r = publish(&app, &admin, &draft).await;
    r.data();
    for (starts, ends) in overlapping {
        let r = schedule(&app, &admin, session(&venue, "Clash", starts, ends)).await;
        assert_eq!(r.code(), Some("CONFLICT"), "{starts}–{ends}: {}", r.body);
    }
    // The same times at another venue are fine.
    scheduled(
        &app,
        &admin,
        session(
            &other_venue,
            "Elsewhere",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
    )
    .await;
    // Moving another session onto it is a conflict too.
    let later = scheduled(
        &app,
        &admin,
        session(
            &venue,
            "Later",
            "2030-05-02T19:00:00+08:00",
            "2030-05-02T21:00:00+08:00",
        ),
    )
    .await;
    let r = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": later, "i": {
                "startsAt": "2030-05-01T20:00:00+08:00",
                "endsAt": "2030-05-01T22:00:00+08:00"
            } }),
        )
        .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let r = list(&app, Some(&admin), json!({ "venueId": venue })).await;
    assert_eq!(titles(&r), vec!["Draft", "Later"]);
}

#[tokio::test]
async fn back_to_back_sessions_at_one_venue_are_fine() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    for (title, starts, ends) in [
        (
            "Evening",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
        (
            "Late",
            "2030-05-01T21:00:00+08:00",
            "2030-05-01T23:00:00+08:00",
        ),
        (
            "Afternoon",
            "2030-05-01T17:00:00+08:00",
            "2030-05-01T19:00:00+08:00",
        ),
    ] {
        let r = schedule(&app, &admin, session(&venue, title, starts, ends)).await;
        assert_eq!(r.data()["schedulePerformance"]["status"], "DRAFT");
    }
    let r = list(&app, Some(&admin), json!({ "venueId": venue })).await;
    assert_eq!(titles(&r), vec!["Afternoon", "Evening", "Late"]);
}

#[tokio::test]
async fn a_cancelled_session_does_not_block_its_time_at_the_venue() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    let slot = |title: &str| {
        session(
            &venue,
            title,
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        )
    };
    let draft = scheduled(&app, &admin, slot("Cancelled draft")).await;
    cancel(&app, &admin, &draft, "the troupe fell ill")
        .await
        .data();
    let public = published(&app, &admin, slot("Cancelled after publication")).await;
    cancel(&app, &admin, &public, "typhoon").await.data();
    let r = schedule(&app, &admin, slot("Replacement")).await;
    assert_eq!(r.data()["schedulePerformance"]["status"], "DRAFT");
    // …and the replacement now blocks the slot again.
    let r = schedule(&app, &admin, slot("Clash")).await;
    assert_eq!(r.code(), Some("CONFLICT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_overlapping_schedules_on_two_instances_let_exactly_one_win() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let venue = hall(&a, &admin, "Hall").await;
    const ROUNDS: u32 = 6;
    for day in 1..=ROUNDS {
        let first = session(
            &venue,
            &format!("A{day}"),
            &format!("2030-05-{day:02}T19:00:00+08:00"),
            &format!("2030-05-{day:02}T21:00:00+08:00"),
        );
        let second = session(
            &venue,
            &format!("B{day}"),
            &format!("2030-05-{day:02}T20:00:00+08:00"),
            &format!("2030-05-{day:02}T22:00:00+08:00"),
        );
        let (ra, rb) = tokio::join!(schedule(&a, &admin, first), schedule(&b, &admin, second));
        let outcomes = [&ra, &rb];
        let won = outcomes
            .iter()
            .filter(|r| r.body.get("errors").is_none())
            .count();
        let conflicts = outcomes
            .iter()
            .filter(|r| r.code() == Some("CONFLICT"))
            .count();
        assert_eq!(
            (won, conflicts),
            (1, 1),
            "day {day}: {} / {}",
            ra.body,
            rb.body
        );
    }
    let r = list(&a, Some(&admin), json!({ "venueId": venue })).await;
    assert_eq!(r.data()["performances"]["totalCount"], ROUNDS);
}

#[tokio::test]
async fn a_venue_of_another_center_is_usable_only_when_shared_with_yours() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let jiashan = app.admin("jiashan").await;
    let river = create_venue(
        &app,
        &jinshan,
        with(
            with(hall_input("山塘村界河"), "kind", json!("OUTDOOR")),
            "sharedWithCenterIds",
            json!([world.pinghu]),
        ),
    )
    .await;
    let river = river.data()["createVenue"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let own = hall(&app, &jinshan, "Jinshan hall").await;
    let race = |venue: &str| {
        session(
            venue,
            "龙舟斗牛赛",
            "2030-06-02T09:00:00+08:00",
            "2030-06-02T12:00:00+08:00",
        )
    };
    let r = schedule(&app, &jiashan, race(&river)).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = schedule(&app, &pinghu, race(&own)).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = schedule(&app, &pinghu, race(&river)).await;
    assert_eq!(
        r.data()["schedulePerformance"]["hostCenter"]["code"],
        "pinghu"
    );
    // The owner cannot double-book its shared venue either.
    let r = schedule(&app, &jinshan, race(&river)).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
}

#[tokio::test]
async fn another_centers_draft_blocks_a_shared_venue_without_revealing_itself() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let jiashan = app.admin("jiashan").await;
    let river = create_venue(
        &app,
        &jinshan,
        with(
            with(hall_input("山塘村界河"), "kind", json!("OUTDOOR")),
            "sharedWithCenterIds",
            json!([world.pinghu, world.jiashan]),
        ),
    )
    .await;
    let river = river.data()["createVenue"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let secret_title = "平湖未公布的龙舟预赛";
    let draft = scheduled(
        &app,
        &pinghu,
        session(
            &river,
            secret_title,
            "2030-06-02T09:00:00+08:00",
            "2030-06-02T12:00:00+08:00",
        ),
    )
    .await;
    // Nothing in the answer may name the draft: not its id, title or times (in any offset).
    let assert_reveals_nothing = |r: &Gql, who: &str| {
        assert_eq!(r.code(), Some("CONFLICT"), "{who}: {}", r.body);
        assert!(
            r.error()["extensions"].get("conflictsWith").is_none(),
            "{who}: {}",
            r.body
        );
        let text = r.body.to_string();
        for secret in [
            draft.as_str(),
            secret_title,
            "09:00",
            "12:00",
            "01:00:00",
            "04:00:00",
        ] {
            assert!(!text.contains(secret), "{who} learns {secret:?}: {text}");
        }
    };
    let clash = |title: &str| {
        session(
            &river,
            title,
            "2030-06-02T10:00:00+08:00",
            "2030-06-02T11:00:00+08:00",
        )
    };
    for (who, token) in [("Jiashan", &jiashan), ("Jinshan, the owner", &jinshan)] {
        let r = schedule(&app, token, clash("龙舟斗牛赛")).await;
        assert_reveals_nothing(&r, who);
        // Moving a session of its own onto the draft's time is refused the same way.
        let own = scheduled(
            &app,
            token,
            session(
                &river,
                &format!("{who}'s afternoon"),
                "2030-06-02T14:00:00+08:00",
                "2030-06-02T15:00:00+08:00",
            ),
        )
        .await;
        let r = app
            .gql(
                Some(token),
                UPDATE,
                json!({ "id": own, "i": {
                    "startsAt": "2030-06-02T11:30:00+08:00",
                    "endsAt": "2030-06-02T12:30:00+08:00"
                } }),
            )
            .await;
        assert_reveals_nothing(&r, who);
        cancel(&app, token, &own, "moved elsewhere").await.data();
    }
    // The host center sees its own draft, so it is told what is in the way.
    let r = schedule(&app, &pinghu, clash("Second heat")).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["conflictsWith"], draft.as_str());
    // Once published it exists for everyone, and is named to everyone.
    publish(&app, &pinghu, &draft).await.data();
    let r = schedule(&app, &jiashan, clash("龙舟斗牛赛")).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["conflictsWith"], draft.as_str());
}

#[tokio::test]
async fn a_draft_exists_only_for_its_host_centers_staff() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let scheduler = app
        .staff(&pinghu, "scheduler@pinghu.example", "SCHEDULER")
        .await;
    let jiashan = app.admin("jiashan").await;
    let resident = app.resident("li@residents.example", &world.pinghu).await;
    let venue = hall(&app, &scheduler, "Hall").await;
    let draft = scheduled(
        &app,
        &scheduler,
        session(
            &venue,
            "Unannounced",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
    )
    .await;
    for (who, token) in [
        ("anonymous", None),
        ("resident", Some(resident.as_str())),
        ("Jiashan admin", Some(jiashan.as_str())),
    ] {
        let r = app.gql(token, PERFORMANCE, json!({ "id": draft })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{who}: {}", r.body);
        let r = app.gql(token, NODE, json!({ "id": draft })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{who}: {}", r.body);
        let r = list(&app, token, json!({})).await;
        assert_eq!(r.data()["performances"]["totalCount"], 0, "{who}");
        let r = list(&app, token, json!({ "status": "DRAFT" })).await;
        assert_eq!(r.data()["performances"]["totalCount"], 0, "{who}");
        let r = app
            .gql(
                token,
                "query($c: ID!) { center(id: $c) { performances { totalCount } } }",
                json!({ "c": world.pinghu }),
            )
            .await;
        assert_eq!(r.data()["center"]["performances"]["totalCount"], 0, "{who}");
    }
    for token in [scheduler.as_str(), pinghu.as_str()] {
        let r = app
            .gql(Some(token), PERFORMANCE, json!({ "id": draft }))
            .await;
        assert_eq!(r.data()["performance"]["status"], "DRAFT");
        let r = app.gql(Some(token), NODE, json!({ "id": draft })).await;
        assert_eq!(r.data()["node"]["id"], draft.as_str());
        let r = list(&app, Some(token), json!({})).await;
        assert_eq!(titles(&r), vec!["Unannounced"]);
    }
    // Publishing makes it exist for everyone.
    publish(&app, &scheduler, &draft).await.data();
    for token in [None, Some(resident.as_str()), Some(jiashan.as_str())] {
        let r = app.gql(token, PERFORMANCE, json!({ "id": draft })).await;
        assert_eq!(r.data()["performance"]["status"], "PUBLISHED");
        let r = app.gql(token, NODE, json!({ "id": draft })).await;
        assert_eq!(r.data()["node"]["id"], draft.as_str());
        let r = list(&app, token, json!({})).await;
        assert_eq!(titles(&r), vec!["Unannounced"]);
    }
    // Publishing twice is a conflict.
    let r = publish(&app, &scheduler, &draft).await;
    assert_eq!(r.code(), Some("CONFLICT"));
}

#[tokio::test]
async fn cancelling_a_performance_records_its_reason_and_keeps_it_visible() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    let id = published(
        &app,
        &admin,
        session(
            &venue,
            "Open-air opera",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
    )
    .await;
    let r = cancel(&app, &admin, &id, "台风预警 typhoon warning").await;
    assert_eq!(r.data()["cancelPerformance"]["status"], "CANCELLED");
    assert_eq!(
        r.data()["cancelPerformance"]["cancellationReason"],
        "台风预警 typhoon warning"
    );
    let r = app.anon(PERFORMANCE, json!({ "id": id })).await;
    assert_eq!(r.data()["performance"]["status"], "CANCELLED");
    assert_eq!(
        r.data()["performance"]["cancellationReason"],
        "台风预警 typhoon warning"
    );
    let r = cancel(&app, &admin, &id, "again").await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let r = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": id, "i": { "title": "Back" } }),
        )
        .await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let r = publish(&app, &admin, &id).await;
    assert_eq!(r.code(), Some("CONFLICT"));
    // A reason is required.
    let other = scheduled(
        &app,
        &admin,
        session(
            &venue,
            "Other",
            "2030-05-02T19:00:00+08:00",
            "2030-05-02T21:00:00+08:00",
        ),
    )
    .await;
    let r = cancel(&app, &admin, &other, " ").await;
    assert_bad_input(&r, "reason");
}

#[tokio::test]
async fn staff_of_another_center_cannot_manage_a_performance() {
    let app = spawn().await;
    let pinghu = app.admin("pinghu").await;
    let jiashan_admin = app.admin("jiashan").await;
    let jiashan = app
        .staff(&jiashan_admin, "scheduler@jiashan.example", "SCHEDULER")
        .await;
    let venue = hall(&app, &pinghu, "Hall").await;
    let draft = scheduled(
        &app,
        &pinghu,
        session(
            &venue,
            "Draft",
            "2030-05-01T19:00:00+08:00",
            "2030-05-01T21:00:00+08:00",
        ),
    )
    .await;
    let public = published(
        &app,
        &pinghu,
        session(
            &venue,
            "Public",
            "2030-05-02T19:00:00+08:00",
            "2030-05-02T21:00:00+08:00",
        ),
    )
    .await;
    for (id, code) in [(&draft, "NOT_FOUND"), (&public, "FORBIDDEN")] {
        for token in [jiashan.as_str(), jiashan_admin.as_str()] {
            let r = app
                .gql(
                    Some(token),
                    UPDATE,
                    json!({ "id": id, "i": { "title": "Hijacked" } }),
                )
                .await;
            assert_eq!(r.code(), Some(code), "update: {}", r.body);
            let r = publish(&app, token, id).await;
            assert_eq!(r.code(), Some(code), "publish: {}", r.body);
            let r = cancel(&app, token, id, "not yours").await;
            assert_eq!(r.code(), Some(code), "cancel: {}", r.body);
        }
    }
    let r = app
        .gql(Some(&pinghu), PERFORMANCE, json!({ "id": draft }))
        .await;
    assert_eq!(r.data()["performance"]["title"], "Draft");
    assert_eq!(r.data()["performance"]["status"], "DRAFT");
    let r = app.anon(PERFORMANCE, json!({ "id": public })).await;
    assert_eq!(r.data()["performance"]["title"], "Public");
    assert_eq!(r.data()["performance"]["status"], "PUBLISHED");
}

#[tokio::test]
async fn an_usher_a_resident_and_an_anonymous_caller_cannot_schedule() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let resident = app.resident("wang@residents.example", &world.pinghu).await;
    let venue = hall(&app, &admin, "Hall").await;
    let input = session(
        &venue,
        "Not allowed",
        "2030-05-01T19:00:00+08:00",
        "2030-05-01T21:00:00+08:00",
    );
    for token in [&usher, &resident] {
        let r = schedule(&app, token, input.clone()).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
        let r = create_venue(&app, token, hall_input("Usher hall")).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    let r = app.anon(SCHEDULE, json!({ "i": input.clone() })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    // An usher cannot publish or cancel either.
    let id = scheduled(&app, &admin, input).await;
    let r = publish(&app, &usher, &id).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = cancel(&app, &usher, &id, "no").await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = list(&app, Some(&admin), json!({})).await;
    assert_eq!(r.data()["performances"]["totalCount"], 1);
}

// ---------------------------------------------------------------------------------------
// Seasonal allocations.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_other_party_answers_an_allocation_exactly_once() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let r = propose(&app, &jinshan, (2031, 2), &world.jinshan, &world.pinghu, 2).await;
    assert_eq!(r.data()["proposeAllocation"]["status"], "PROPOSED");
    let id = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = respond(&app, &jinshan, &id, true).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = respond(&app, &jinshan, &id, false).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = respond(&app, &pinghu, &id, true).await;
    assert_eq!(r.data()["respondToAllocation"]["status"], "ACCEPTED");
    for accept in [true, false] {
        let r = respond(&app, &pinghu, &id, accept).await;
        assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    }
    let seen = allocation(&app, &jinshan, &id).await;
    assert_eq!(seen["status"], "ACCEPTED");
    assert_eq!(seen["providerCenter"]["code"], "jinshan");
    assert_eq!(seen["hostCenter"]["code"], "pinghu");
    assert_eq!(seen["performanceQuota"], 2);
    assert_eq!(seen["performancesScheduled"], 0);
    assert_eq!(seen["remaining"], 2);
    assert_eq!(
        seen["season"],
        json!({ "year": 2031, "quarter": 2, "startsOn": "2031-04-01", "endsOn": "2031-06-30" })
    );
    // A declined one cannot be accepted afterwards.
    let r = propose(&app, &pinghu, (2031, 3), &world.jinshan, &world.pinghu, 2).await;
    let declined = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = respond(&app, &pinghu, &declined, true).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = respond(&app, &jinshan, &declined, false).await;
    assert_eq!(r.data()["respondToAllocation"]["status"], "DECLINED");
    let r = respond(&app, &jinshan, &declined, true).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_answers_on_two_instances_let_exactly_one_win() {
    let (a, b) = spawn_pair().await;
    let world = a.world().await;
    let jinshan = a.admin("jinshan").await;
    let pinghu = a.admin("pinghu").await;
    for year in 2031..2035 {
        let r = propose(&a, &jinshan, (year, 2), &world.jinshan, &world.pinghu, 2).await;
        let id = r.data()["proposeAllocation"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (accepted, declined) = tokio::join!(
            respond(&a, &pinghu, &id, true),
            respond(&b, &pinghu, &id, false)
        );
        let (winner, loser, status) = if accepted.body.get("errors").is_none() {
            (&accepted, &declined, "ACCEPTED")
        } else {
            (&declined, &accepted, "DECLINED")
        };
        assert_eq!(
            winner.body.get("errors"),
            None,
            "{} / {}",
            accepted.body,
            declined.body
        );
        assert_eq!(loser.code(), Some("CONFLICT"), "{}", loser.body);
        assert_eq!(allocation(&b, &jinshan, &id).await["status"], status);
    }
}

#[tokio::test]
async fn a_third_center_can_neither_see_nor_answer_an_allocation() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let jiashan_admin = app.admin("jiashan").await;
    let jiashan = app
        .staff(&jiashan_admin, "scheduler@jiashan.example", "SCHEDULER")
        .await;
    let r = propose(&app, &jinshan, (2031, 2), &world.jinshan, &world.pinghu, 2).await;
    let id = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let listed = |r: &Gql| -> Vec<String> {
        r.data()["seasonalAllocations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let query = "query($y: Int) { seasonalAllocations(year: $y) { id } }";
    for token in [jinshan.as_str(), pinghu.as_str()] {
        let r = app.gql(Some(token), query, json!({ "y": 2031 })).await;
        assert_eq!(listed(&r), vec![id.clone()]);
    }
    for token in [jiashan.as_str(), jiashan_admin.as_str()] {
        let r = app.gql(Some(token), query, json!({ "y": null })).await;
        assert!(listed(&r).is_empty(), "{}", r.body);
        let r = app.gql(Some(token), NODE, json!({ "id": id })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        let r = respond(&app, token, &id, true).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        let r = app.gql(Some(token), WITHDRAW, json!({ "id": id })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    }
    // Jiashan cannot propose for two other centers either.
    let r = propose(&app, &jiashan, (2031, 3), &world.jinshan, &world.pinghu, 2).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    // Anonymous callers do not see it either.
    let r = app.anon(NODE, json!({ "id": id })).await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    assert_eq!(allocation(&app, &pinghu, &id).await["status"], "PROPOSED");
}

#[tokio::test]
async fn only_the_proposer_withdraws_an_allocation() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let id = accepted_jinshan_to_pinghu(&app, &jinshan, &pinghu, (2031, 2), 2).await;
    let r = app.gql(Some(&pinghu), WITHDRAW, json!({ "id": id })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    assert_eq!(allocation(&app, &pinghu, &id).await["status"], "ACCEPTED");
    let r = app.gql(Some(&jinshan), WITHDRAW, json!({ "id": id })).await;
    assert_eq!(r.data()["withdrawAllocation"]["status"], "WITHDRAWN");
    let r = app.gql(Some(&jinshan), WITHDRAW, json!({ "id": id })).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let r = respond(&app, &pinghu, &id, true).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    // A withdrawn allocation no longer blocks a new one for the season.
    let r = propose(&app, &jinshan, (2031, 2), &world.jinshan, &world.pinghu, 3).await;
    assert_eq!(r.data()["proposeAllocation"]["status"], "PROPOSED");
}

#[tokio::test]
async fn a_second_open_allocation_for_one_season_and_pair_of_centers_is_a_conflict() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let r = propose(&app, &jinshan, (2031, 2), &world.jinshan, &world.pinghu, 2).await;
    let first = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Either party proposing the same thing again, while it is proposed or accepted.
    for token in [&jinshan, &pinghu] {
        let r = propose(&app, token, (2031, 2), &world.jinshan, &world.pinghu, 5).await;
        assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    }
    respond(&app, &pinghu, &first, true).await.data();
    let r = propose(&app, &pinghu, (2031, 2), &world.jinshan, &world.pinghu, 1).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    // Another season, or the other direction, is a different allocation.
    let r = propose(&app, &jinshan, (2031, 3), &world.jinshan, &world.pinghu, 2).await;
    assert_eq!(r.data()["proposeAllocation"]["status"], "PROPOSED");
    let r = propose(&app, &pinghu, (2031, 2), &world.pinghu, &world.jinshan, 2).await;
    assert_eq!(r.data()["proposeAllocation"]["status"], "PROPOSED");
    let r = app
        .gql(Some(&jinshan), "{ seasonalAllocations { id } }", json!({}))
        .await;
    assert_eq!(
        r.data()["seasonalAllocations"]
            .as_array()
            .expect("list")
            .len(),
        3
    );
}

#[tokio::test]
async fn invalid_allocation_proposals_are_bad_user_input_naming_the_field() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let cases = [
        (
            (2031, 5),
            world.jinshan.as_str(),
            world.pinghu.as_str(),
            2,
            "quarter",
        ),
        (
            (2031, 0),
            world.jinshan.as_str(),
            world.pinghu.as_str(),
            2,
            "quarter",
        ),
        (
            (2031, 2),
            world.jinshan.as_str(),
            world.pinghu.as_str(),
            0,
            "performanceQuota",
        ),
        (
            (2031, 2),
            world.jinshan.as_str(),
            world.jinshan.as_str(),
            2,
            "hostCenterId",
        ),
    ];
    for (season, provider, host, quota, field) in cases {
        let r = propose(&app, &jinshan, season, provider, host, quota).await;
        assert_bad_input(&r, field);
    }
}

#[tokio::test]
async fn scheduling_on_an_allocation_that_is_not_accepted_is_a_conflict() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "Hall").await;
    let r = propose(&app, &jinshan, (2031, 2), &world.jinshan, &world.pinghu, 2).await;
    let proposed = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = schedule(
        &app,
        &pinghu,
        exchange(
            &venue,
            &proposed,
            "2031-05-01T19:00:00+08:00",
            "2031-05-01T21:00:00+08:00",
        ),
    )
    .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    respond(&app, &pinghu, &proposed, false).await.data();
    let r = schedule(
        &app,
        &pinghu,
        exchange(
            &venue,
            &proposed,
            "2031-05-01T19:00:00+08:00",
            "2031-05-01T21:00:00+08:00",
        ),
    )
    .await;
    assert_eq!(r.code(), Some("CONFLICT"), "declined: {}", r.body);
    let r = propose(&app, &pinghu, (2031, 3), &world.jinshan, &world.pinghu, 2).await;
    let withdrawn = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql(Some(&pinghu), WITHDRAW, json!({ "id": withdrawn }))
        .await
        .data();
    let r = schedule(
        &app,
        &pinghu,
        exchange(
            &venue,
            &withdrawn,
            "2031-08-01T19:00:00+08:00",
            "2031-08-01T21:00:00+08:00",
        ),
    )
    .await;
    assert_eq!(r.code(), Some("CONFLICT"), "withdrawn: {}", r.body);
    let r = list(&app, Some(&pinghu), json!({})).await;
    assert_eq!(r.data()["performances"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_exchange_sessions_on_a_quota_of_two_schedule_exactly_two() {
    let (a, b) = spawn_pair().await;
    let jinshan = a.admin("jinshan").await;
    let pinghu = a.admin("pinghu").await;
    let id = accepted_jinshan_to_pinghu(&a, &jinshan, &pinghu, (2031, 2), 2).await;
    let venues = [
        hall(&a, &pinghu, "Hall 1").await,
        hall(&a, &pinghu, "Hall 2").await,
    ];
    let attempts = (0..10).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let venue = &venues[(i / 2) % 2];
        let day = i + 1;
        let input = exchange(
            venue,
            &id,
            &format!("2031-05-{day:02}T19:00:00+08:00"),
            &format!("2031-05-{day:02}T21:00:00+08:00"),
        );
        let pinghu = pinghu.clone();
        async move { schedule(app, &pinghu, input).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let won = outcomes
        .iter()
        .filter(|r| r.body.get("errors").is_none())
        .count();
    let refused = outcomes
        .iter()
        .filter(|r| r.code() == Some("QUOTA_EXCEEDED"))
        .count();
    assert_eq!(
        (won, refused),
        (2, 8),
        "{:?}",
        outcomes.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for instance in [&a, &b] {
        let seen = allocation(instance, &pinghu, &id).await;
        assert_eq!(seen["performancesScheduled"], 2);
        assert_eq!(seen["remaining"], 0);
        assert_eq!(seen["performances"].as_array().expect("list").len(), 2);
    }
    let r = list(&a, Some(&pinghu), json!({})).await;
    assert_eq!(r.data()["performances"]["totalCount"], 2);
}

#[tokio::test]
async fn cancelling_an_exchange_session_gives_its_slot_back() {
    let app = spawn().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let id = accepted_jinshan_to_pinghu(&app, &jinshan, &pinghu, (2031, 2), 2).await;
    let venue = hall(&app, &pinghu, "Hall").await;
    let on = |day: u32| {
        exchange(
            &venue,
            &id,
            &format!("2031-05-{day:02}T19:00:00+08:00"),
            &format!("2031-05-{day:02}T21:00:00+08:00"),
        )
    };
    let first = scheduled(&app, &pinghu, on(1)).await;
    let second = published(&app, &pinghu, on(2)).await;
    let r = schedule(&app, &pinghu, on(3)).await;
    assert_eq!(r.code(), Some("QUOTA_EXCEEDED"), "{}", r.body);
    let seen = allocation(&app, &pinghu, &id).await;
    assert_eq!(
        (
            seen["performancesScheduled"].clone(),
            seen["remaining"].clone()
        ),
        (json!(2), json!(0))
    );

    cancel(&app, &pinghu, &second, "the troupe cannot travel")
        .await
        .data();
    let seen = allocation(&app, &jinshan, &id).await;
    assert_eq!(seen["performancesScheduled"], 1);
    assert_eq!(seen["remaining"], 1);
    let third = scheduled(&app, &pinghu, on(3)).await;
    let r = schedule(&app, &pinghu, on(4)).await;
    assert_eq!(r.code(), Some("QUOTA_EXCEEDED"), "{}", r.body);
    let seen = allocation(&app, &pinghu, &id).await;
    assert_eq!(seen["performancesScheduled"], 2);
    assert_eq!(seen["remaining"], 0);
    // The allocation lists its sessions, the cancelled one included.
    let mut linked: Vec<(String, String)> = seen["performances"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    linked.sort();
    let mut expected = vec![
        (first, "DRAFT".to_owned()),
        (second, "CANCELLED".to_owned()),
        (third, "DRAFT".to_owned()),
    ];
    expected.sort();
    assert_eq!(linked, expected);
}

#[tokio::test]
async fn an_exchange_session_is_hosted_by_the_allocations_host() {
    let app = spawn().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let jiashan = app.admin("jiashan").await;
    let id = accepted_jinshan_to_pinghu(&app, &jinshan, &pinghu, (2031, 2), 2).await;
    let jinshan_hall = hall(&app, &jinshan, "Jinshan hall").await;
    let jiashan_hall = hall(&app, &jiashan, "Jiashan hall").await;
    let input = |venue: &str| {
        exchange(
            venue,
            &id,
            "2031-05-01T19:00:00+08:00",
            "2031-05-01T21:00:00+08:00",
        )
    };
    // The provider cannot host its own exchange session.
    let r = schedule(&app, &jinshan, input(&jinshan_hall)).await;
    assert_bad_input(&r, "allocationId");
    // A third center does not even see the allocation.
    let r = schedule(&app, &jiashan, input(&jiashan_hall)).await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    let seen = allocation(&app, &pinghu, &id).await;
    assert_eq!(seen["performancesScheduled"], 0);
}

#[tokio::test]
async fn an_exchange_session_originates_from_the_allocations_provider() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let id = accepted_jinshan_to_pinghu(&app, &jinshan, &pinghu, (2031, 2), 3).await;
    let venue = hall(&app, &pinghu, "Hall").await;
    let on = |day: u32| {
        exchange(
            &venue,
            &id,
            &format!("2031-05-{day:02}T19:00:00+08:00"),
            &format!("2031-05-{day:02}T21:00:00+08:00"),
        )
    };
    for origin in [&world.pinghu, &world.jiashan] {
        let r = schedule(&app, &pinghu, with(on(1), "originCenterId", json!(origin))).await;
        assert_bad_input(&r, "originCenterId");
    }
    // By default the origin is the provider; naming it explicitly works too.
    let r = schedule(&app, &pinghu, on(1)).await;
    let perf = &r.data()["schedulePerformance"];
    assert_eq!(perf["originCenter"]["code"], "jinshan");
    assert_eq!(perf["hostCenter"]["code"], "pinghu");
    assert_eq!(perf["allocation"]["id"], id.as_str());
    let r = schedule(
        &app,
        &pinghu,
        with(on(2), "originCenterId", json!(world.jinshan)),
    )
    .await;
    assert_eq!(
        r.data()["schedulePerformance"]["originCenter"]["code"],
        "jinshan"
    );
    assert_eq!(
        allocation(&app, &pinghu, &id).await["performancesScheduled"],
        2
    );
}

#[tokio::test]
async fn an_exchange_session_belongs_to_the_season_of_its_local_start_date() {
    let app = spawn().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let id = accepted_jinshan_to_pinghu(&app, &jinshan, &pinghu, (2031, 2), 5).await;
    let venue = hall(&app, &pinghu, "Hall").await;
    // One minute before the quarter, local time (already 2031-03-31T15:59Z).
    let r = schedule(
        &app,
        &pinghu,
        exchange(
            &venue,
            &id,
            "2031-03-31T23:59:00+08:00",
            "2031-04-01T01:30:00+08:00",
        ),
    )
    .await;
    assert_bad_input(&r, "startsAt");
    // The first local minute of the quarter, sent in UTC (still March 31st there).
    let r = schedule(
        &app,
        &pinghu,
        exchange(&venue, &id, "2031-03-31T16:00:00Z", "2031-03-31T18:00:00Z"),
    )
    .await;
    assert_eq!(
        r.data()["schedulePerformance"]["startsAt"],
        "2031-04-01T00:00:00+08:00"
    );
    // The last local minute of the quarter; the session may end after it.
    let r = schedule(
        &app,
        &pinghu,
        exchange(
            &venue,
            &id,
            "2031-06-30T23:59:00+08:00",
            "2031-07-01T01:30:00+08:00",
        ),
    )
    .await;
    let last = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The first local minute of the next quarter (still June 30th in UTC).
    let r = schedule(
        &app,
        &pinghu,
        exchange(&venue, &id, "2031-06-30T16:00:00Z", "2031-06-30T18:00:00Z"),
    )
    .await;
    assert_bad_input(&r, "startsAt");
    // Moving a session out of its season is refused as well.
    let r = app
        .gql(
            Some(&pinghu),
            UPDATE,
            json!({ "id": last, "i": {
                "startsAt": "2031-07-02T19:00:00+08:00",
                "endsAt": "2031-07-02T21:00:00+08:00"
            } }),
        )
        .await;
    assert_bad_input(&r, "startsAt");
    assert_eq!(
        allocation(&app, &pinghu, &id).await["performancesScheduled"],
        2
    );
}

// ---------------------------------------------------------------------------------------
// The catalogue: pagination and filters.
// ---------------------------------------------------------------------------------------

/// Inserts `count` published performances at `venue_id` straight into the database; start
/// times come in groups of equal instants, and ids are not in start order. Returns their
/// global ids in (startsAt, id) order.
async fn insert_published(app: &TestApp, venue_id: &str, count: usize) -> Vec<String> {
    use chrono::{Duration, TimeZone, Utc};
    use entity::enums::{PerformanceCategory, PerformanceStatus};
    use entity::{center, performance};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
    use zouqin::ids::{Kind, decode, encode};

    let venue_row = decode(Kind::Venue, venue_id).expect("venue id");
    let host = center::Entity::find()
        .filter(center::Column::Code.eq("pinghu"))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("pinghu");
    let base = Utc
        .with_ymd_and_hms(2030, 1, 1, 11, 0, 0)
        .single()
        .expect("valid");
    let now = zouqin::domain::now();
    let production = {
        use sea_orm::ActiveModelTrait;
        entity::production::ActiveModel {
            origin_center_id: Set(host.id),
            title: Set("Sessions".to_owned()),
            description: Set(String::new()),
            category: Set(PerformanceCategory::Concert),
            created_at: Set(now),
            listed_at: Set(Some(now)),
            ..Default::default()
        }
        .insert(&app.db.conn)
        .await
        .expect("insert the production")
        .id
    };
    // 36 distinct instants, each shared by 6 or 7 sessions whose ids are far apart.
    let rows = (0..count).map(|i| {
        let starts_at = base + Duration::hours(((i * 17) % 36) as i64);
        performance::ActiveModel {
            venue_id: Set(venue_row),
            host_center_id: Set(host.id),
            origin_center_id: Set(host.id),
            allocation_id: Set(None),
            production_id: Set(production),
            title: Set(format!("Session {i}")),
            description: Set(String::new()),
            category: Set(PerformanceCategory::Concert),
            starts_at: Set(starts_at),
            ends_at: Set(starts_at + Duration::minutes(50)),
            status: Set(PerformanceStatus::Published),
            price_cents: Set(0),
            per_resident_limit: Set(4),
            booking_opens_at: Set(Some(now)),
            booking_closes_at: Set(None),
            capacity: Set(200),
            published_at: Set(Some(now)),
            cancelled_at: Set(None),
            cancellation_reason: Set(None),
            lock_version: Set(0),
            created_at: Set(now),
            ..Default::default()
        }
    });
    performance::Entity::insert_many(rows)
        .exec(&app.db.conn)
        .await
        .expect("insert performances");
    performance::Entity::find()
        .order_by_asc(performance::Column::StartsAt)
        .order_by_asc(performance::Column::Id)
        .all(&app.db.conn)
        .await
        .expect("read back")
        .into_iter()
        .map(|p| encode(Kind::Performance, p.id))
        .collect()
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) { performances(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id startsAt } } } }";

#[tokio::test]
async fn paging_forward_and_backward_through_250_performances_visits_each_once_in_order() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = hall(&app, &admin, "Hall").await;
    let expected = insert_published(&app, &venue, 250).await;
    assert_eq!(expected.len(), 250);
    let page_ids = |r: &Gql| -> Vec<String> {
        r.data()["performances"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
            .collect()
    };

    // Forward, 100 at a time.
    let mut forward = Vec::new();
    let mut after = Value::Null;
    let mut flags = Vec::new();
    loop {
        let r = app
            .anon(PAGE, json!({ "first": 100, "after": after }))
            .await;
        let connection = &r.data()["performances"];
        assert_eq!(connection["totalCount"], 250);
        let info = &connection["pageInfo"];
        let edges = connection["edges"].as_array().expect("edges");
        assert_eq!(info["startCursor"], edges[0]["cursor"]);
        assert_eq!(info["endCursor"], edges[edges.len() - 1]["cursor"]);
        flags.push((
            edges.len(),
            info["hasPreviousPage"].as_bool().expect("bool"),
            info["hasNextPage"].as_bool().expect("bool"),
        ));
        forward.extend(page_ids(&r));
        if info["hasNextPage"] == false {
            break;
        }
        assert!(flags.len() < 5, "paging forward does not end");
        after = info["endCursor"].clone();
    }
    assert_eq!(
        flags,
        vec![(100, false, true), (100, true, true), (50, true, false)]
    );
    assert_eq!(forward, expected, "forward order is (startsAt, id)");

    // Backward from the end, 100 at a time.
    let mut pages = Vec::new();
    let mut before = Value::Null;
    let mut flags = Vec::new();
    loop {
        let r = app
            .anon(PAGE, json!({ "last": 100, "before": before }))
            .await;
        let connection = &r.data()["performances"];
        assert_eq!(connection["totalCount"], 250);
        let info = &connection["pageInfo"];
        let edges = connection["edges"].as_array().expect("edges");
        assert_eq!(info["startCursor"], edges[0]["cursor"]);
        assert_eq!(info["endCursor"], edges[edges.len() - 1]["cursor"]);
        flags.push((
            edges.len(),
            info["hasPreviousPage"].as_bool().expect("bool"),
            info["hasNextPage"].as_bool().expect("bool"),
        ));
        pages.push(page_ids(&r));
        if info["hasPreviousPage"] == false {
            break;
        }
        assert!(flags.len() < 5, "paging backward does not end");
        before = info["startCursor"].clone();
    }
    assert_eq!(
        flags,
        vec![(100, true, false), (100, true, true), (50, false, true)]
    );
    let backward: Vec<String> = pages.into_iter().rev().flatten().collect();
    assert_eq!(
        backward, expected,
        "backward pages keep (startsAt, id) order"
    );

    // The page boundaries fall inside groups of equal start times, so the id tie-break
    // is what keeps them apart.
    let r = app.anon(PAGE, json!({ "first": 100 })).await;
    let edges = r.data()["performances"]["edges"].clone();
    let next = app
        .anon(PAGE, json!({ "first": 1, "after": edges[99]["cursor"] }))
        .await;
    assert_eq!(
        edges[99]["node"]["startsAt"],
        next.data()["performances"]["edges"][0]["node"]["startsAt"],
        "the fixture must split a group of equal start times across pages"
    );
    // A foreign or garbage cursor is bad input, not a crash.
    let r = app
        .anon(PAGE, json!({ "first": 10, "after": "not-a-cursor" }))
        .await;
    assert_bad_input(&r, "after");
}

#[tokio::test]
async fn performances_filter_by_host_origin_category_time_search_and_status() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let jinshan = app.admin("jinshan").await;
    let pinghu_hall = hall(&app, &pinghu, "平湖文化馆剧场").await;
    let jinshan_hall = hall(&app, &jinshan, "金山文化馆剧场").await;
    let make = |venue: &str, title: &str, category: &str, day: &str| {
        let mut input = session(
            venue,
            title,
            &format!("{day}T19:00:00+08:00"),
            &format!("{day}T21:00:00+08:00"),
        );
        input["category"] = json!(category);
        input
    };
    let mut thunderstorm = make(&pinghu_hall, "Shanghai Opera Night", "OPERA", "2030-05-01");
    thunderstorm["description"] = json!("沪剧《大雷雨》 (The Thunderstorm)");
    thunderstorm["originCenterId"] = json!(world.jinshan);
    published(&app, &pinghu, thunderstorm).await;
    published(
        &app,
        &pinghu,
        make(&pinghu_hall, "Spring Concert", "CONCERT", "2030-06-01"),
    )
    .await;
    published(
        &app,
        &jinshan,
        make(
            &jinshan_hall,
            "浙沪共村晚 Village Gala",
            "GALA",
            "2030-07-01",
        ),
    )
    .await;
    let dance = published(
        &app,
        &jinshan,
        make(&jinshan_hall, "Dragon Dance 100%", "DANCE", "2030-05-15"),
    )
    .await;
    cancel(&app, &jinshan, &dance, "rain").await.data();
    scheduled(
        &app,
        &pinghu,
        make(&pinghu_hall, "Secret Opera", "OPERA", "2030-05-20"),
    )
    .await;

    let anon = |filter: Value| list(&app, None, filter);
    let check = |r: Gql, expected: &[&str]| {
        assert_eq!(titles(&r), expected, "{}", r.body);
        assert_eq!(
            r.data()["performances"]["totalCount"],
            expected.len(),
            "{}",
            r.body
        );
    };

    check(
        anon(json!({ "hostCenterId": world.pinghu })).await,
        &["Shanghai Opera Night", "Spring Concert"],
    );
    check(
        anon(json!({ "hostCenterId": world.jinshan })).await,
        &["Dragon Dance 100%", "浙沪共村晚 Village Gala"],
    );
    check(anon(json!({ "hostCenterId": world.jiashan })).await, &[]);
    check(
        anon(json!({ "originCenterId": world.jinshan })).await,
        &[
            "Shanghai Opera Night",
            "Dragon Dance 100%",
            "浙沪共村晚 Village Gala",
        ],
    );
    check(
        anon(json!({ "category": "OPERA" })).await,
        &["Shanghai Opera Night"],
    );
    check(
        list(&app, Some(&pinghu), json!({ "category": "OPERA" })).await,
        &["Shanghai Opera Night", "Secret Opera"],
    );
    // `from` is inclusive, `to` exclusive.
    check(
        anon(json!({
            "from": "2030-05-15T19:00:00+08:00",
            "to": "2030-06-01T19:00:00+08:00"
        }))
        .await,
        &["Dragon Dance 100%"],
    );
    check(
        anon(json!({ "from": "2030-05-15T19:00:01+08:00" })).await,
        &["Spring Concert", "浙沪共村晚 Village Gala"],
    );
    check(
        anon(json!({ "to": "2030-05-15T11:00:01Z" })).await,
        &["Shanghai Opera Night", "Dragon Dance 100%"],
    );
    // Search is case-insensitive, over title and description, and takes `%` literally.
    check(
        anon(json!({ "search": "shanghai OPERA" })).await,
        &["Shanghai Opera Night"],
    );
    check(
        anon(json!({ "search": "tHUNDERSTORM" })).await,
        &["Shanghai Opera Night"],
    );
    check(
        anon(json!({ "search": "大雷雨" })).await,
        &["Shanghai Opera Night"],
    );
    check(
        anon(json!({ "search": "village gala" })).await,
        &["浙沪共村晚 Village Gala"],
    );
    check(
        anon(json!({ "search": "100%" })).await,
        &["Dragon Dance 100%"],
    );
    check(anon(json!({ "search": "%" })).await, &["Dragon Dance 100%"]);
    check(anon(json!({ "search": "_" })).await, &[]);
    check(anon(json!({ "search": "secret" })).await, &[]);
    // Status.
    check(
        anon(json!({ "status": "CANCELLED" })).await,
        &["Dragon Dance 100%"],
    );
    check(
        anon(json!({ "status": "PUBLISHED" })).await,
        &[
            "Shanghai Opera Night",
            "Spring Concert",
            "浙沪共村晚 Village Gala",
        ],
    );
    check(anon(json!({ "status": "DRAFT" })).await, &[]);
    check(
        list(&app, Some(&pinghu), json!({ "status": "DRAFT" })).await,
        &["Secret Opera"],
    );
    check(
        list(&app, Some(&jinshan), json!({ "status": "DRAFT" })).await,
        &[],
    );
    // Filters combine.
    check(
        anon(json!({ "hostCenterId": world.pinghu, "category": "CONCERT" })).await,
        &["Spring Concert"],
    );
    check(
        anon(json!({ "hostCenterId": world.jinshan, "status": "PUBLISHED", "search": "gala" }))
            .await,
        &["浙沪共村晚 Village Gala"],
    );
}

// ---------------------------------------------------------------------------------------
// What a page costs.
// ---------------------------------------------------------------------------------------

/// Counts the SQL statements each HTTP request runs.
///
/// sqlx emits one `sqlx::query` tracing event per statement. The server wraps each request
/// in a `request` span carrying its `x-request-id`; DataLoader batches run in that span
/// (async-graphql's `tracing` feature), and SQLite's worker threads re-enter the caller's
/// span. A process-wide subscriber therefore attributes every statement to the request
/// that ran it, even while other tests run in parallel.
mod statements {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing::{Event, Metadata, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// Only request ids with this prefix are counted.
    pub const PREFIX: &str = "statement-count-";

    fn counts() -> &'static Mutex<HashMap<String, usize>> {
        static COUNTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
        COUNTS.get_or_init(Default::default)
    }

    struct RequestId(String);

    struct FindRequestId(Option<String>);

    impl Visit for FindRequestId {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "request_id" {
                self.0 = Some(value.to_owned());
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "request_id" {
                self.0 = Some(format!("{value:?}"));
            }
        }
    }

    struct Counter;

    impl<S> Layer<S> for Counter
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
            (metadata.is_span() && metadata.name() == "request")
                || metadata.target() == "sqlx::query"
        }

        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut visitor = FindRequestId(None);
            attrs.record(&mut visitor);
            if let (Some(value), Some(span)) = (visitor.0, ctx.span(id))
                && value.starts_with(PREFIX)
            {
                span.extensions_mut().insert(RequestId(value));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            if event.metadata().target() != "sqlx::query" {
                return;
            }
            let Some(scope) = ctx.event_scope(event) else {
                return;
            };
            for span in scope {
                if let Some(RequestId(id)) = span.extensions().get::<RequestId>() {
                    *counts()
                        .lock()
                        .expect("counts")
                        .entry(id.clone())
                        .or_default() += 1;
                    return;
                }
            }
        }
    }

    /// Installs the counting subscriber for the whole test process (once).
    pub fn install() {
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        let installed = *INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Counter))
                .is_ok()
        });
        assert!(
            installed,
            "another global tracing subscriber was installed first"
        );
    }

    /// How many statements the request with `request_id` ran.
    pub fn of(request_id: &str) -> usize {
        counts()
            .lock()
            .expect("counts")
            .get(request_id)
            .copied()
            .unwrap_or(0)
    }
}

/// Runs `query` anonymously with a fresh request id; returns the body and the number of
/// SQL statements it cost.
async fn counted(app: &TestApp, query: &str, variables: Value) -> (Value, usize) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let request_id = format!(
        "{}{}-{}",
        statements::PREFIX,
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", &request_id)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    // A statement may still be logged on a driver thread after the answer: read the count
    // until it has stayed the same for 50 ms (at most 5 s).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut count, mut steady) = (statements::of(&request_id), 0);
    while steady < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let now = statements::of(&request_id);
        steady = if now == count { steady + 1 } else { 0 };
        count = now;
    }
    (body, count)
}

#[tokio::test]
async fn a_page_of_performances_costs_the_same_few_statements_whatever_its_size() {
    statements::install();
    let app = spawn().await;
    let world = app.world().await;
    let mut venues = Vec::new();
    for code in ["pinghu", "jinshan", "jiashan"] {
        let admin = app.admin(code).await;
        venues.push((
            admin.clone(),
            hall(&app, &admin, &format!("{code} hall")).await,
        ));
        venues.push((
            admin.clone(),
            hall(&app, &admin, &format!("{code} stage")).await,
        ));
    }
    // 120 published sessions, round-robin over six venues of three centers, half of them
    // from another center.
    for i in 0..120u32 {
        let (admin, venue) = &venues[(i % 6) as usize];
        let day = i / 6 + 1;
        let mut input = session(
            venue,
            &format!("Session {i}"),
            &format!("2030-03-{day:02}T19:00:00+08:00"),
            &format!("2030-03-{day:02}T21:00:00+08:00"),
        );
        if i % 2 == 1 {
            input["originCenterId"] = json!(world.jinshan);
        }
        published(&app, admin, input).await;
    }
    let query = "query($n: Int) { performances(first: $n) { totalCount edges { node { id venue { name center { name } } hostCenter { name } originCenter { name } seatsAvailable } } } }";
    let (body, small) = counted(&app, query, json!({ "n": 10 })).await;
    assert_eq!(
        body["data"]["performances"]["edges"]
            .as_array()
            .expect("edges")
            .len(),
        10
    );
    assert_eq!(
        body["data"]["performances"]["edges"][0]["node"]["seatsAvailable"],
        200
    );
    let (body, large) = counted(&app, query, json!({ "n": 100 })).await;
    let edges = body["data"]["performances"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 100);
    assert!(
        edges.iter().all(|e| e["node"]["seatsAvailable"] == 200
            && e["node"]["venue"]["center"]["name"].is_string()
            && e["node"]["originCenter"]["name"].is_string()),
        "every node resolved"
    );
    assert!(small > 0, "no statement was counted: the counter is broken");
    assert_eq!(
        small, large,
        "a page of 10 cost {small} statements, a page of 100 cost {large}"
    );
    // count + page + venues + centers + free seats, with one to spare.
    assert!(large <= 6, "a page of 100 cost {large} statements");
}

//! Scheduling: venues and their seats, performances and their life cycle, seasonal
//! allocations and their quotas, the public catalogue's pagination and filters, and what a
//! page of the catalogue costs in SQL statements (see ../shared/design/API.md).

use serde_json::{Value, json};

use crate::helpers::*;

mod allocations;
mod catalogue;
mod page_cost;
mod performances;
mod venues;

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

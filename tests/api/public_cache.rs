//! The public answer cache: anonymous answers come from memory only while the database
//! provably holds what it held when they were computed, so they are always exactly what
//! executing the query would give. Two real processes on one PostgreSQL database (the cache
//! checks PostgreSQL's snapshot; it is off on SQLite), each with its own `/metrics`.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::booking::{Layout, book_quantity, grid, row_id, show};
use crate::helpers::*;

/// What an anonymous visitor reads of one performance, and the first page of the catalogue.
const PAGE: &str = "query($id: ID!) { performance(id: $id) { title seatsAvailable } \
     performances(first: 50) { edges { node { id title seatsAvailable venue { name center { name } } } } } }";

/// The instance's count of answers with this cache outcome (`hit`, `stored`, `passed`).
async fn outcomes(app: &TestApp, outcome: &str) -> u64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!("zouqin_public_cache_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Asks `query` anonymously until one answer comes from memory, checking every answer
/// against `expected`. Other tests commit on the same server all the time (each commit
/// anywhere on it changes the snapshot), so a hit may take a few tries; it must come.
async fn until_hit(app: &TestApp, query: &str, variables: &Value, expected: &Value) {
    let hits = outcomes(app, "hit").await;
    for _ in 0..400 {
        let r = app.anon(query, variables.clone()).await;
        assert_eq!(&r.body, expected, "an answer differs from the computed one");
        if outcomes(app, "hit").await > hits {
            return;
        }
    }
    panic!("no answer ever came from memory");
}

fn seats_of(body: &Value) -> i64 {
    body["data"]["performance"]["seatsAvailable"]
        .as_i64()
        .expect("seatsAvailable")
}

#[tokio::test]
async fn anonymous_answers_come_from_memory_only_while_the_database_is_unchanged_on_postgres() {
    if postgres_or_skip(
        "anonymous_answers_come_from_memory_only_while_the_database_is_unchanged_on_postgres",
    )
    .is_none()
    {
        return;
    }
    let (a, b) = spawn_pair().await;
    let world = a.world().await;
    let admin = a.admin("pinghu").await;
    let perf = show(&a, &admin, Layout::Rows(&grid(2, 10)), json!({})).await;
    let vars = json!({ "id": perf.id });

    // Asked again while nothing changed: served from memory, the same answer.
    let computed = b.anon(PAGE, vars.clone()).await;
    assert!(computed.body.get("errors").is_none(), "{:?}", computed.body);
    assert_eq!(seats_of(&computed.body), 20);
    until_hit(&b, PAGE, &vars, &computed.body).await;

    // A booking through the other instance: the very next anonymous answer here has it.
    let resident = a.resident("li@residents.example", &world.pinghu).await;
    let booked = book_quantity(&a, &resident, &perf.id, 2).await;
    assert!(booked.body.get("errors").is_none(), "{:?}", booked.body);
    let after = b.anon(PAGE, vars.clone()).await;
    assert_eq!(
        seats_of(&after.body),
        18,
        "a kept answer outlived a booking"
    );
    until_hit(&b, PAGE, &vars, &after.body).await;

    // A write that never went through the API at all is seen at once as well.
    a.db.conn
        .execute_unprepared(&format!(
            "UPDATE performance SET title = 'Renamed in SQL' WHERE id = {}",
            row_id(zouqin::ids::Kind::Performance, &perf.id)
        ))
        .await
        .expect("rename");
    let renamed = b.anon(PAGE, vars.clone()).await;
    assert_eq!(
        renamed.body["data"]["performance"]["title"], "Renamed in SQL",
        "a kept answer outlived a write made outside the API"
    );

    // Signed in, nothing is ever served from memory or kept.
    let hits = outcomes(&b, "hit").await;
    let kept = outcomes(&b, "stored").await;
    for _ in 0..20 {
        let r = b.gql(Some(&resident), PAGE, vars.clone()).await;
        assert_eq!(seats_of(&r.body), 18);
    }
    assert_eq!(
        outcomes(&b, "hit").await,
        hits,
        "a signed-in answer came from memory"
    );
    assert_eq!(
        outcomes(&b, "stored").await,
        kept,
        "a signed-in answer was kept"
    );
}

#[tokio::test]
async fn answers_that_read_the_clock_or_carry_errors_are_never_kept_on_postgres() {
    if postgres_or_skip("answers_that_read_the_clock_or_carry_errors_are_never_kept_on_postgres")
        .is_none()
    {
        return;
    }
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let perf = show(&a, &admin, Layout::Rows(&grid(1, 10)), json!({})).await;
    let vars = json!({ "id": perf.id });
    // The seats a visitor may book depend on the time (shares open to all at a given
    // instant), so this answer reads the clock and must be recomputed every time.
    let timed = "query($id: ID!) { performance(id: $id) { seatsAvailableToViewer } }";
    // An id that names nothing: an error answer.
    let missing = json!({ "id": "not-an-id" });
    let failing = "query($id: ID!) { performance(id: $id) { title } }";
    let (hits, kept) = (outcomes(&b, "hit").await, outcomes(&b, "stored").await);
    for _ in 0..30 {
        let r = b.anon(timed, vars.clone()).await;
        assert_eq!(r.body["data"]["performance"]["seatsAvailableToViewer"], 10);
        let r = b.anon(failing, missing.clone()).await;
        assert!(r.body.get("errors").is_some(), "{:?}", r.body);
    }
    assert_eq!(
        outcomes(&b, "hit").await,
        hits,
        "such an answer came from memory"
    );
    assert_eq!(
        outcomes(&b, "stored").await,
        kept,
        "such an answer was kept"
    );
    assert!(
        outcomes(&b, "passed").await >= 60,
        "the answers were not considered for the cache at all"
    );
    // And an ordinary page on the same instance is kept (the cache is on).
    let page = "query($id: ID!) { performance(id: $id) { title } }";
    let computed = b.anon(page, vars.clone()).await;
    until_hit(&b, page, &vars, &computed.body).await;
}

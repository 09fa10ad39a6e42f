//! Plans at size (issue 17): on a generated database (`zouqin generate` at 1/100 of
//! Shanghai's size), every statement the server runs for the list queries and the hot
//! paths reads large tables through an index and sorts only bounded sets.
//!
//! The statements are not copied here: the test runs the real API requests (and the
//! no-show and share-release steps) against an in-process server whose database handle
//! records every statement it executes, then asks PostgreSQL for the plan of each one
//! (`EXPLAIN (FORMAT JSON)`, with the values it ran with). The parallel booking statements,
//! sent through the raw PostgreSQL pool, come from `booking::parallel_statements()` and are
//! planned generically (the plan a prepared statement settles on). When the server's SQL
//! changes, what is checked changes with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use zouqin::app::Application;
use zouqin::db::{self, Database};
use zouqin::generate::{self, Plan};
use zouqin::ids::{Kind, encode};

use crate::helpers::{self, TestApp};

/// A table with more rows than this (about 100,000 at full size) must not be read whole.
const LARGE_TABLE_ROWS: f64 = 1_000.0;
/// A sort of more rows than this, not bounded by a `Limit`, sorts an unbounded set.
const LARGE_SORT_ROWS: f64 = 1_000.0;

/// Statements allowed to read a large table whole, each with its reason: (every fragment
/// the statement contains, why). Kept few; each use is printed (`--nocapture` shows it).
const ALLOWED: [(&[&str], &str); 2] = [
    (
        &["SELECT COUNT(*)", " LIKE "],
        "totalCount of a `search`: a substring match (LIKE '%…%') that no B-tree index narrows; \
         at full size it needs a trigram index (pg_trgm on PostgreSQL, nothing on SQLite)",
    ),
    (
        &[
            "SELECT COUNT(*)",
            "WHERE \"performance\".\"status\" <> $1 OR \"performance\".\"host_center_id\" = $2) AS",
        ],
        "totalCount of a staff member's unfiltered list (every public performance and its \
         center's drafts): every row matches, so any plan reads them all",
    ),
];

/// The reason a statement may read large tables whole, if it is one of [`ALLOWED`].
fn allowance(sql: &str) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|(fragments, _)| fragments.iter().all(|f| sql.contains(f)))
        .map(|(_, why)| *why)
}

/// What a plan does that does not scale, each as one line.
///
/// A count (`totalCount`: `SELECT COUNT(*) … FROM (…)`) reads every match whatever the
/// index, so it may walk a whole index; it must still not read the table itself.
fn problems(sql: &str, plan: &Value, rows_of: &HashMap<String, f64>) -> Vec<String> {
    let mut found = Vec::new();
    let counting = sql.trim_start().starts_with("SELECT COUNT(*)");
    if let Some(statements) = plan.as_array() {
        for statement in statements {
            walk(&statement["Plan"], counting, rows_of, &mut found);
        }
    }
    found
}

/// `bounded`: a `Limit` above stops the node early (or a count reads every match anyway).
fn walk(node: &Value, under_limit: bool, rows_of: &HashMap<String, f64>, found: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().unwrap_or_default();
    let table_rows = rows_of.get(relation).copied().unwrap_or(0.0);
    let large = table_rows > LARGE_TABLE_ROWS;
    match kind {
        "Seq Scan" if large => found.push(format!("Seq Scan on {relation} ({table_rows} rows)")),
        "Index Scan" | "Index Only Scan" | "Bitmap Index Scan"
            if large && node.get("Index Cond").is_none() && !under_limit =>
        {
            found.push(format!(
                "whole-index scan of {} on {relation} ({table_rows} rows), not bounded by a Limit",
                node["Index Name"].as_str().unwrap_or("?")
            ));
        }
        "Sort" | "Incremental Sort" if !under_limit => {
            let input = node["Plans"][0]["Plan Rows"].as_f64().unwrap_or(0.0);
            if input > LARGE_SORT_ROWS {
                found.push(format!(
                    "{kind} of ~{input} rows by {}, not bounded by a Limit",
                    node["Sort Key"]
                ));
            }
        }
        _ => {}
    }
    let under_limit = under_limit || kind == "Limit";
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, under_limit, rows_of, found);
        }
    }
}

/// The plan as indented lines: node, relation, index, estimated rows.
fn summary(plan: &Value) -> String {
    fn lines(node: &Value, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "{:indent$}{}{}{} rows={}\n",
            "",
            node["Node Type"].as_str().unwrap_or("?"),
            node["Relation Name"]
                .as_str()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default(),
            node["Index Name"]
                .as_str()
                .map(|i| format!(" using {i}"))
                .unwrap_or_default(),
            node["Plan Rows"],
            indent = depth * 2
        ));
        if let Some(children) = node["Plans"].as_array() {
            for child in children {
                lines(child, depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    if let Some(statements) = plan.as_array() {
        for statement in statements {
            lines(&statement["Plan"], 2, &mut out);
        }
    }
    out
}

/// Whether a recorded statement is one PostgreSQL can plan (not a transaction command).
fn plannable(sql: &str) -> bool {
    let head = sql.trim_start().to_ascii_uppercase();
    ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
        .iter()
        .any(|k| head.starts_with(k))
}

/// Estimated rows of every table, as the planner sees them after `ANALYZE`.
async fn table_rows(conn: &impl ConnectionTrait) -> HashMap<String, f64> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text AS name, CAST(reltuples AS FLOAT8) AS n FROM pg_class \
             WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
        ))
        .await
        .expect("table sizes");
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "name").expect("name"),
                r.try_get::<f64>("", "n").expect("rows"),
            )
        })
        .collect()
}

/// Prices sequential scans out, for the plans of one transaction.
///
/// At 1/100 of the full size a table of a few thousand rows is a few dozen pages, and
/// PostgreSQL rightly reads it whole where at full size it must not. With sequential scans
/// priced out the planner still takes one wherever no index can serve the statement, which
/// is what the check is after; an index walked whole is caught as such by [`problems`].
const SIZE_BLIND: &str = "SET LOCAL enable_seqscan = off";

async fn explain(conn: &Database, statement: &Statement) -> Value {
    let explained = Statement {
        sql: format!("EXPLAIN (FORMAT JSON) {}", statement.sql),
        ..statement.clone()
    };
    let txn = conn.conn.begin().await.expect("begin");
    txn.execute_unprepared(SIZE_BLIND).await.expect("setting");
    let row = txn
        .query_one_raw(explained)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {}: {e}", statement.sql))
        .expect("a plan");
    let plan = row.try_get_by_index::<Value>(0).expect("plan JSON");
    txn.rollback().await.expect("rollback");
    plan
}

/// The generic plan of a statement of the raw pool (no values: what a prepared statement
/// settles on after a few executions).
async fn explain_generic(conn: &Database, sql: &str) -> Value {
    let params = (1..=32)
        .rev()
        .find(|n| sql.contains(&format!("${n}")))
        .unwrap_or(0);
    let txn = conn.conn.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .expect("generic plans");
    txn.execute_unprepared(SIZE_BLIND).await.expect("setting");
    // A parameter the statement skips gets a type of its own; the others are inferred.
    let types: Vec<&str> = (1..=params)
        .map(|n| {
            if sql.contains(&format!("${n}:")) || sql.contains(&format!("${n} ")) {
                "unknown"
            } else {
                "text"
            }
        })
        .collect();
    txn.execute_unprepared(&format!(
        "PREPARE zq_plan_check ({}) AS {sql}",
        types.join(", ")
    ))
    .await
    .unwrap_or_else(|e| panic!("PREPARE {sql}: {e}"));
    let nulls = vec!["NULL"; params].join(", ");
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) EXECUTE zq_plan_check({nulls})"),
        ))
        .await
        .expect("EXPLAIN EXECUTE")
        .expect("a plan");
    let plan = row.try_get_by_index::<Value>(0).expect("plan JSON");
    // A prepared statement outlives the transaction.
    txn.execute_unprepared("DEALLOCATE zq_plan_check")
        .await
        .expect("deallocate");
    txn.rollback().await.expect("rollback");
    plan
}

/// One id (or text) from the probe connection.
async fn probe_i64(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect(sql)
        .unwrap_or_else(|| panic!("no row: {sql}"))
        .try_get_by_index::<i64>(0)
        .expect(sql)
}

async fn probe_text(conn: &impl ConnectionTrait, sql: &str) -> String {
    conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect(sql)
        .unwrap_or_else(|| panic!("no row: {sql}"))
        .try_get_by_index::<String>(0)
        .expect(sql)
}

const PERFORMANCES: &str = "query ($filter: PerformanceFilter, $first: Int, $after: String, \
    $last: Int, $before: String) { performances(filter: $filter, first: $first, after: $after, \
    last: $last, before: $before) { totalCount pageInfo { endCursor startCursor } \
    edges { node { id title seatsAvailable seatsAvailableToViewer venue { name } \
    hostCenter { name } originCenter { name } } } } }";

/// Runs the API's list queries and hot paths the way clients do.
async fn exercise(app: &TestApp, probe: &impl ConnectionTrait) {
    let pinghu = encode(Kind::Center, 1);
    let jinshan = encode(Kind::Center, 2);
    let now = Utc::now();
    // A published reserved session to come at Pinghu, with bookings, shares none.
    let upcoming = probe_i64(
        probe,
        "SELECT p.id FROM performance p JOIN venue v ON v.id = p.venue_id \
         WHERE p.status = 'PUBLISHED' AND p.starts_at > now() + interval '3 days' \
           AND v.seating = 'RESERVED' AND p.host_center_id = 1 AND p.shares_release_at IS NULL \
           AND EXISTS (SELECT 1 FROM booking b WHERE b.performance_id = p.id AND b.status = 'CONFIRMED') \
         ORDER BY p.starts_at LIMIT 1",
    )
    .await;
    let past = probe_i64(
        probe,
        "SELECT p.id FROM performance p WHERE p.status = 'PUBLISHED' AND p.ends_at < now() \
           AND p.host_center_id = 1 \
           AND EXISTS (SELECT 1 FROM no_show n WHERE n.performance_id = p.id) \
         ORDER BY p.starts_at DESC LIMIT 1",
    )
    .await;
    let venue = probe_i64(
        probe,
        "SELECT id FROM venue WHERE center_id = 1 AND seating = 'RESERVED' ORDER BY id LIMIT 1",
    )
    .await;
    let resident = probe_text(
        probe,
        &format!(
            "SELECT a.email FROM account a WHERE a.role = 'RESIDENT' AND NOT EXISTS \
             (SELECT 1 FROM booking b WHERE b.account_id = a.id AND b.performance_id = {upcoming}) \
             AND EXISTS (SELECT 1 FROM booking b WHERE b.account_id = a.id) \
             AND NOT EXISTS (SELECT 1 FROM booking_suspension s WHERE s.account_id = a.id) \
             ORDER BY a.id LIMIT 1"
        ),
    )
    .await;
    let taken_seat = probe_i64(
        probe,
        &format!(
            "SELECT seat_id FROM ticket WHERE performance_id = {upcoming} AND status = 'VALID' LIMIT 1"
        ),
    )
    .await;
    let code = probe_text(
        probe,
        &format!(
            "SELECT code FROM ticket WHERE performance_id = {upcoming} AND status = 'VALID' LIMIT 1"
        ),
    )
    .await;
    let no_show_booking = probe_i64(
        probe,
        &format!("SELECT booking_id FROM no_show WHERE performance_id = {past} LIMIT 1"),
    )
    .await;
    let upcoming_id = encode(Kind::Performance, upcoming);
    let past_id = encode(Kind::Performance, past);
    let venue_id = encode(Kind::Venue, venue);

    // The browse path, anonymous and as staff (who also see their drafts).
    let admin = app.admin("pinghu").await;
    let filters = [
        json!({}),
        json!({ "hostCenterId": pinghu }),
        json!({ "originCenterId": jinshan }),
        json!({ "category": "OPERA" }),
        json!({ "from": now.to_rfc3339(), "to": (now + chrono::Duration::days(30)).to_rfc3339() }),
        json!({ "search": "剧目12" }),
        json!({ "status": "CANCELLED" }),
        json!({ "venueId": venue_id }),
        json!({ "hostCenterId": pinghu, "from": now.to_rfc3339() }),
    ];
    for token in [None, Some(admin.as_str())] {
        for filter in &filters {
            let page = app
                .gql(
                    token,
                    PERFORMANCES,
                    json!({ "filter": filter, "first": 20 }),
                )
                .await;
            let cursor = page.data()["performances"]["pageInfo"]["endCursor"].clone();
            app.gql(
                token,
                PERFORMANCES,
                json!({ "filter": filter, "first": 20, "after": cursor }),
            )
            .await
            .data();
            app.gql(token, PERFORMANCES, json!({ "filter": filter, "last": 20 }))
                .await
                .data();
        }
    }
    app.anon(
        "{ centers { id venues { id name } performances(first: 10) { totalCount edges { node { id } } } } \
           venues(first: 20) { totalCount edges { node { id capacity } } } }",
        json!({}),
    )
    .await
    .data();
    app.anon(
        "query ($c: ID) { venues(centerId: $c, first: 20) { totalCount edges { node { id } } } }",
        json!({ "c": pinghu }),
    )
    .await
    .data();
    // The seat map and a performance page.
    app.anon(
        "query ($id: ID!) { performance(id: $id) { seatsAvailable seatShares { seats booked } \
           venue { seats { id label } } seatMap { seat { id label } state } } }",
        json!({ "id": upcoming_id }),
    )
    .await
    .data();

    // A resident: its bookings, a booking (parallel path), a refused one (exact path), a
    // replay of an idempotency key, a cancellation.
    let token = app.token(&resident).await;
    app.gql(
        Some(&token),
        "{ me { noShows bookingSuspendedUntil } myBookings(first: 20) { totalCount \
           edges { node { id status seatsTogether noShowAt performance { title startsAt } \
           tickets { code status seat { label } } } } } }",
        json!({}),
    )
    .await
    .data();
    let book = "mutation ($input: BookSeatsInput!) { bookSeats(input: $input) { id status } }";
    let booked = app
        .gql(
            Some(&token),
            book,
            json!({ "input": { "performanceId": upcoming_id, "quantity": 2, "idempotencyKey": "plans-1" } }),
        )
        .await;
    let booking_id = booked.data()["bookSeats"]["id"].clone();
    app.gql(
        Some(&token),
        book,
        json!({ "input": { "performanceId": upcoming_id, "quantity": 2, "idempotencyKey": "plans-1" } }),
    )
    .await
    .data();
    let refused = app
        .gql(
            Some(&token),
            book,
            json!({ "input": { "performanceId": upcoming_id,
                               "seatIds": [encode(Kind::Seat, taken_seat)] } }),
        )
        .await;
    assert_eq!(
        refused.code(),
        Some("SEAT_UNAVAILABLE"),
        "{:?}",
        refused.body
    );
    app.gql(
        Some(&token),
        "mutation ($id: ID!) { cancelBooking(id: $id) { id status } }",
        json!({ "id": booking_id }),
    )
    .await
    .data();

    // Staff: bookings of a session, the door, the audit log, the exchange report, accounts,
    // scheduling a session (overlap check, inventory), cancelling it, excusing a no-show.
    for perf in [&upcoming_id, &past_id] {
        app.gql(
            Some(&admin),
            "query ($id: ID!) { performanceBookings(performanceId: $id, first: 20) { totalCount \
               edges { node { id holder { email noShows bookingSuspendedUntil } \
               tickets { code status checkedInAt } } } } }",
            json!({ "id": perf }),
        )
        .await
        .data();
    }
    app.gql(
        Some(&admin),
        "query ($code: String!) { ticket(code: $code) { id status performance { title } } }",
        json!({ "code": code }),
    )
    .await
    .data();
    let door = app
        .gql(
            Some(&admin),
            "mutation ($code: String!) { checkInTicket(code: $code) { id status } }",
            json!({ "code": code }),
        )
        .await;
    assert_eq!(door.code(), Some("CONFLICT"), "the door is not open yet");
    for action in [None, Some("ticket.check_in")] {
        app.gql(
            Some(&admin),
            "query ($action: String) { auditLog(action: $action, first: 20) { totalCount \
               edges { node { id action at } } pageInfo { endCursor } } }",
            json!({ "action": action }),
        )
        .await
        .data();
    }
    let year = (now - chrono::Duration::days(365)).format("%Y").to_string();
    app.gql(
        Some(&admin),
        "query ($year: Int!) { exchangeReport(year: $year, quarter: 2) { sessionsScheduled \
           ticketsSold attendances noShows byHomeCenter { tickets } } }",
        json!({ "year": year.parse::<i32>().expect("year") }),
    )
    .await
    .data();
    app.gql(
        Some(&admin),
        "{ centerAccounts(first: 20) { totalCount edges { node { id email role } } } \
           seasonalAllocations { id remaining } }",
        json!({}),
    )
    .await
    .data();
    let day = (now + chrono::Duration::days(10)).date_naive();
    let at = |hour: u32| format!("{day}T{hour:02}:00:00Z");
    let scheduled = app
        .gql(
            Some(&admin),
            "mutation ($input: SchedulePerformanceInput!) { schedulePerformance(input: $input) { id } }",
            json!({ "input": { "venueId": venue_id, "title": "平湖夜场", "category": "CONCERT",
                               "startsAt": at(1), "endsAt": at(3) } }),
        )
        .await;
    let new_id = scheduled.data()["schedulePerformance"]["id"].clone();
    app.gql(
        Some(&admin),
        "mutation ($id: ID!) { publishPerformance(id: $id) { id } }",
        json!({ "id": new_id }),
    )
    .await
    .data();
    app.gql(
        Some(&admin),
        "mutation ($id: ID!) { cancelPerformance(id: $id, reason: \"场地检修\") { id } }",
        json!({ "id": new_id }),
    )
    .await
    .data();
    app.gql(
        Some(&admin),
        "mutation ($id: ID!) { excuseNoShow(bookingId: $id, reason: \"暴雨\") { id } }",
        json!({ "id": encode(Kind::Booking, no_show_booking) }),
    )
    .await
    .data();

    // The time-driven steps, on a session that just ended and a share due for release.
    probe
        .execute_unprepared(&format!(
            "UPDATE performance SET no_shows_marked_at = NULL WHERE id = {past}; \
             UPDATE performance SET shares_release_at = now() - interval '1 minute', shares_released_at = NULL \
             WHERE id = (SELECT id FROM performance WHERE shares_release_at > now() \
                         AND status = 'PUBLISHED' ORDER BY id LIMIT 1)"
        ))
        .await
        .expect("move time");
    let services = &app.state().services;
    zouqin::domain::no_shows::mark_due(
        &services.db,
        &services.settings.no_shows.policy(),
        Utc::now(),
    )
    .await
    .expect("no-show step");
    zouqin::domain::shares::release_due(&services.db, &services.realtime, Utc::now())
        .await
        .expect("release step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_list_query_and_hot_statement_reads_large_tables_through_indexes_on_postgres() {
    let test = "every_list_query_and_hot_statement_reads_large_tables_through_indexes_on_postgres";
    if helpers::postgres_or_skip(test).is_none() {
        return;
    }
    let url = helpers::fresh_database().await;
    let mut database = db::connect(&url, 16, Duration::from_secs(10))
        .await
        .expect("connect");
    // `ZOUQIN_PLAN_SCALE` checks the plans on a larger database (e.g. 0.1: 90 s more).
    let scale = std::env::var("ZOUQIN_PLAN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.01);
    let plan = Plan::at_scale(scale).expect("scale");
    generate::run(
        &database,
        &plan,
        &helpers::password_hash().await,
        Utc::now(),
        |_, _| {},
    )
    .await
    .expect("generate");
    let broken = generate::check(&database).await.expect("check");
    assert!(
        broken.is_empty(),
        "the generated database breaks {broken:?}"
    );

    let probe = db::connect(&url, 2, Duration::from_secs(10))
        .await
        .expect("connect");
    let recorded: Arc<Mutex<Vec<Statement>>> = Arc::default();
    let sink = recorded.clone();
    database.conn.set_metric_callback(move |info| {
        if let Ok(mut statements) = sink.lock() {
            statements.push(info.statement.clone());
        }
    });
    let application = Application::with_database(database, helpers::settings())
        .await
        .expect("app starts");
    let app = helpers::serve(application, &url);
    exercise(&app, &probe.conn).await;

    // One plan per distinct statement text, with the values of its first run.
    let mut statements: BTreeMap<String, Statement> = BTreeMap::new();
    for statement in recorded.lock().expect("recorded").iter() {
        if plannable(&statement.sql) {
            statements
                .entry(statement.sql.clone())
                .or_insert_with(|| statement.clone());
        }
    }
    let rows_of = table_rows(&probe.conn).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for statement in statements.values() {
        let plan = explain(&probe, statement).await;
        checked += 1;
        let found = problems(&statement.sql, &plan, &rows_of);
        if let (false, Some(why)) = (found.is_empty(), allowance(&statement.sql)) {
            eprintln!(
                "ALLOWED ({why}):\n  {}\n{}",
                found.join("\n  "),
                summary(&plan)
            );
            continue;
        }
        if !found.is_empty() {
            failures.push(format!(
                "{}\n  {}\n{}",
                statement.sql,
                found.join("\n  "),
                summary(&plan)
            ));
        }
    }
    for sql in zouqin::domain::booking::parallel_statements() {
        let plan = explain_generic(&probe, sql).await;
        checked += 1;
        let found = problems(sql, &plan, &rows_of);
        if !found.is_empty() {
            failures.push(format!(
                "{sql}\n  {}\n{}",
                found.join("\n  "),
                summary(&plan)
            ));
        }
    }
    assert!(checked > 60, "only {checked} statements were recorded");
    assert!(
        failures.is_empty(),
        "{} of {checked} statements do not scale:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The generated database is large; a failing run leaves it for a look at the plans.
    drop(app);
    probe.conn.close().await.ok();
    if let (Some(base), Some(name)) = (helpers::postgres_base(), url.rsplit('/').next()) {
        let admin = db::connect(&format!("{base}/postgres"), 1, Duration::from_secs(10))
            .await
            .expect("connect");
        admin
            .conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop the generated database");
    }
}

fn sizes() -> HashMap<String, f64> {
    HashMap::from([
        ("ticket".to_owned(), 100_000.0),
        ("center".to_owned(), 63.0),
    ])
}

#[test]
fn a_sequential_scan_of_a_large_table_is_a_problem() {
    let plan = json!([{ "Plan": {
        "Node Type": "Aggregate", "Plan Rows": 1,
        "Plans": [{ "Node Type": "Seq Scan", "Relation Name": "ticket", "Plan Rows": 90_000 }]
    }}]);
    let found = problems("SELECT 1", &plan, &sizes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("Seq Scan on ticket"));
}

#[test]
fn a_sequential_scan_of_a_small_table_and_an_index_range_are_fine() {
    let plan = json!([{ "Plan": {
        "Node Type": "Nested Loop", "Plan Rows": 10,
        "Plans": [
            { "Node Type": "Seq Scan", "Relation Name": "center", "Plan Rows": 63 },
            { "Node Type": "Index Scan", "Relation Name": "ticket", "Index Name": "ticket_booking_idx",
              "Index Cond": "(booking_id = center.id)", "Plan Rows": 3 }
        ]
    }}]);
    assert!(problems("SELECT 1", &plan, &sizes()).is_empty());
}

#[test]
fn a_sort_of_a_large_set_is_a_problem_unless_a_limit_bounds_it() {
    let sort = json!({ "Node Type": "Sort", "Sort Key": ["id"], "Plan Rows": 50_000,
        "Plans": [{ "Node Type": "Index Scan", "Relation Name": "ticket",
                    "Index Name": "ticket_performance_home_idx",
                    "Index Cond": "(performance_id = 1)", "Plan Rows": 50_000 }] });
    let unbounded = json!([{ "Plan": sort }]);
    let found = problems("SELECT 1", &unbounded, &sizes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("Sort of ~50000 rows"));
    let top_n = json!([{ "Plan": { "Node Type": "Limit", "Plan Rows": 20, "Plans": [sort] } }]);
    assert!(problems("SELECT 1", &top_n, &sizes()).is_empty());
}

#[test]
fn a_whole_index_walk_is_a_problem_unless_a_limit_stops_it() {
    let walk = json!({ "Node Type": "Index Only Scan", "Relation Name": "ticket",
                       "Index Name": "ticket_code_key", "Plan Rows": 100_000 });
    let counted = json!([{ "Plan": { "Node Type": "Aggregate", "Plans": [walk] } }]);
    let found = problems("SELECT sum(id) FROM ticket", &counted, &sizes());
    assert_eq!(found.len(), 1, "{found:?}");
    let limited = json!([{ "Plan": { "Node Type": "Limit", "Plans": [walk] } }]);
    assert!(problems("SELECT 1", &limited, &sizes()).is_empty());
}

#[test]
fn a_count_may_walk_an_index_but_not_read_the_table() {
    let count = "SELECT COUNT(*) AS num_items FROM (SELECT id FROM ticket) AS sub_query";
    let walk = json!([{ "Plan": { "Node Type": "Aggregate", "Plans": [
        { "Node Type": "Index Only Scan", "Relation Name": "ticket",
          "Index Name": "ticket_performance_home_idx", "Plan Rows": 100_000 }] } }]);
    assert!(problems(count, &walk, &sizes()).is_empty());
    let read = json!([{ "Plan": { "Node Type": "Aggregate", "Plans": [
        { "Node Type": "Seq Scan", "Relation Name": "ticket", "Plan Rows": 100_000 }] } }]);
    assert_eq!(problems(count, &read, &sizes()).len(), 1);
}

#[tokio::test]
async fn the_generator_refuses_sqlite_with_a_clear_message() {
    let path = std::env::temp_dir().join(format!("zq-generate-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let database = db::connect(&url, 1, Duration::from_secs(5))
        .await
        .expect("sqlite opens");
    let plan = Plan::at_scale(0.01).expect("scale");
    let refused = generate::run(&database, &plan, "unused", Utc::now(), |_, _| {}).await;
    assert_eq!(refused.err().as_deref(), Some(generate::NEEDS_POSTGRES));
    database.conn.close().await.ok();
    let _ = std::fs::remove_file(&path);
}

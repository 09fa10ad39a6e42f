//! The quarterly exchange report, its CSV, and the ledger's names in the schema.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use zouqin::domain::season::Season;

use super::*;

/// Proposes (as `provider`) and accepts (as `host`) an allocation; returns its id.
async fn allocation(
    app: &TestApp,
    provider: &str,
    host: &str,
    provider_id: &str,
    host_id: &str,
    season: Season,
) -> String {
    let r = app
        .gql(
            Some(provider),
            "mutation($i: ProposeAllocationInput!) { proposeAllocation(input: $i) { id } }",
            json!({ "i": { "year": season.year, "quarter": season.quarter,
                           "providerCenterId": provider_id, "hostCenterId": host_id,
                           "performanceQuota": 2 } }),
        )
        .await;
    let id = r.data()["proposeAllocation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .gql(
            Some(host),
            "mutation($id: ID!) { respondToAllocation(id: $id, accept: true) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["respondToAllocation"]["status"], "ACCEPTED");
    id
}

/// Sums what `performanceBookings` lists for a session: (live tickets, checked in, no-shows).
async fn from_bookings(app: &TestApp, host: &str, perf: &str) -> (i64, i64, i64) {
    let r = app
        .gql(Some(host), PERFORMANCE_BOOKINGS, json!({ "p": perf }))
        .await;
    let mut sums = (0, 0, 0);
    for edge in r.data()["performanceBookings"]["edges"]
        .as_array()
        .expect("edges")
    {
        if edge["node"]["status"] != "CONFIRMED" {
            continue;
        }
        for t in edge["node"]["tickets"].as_array().expect("tickets") {
            match t["status"].as_str().expect("status") {
                "CANCELLED" => {}
                status => {
                    sums.0 += 1;
                    sums.1 += i64::from(status == "CHECKED_IN");
                    sums.2 += i64::from(status == "NO_SHOW");
                }
            }
        }
    }
    sums
}

#[tokio::test]
async fn the_report_counts_two_pairs_over_two_quarters_as_the_bookings_and_tickets_say() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let jinshan = app.admin("jinshan").await;
    let jiashan = app.admin("jiashan").await;
    let pinghu_usher = app.staff(&pinghu, "door@pinghu.example", "USHER").await;
    let jinshan_usher = app.staff(&jinshan, "door@jinshan.example", "USHER").await;
    let from_pinghu = app.residents_fast(1, "pinghu").await.remove(0);
    let from_jinshan = app.residents_fast(1, "jinshan").await.remove(0);
    let from_jiashan = app.residents_fast(1, "jiashan").await.remove(0);
    let pinghu_hall = venue(&app, &pinghu, 10).await;
    let pinghu_small = venue(&app, &pinghu, 4).await;
    let jinshan_hall = venue(&app, &jinshan, 8).await;
    let jinshan_other = venue(&app, &jinshan, 30).await;

    // Everything is prepared; the two held sessions start a few seconds from now.
    let starts = now_s() + Duration::seconds(8);
    let ends = starts + Duration::seconds(1);
    let now_quarter = Season::containing(starts);
    let next_quarter = now_quarter.next();
    let alloc_now = allocation(
        &app,
        &jinshan,
        &pinghu,
        &world.jinshan,
        &world.pinghu,
        now_quarter,
    )
    .await;
    let alloc_next = allocation(
        &app,
        &jinshan,
        &pinghu,
        &world.jinshan,
        &world.pinghu,
        next_quarter,
    )
    .await;
    let next_start = next_quarter.starts_at() + Duration::days(10);

    // This quarter, Jinshan → Pinghu (on the allocation): 2 came, 1 no-show, 3 half used.
    let jp = session(
        &app,
        &pinghu,
        &pinghu_hall,
        starts,
        ends,
        json!({ "originCenterId": world.jinshan, "allocationId": alloc_now }),
    )
    .await;
    // This quarter, Pinghu → Jinshan: 2 came, 1 cancelled by its holder; and a session
    // called off.
    let pj = session(
        &app,
        &jinshan,
        &jinshan_hall,
        starts,
        ends,
        json!({ "originCenterId": world.pinghu }),
    )
    .await;
    let (_, came) = booked(&app, &from_pinghu, &jp, 2).await;
    booked(&app, &from_jinshan, &jp, 1).await;
    let (_, half) = booked(&app, &from_jiashan, &jp, 3).await;
    let (_, came_to_jinshan) = booked(&app, &from_jinshan, &pj, 2).await;
    let (regretted, _) = booked(&app, &from_pinghu, &pj, 1).await;
    for code in came.iter().chain(half.iter().take(1)) {
        check_in(&app, &pinghu_usher, code).await;
    }
    for code in &came_to_jinshan {
        check_in(&app, &jinshan_usher, code).await;
    }
    let r = app
        .gql(
            Some(&from_pinghu),
            "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
            json!({ "id": regretted }),
        )
        .await;
    assert_eq!(r.data()["cancelBooking"]["status"], "CANCELLED");
    let called_off_start = starts + Duration::seconds(30);
    let called_off = session(
        &app,
        &jinshan,
        &jinshan_other,
        called_off_start,
        called_off_start + Duration::hours(1),
        json!({ "originCenterId": world.pinghu }),
    )
    .await;
    assert_eq!(Season::containing(called_off_start), now_quarter);
    booked(&app, &from_jinshan, &called_off, 1).await;
    let r = app
        .gql(
            Some(&jinshan),
            "mutation($id: ID!) { cancelPerformance(id: $id, reason: \"rain\") { status } }",
            json!({ "id": called_off }),
        )
        .await;
    assert_eq!(r.data()["cancelPerformance"]["status"], "CANCELLED");

    // Next quarter, Jinshan → Pinghu on its allocation: sold, not held yet.
    let upcoming = session(
        &app,
        &pinghu,
        &pinghu_small,
        next_start,
        next_start + Duration::hours(2),
        json!({ "originCenterId": world.jinshan, "allocationId": alloc_next }),
    )
    .await;
    booked(&app, &from_pinghu, &upcoming, 2).await;
    // Neither a center's own session nor a draft is an exchange session of the report.
    let own = venue(&app, &pinghu, 5).await;
    let own = session(
        &app,
        &pinghu,
        &own,
        next_start,
        next_start + Duration::hours(1),
        json!({}),
    )
    .await;
    booked(&app, &from_pinghu, &own, 1).await;
    let draft_venue = venue(&app, &jinshan, 5).await;
    let r = app
        .gql(
            Some(&jinshan),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { status } }",
            json!({ "i": { "venueId": draft_venue, "title": "draft", "category": "OTHER",
                           "startsAt": at(next_start), "endsAt": at(next_start + Duration::hours(1)),
                           "originCenterId": world.pinghu } }),
        )
        .await;
    assert_eq!(r.data()["schedulePerformance"]["status"], "DRAFT");

    // The held sessions end; the step settles them.
    let wait = (ends - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(300);
    tokio::time::sleep(wait).await;
    // (The server's own sweep may have settled them already.)
    run_step(&app, Utc::now()).await;

    let rows = report(&app, &pinghu, &[now_quarter, next_quarter]).await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let jp_now = &rows[&key(now_quarter, "jinshan", "pinghu")];
    assert_eq!(figures(jp_now), [1, 1, 0, 10, 6, 3, 3]);
    assert_eq!(jp_now["allocation"]["id"], alloc_now.as_str());
    assert_eq!(jp_now["allocation"]["performanceQuota"], 2);
    assert_eq!(
        home(jp_now),
        BTreeMap::from([
            ("jiashan".to_owned(), (3, 1)),
            ("jinshan".to_owned(), (1, 0)),
            ("pinghu".to_owned(), (2, 2)),
        ])
    );
    assert_eq!(
        jp_now["season"]["startsOn"],
        now_quarter.starts_on().to_string()
    );
    let pj_now = &rows[&key(now_quarter, "pinghu", "jinshan")];
    assert_eq!(figures(pj_now), [2, 1, 1, 8, 2, 2, 0]);
    assert!(pj_now["allocation"].is_null());
    assert_eq!(
        home(pj_now),
        BTreeMap::from([("jinshan".to_owned(), (2, 2))])
    );
    let jp_next = &rows[&key(next_quarter, "jinshan", "pinghu")];
    assert_eq!(figures(jp_next), [1, 0, 0, 4, 2, 0, 0]);
    assert_eq!(jp_next["allocation"]["id"], alloc_next.as_str());

    // The totals are what performanceBookings says, session by session.
    assert_eq!(from_bookings(&app, &pinghu, &jp).await, (6, 3, 3));
    assert_eq!(from_bookings(&app, &jinshan, &pj).await, (2, 2, 0));
    assert_eq!(from_bookings(&app, &jinshan, &called_off).await, (0, 0, 0));
    assert_eq!(from_bookings(&app, &pinghu, &upcoming).await, (2, 0, 0));

    // Jinshan, a party to both pairs, sees the same rows; Jiashan, a party to none, none.
    assert_eq!(
        report(&app, &jinshan, &[now_quarter, next_quarter]).await,
        rows
    );
    assert!(
        report(&app, &jiashan, &[now_quarter, next_quarter])
            .await
            .is_empty()
    );
    // One quarter only.
    let r = app
        .gql(
            Some(&pinghu),
            REPORT,
            json!({ "y": next_quarter.year, "q": next_quarter.quarter }),
        )
        .await;
    let only = rows_by_key(&r.data()["exchangeReport"]);
    assert_eq!(
        only.keys().collect::<Vec<_>>(),
        [&key(next_quarter, "jinshan", "pinghu")]
    );
}

#[tokio::test]
async fn a_resident_who_moves_leaves_its_past_tickets_with_the_center_it_booked_from() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let mover = app.residents_fast(1, "pinghu").await.remove(0);
    let hall = venue(&app, &pinghu, 10).await;
    let first_start = now_s() + Duration::days(3);
    let first = session(
        &app,
        &pinghu,
        &hall,
        first_start,
        first_start + Duration::hours(1),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    let second_start = first_start + Duration::hours(3);
    let second = session(
        &app,
        &pinghu,
        &hall,
        second_start,
        second_start + Duration::hours(1),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    booked(&app, &mover, &first, 2).await;
    let r = app
        .gql(
            Some(&mover),
            "mutation($i: UpdateProfileInput!) { updateMyProfile(input: $i) { homeCenter { code } } }",
            json!({ "i": { "homeCenterId": world.jiashan } }),
        )
        .await;
    assert_eq!(r.data()["updateMyProfile"]["homeCenter"]["code"], "jiashan");
    booked(&app, &mover, &second, 1).await;

    let mut seasons = vec![
        Season::containing(first_start),
        Season::containing(second_start),
    ];
    seasons.dedup();
    let rows = report(&app, &pinghu, &seasons).await;
    let mut by_home = BTreeMap::new();
    for season in seasons {
        for (center, (tickets, attendances)) in home(&rows[&key(season, "jinshan", "pinghu")]) {
            let sum: &mut (i64, i64) = by_home.entry(center).or_default();
            sum.0 += tickets;
            sum.1 += attendances;
        }
    }
    // The two tickets booked from Pinghu stay Pinghu's; the one booked after the move is
    // Jiashan's.
    assert_eq!(
        by_home,
        BTreeMap::from([
            ("jiashan".to_owned(), (1, 0)),
            ("pinghu".to_owned(), (2, 0))
        ])
    );
}

#[tokio::test]
async fn the_report_is_for_staff_and_its_arguments_are_checked() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "door@pinghu.example", "USHER").await;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    let r = app.anon(REPORT, json!({ "y": 2018 })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    let r = app.gql(Some(&resident), REPORT, json!({ "y": 2018 })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"));
    let r = app.gql(Some(&usher), REPORT, json!({ "y": 2018 })).await;
    assert_eq!(r.data()["exchangeReport"], json!([]));
    for (variables, field) in [
        (json!({ "y": 2018, "q": 5 }), "quarter"),
        (json!({ "y": 2018, "q": 0 }), "quarter"),
        (json!({ "y": 1999 }), "year"),
    ] {
        let r = app.gql(Some(&admin), REPORT, variables.clone()).await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{variables}");
        assert_eq!(r.error()["extensions"]["field"], field);
    }
}

/// `GET /reports/exchange.csv` with an optional bearer token: (status, headers, body bytes).
async fn csv(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app
        .client
        .get(app.url(&format!("/reports/exchange.csv{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn code_of(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).expect("a JSON error body");
    value["errors"][0]["extensions"]["code"]
        .as_str()
        .expect("code")
        .to_owned()
}

#[tokio::test]
async fn the_csv_has_a_bom_a_header_and_quotes_names_with_commas_and_quotes() {
    let app = spawn().await;
    let world = app.world().await;
    // A center whose name needs quoting.
    app.db
        .conn
        .execute_raw(Statement::from_sql_and_values(
            app.db.conn.get_database_backend(),
            "UPDATE center SET name = $1 WHERE code = 'jinshan'",
            ["金山区文化馆, \"走亲\"分馆".into()],
        ))
        .await
        .expect("rename");
    let pinghu = app.admin("pinghu").await;
    let resident = app.residents_fast(1, "jiashan").await.remove(0);
    let starts = now_s() + Duration::days(3);
    let season = Season::containing(starts);
    let hall = venue(&app, &pinghu, 12).await;
    let perf = session(
        &app,
        &pinghu,
        &hall,
        starts,
        end_of(starts),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    booked(&app, &resident, &perf, 3).await;

    let (status, headers, body) = csv(
        &app,
        Some(&pinghu),
        &format!("?year={}&quarter={}", season.year, season.quarter),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(&body[..3], b"\xEF\xBB\xBF", "a UTF-8 byte-order mark first");
    let text = std::str::from_utf8(&body[3..]).expect("UTF-8");
    assert!(text.ends_with("\r\n"));
    let lines: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(
        lines[0],
        "year,quarter,season_starts_on,season_ends_on,provider_center,host_center,\
         allocation_quota,sessions_scheduled,sessions_held,sessions_cancelled,seats_offered,\
         tickets_sold,attendances,no_shows,\
         tickets: 平湖市文化馆,attendances: 平湖市文化馆,\
         \"tickets: 金山区文化馆, \"\"走亲\"\"分馆\",\"attendances: 金山区文化馆, \"\"走亲\"\"分馆\",\
         tickets: 嘉善县文化馆,attendances: 嘉善县文化馆"
    );
    assert_eq!(
        lines[1..],
        [format!(
            "{},{},{},{},\"金山区文化馆, \"\"走亲\"\"分馆\",平湖市文化馆,,1,0,0,12,3,0,0,0,0,0,0,3,0",
            season.year,
            season.quarter,
            season.starts_on(),
            season.ends_on()
        )]
    );
    // The same rows as the GraphQL field.
    let rows = report(&app, &pinghu, &[season]).await;
    assert_eq!(rows.len(), 1);
    // A whole year is the same here.
    let (status, _, year_body) = csv(&app, Some(&pinghu), &format!("?year={}", season.year)).await;
    assert_eq!(status, 200);
    assert_eq!(year_body, body);
}

#[tokio::test]
async fn the_csv_needs_a_staff_token_and_a_year() {
    let app = spawn().await;
    let admin = app.admin("jiashan").await;
    let resident = app.residents_fast(1, "jiashan").await.remove(0);
    let (status, headers, body) = csv(&app, None, "?year=2018").await;
    assert_eq!((status, code_of(&body).as_str()), (401, "UNAUTHENTICATED"));
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, body) = csv(&app, Some("not-a-token"), "?year=2018").await;
    assert_eq!((status, code_of(&body).as_str()), (401, "UNAUTHENTICATED"));
    let (status, _, body) = csv(&app, Some(&resident), "?year=2018").await;
    assert_eq!((status, code_of(&body).as_str()), (403, "FORBIDDEN"));
    for query in ["", "?year=abc", "?year=2018&quarter=7", "?year=1900"] {
        let (status, _, body) = csv(&app, Some(&admin), query).await;
        assert_eq!(
            (status, code_of(&body).as_str()),
            (400, "BAD_USER_INPUT"),
            "{query}"
        );
    }
    let (status, _, body) = csv(&app, Some(&admin), "?year=2018").await;
    assert_eq!(status, 200);
    // A party to no pair: the header alone.
    let text = String::from_utf8(body).expect("UTF-8");
    assert_eq!(text.matches("\r\n").count(), 1);
}

#[test]
fn the_schema_has_the_ledgers_names() {
    let sdl = zouqin::graphql::sdl();
    for name in [
        "NO_SHOW",
        "type ExchangeReport",
        "type HomeCenterCount",
        "exchangeReport(year: Int!, quarter: Int): [ExchangeReport!]!",
        "excuseNoShow(bookingId: ID!, reason: String!): Booking!",
        "noShows: Int!",
        "bookingSuspendedUntil: DateTime",
        "byHomeCenter: [HomeCenterCount!]!",
        "allocation: SeasonalAllocation",
    ] {
        assert!(sdl.contains(name), "the schema lacks {name}");
    }
}

#[tokio::test]
async fn the_home_center_migration_fills_existing_tickets_in_batches_and_resumes_on_postgres() {
    use migration::{Migrator, MigratorTrait};
    if postgres_or_skip(
        "the_home_center_migration_fills_existing_tickets_in_batches_and_resumes_on_postgres",
    )
    .is_none()
    {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let hall = venue(&app, &pinghu, 20).await;
    let start = now_s() + Duration::days(3);
    let show = session(
        &app,
        &pinghu,
        &hall,
        start,
        start + Duration::hours(1),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    let db = zouqin::db::connect(&app.database_url, 2, StdDuration::from_secs(5))
        .await
        .expect("connect");
    let run = |sql: &str| Statement::from_string(db.backend(), sql.to_owned());
    // Tickets far apart in id, so that the backfill takes several batches: some low, then
    // the sequence moved 50,000 on, then more.
    for (i, home) in ["pinghu", "jiashan"].into_iter().enumerate() {
        let resident = app.residents_fast(1, home).await.remove(0);
        booked(&app, &resident, &show, 2).await;
        if i == 0 {
            db.conn
                .execute_raw(run(
                    "SELECT setval('ticket_id_seq', (SELECT MAX(id) FROM ticket) + 50000)",
                ))
                .await
                .expect("move the ticket ids on");
        }
    }

    // Back to the schema before the migration, as a database of an older version.
    let position = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261130_000005_ticket_home_center")
        .expect("the home-center migration");
    let applied_since = (Migrator::migrations().len() - position) as u32;
    Migrator::down(&db.conn, Some(applied_since))
        .await
        .expect("migrate down");
    // An earlier run that was cut off after adding the column: the next one finishes it.
    db.conn
        .execute_raw(run(
            "ALTER TABLE ticket ADD COLUMN home_center_id BIGINT REFERENCES center (id)",
        ))
        .await
        .expect("the column of an interrupted run");
    zouqin::db::migrate(&db).await.expect("migrate up again");

    let row = db
        .conn
        .query_one_raw(run(
            "SELECT COUNT(*) AS tickets, \
                    COUNT(*) FILTER (WHERE t.home_center_id IS DISTINCT FROM a.home_center_id) AS wrong, \
                    MAX(t.id) - MIN(t.id) AS spread \
             FROM ticket t JOIN booking b ON b.id = t.booking_id JOIN account a ON a.id = b.account_id",
        ))
        .await
        .expect("tickets")
        .expect("a row");
    let tickets: i64 = row.try_get("", "tickets").expect("tickets");
    let wrong: i64 = row.try_get("", "wrong").expect("wrong");
    let spread: i64 = row.try_get("", "spread").expect("spread");
    assert_eq!(tickets, 4);
    assert_eq!(wrong, 0, "every ticket names its holder's home center");
    assert!(
        spread > 50_000,
        "the tickets span several batches: {spread}"
    );
    let indexes = db
        .conn
        .query_all_raw(run(
            "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 'ticket'::regclass AND c.relname LIKE 'ticket_performance_%'",
        ))
        .await
        .expect("indexes");
    let indexes: Vec<(String, bool)> = indexes
        .iter()
        .map(|r| {
            (
                r.try_get("", "name").expect("name"),
                r.try_get("", "valid").expect("valid"),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        vec![("ticket_performance_home_idx".to_owned(), true)],
        "the new index, valid; the old one gone"
    );

    // And the report reads them by home center.
    let season = Season::containing(start);
    let rows = report(&app, &pinghu, &[season]).await;
    assert_eq!(
        home(&rows[&key(season, "jinshan", "pinghu")]),
        BTreeMap::from([
            ("jiashan".to_owned(), (2, 0)),
            ("pinghu".to_owned(), (2, 0))
        ])
    );
}

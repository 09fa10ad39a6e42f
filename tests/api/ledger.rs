//! The exchange ledger (issue 15): no-shows counted on both sides, the suspensions they
//! bring, the host's excuse, and the quarterly exchange report with its CSV and the seeded
//! 2018 history (see ../shared/design/API.md, "Rules of the exchange").
//!
//! Time: the no-show step is a library function that takes the instant it runs at, so most
//! tests book performances in the future and run the step "as of" after their end. The
//! tests that need a performance to have really ended (the background sweep, the report's
//! `sessionsHeld`) schedule one that ends a few seconds from now.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, SubsecRound, Utc};
use futures::future::join_all;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use serde_json::{Value, json};
use zouqin::domain::no_shows::{self, Marked};
use zouqin::domain::season::Season;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

const BOOK: &str = "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id status \
     tickets { id code status } } }";
const BOOKING: &str = "query($id: ID!) { booking(id: $id) { id status noShowAt noShowExcusedAt \
     tickets { code status } } }";
const ME: &str = "{ me { id noShows bookingSuspendedUntil } }";
const EXCUSE: &str = "mutation($id: ID!, $r: String!) { excuseNoShow(bookingId: $id, reason: $r) \
     { id status noShowAt noShowExcusedAt } }";
const CHECK_IN: &str = "mutation($c: String!) { checkInTicket(code: $c) { status } }";
const REPORT: &str = "query($y: Int!, $q: Int) { exchangeReport(year: $y, quarter: $q) { \
     season { year quarter startsOn endsOn } providerCenter { code } hostCenter { code } \
     allocation { id performanceQuota } sessionsScheduled sessionsHeld sessionsCancelled \
     seatsOffered ticketsSold attendances noShows \
     byHomeCenter { center { code } tickets attendances } } }";
const PERFORMANCE_BOOKINGS: &str = "query($p: ID!) { performanceBookings(performanceId: $p, first: 100) \
     { totalCount edges { node { status holder { noShows bookingSuspendedUntil } \
     tickets { status } } } } }";

// ---------------------------------------------------------------------------------------
// Set-up through the API
// ---------------------------------------------------------------------------------------

static VENUES: AtomicU64 = AtomicU64::new(0);

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Now, in whole seconds (the database keeps microseconds at most; whole seconds compare
/// equal after the round trip on both).
fn now_s() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn instant(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

/// A general-admission venue of the admin's center; returns its id.
async fn venue(app: &TestApp, admin: &str, capacity: i64) -> String {
    let name = format!(
        "Ledger hall {} {}",
        std::process::id(),
        VENUES.fetch_add(1, Ordering::Relaxed)
    );
    let r = app
        .gql(
            Some(admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": name, "address": "1 Culture Road", "kind": "HALL",
                           "seating": "GENERAL_ADMISSION", "capacity": capacity } }),
        )
        .await;
    r.data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned()
}

/// Schedules and publishes a session at `venue` from `starts` to `ends`; `extra` is merged
/// into the input (e.g. `originCenterId`, `allocationId`). Returns its id.
async fn session(
    app: &TestApp,
    admin: &str,
    venue: &str,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    extra: Value,
) -> String {
    let mut input = json!({
        "venueId": venue, "title": "浙沪共村晚", "category": "GALA",
        "startsAt": at(starts), "endsAt": at(ends), "perResidentLimit": 4,
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            input.insert(k.clone(), v.clone());
        }
    }
    let r = app
        .gql(
            Some(admin),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await;
    let id = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_owned();
    let r = app
        .gql(
            Some(admin),
            "mutation($id: ID!) { publishPerformance(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
    id
}

/// A published session at a new venue of the admin's center.
async fn show(app: &TestApp, admin: &str, starts: DateTime<Utc>, ends: DateTime<Utc>) -> String {
    let venue = venue(app, admin, 50).await;
    session(app, admin, &venue, starts, ends, json!({})).await
}

async fn book(app: &TestApp, token: &str, perf: &str, quantity: i64) -> Gql {
    app.gql(
        Some(token),
        BOOK,
        json!({ "i": { "performanceId": perf, "quantity": quantity } }),
    )
    .await
}

/// Books and returns (booking id, ticket codes); panics on a refusal.
async fn booked(app: &TestApp, token: &str, perf: &str, quantity: i64) -> (String, Vec<String>) {
    let r = book(app, token, perf, quantity).await;
    let booking = &r.data()["bookSeats"];
    let codes = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_owned())
        .collect();
    (booking["id"].as_str().expect("id").to_owned(), codes)
}

async fn check_in(app: &TestApp, usher: &str, code: &str) {
    let r = app.gql(Some(usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

/// The no-show step of this instance's settings, run as of `as_of`.
async fn run_step(app: &TestApp, as_of: DateTime<Utc>) -> Marked {
    let policy = app.state().services.settings.no_shows.policy();
    no_shows::mark_due(&app.db.conn, &policy, as_of)
        .await
        .unwrap_or_else(|e| panic!("the no-show step failed: {e:?}"))
}

/// (`noShows`, `bookingSuspendedUntil`) of the signed-in account.
async fn standing(app: &TestApp, token: &str) -> (i64, Option<DateTime<FixedOffset>>) {
    let r = app.gql(Some(token), ME, json!({})).await;
    let me = &r.data()["me"];
    (
        me["noShows"].as_i64().expect("noShows"),
        me["bookingSuspendedUntil"].as_str().map(instant),
    )
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.gql(Some(token), BOOKING, json!({ "id": id })).await;
    r.data()["booking"].clone()
}

fn statuses(booking: &Value) -> Vec<String> {
    let mut statuses: Vec<String> = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["status"].as_str().expect("status").to_owned())
        .collect();
    statuses.sort();
    statuses
}

fn end_of(start: DateTime<Utc>) -> DateTime<Utc> {
    start + Duration::hours(2)
}

// ---------------------------------------------------------------------------------------
// No-shows
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn when_a_performance_ends_only_bookings_nobody_came_with_become_no_shows() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "door@pinghu.example", "USHER").await;
    // Starts in an hour: the door is open now.
    let starts = now_s() + Duration::hours(1);
    let perf = show(&app, &admin, starts, end_of(starts)).await;
    let residents = app.residents_fast(4, "jinshan").await;
    let (came, came_codes) = booked(&app, &residents[0], &perf, 2).await;
    let (half, half_codes) = booked(&app, &residents[1], &perf, 2).await;
    let (skipped, _) = booked(&app, &residents[2], &perf, 2).await;
    let (cancelled, _) = booked(&app, &residents[3], &perf, 1).await;
    for code in &came_codes {
        check_in(&app, &usher, code).await;
    }
    check_in(&app, &usher, &half_codes[0]).await;
    let r = app
        .gql(
            Some(&residents[3]),
            "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
            json!({ "id": cancelled }),
        )
        .await;
    assert_eq!(r.data()["cancelBooking"]["status"], "CANCELLED");

    // Before the end, nothing happens.
    let early = run_step(&app, end_of(starts) - Duration::minutes(1)).await;
    assert_eq!(early, Marked::default());
    assert_eq!(
        statuses(&booking(&app, &residents[2], &skipped).await),
        ["VALID", "VALID"]
    );

    let marked = run_step(&app, end_of(starts) + Duration::seconds(30)).await;
    assert_eq!(
        marked,
        Marked {
            performances: 1,
            tickets: 3,
            no_shows: 1,
            suspended: 0
        }
    );
    let came = booking(&app, &residents[0], &came).await;
    assert_eq!(statuses(&came), ["CHECKED_IN", "CHECKED_IN"]);
    assert!(came["noShowAt"].is_null());
    let half = booking(&app, &residents[1], &half).await;
    assert_eq!(statuses(&half), ["CHECKED_IN", "NO_SHOW"]);
    assert!(
        half["noShowAt"].is_null(),
        "a half-used booking is no no-show"
    );
    let skipped = booking(&app, &residents[2], &skipped).await;
    assert_eq!(statuses(&skipped), ["NO_SHOW", "NO_SHOW"]);
    assert_eq!(
        instant(skipped["noShowAt"].as_str().expect("noShowAt")),
        end_of(starts)
    );
    let cancelled = booking(&app, &residents[3], &cancelled).await;
    assert_eq!(statuses(&cancelled), ["CANCELLED"]);
    assert!(cancelled["noShowAt"].is_null());

    let counts: Vec<i64> = join_all(residents.iter().map(|t| standing(&app, t)))
        .await
        .into_iter()
        .map(|(n, until)| {
            assert!(until.is_none());
            n
        })
        .collect();
    assert_eq!(counts, [0, 0, 1, 0]);

    // Running again changes nothing.
    assert_eq!(
        run_step(&app, end_of(starts) + Duration::hours(1)).await,
        Marked::default()
    );
    assert_eq!(standing(&app, &residents[2]).await.0, 1);
    // The door is closed for a no-show ticket.
    let r = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": half_codes[1] }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steps_running_at_once_on_two_instances_count_each_no_show_once() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let residents = a.residents_fast(3, "pinghu").await;
    // More performances than one batch of the step takes.
    let starts = now_s() + Duration::days(1);
    let mut last_end = starts;
    for n in 0..(no_shows::BATCH as i64 + 5) {
        let start = starts + Duration::hours(3 * n);
        let perf = show(&a, &admin, start, start + Duration::hours(1)).await;
        for token in &residents {
            booked(&a, token, &perf, 1).await;
        }
        last_end = start + Duration::hours(1);
    }
    let as_of = last_end + Duration::minutes(1);
    // The processes run with the default settings.
    let policy = settings().no_shows.policy();
    let runs = join_all((0..4).map(|i| {
        let conn = if i % 2 == 0 {
            a.db.conn.clone()
        } else {
            b.db.conn.clone()
        };
        async move { no_shows::mark_due(&conn, &policy, as_of).await }
    }))
    .await;
    let mut total = Marked::default();
    for run in runs {
        total += run.expect("step");
    }
    let performances = no_shows::BATCH as usize + 5;
    assert_eq!(total.performances, performances);
    assert_eq!(total.no_shows, performances * 3);
    assert_eq!(total.tickets, performances as u64 * 3);
    let rows = entity::no_show::Entity::find()
        .count(&a.db.conn)
        .await
        .expect("count");
    assert_eq!(rows, performances as u64 * 3);
    for token in &residents {
        let (count, until) = standing(&b, token).await;
        assert_eq!(count, performances as i64);
        assert!(until.is_some());
    }
}

/// Three published sessions of three centers, one resident's no-show each, ending at `ends`.
async fn three_no_shows(
    app: &TestApp,
    resident: &str,
    ends: [DateTime<Utc>; 3],
) -> Vec<(String, String)> {
    let mut bookings = Vec::new();
    for (code, end) in ["pinghu", "jinshan", "jiashan"].into_iter().zip(ends) {
        let admin = app.admin(code).await;
        let perf = show(app, &admin, end - Duration::hours(2), end).await;
        let (id, _) = booked(app, resident, &perf, 1).await;
        bookings.push((code.to_owned(), id));
    }
    bookings
}

#[tokio::test]
async fn three_no_shows_within_the_window_suspend_booking_everywhere_until_thirty_days_after_the_last()
 {
    let app = spawn().await;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    let first = now_s() + Duration::days(2);
    // Exactly 180 days from the first to the last: within the window.
    let ends = [
        first,
        first + Duration::days(90),
        first + Duration::days(180),
    ];
    three_no_shows(&app, &resident, ends).await;
    // Booked while bookable: a fourth session elsewhere, for later.
    let jiashan = app.admin("jiashan").await;
    let later = show(
        &app,
        &jiashan,
        first + Duration::days(1),
        first + Duration::days(1) + Duration::hours(1),
    )
    .await;

    let marked = run_step(&app, ends[2] + Duration::minutes(1)).await;
    assert_eq!((marked.no_shows, marked.suspended), (3, 1));
    let (count, until) = standing(&app, &resident).await;
    assert_eq!(count, 3);
    let until = until.expect("suspended");
    assert_eq!(until, ends[2] + Duration::days(30));

    // Both booking paths refuse, with when the suspension ends.
    for quantity in [1, 2] {
        let r = book(&app, &resident, &later, quantity).await;
        assert_eq!(r.code(), Some("BOOKING_SUSPENDED"), "{}", r.body);
        let reported = r.error()["extensions"]["until"]
            .as_str()
            .unwrap_or_else(|| panic!("extensions.until: {}", r.body));
        assert_eq!(instant(reported), until);
    }
    let r = app
        .gql(Some(&resident), "{ myBookings { totalCount } }", json!({}))
        .await;
    assert_eq!(
        r.data()["myBookings"]["totalCount"],
        3,
        "nothing was booked"
    );
}

#[tokio::test]
async fn three_no_shows_further_apart_than_the_window_do_not_suspend() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "jinshan").await.remove(0);
    let first = now_s() + Duration::days(2);
    // The first is 180 days and a minute before the last: outside its window.
    let ends = [
        first,
        first + Duration::days(90),
        first + Duration::days(180) + Duration::minutes(1),
    ];
    three_no_shows(&app, &resident, ends).await;
    let pinghu = app.admin("pinghu").await;
    let later = show(
        &app,
        &pinghu,
        first + Duration::days(1),
        first + Duration::days(1) + Duration::hours(1),
    )
    .await;
    let marked = run_step(&app, ends[2] + Duration::minutes(1)).await;
    assert_eq!((marked.no_shows, marked.suspended), (3, 0));
    let (count, until) = standing(&app, &resident).await;
    assert_eq!(count, 3);
    assert_eq!(until, None);
    let r = book(&app, &resident, &later, 1).await;
    assert_eq!(r.data()["bookSeats"]["status"], "CONFIRMED");
}

#[tokio::test]
async fn two_no_shows_do_not_suspend_and_the_third_does() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "jiashan").await.remove(0);
    let first = now_s() + Duration::days(2);
    let ends = [first, first + Duration::days(1), first + Duration::days(2)];
    three_no_shows(&app, &resident, ends).await;
    let marked = run_step(&app, ends[1] + Duration::minutes(1)).await;
    assert_eq!((marked.no_shows, marked.suspended), (2, 0));
    assert_eq!(standing(&app, &resident).await, (2, None));
    let marked = run_step(&app, ends[2] + Duration::minutes(1)).await;
    assert_eq!((marked.no_shows, marked.suspended), (1, 1));
    let (count, until) = standing(&app, &resident).await;
    assert_eq!(count, 3);
    assert_eq!(until, Some((ends[2] + Duration::days(30)).fixed_offset()));
}

#[tokio::test]
async fn the_host_center_excuses_a_no_show_and_lifts_the_suspension_it_caused() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    let first = now_s() + Duration::days(2);
    let ends = [first, first + Duration::days(3), first + Duration::days(6)];
    let bookings = three_no_shows(&app, &resident, ends).await;
    let pinghu = app.admin("pinghu").await;
    let later = show(
        &app,
        &pinghu,
        first + Duration::days(1),
        first + Duration::days(1) + Duration::hours(1),
    )
    .await;
    run_step(&app, ends[2] + Duration::minutes(1)).await;
    assert!(standing(&app, &resident).await.1.is_some());

    // The Jinshan no-show: Jinshan's scheduler excuses it.
    let (_, jinshan_booking) = &bookings[1];
    let jinshan_admin = app.admin("jinshan").await;
    let scheduler = app
        .staff(&jinshan_admin, "planner@jinshan.example", "SCHEDULER")
        .await;
    let r = app
        .gql(
            Some(&scheduler),
            EXCUSE,
            json!({ "id": jinshan_booking, "r": "ill, doctor's note" }),
        )
        .await;
    let excused = &r.data()["excuseNoShow"];
    assert_eq!(excused["id"], jinshan_booking.as_str());
    assert!(excused["noShowAt"].is_string());
    assert!(excused["noShowExcusedAt"].is_string());
    assert_eq!(standing(&app, &resident).await, (2, None));
    let r = book(&app, &resident, &later, 1).await;
    assert_eq!(r.data()["bookSeats"]["status"], "CONFIRMED");

    // Excusing it again is a conflict.
    let r = app
        .gql(
            Some(&scheduler),
            EXCUSE,
            json!({ "id": jinshan_booking, "r": "again" }),
        )
        .await;
    assert_eq!(r.code(), Some("CONFLICT"));

    // The excuse is in Jinshan's audit log, once, naming the scheduler and the booking; the
    // refused second try left nothing.
    let log = app
        .gql(
            Some(&jinshan_admin),
            "{ auditLog(action: \"no_show.excuse\") { edges { node { action subjectId details actor { email } } } } }",
            json!({}),
        )
        .await;
    let entries = log.data()["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(entries.len(), 1, "{}", log.body);
    let entry = &entries[0]["node"];
    assert_eq!(entry["subjectId"], jinshan_booking.as_str());
    assert_eq!(entry["actor"]["email"], "planner@jinshan.example");
    assert!(
        entry["details"]
            .as_str()
            .is_some_and(|d| d.contains("doctor")),
        "{entry}"
    );
}

#[tokio::test]
async fn only_the_host_centers_schedulers_and_admins_excuse_a_no_show() {
    let app = spawn().await;
    let pinghu = app.admin("pinghu").await;
    let usher = app.staff(&pinghu, "door@pinghu.example", "USHER").await;
    let jinshan = app.admin("jinshan").await;
    let resident = app.residents_fast(2, "pinghu").await;
    let starts = now_s() + Duration::hours(1);
    let perf = show(&app, &pinghu, starts, end_of(starts)).await;
    let (skipped, _) = booked(&app, &resident[0], &perf, 1).await;
    let (used, codes) = booked(&app, &resident[1], &perf, 1).await;
    check_in(&app, &usher, &codes[0]).await;
    run_step(&app, end_of(starts) + Duration::minutes(1)).await;

    let excuse = |token: Option<String>, id: String, reason: &'static str| {
        let app = &app;
        async move {
            app.gql(token.as_deref(), EXCUSE, json!({ "id": id, "r": reason }))
                .await
        }
    };
    let cases = [
        (None, skipped.clone(), "UNAUTHENTICATED"),
        (Some(resident[0].clone()), skipped.clone(), "FORBIDDEN"),
        (Some(usher.clone()), skipped.clone(), "FORBIDDEN"),
        (Some(jinshan.clone()), skipped.clone(), "NOT_FOUND"),
        (
            Some(pinghu.clone()),
            "Qm9va2luZzo5OTk5OTk".to_owned(),
            "NOT_FOUND",
        ),
        (Some(pinghu.clone()), "not an id".to_owned(), "NOT_FOUND"),
        (Some(pinghu.clone()), used.clone(), "CONFLICT"),
    ];
    for (token, id, code) in cases {
        let r = excuse(token.clone(), id.clone(), "ill").await;
        assert_eq!(r.code(), Some(code), "{token:?} {id}: {}", r.body);
    }
    let r = excuse(Some(pinghu.clone()), skipped.clone(), "  ").await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"));
    assert_eq!(r.error()["extensions"]["field"], "reason");
    assert_eq!(
        standing(&app, &resident[0]).await.0,
        1,
        "nothing was excused"
    );
    let r = excuse(Some(pinghu.clone()), skipped.clone(), "flood on the G320").await;
    assert!(r.data()["excuseNoShow"]["noShowExcusedAt"].is_string());
    assert_eq!(standing(&app, &resident[0]).await.0, 0);
}

#[tokio::test]
async fn the_record_is_shared_staff_of_any_host_see_a_residents_no_shows() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    let first = now_s() + Duration::days(2);
    // Two no-shows at Pinghu.
    let pinghu = app.admin("pinghu").await;
    for day in [0, 1] {
        let start = first + Duration::days(day);
        let perf = show(&app, &pinghu, start, end_of(start)).await;
        booked(&app, &resident, &perf, 1).await;
    }
    // Then a booking at Jinshan.
    let jinshan = app.admin("jinshan").await;
    let start = first + Duration::days(5);
    let jinshan_perf = show(&app, &jinshan, start, end_of(start)).await;
    booked(&app, &resident, &jinshan_perf, 2).await;
    run_step(
        &app,
        end_of(first + Duration::days(1)) + Duration::minutes(1),
    )
    .await;

    let r = app
        .gql(
            Some(&jinshan),
            PERFORMANCE_BOOKINGS,
            json!({ "p": jinshan_perf }),
        )
        .await;
    let node = &r.data()["performanceBookings"]["edges"][0]["node"];
    assert_eq!(node["holder"]["noShows"], 2);
    assert!(node["holder"]["bookingSuspendedUntil"].is_null());
    assert_eq!(standing(&app, &resident).await, (2, None));
}

#[tokio::test]
async fn a_resident_sees_its_standing_when_it_registers_and_logs_in() {
    let app = spawn().await;
    let world = app.world().await;
    let r = app
        .anon(
            "mutation($i: RegisterResidentInput!) { registerResident(input: $i) \
             { account { noShows bookingSuspendedUntil } } }",
            json!({ "i": { "email": "new@residents.example", "password": PASSWORD,
                           "displayName": "New", "homeCenterId": world.jiashan } }),
        )
        .await;
    let account = &r.data()["registerResident"]["account"];
    assert_eq!(account["noShows"], 0);
    assert!(account["bookingSuspendedUntil"].is_null());
    let r = app
        .anon(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) \
             { account { noShows bookingSuspendedUntil } } }",
            json!({ "e": "new@residents.example", "p": PASSWORD }),
        )
        .await;
    assert_eq!(r.data()["login"]["account"]["noShows"], 0);
}

#[tokio::test]
async fn the_server_marks_no_shows_by_itself_soon_after_a_performance_ends() {
    let mut settings = settings();
    settings.no_shows.sweep_secs = 1;
    let app = spawn_with_settings(settings).await;
    let admin = app.admin("pinghu").await;
    let owner = app.residents_fast(1, "pinghu").await.remove(0);
    let venue = venue(&app, &admin, 20).await;
    // Ends four seconds from now.
    let starts = now_s() + Duration::seconds(3);
    let perf = session(
        &app,
        &admin,
        &venue,
        starts,
        starts + Duration::seconds(1),
        json!({}),
    )
    .await;
    let (id, _) = booked(&app, &owner, &perf, 2).await;
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let b = booking(&app, &owner, &id).await;
        if statuses(&b) == ["NO_SHOW", "NO_SHOW"] {
            assert!(b["noShowAt"].is_string());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not marked 15 s after the end: {b}"
        );
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    assert_eq!(standing(&app, &owner).await.0, 1);
}

// ---------------------------------------------------------------------------------------
// The exchange report
// ---------------------------------------------------------------------------------------

/// A report row reduced to what the fixtures count, keyed by (year, quarter, provider, host).
type Key = (i64, i64, String, String);

fn rows_by_key(rows: &Value) -> BTreeMap<Key, Value> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let key = (
                row["season"]["year"].as_i64().expect("year"),
                row["season"]["quarter"].as_i64().expect("quarter"),
                row["providerCenter"]["code"]
                    .as_str()
                    .expect("code")
                    .to_owned(),
                row["hostCenter"]["code"].as_str().expect("code").to_owned(),
            );
            (key, row.clone())
        })
        .collect()
}

/// Every row the token sees for the years of `seasons`.
async fn report(app: &TestApp, token: &str, seasons: &[Season]) -> BTreeMap<Key, Value> {
    let mut years: Vec<i32> = seasons.iter().map(|s| s.year).collect();
    years.sort_unstable();
    years.dedup();
    let mut rows = BTreeMap::new();
    for year in years {
        let r = app.gql(Some(token), REPORT, json!({ "y": year })).await;
        rows.extend(rows_by_key(&r.data()["exchangeReport"]));
    }
    rows
}

fn key(season: Season, provider: &str, host: &str) -> Key {
    (
        i64::from(season.year),
        i64::from(season.quarter),
        provider.to_owned(),
        host.to_owned(),
    )
}

fn home(row: &Value) -> BTreeMap<String, (i64, i64)> {
    row["byHomeCenter"]
        .as_array()
        .expect("byHomeCenter")
        .iter()
        .map(|h| {
            (
                h["center"]["code"].as_str().expect("code").to_owned(),
                (
                    h["tickets"].as_i64().expect("tickets"),
                    h["attendances"].as_i64().expect("attendances"),
                ),
            )
        })
        .collect()
}

fn figures(row: &Value) -> [i64; 7] {
    [
        "sessionsScheduled",
        "sessionsHeld",
        "sessionsCancelled",
        "seatsOffered",
        "ticketsSold",
        "attendances",
        "noShows",
    ]
    .map(|f| row[f].as_i64().unwrap_or_else(|| panic!("{f}: {row}")))
}

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

// ---------------------------------------------------------------------------------------
// The seeded 2018 history
// ---------------------------------------------------------------------------------------

async fn table_sizes(app: &TestApp) -> HashMap<&'static str, u64> {
    let mut sizes = HashMap::new();
    for table in [
        "account",
        "venue",
        "seasonal_allocation",
        "performance",
        "booking",
        "ticket",
        "no_show",
        "resident_hold",
    ] {
        let row = app
            .db
            .conn
            .query_one_raw(Statement::from_string(
                app.db.conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        sizes.insert(table, row.try_get::<i64>("", "n").expect("n") as u64);
    }
    sizes
}

#[tokio::test]
async fn seeding_loads_the_2018_exchange_with_its_headline_figures_once() {
    let app = spawn().await;
    let started = std::time::Instant::now();
    zouqin::demo::seed(&app.db.conn, PASSWORD)
        .await
        .expect("seed");
    eprintln!("seed-demo (debug build) took {:?}", started.elapsed());
    let sizes = table_sizes(&app).await;

    let mut rows = BTreeMap::new();
    for code in ["pinghu", "jinshan", "jiashan"] {
        let token = app.admin(code).await;
        let r = app.gql(Some(&token), REPORT, json!({ "y": 2018 })).await;
        rows.extend(rows_by_key(&r.data()["exchangeReport"]));
    }
    let total = |i: usize| rows.values().map(|row| figures(row)[i]).sum::<i64>();
    assert_eq!(total(0), 89, "exchange sessions");
    assert_eq!(total(1), 89, "all held");
    assert_eq!(total(2), 0);
    let attendances = total(5);
    eprintln!(
        "2018: {} sessions, {} seats offered, {} tickets, {attendances} attendances, {} no-shows",
        total(0),
        total(3),
        total(4),
        total(6)
    );
    assert!(
        (76_000..=80_000).contains(&attendances),
        "about 78,000 attendances, not {attendances}"
    );
    assert!(total(6) > 0, "some no-shows");
    assert_eq!(
        total(4),
        total(5) + total(6),
        "every 2018 ticket is used or a no-show"
    );
    // Every quarter, Jinshan sends Pinghu its premium series on a quota of 2.
    for quarter in 1..=4 {
        let row = &rows[&(2018, quarter, "jinshan".to_owned(), "pinghu".to_owned())];
        assert_eq!(row["allocation"]["performanceQuota"], 2);
        assert!(figures(row)[0] >= 2);
        assert!(rows.contains_key(&(2018, quarter, "pinghu".to_owned(), "jinshan".to_owned())));
    }
    // Residents of all three home centers came.
    let mut homes: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows.values() {
        for (center, (_, attended)) in home(row) {
            *homes.entry(center).or_default() += attended;
        }
    }
    assert_eq!(homes.len(), 3, "{homes:?}");
    assert!(homes.values().all(|n| *n > 1_000), "{homes:?}");
    assert_eq!(homes.values().sum::<i64>(), attendances);

    // Again: nothing is added.
    zouqin::demo::seed(&app.db.conn, PASSWORD)
        .await
        .expect("seed again");
    assert_eq!(table_sizes(&app).await, sizes);
    let token = app.admin("pinghu").await;
    let r = app.gql(Some(&token), REPORT, json!({ "y": 2018 })).await;
    let again = rows_by_key(&r.data()["exchangeReport"]);
    for (key, row) in &again {
        assert_eq!(&rows[key], row);
    }
    // The no-show step finds nothing left to settle in 2018.
    let marked = run_step(&app, Season::new(2019, 1).expect("season").starts_at()).await;
    assert_eq!(marked.no_shows, 0);
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

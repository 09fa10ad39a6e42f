//! No-shows: counted when a performance ends, the suspensions they bring, the host's
//! excuse, and the background sweep.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use zouqin::domain::no_shows::{self, Marked};

use super::*;

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

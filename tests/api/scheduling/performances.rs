//! Performances: validation, overlap at a venue, drafts, cancelling, and who may manage
//! them.

use serde_json::json;

use super::*;

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

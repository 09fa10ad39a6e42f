//! Seasonal allocations: proposing and answering them, their quotas, and the exchange
//! sessions scheduled on them.

use serde_json::json;

use super::*;

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

//! The public catalogue: pagination and filters.

use serde_json::{Value, json};

use super::*;

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

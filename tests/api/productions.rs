//! Productions: creating, listing, filtering and searching them; scheduling sessions of one;
//! who may see an unpublished one; following; and the migration that gave every existing
//! performance one (see ../shared/design/API.md, "Rules of the exchange": Productions).

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::*;

const CREATE: &str = "mutation($i: CreateProductionInput!) { createProduction(input: $i) { id title description category originCenter { code } followers viewerFollows } }";

const PRODUCTION: &str = "query($id: ID!) { production(id: $id) { id title category originCenter { code } followers viewerFollows performances { totalCount edges { node { id title } } } } }";

const PRODUCTIONS: &str = "query($f: ProductionFilter, $first: Int, $after: String) { productions(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id title originCenter { code } } } } }";

const SCHEDULE: &str = "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id title description category originCenter { code } production { id title originCenter { code } } } }";

const PUBLISH: &str = "mutation($id: ID!) { publishPerformance(id: $id) { id status } }";

const FOLLOW: &str =
    "mutation($id: ID!) { followProduction(id: $id) { id followers viewerFollows } }";

const UNFOLLOW: &str =
    "mutation($id: ID!) { unfollowProduction(id: $id) { id followers viewerFollows } }";

/// Minutes from now, as RFC 3339.
pub fn from_now(minutes: i64) -> String {
    (Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

/// Creates a production as `token`; returns its id.
pub async fn production(app: &TestApp, token: &str, title: &str, category: &str) -> String {
    let r = app
        .gql(
            Some(token),
            CREATE,
            json!({ "i": { "title": title, "description": format!("{title}：简介"), "category": category } }),
        )
        .await;
    r.data()["createProduction"]["id"]
        .as_str()
        .expect("production id")
        .to_owned()
}

/// A general-admission hall of the token's center; returns its id.
pub async fn hall(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .gql(
            Some(token),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": name, "address": "1 Culture Road", "kind": "HALL",
                           "seating": "GENERAL_ADMISSION", "capacity": 50 } }),
        )
        .await;
    r.data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned()
}

/// Schedules a session of `production` at `venue`, `hours_ahead` from now.
pub async fn schedule(app: &TestApp, token: &str, input: Value) -> Gql {
    app.gql(Some(token), SCHEDULE, json!({ "i": input })).await
}

/// Schedules (a session of `production`, starting `minutes` from now) and publishes;
/// returns the performance id.
pub async fn publish_session(
    app: &TestApp,
    token: &str,
    venue: &str,
    production: &str,
    minutes: i64,
) -> String {
    let r = schedule(
        app,
        token,
        json!({ "venueId": venue, "productionId": production,
                "startsAt": from_now(minutes), "endsAt": from_now(minutes + 120) }),
    )
    .await;
    let id = r.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_owned();
    let r = app.gql(Some(token), PUBLISH, json!({ "id": id })).await;
    assert_eq!(r.data()["publishPerformance"]["status"], "PUBLISHED");
    id
}

fn titles(r: &Gql) -> Vec<String> {
    r.data()["productions"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test]
async fn a_scheduler_creates_productions_that_anyone_lists_filters_and_searches() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let scheduler = app
        .staff(&pinghu, "scheduler@pinghu.example", "SCHEDULER")
        .await;
    let jinshan = app.admin("jinshan").await;
    let r = app
        .gql(
            Some(&scheduler),
            CREATE,
            json!({ "i": { "title": " 平湖派琵琶艺术专场 ", "category": "CONCERT" } }),
        )
        .await;
    let made = &r.data()["createProduction"];
    assert_eq!(made["title"], "平湖派琵琶艺术专场");
    assert_eq!(made["description"], "");
    assert_eq!(made["originCenter"]["code"], "pinghu");
    assert_eq!(made["followers"], 0);
    assert_eq!(made["viewerFollows"], false);
    production(&app, &scheduler, "平湖钹子书", "OTHER").await;
    let thunderstorm = production(&app, &jinshan, "沪剧《大雷雨》", "OPERA").await;

    let all = app
        .anon(PRODUCTIONS, json!({ "f": null, "first": 2 }))
        .await;
    assert_eq!(all.data()["productions"]["totalCount"], 3);
    assert_eq!(titles(&all), ["平湖派琵琶艺术专场", "平湖钹子书"]);
    let page = &all.data()["productions"]["pageInfo"];
    assert_eq!(page["hasNextPage"], true);
    let rest = app
        .anon(
            PRODUCTIONS,
            json!({ "first": 2, "after": page["endCursor"] }),
        )
        .await;
    assert_eq!(titles(&rest), ["沪剧《大雷雨》"]);
    assert_eq!(rest.data()["productions"]["pageInfo"]["hasNextPage"], false);

    let of_jinshan = app
        .anon(
            PRODUCTIONS,
            json!({ "f": { "originCenterId": world.jinshan } }),
        )
        .await;
    assert_eq!(titles(&of_jinshan), ["沪剧《大雷雨》"]);
    let searched = app
        .anon(PRODUCTIONS, json!({ "f": { "search": "雷雨" } }))
        .await;
    assert_eq!(titles(&searched), ["沪剧《大雷雨》"]);
    let by_description = app
        .anon(PRODUCTIONS, json!({ "f": { "search": "钹子书：简介" } }))
        .await;
    assert_eq!(titles(&by_description), ["平湖钹子书"]);
    let none = app
        .anon(PRODUCTIONS, json!({ "f": { "search": "100%_" } }))
        .await;
    assert_eq!(none.data()["productions"]["totalCount"], 0);

    let one = app.anon(PRODUCTION, json!({ "id": thunderstorm })).await;
    assert_eq!(one.data()["production"]["originCenter"]["code"], "jinshan");
    let node = app
        .anon(
            "query($id: ID!) { node(id: $id) { ... on Production { title } } }",
            json!({ "id": thunderstorm }),
        )
        .await;
    assert_eq!(node.data()["node"]["title"], "沪剧《大雷雨》");

    // Audited in the creating center's log.
    let log = app
        .gql(
            Some(&pinghu),
            "{ auditLog(action: \"production.create\") { totalCount edges { node { actor { email } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(log.data()["auditLog"]["totalCount"], 2);
    assert_eq!(
        log.data()["auditLog"]["edges"][0]["node"]["actor"]["email"],
        "scheduler@pinghu.example"
    );
}

#[tokio::test]
async fn only_schedulers_and_admins_create_productions() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let input = json!({ "i": { "title": "不该有的戏", "category": "DRAMA" } });
    let r = app.gql(Some(&resident), CREATE, input.clone()).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = app.gql(Some(&usher), CREATE, input.clone()).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let r = app.anon(CREATE, input).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    let r = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "i": { "title": "  ", "category": "DRAMA" } }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"));
    assert_eq!(r.error()["extensions"]["field"], "title");
    let r = app.anon(PRODUCTIONS, json!({})).await;
    assert_eq!(r.data()["productions"]["totalCount"], 0);
}

#[tokio::test]
async fn a_session_of_a_production_takes_its_title_category_and_origin_and_lists_once_published() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let thunderstorm = production(&app, &jinshan, "沪剧《大雷雨》", "OPERA").await;
    let venue = hall(&app, &pinghu, "平湖剧场").await;

    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "productionId": thunderstorm,
                "startsAt": from_now(600), "endsAt": from_now(720) }),
    )
    .await;
    let session = &r.data()["schedulePerformance"];
    assert_eq!(session["title"], "沪剧《大雷雨》");
    assert_eq!(session["description"], "沪剧《大雷雨》：简介");
    assert_eq!(session["category"], "OPERA");
    assert_eq!(session["originCenter"]["code"], "jinshan");
    assert_eq!(session["production"]["id"], thunderstorm.as_str());
    let draft = session["id"].as_str().expect("id").to_owned();

    // A title of its own is kept (an extra night), still of the same production.
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "productionId": thunderstorm, "title": "沪剧《大雷雨》（平湖加演）",
                "startsAt": from_now(900), "endsAt": from_now(1000) }),
    )
    .await;
    assert_eq!(
        r.data()["schedulePerformance"]["title"],
        "沪剧《大雷雨》（平湖加演）"
    );
    assert_eq!(
        r.data()["schedulePerformance"]["production"]["id"],
        thunderstorm.as_str()
    );

    // Drafts are not among its performances; published sessions are, by start.
    let listed = app.anon(PRODUCTION, json!({ "id": thunderstorm })).await;
    assert_eq!(listed.data()["production"]["performances"]["totalCount"], 0);
    let r = app
        .gql(Some(&pinghu), PUBLISH, json!({ "id": draft }))
        .await;
    r.data();
    let jinshan_venue = hall(&app, &jinshan, "金山剧场").await;
    let earlier = publish_session(&app, &jinshan, &jinshan_venue, &thunderstorm, 300).await;
    let listed = app.anon(PRODUCTION, json!({ "id": thunderstorm })).await;
    let performances = &listed.data()["production"]["performances"];
    assert_eq!(performances["totalCount"], 2);
    assert_eq!(performances["edges"][0]["node"]["id"], earlier.as_str());
    assert_eq!(performances["edges"][1]["node"]["id"], draft.as_str());

    // Another origin than the production's is refused; no title without a production too.
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "productionId": thunderstorm, "originCenterId": world.pinghu,
                "startsAt": from_now(2000), "endsAt": from_now(2100) }),
    )
    .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "originCenterId");
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "category": "OPERA",
                "startsAt": from_now(2000), "endsAt": from_now(2100) }),
    )
    .await;
    assert_eq!(r.error()["extensions"]["field"], "title", "{}", r.body);
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "title": "无类别",
                "startsAt": from_now(2000), "endsAt": from_now(2100) }),
    )
    .await;
    assert_eq!(r.error()["extensions"]["field"], "category", "{}", r.body);
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "productionId": venue,
                "startsAt": from_now(2000), "endsAt": from_now(2100) }),
    )
    .await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
}

#[tokio::test]
async fn a_production_made_for_a_draft_exists_only_for_its_staff_until_a_session_is_published() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let jinshan = app.admin("jinshan").await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let venue = hall(&app, &pinghu, "平湖剧场").await;
    let r = schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "title": "未公布的新戏", "category": "DRAMA",
                "description": "尚在排练", "startsAt": from_now(600), "endsAt": from_now(700) }),
    )
    .await;
    let session = &r.data()["schedulePerformance"];
    assert_eq!(session["production"]["title"], "未公布的新戏");
    assert_eq!(session["production"]["originCenter"]["code"], "pinghu");
    let made = session["production"]["id"].as_str().expect("id").to_owned();
    let draft = session["id"].as_str().expect("id").to_owned();

    for token in [None, Some(jinshan.as_str()), Some(resident.as_str())] {
        let r = app.gql(token, PRODUCTION, json!({ "id": made })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        let r = app
            .gql(
                token,
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": made }),
            )
            .await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        let r = app.gql(token, PRODUCTIONS, json!({})).await;
        assert_eq!(r.data()["productions"]["totalCount"], 0);
        let r = app.gql(token, FOLLOW, json!({ "id": made })).await;
        assert!(r.code().is_some(), "{}", r.body);
    }
    let r = app
        .gql(Some(&resident), FOLLOW, json!({ "id": made }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    let r = app
        .gql(Some(&pinghu), PRODUCTION, json!({ "id": made }))
        .await;
    assert_eq!(r.data()["production"]["title"], "未公布的新戏");

    let r = app
        .gql(Some(&pinghu), PUBLISH, json!({ "id": draft }))
        .await;
    r.data();
    let r = app.anon(PRODUCTION, json!({ "id": made })).await;
    assert_eq!(r.data()["production"]["performances"]["totalCount"], 1);
    let r = app.gql(Some(&jinshan), PRODUCTIONS, json!({})).await;
    assert_eq!(titles(&r), ["未公布的新戏"]);
}

#[tokio::test]
async fn following_is_idempotent_and_for_residents_only() {
    let app = spawn().await;
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let thunderstorm = production(&app, &jinshan, "沪剧《大雷雨》", "OPERA").await;
    let resident = app.resident("r@residents.example", &world.pinghu).await;
    let other = app.resident("o@residents.example", &world.jinshan).await;
    let usher = app.staff(&jinshan, "usher@jinshan.example", "USHER").await;

    for _ in 0..2 {
        let r = app
            .gql(Some(&resident), FOLLOW, json!({ "id": thunderstorm }))
            .await;
        let followed = &r.data()["followProduction"];
        assert_eq!(followed["followers"], 1);
        assert_eq!(followed["viewerFollows"], true);
    }
    let r = app
        .gql(Some(&other), PRODUCTION, json!({ "id": thunderstorm }))
        .await;
    assert_eq!(r.data()["production"]["followers"], 1);
    assert_eq!(r.data()["production"]["viewerFollows"], false);
    let r = app.anon(PRODUCTION, json!({ "id": thunderstorm })).await;
    assert_eq!(r.data()["production"]["viewerFollows"], false);

    for staff in [&jinshan, &usher] {
        let r = app
            .gql(Some(staff), FOLLOW, json!({ "id": thunderstorm }))
            .await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
        let r = app
            .gql(Some(staff), UNFOLLOW, json!({ "id": thunderstorm }))
            .await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    let r = app.anon(FOLLOW, json!({ "id": thunderstorm })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);

    for _ in 0..2 {
        let r = app
            .gql(Some(&resident), UNFOLLOW, json!({ "id": thunderstorm }))
            .await;
        let unfollowed = &r.data()["unfollowProduction"];
        assert_eq!(unfollowed["followers"], 0);
        assert_eq!(unfollowed["viewerFollows"], false);
    }
    let r = app
        .gql(Some(&resident), FOLLOW, json!({ "id": world.pinghu }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
}

#[tokio::test]
async fn the_migration_gives_existing_performances_one_production_per_work() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};

    let url = fresh_database().await;
    let db = zouqin::db::connect(&url, 2, std::time::Duration::from_secs(5))
        .await
        .expect("connect");
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261129_000010_create_productions")
        .expect("the productions migration");
    Migrator::up(&db.conn, Some(before as u32))
        .await
        .expect("migrate up to productions");
    let centers = zouqin::demo::seed_centers(&db.conn).await.expect("centers");
    let (pinghu, jinshan) = (centers[0], centers[1]);
    let backend = db.backend();
    let run = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(backend, sql, values)
    };
    db.conn
        .execute_raw(run(
            "INSERT INTO venue (center_id, name, address, kind, seating, capacity, created_at, lock_version) \
             VALUES ($1, '平湖剧场', '1 Road', 'THEATER', 'GENERAL_ADMISSION', 100, $2, 0)",
            vec![pinghu.into(), Utc::now().into()],
        ))
        .await
        .expect("venue");
    // (origin, title, category, status, published)
    let sessions = [
        (jinshan, "沪剧《大雷雨》", "OPERA", "PUBLISHED", true),
        (
            jinshan,
            "接轨上海 精品文艺系列展演：沪剧《大雷雨》",
            "OPERA",
            "PUBLISHED",
            true,
        ),
        (
            jinshan,
            "沪剧《大雷雨》（平湖加演）",
            "OPERA",
            "DRAFT",
            false,
        ),
        (pinghu, "沪剧《大雷雨》", "OPERA", "PUBLISHED", true),
        (jinshan, "沪剧《大雷雨》", "CONCERT", "DRAFT", false),
    ];
    for (n, (origin, title, category, status, published)) in sessions.iter().enumerate() {
        let start = Utc::now() + chrono::Duration::days(n as i64 + 1);
        db.conn
            .execute_raw(run(
                "INSERT INTO performance (venue_id, host_center_id, origin_center_id, title, description, \
                 category, starts_at, ends_at, status, price_cents, per_resident_limit, capacity, \
                 published_at, lock_version, created_at) \
                 SELECT id, $1, $2, $3, $4, $5, $6, $7, $8, 0, 4, 100, $9, 0, $10 FROM venue",
                vec![
                    pinghu.into(),
                    (*origin).into(),
                    (*title).into(),
                    format!("session {n}").into(),
                    (*category).into(),
                    start.into(),
                    (start + chrono::Duration::hours(2)).into(),
                    (*status).into(),
                    published.then_some(start - chrono::Duration::days(1)).into(),
                    Utc::now().into(),
                ],
            ))
            .await
            .expect("performance");
    }
    Migrator::up(&db.conn, None)
        .await
        .expect("migrate the rest");

    #[derive(Debug, sea_orm::FromQueryResult)]
    struct Row {
        production_id: i64,
        title: String,
        origin_center_id: i64,
        production_origin: i64,
        production_title: String,
        description: String,
        listed: bool,
    }
    use sea_orm::FromQueryResult;
    let rows = Row::find_by_statement(Statement::from_string(
        backend,
        "SELECT p.production_id, p.title, p.origin_center_id, pr.origin_center_id AS production_origin, \
         pr.title AS production_title, pr.description, (pr.listed_at IS NOT NULL) AS listed \
         FROM performance p JOIN production pr ON pr.id = p.production_id ORDER BY p.id",
    ))
    .all(&db.conn)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.origin_center_id == r.production_origin)
    );
    // The three Jinshan 《大雷雨》 operas share one production, named after the work, with the
    // earliest session's description; Pinghu's own and the concert are others.
    assert_eq!(rows[0].production_id, rows[1].production_id);
    assert_eq!(rows[0].production_id, rows[2].production_id);
    assert_eq!(rows[0].production_title, "沪剧《大雷雨》");
    assert_eq!(rows[0].description, "session 0");
    assert_eq!(rows[2].title, "沪剧《大雷雨》（平湖加演）");
    assert!(rows[0].listed);
    assert_ne!(rows[3].production_id, rows[0].production_id);
    assert_ne!(rows[4].production_id, rows[0].production_id);
    assert!(
        !rows[4].listed,
        "a production of drafts only stays unlisted"
    );
    let count = db
        .conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM production",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(count, 3);

    // From now on the database refuses a performance whose origin is not its production's.
    let refused = db
        .conn
        .execute_raw(run(
            "UPDATE performance SET origin_center_id = $1 WHERE id = (SELECT MIN(id) FROM performance)",
            vec![pinghu.into()],
        ))
        .await;
    assert!(refused.is_err(), "the origin must stay the production's");
}

#[tokio::test]
async fn the_demo_stages_daleiyu_in_jinshan_and_in_pinghu_as_one_production() {
    let app = spawn().await;
    zouqin::demo::seed(&app.db.conn, PASSWORD)
        .await
        .expect("seed");
    let r = app
        .anon(
            "{ productions(filter: { search: \"大雷雨\" }) { totalCount edges { node { id title originCenter { code } \
               performances(first: 100) { totalCount edges { node { title hostCenter { code } production { id } } } } } } } }",
            json!({}),
        )
        .await;
    let found = &r.data()["productions"];
    assert_eq!(found["totalCount"], 1, "{found}");
    let thunderstorm = &found["edges"][0]["node"];
    assert_eq!(thunderstorm["title"], "沪剧《大雷雨》");
    assert_eq!(thunderstorm["originCenter"]["code"], "jinshan");
    let sessions = thunderstorm["performances"]["edges"]
        .as_array()
        .expect("sessions");
    let hosts: std::collections::BTreeSet<&str> = sessions
        .iter()
        .map(|s| s["node"]["hostCenter"]["code"].as_str().expect("host"))
        .collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        ["jinshan", "pinghu"],
        "{sessions:?}"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s["node"]["production"]["id"] == thunderstorm["id"])
    );
}

//! The append-only audit log that every staff action and account change writes.

use chrono::Utc;
use entity::enums::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use zouqin::ids::Kind;

use super::*;

const VENUE: &str = "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }";
const SCHEDULE: &str =
    "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdatePerformanceInput!) { updatePerformance(id: $id, input: $i) { id } }";
const PUBLISH: &str = "mutation($id: ID!) { publishPerformance(id: $id) { id } }";
const CANCEL: &str =
    "mutation($id: ID!, $r: String!) { cancelPerformance(id: $id, reason: $r) { id } }";
const PROPOSE: &str =
    "mutation($i: ProposeAllocationInput!) { proposeAllocation(input: $i) { id } }";
const RESPOND: &str =
    "mutation($id: ID!, $a: Boolean!) { respondToAllocation(id: $id, accept: $a) { id } }";
const WITHDRAW: &str = "mutation($id: ID!) { withdrawAllocation(id: $id) { id } }";
const BOOK: &str =
    "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id tickets { id code } } }";
const CHECK_IN: &str = "mutation($c: String!) { checkInTicket(code: $c) { id status } }";

fn from_now(minutes: i64) -> String {
    (Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

/// `data.<field>.id` of a mutation that must succeed.
#[track_caller]
fn id_in(r: &Gql, field: &str) -> String {
    r.data()[field]["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn each_staff_mutation_leaves_exactly_one_entry_naming_actor_action_and_subject() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let admin_id = my_id(&app, &admin).await;
    let scheduler = app
        .staff(&admin, "planner@pinghu.example", "SCHEDULER")
        .await;
    let scheduler_id = my_id(&app, &scheduler).await;
    let usher = app.staff(&admin, "door@pinghu.example", "USHER").await;
    let usher_id = my_id(&app, &usher).await;
    let jinshan = app.admin("jinshan").await;
    let jinshan_id = my_id(&app, &jinshan).await;

    let venue = id_in(
        &app.gql(
            Some(&scheduler),
            VENUE,
            json!({ "i": { "name": "Audit hall", "address": "3 Culture Road", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 50 } }),
        )
        .await,
        "createVenue",
    );
    let soon = id_in(
        &app.gql(
            Some(&scheduler),
            SCHEDULE,
            json!({ "i": { "venueId": venue, "title": "Evening concert", "category": "CONCERT", "startsAt": from_now(60), "endsAt": from_now(120) } }),
        )
        .await,
        "schedulePerformance",
    );
    let later = id_in(
        &app.gql(
            Some(&scheduler),
            SCHEDULE,
            json!({ "i": { "venueId": venue, "title": "Cancelled talk", "category": "LECTURE", "startsAt": from_now(600), "endsAt": from_now(660) } }),
        )
        .await,
        "schedulePerformance",
    );
    id_in(
        &app.gql(
            Some(&scheduler),
            UPDATE,
            json!({ "id": soon, "i": { "title": "Evening concert (strings)" } }),
        )
        .await,
        "updatePerformance",
    );
    id_in(
        &app.gql(Some(&scheduler), PUBLISH, json!({ "id": soon }))
            .await,
        "publishPerformance",
    );
    id_in(
        &app.gql(
            Some(&scheduler),
            CANCEL,
            json!({ "id": later, "r": "speaker ill" }),
        )
        .await,
        "cancelPerformance",
    );
    let next_year = chrono::Datelike::year(&Utc::now()) + 1;
    let accepted = id_in(
        &app.gql(
            Some(&scheduler),
            PROPOSE,
            json!({ "i": { "year": next_year, "quarter": 1, "providerCenterId": world.pinghu, "hostCenterId": world.jinshan, "performanceQuota": 2 } }),
        )
        .await,
        "proposeAllocation",
    );
    id_in(
        &app.gql(
            Some(&jinshan),
            RESPOND,
            json!({ "id": accepted, "a": true }),
        )
        .await,
        "respondToAllocation",
    );
    let withdrawn = id_in(
        &app.gql(
            Some(&scheduler),
            PROPOSE,
            json!({ "i": { "year": next_year, "quarter": 2, "providerCenterId": world.pinghu, "hostCenterId": world.jiashan, "performanceQuota": 1 } }),
        )
        .await,
        "proposeAllocation",
    );
    id_in(
        &app.gql(Some(&scheduler), WITHDRAW, json!({ "id": withdrawn }))
            .await,
        "withdrawAllocation",
    );
    let resident = app.resident("fan@residents.example", &world.pinghu).await;
    let booked = app
        .gql(
            Some(&resident),
            BOOK,
            json!({ "i": { "performanceId": soon, "quantity": 1 } }),
        )
        .await;
    let ticket = booked.data()["bookSeats"]["tickets"][0].clone();
    let r = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": ticket["code"] }))
        .await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");

    let log = |action: &'static str| {
        let (app, admin) = (&app, &admin);
        async move { audit_log(app, admin, Some(action)).await }
    };
    let created = log("account.create").await;
    assert_eq!(created.len(), 2, "{created:?}");
    let subjects: Vec<&str> = created
        .iter()
        .map(|e| e["subjectId"].as_str().expect("subject"))
        .collect();
    assert_eq!(
        subjects,
        vec![usher_id.as_str(), scheduler_id.as_str()],
        "newest first"
    );
    assert!(
        created
            .iter()
            .all(|e| e["actor"]["id"] == admin_id.as_str())
    );
    let by_scheduler = Some(scheduler_id.as_str());
    assert_one(
        &log("venue.create").await,
        "venue.create",
        by_scheduler,
        &venue,
    );
    let schedules = log("performance.schedule").await;
    assert_eq!(schedules.len(), 2);
    assert_eq!(schedules[0]["subjectId"], later.as_str());
    assert_eq!(schedules[1]["subjectId"], soon.as_str());
    assert_one(
        &log("performance.update").await,
        "performance.update",
        by_scheduler,
        &soon,
    );
    assert_one(
        &log("performance.publish").await,
        "performance.publish",
        by_scheduler,
        &soon,
    );
    assert_one(
        &log("performance.cancel").await,
        "performance.cancel",
        by_scheduler,
        &later,
    );
    assert_eq!(log("allocation.propose").await.len(), 2);
    assert_one(
        &log("allocation.withdraw").await,
        "allocation.withdraw",
        by_scheduler,
        &withdrawn,
    );
    assert_one(
        &log("ticket.check_in").await,
        "ticket.check_in",
        Some(&usher_id),
        ticket["id"].as_str().expect("ticket id"),
    );
    // The answer to Pinghu's proposal is in Jinshan's log, not Pinghu's.
    assert!(log("allocation.accept").await.is_empty());
    assert_one(
        &audit_log(&app, &jinshan, Some("allocation.accept")).await,
        "allocation.accept",
        Some(&jinshan_id),
        &accepted,
    );
    let all = app.gql(Some(&admin), AUDIT, json!({})).await;
    assert_eq!(all.data()["auditLog"]["totalCount"], 12, "{}", all.body);
    for edge in all.data()["auditLog"]["edges"].as_array().expect("edges") {
        assert_eq!(edge["node"]["center"]["code"], "pinghu");
    }
}

#[tokio::test]
async fn a_mutation_that_fails_leaves_no_entry() {
    let app = spawn().await;
    let scheduler = member(&app, "pinghu", Role::Scheduler).await;
    let admin = app.admin("pinghu").await;
    let venue = id_in(
        &app.gql(
            Some(&scheduler.token),
            VENUE,
            json!({ "i": { "name": "Busy hall", "address": "4 Culture Road", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 10 } }),
        )
        .await,
        "createVenue",
    );
    let first = id_in(
        &app.gql(
            Some(&scheduler.token),
            SCHEDULE,
            json!({ "i": { "venueId": venue, "title": "First", "category": "OTHER", "startsAt": from_now(600), "endsAt": from_now(720) } }),
        )
        .await,
        "schedulePerformance",
    );
    let overlapping = app
        .gql(
            Some(&scheduler.token),
            SCHEDULE,
            json!({ "i": { "venueId": venue, "title": "Second", "category": "OTHER", "startsAt": from_now(660), "endsAt": from_now(780) } }),
        )
        .await;
    assert_eq!(overlapping.code(), Some("CONFLICT"), "{}", overlapping.body);
    let again = app
        .gql(
            Some(&scheduler.token),
            VENUE,
            json!({ "i": { "name": "Busy hall", "address": "elsewhere", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 10 } }),
        )
        .await;
    assert_eq!(again.code(), Some("CONFLICT"), "{}", again.body);
    id_in(
        &app.gql(Some(&scheduler.token), PUBLISH, json!({ "id": first }))
            .await,
        "publishPerformance",
    );
    let twice = app
        .gql(Some(&scheduler.token), PUBLISH, json!({ "id": first }))
        .await;
    assert_eq!(twice.code(), Some("CONFLICT"), "{}", twice.body);

    assert_eq!(
        audit_log(&app, &admin, Some("performance.schedule"))
            .await
            .len(),
        1
    );
    assert_eq!(audit_log(&app, &admin, Some("venue.create")).await.len(), 1);
    assert_eq!(
        audit_log(&app, &admin, Some("performance.publish"))
            .await
            .len(),
        1
    );
    assert_eq!(stored_entries(&app).await.len(), 3);
}

#[tokio::test]
async fn an_entry_written_in_a_transaction_that_rolls_back_does_not_exist() {
    use zouqin::domain::audit::{self, Action, Actor, Via};
    use zouqin::error::{AppError, AppResult};
    let app = spawn().await;
    let conn = &app.db.conn;
    let outcome: AppResult<()> = zouqin::write_txn!(conn, |txn| {
        audit::record(
            txn,
            Actor::operator(Via::Cli, None),
            Action::VenueCreate,
            (Kind::Venue, 1),
            json!({}),
        )
        .await?;
        Err(AppError::conflict("the change after it fails"))
    });
    assert!(outcome.is_err());
    assert!(stored_entries(&app).await.is_empty());
}

#[tokio::test]
async fn the_audit_log_is_newest_first_filtered_by_action_and_paged() {
    let app = spawn().await;
    let admin = app.admin("jiashan").await;
    let usher = member(&app, "jiashan", Role::Usher).await;
    for role in ["SCHEDULER", "USHER", "SCHEDULER"] {
        app.gql(Some(&admin), SET_ROLE, json!({ "id": usher.id, "r": role }))
            .await
            .data();
    }
    app.gql(Some(&admin), ISSUE_RESET, json!({ "id": usher.id }))
        .await
        .data();

    let first = app.gql(Some(&admin), AUDIT, json!({ "f": 3 })).await;
    let page = &first.data()["auditLog"];
    assert_eq!(page["totalCount"], 4);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let actions: Vec<&str> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        vec![
            "account.issue_password_reset",
            "account.set_role",
            "account.set_role"
        ]
    );
    let times: Vec<&str> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["at"].as_str().expect("at"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let cursor = page["pageInfo"]["endCursor"].as_str().expect("cursor");
    let rest = app
        .gql(Some(&admin), AUDIT, json!({ "f": 3, "after": cursor }))
        .await;
    let rest = &rest.data()["auditLog"];
    assert_eq!(rest["edges"].as_array().expect("edges").len(), 1);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);
    let details: Value = serde_json::from_str(
        rest["edges"][0]["node"]["details"]
            .as_str()
            .expect("details"),
    )
    .expect("JSON text");
    assert_eq!(details, json!({ "from": "USHER", "to": "SCHEDULER" }));

    let roles = app
        .gql(Some(&admin), AUDIT, json!({ "a": "account.set_role" }))
        .await;
    assert_eq!(roles.data()["auditLog"]["totalCount"], 3);
    let none = app
        .gql(Some(&admin), AUDIT, json!({ "a": "no.such_action" }))
        .await;
    assert_eq!(none.data()["auditLog"]["totalCount"], 0);
    let r = app.gql(Some(&admin), AUDIT, json!({ "f": 101 })).await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"));
    assert_eq!(r.error()["extensions"]["field"], "first");
}

#[tokio::test]
async fn only_the_centers_admin_reads_its_log_and_its_entries_by_node_id() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let usher = member(&app, "pinghu", Role::Usher).await;
    app.gql(
        Some(&admin),
        SET_ROLE,
        json!({ "id": usher.id, "r": "SCHEDULER" }),
    )
    .await
    .data();
    let entry = audit_log(&app, &admin, None).await[0]["id"]
        .as_str()
        .expect("entry id")
        .to_owned();
    let r = app.gql(Some(&admin), NODE, json!({ "id": entry })).await;
    assert_eq!(r.data()["node"]["action"], "account.set_role");

    let other_admin = app.admin("jinshan").await;
    assert!(audit_log(&app, &other_admin, None).await.is_empty());
    let scheduler = member(&app, "pinghu", Role::Scheduler).await;
    let resident = app
        .resident("curious@residents.example", &world.pinghu)
        .await;
    for token in [
        Some(other_admin.as_str()),
        Some(&scheduler.token),
        Some(&resident),
        None,
    ] {
        let r = app.gql(token, NODE, json!({ "id": entry })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    }
    for token in [&scheduler.token, &resident] {
        let r = app.gql(Some(token), AUDIT, json!({})).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    assert_eq!(
        app.anon(AUDIT, json!({})).await.code(),
        Some("UNAUTHENTICATED")
    );
}

#[tokio::test]
async fn audit_entries_cannot_be_updated_or_deleted_even_through_sql() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = member(&app, "pinghu", Role::Usher).await;
    app.gql(
        Some(&admin),
        SET_ROLE,
        json!({ "id": usher.id, "r": "SCHEDULER" }),
    )
    .await
    .data();
    let before = stored_entries(&app).await;
    assert_eq!(before.len(), 1);
    let direct = zouqin::db::connect(&app.database_url, 1, std::time::Duration::from_secs(5))
        .await
        .expect("a connection of its own");
    for sql in [
        "UPDATE audit_entry SET action = 'nothing.happened'",
        "UPDATE audit_entry SET actor_id = NULL",
        "DELETE FROM audit_entry",
    ] {
        let result = direct.conn.execute_unprepared(sql).await;
        assert!(result.is_err(), "{sql} must be refused");
    }
    assert_eq!(stored_entries(&app).await, before);
}

#[tokio::test]
async fn audit_entries_cannot_be_truncated_on_postgresql() {
    if postgres_base().is_none() {
        println!(
            "SKIPPED audit_entries_cannot_be_truncated_on_postgresql: needs ZOUQIN_TEST_POSTGRES"
        );
        return;
    }
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = member(&app, "pinghu", Role::Usher).await;
    app.gql(Some(&admin), DEACTIVATE, json!({ "id": usher.id }))
        .await
        .data();
    let before = stored_entries(&app).await;
    let direct = zouqin::db::connect(&app.database_url, 1, std::time::Duration::from_secs(5))
        .await
        .expect("a connection of its own");
    let result = direct.conn.execute_unprepared("TRUNCATE audit_entry").await;
    assert!(result.is_err(), "TRUNCATE must be refused");
    assert_eq!(stored_entries(&app).await, before);
}

#[tokio::test]
async fn no_code_path_updates_or_deletes_audit_entries() {
    let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            for forbidden in [
                "audit_entry::Entity::update",
                "audit_entry::Entity::delete",
                "audit_entry::ActiveModel::update",
                "UPDATE audit_entry",
                "DELETE FROM audit_entry",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{} contains {forbidden}",
                    path.display()
                );
            }
        }
    }
}

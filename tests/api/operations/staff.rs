//! A center's staff list, staff roles and the last-admin rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::enums::Role;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use super::*;

// ---------------------------------------------------------------------------------------
// The staff list.

#[tokio::test]
async fn a_center_admin_lists_its_centers_staff_by_role_page_by_page() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let mut schedulers = Vec::new();
    for _ in 0..3 {
        schedulers.push(member(&app, "pinghu", Role::Scheduler).await.id);
    }
    member(&app, "pinghu", Role::Usher).await;
    let elsewhere = member(&app, "jinshan", Role::Scheduler).await;

    let first = app
        .gql(Some(&admin), ACCOUNTS, json!({ "r": "SCHEDULER", "f": 2 }))
        .await;
    let page = &first.data()["centerAccounts"];
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["pageInfo"]["endCursor"].as_str().expect("cursor");
    let second = app
        .gql(
            Some(&admin),
            ACCOUNTS,
            json!({ "r": "SCHEDULER", "f": 2, "a": cursor }),
        )
        .await;
    let rest = &second.data()["centerAccounts"];
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    let listed: Vec<&str> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .chain(rest["edges"].as_array().expect("edges"))
        .map(|e| e["node"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, schedulers, "by creation, each once");
    for edge in page["edges"].as_array().expect("edges") {
        assert_eq!(edge["node"]["role"], "SCHEDULER");
        assert_eq!(edge["node"]["active"], true);
        assert_eq!(edge["node"]["center"]["code"], "pinghu");
    }

    let everyone = app.gql(Some(&admin), ACCOUNTS, json!({})).await;
    let everyone = &everyone.data()["centerAccounts"];
    assert_eq!(
        everyone["totalCount"], 5,
        "the admin, 3 schedulers, 1 usher"
    );
    assert!(!everyone.to_string().contains(&elsewhere.id));
}

#[tokio::test]
async fn only_a_center_admin_may_list_its_staff() {
    let app = spawn().await;
    let world = app.world().await;
    let scheduler = member(&app, "pinghu", Role::Scheduler).await;
    let resident = app
        .resident("reader@residents.example", &world.pinghu)
        .await;
    for token in [&scheduler.token, &resident] {
        let r = app.gql(Some(token), ACCOUNTS, json!({})).await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    let r = app.anon(ACCOUNTS, json!({})).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
}

// ---------------------------------------------------------------------------------------
// Roles.

#[tokio::test]
async fn a_center_admin_changes_a_staff_role_and_the_log_names_it() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let admin_id = my_id(&app, &admin).await;
    let usher = member(&app, "pinghu", Role::Usher).await;

    let r = app
        .gql(
            Some(&admin),
            SET_ROLE,
            json!({ "id": usher.id, "r": "SCHEDULER" }),
        )
        .await;
    assert_eq!(r.data()["setStaffRole"]["role"], "SCHEDULER");
    assert_eq!(r.data()["setStaffRole"]["center"]["code"], "pinghu");

    let entries = audit_log(&app, &admin, Some("account.set_role")).await;
    assert_one(&entries, "account.set_role", Some(&admin_id), &usher.id);
    let details: Value =
        serde_json::from_str(entries[0]["details"].as_str().expect("details")).expect("json");
    assert_eq!(details, json!({ "from": "USHER", "to": "SCHEDULER" }));
    assert_eq!(entries[0]["center"]["code"], "pinghu");

    // Setting the role it has changes nothing and records nothing.
    let again = app
        .gql(
            Some(&admin),
            SET_ROLE,
            json!({ "id": usher.id, "r": "SCHEDULER" }),
        )
        .await;
    assert_eq!(again.data()["setStaffRole"]["role"], "SCHEDULER");
    assert_eq!(
        audit_log(&app, &admin, Some("account.set_role"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_scheduler_calling_set_staff_role_deactivate_or_issue_reset_is_forbidden() {
    let app = spawn().await;
    let scheduler = member(&app, "pinghu", Role::Scheduler).await;
    let usher = member(&app, "pinghu", Role::Usher).await;
    let r = app
        .gql(
            Some(&scheduler.token),
            SET_ROLE,
            json!({ "id": usher.id, "r": "SCHEDULER" }),
        )
        .await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    for mutation in [DEACTIVATE, ISSUE_RESET] {
        let r = app
            .gql(Some(&scheduler.token), mutation, json!({ "id": usher.id }))
            .await;
        assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    }
    let r = app
        .gql(
            Some(&usher.token),
            SET_ROLE,
            json!({ "id": usher.id, "r": "CENTER_ADMIN" }),
        )
        .await;
    assert_eq!(
        r.code(),
        Some("FORBIDDEN"),
        "an usher cannot promote itself: {}",
        r.body
    );
    let stored = entity::account::Entity::find_by_id(row(&usher.id))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("usher");
    assert_eq!(stored.role, Role::Usher);
    assert!(stored.active);
    assert!(
        stored_entries(&app).await.is_empty(),
        "nothing happened, nothing logged"
    );
}

#[tokio::test]
async fn another_centers_account_and_residents_are_not_found_for_a_center_admin() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let elsewhere = member(&app, "jinshan", Role::Usher).await;
    let resident = app
        .resident("someone@residents.example", &world.pinghu)
        .await;
    let resident_id = my_id(&app, &resident).await;
    for target in [&elsewhere.id, &resident_id] {
        let r = app
            .gql(
                Some(&admin),
                SET_ROLE,
                json!({ "id": target, "r": "SCHEDULER" }),
            )
            .await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        for mutation in [DEACTIVATE, ISSUE_RESET] {
            let r = app
                .gql(Some(&admin), mutation, json!({ "id": target }))
                .await;
            assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
        }
    }
    let stored = entity::account::Entity::find_by_id(row(&elsewhere.id))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("account");
    assert_eq!(stored.role, Role::Usher);
    assert!(stored.active);
    let actions: Vec<String> = stored_entries(&app)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, vec!["account.register"], "only the registration");
}

#[tokio::test]
async fn staff_cannot_be_given_the_resident_role() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = member(&app, "pinghu", Role::Usher).await;
    let r = app
        .gql(
            Some(&admin),
            SET_ROLE,
            json!({ "id": usher.id, "r": "RESIDENT" }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "role");
}

#[tokio::test]
async fn the_last_active_center_admin_can_be_neither_demoted_nor_deactivated() {
    let app = spawn().await;
    let admin = app.admin("jiashan").await;
    let admin_id = my_id(&app, &admin).await;
    let r = app
        .gql(
            Some(&admin),
            SET_ROLE,
            json!({ "id": admin_id, "r": "SCHEDULER" }),
        )
        .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let r = app
        .gql(Some(&admin), DEACTIVATE, json!({ "id": admin_id }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let center = center_id(&app, "jiashan").await;
    assert_eq!(active_admins(&app, center).await, 1);
    assert!(stored_entries(&app).await.is_empty());

    // With a second admin, the first may step down.
    let second = member(&app, "jiashan", Role::CenterAdmin).await;
    let r = app
        .gql(
            Some(&admin),
            SET_ROLE,
            json!({ "id": admin_id, "r": "SCHEDULER" }),
        )
        .await;
    assert_eq!(r.data()["setStaffRole"]["role"], "SCHEDULER");
    // …and then the second is the last one.
    let r = app
        .gql(Some(&second.token), DEACTIVATE, json!({ "id": second.id }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    assert_eq!(active_admins(&app, center).await, 1);
}

/// Who demotes whom in a race between a center's only two admins.
#[derive(Clone, Copy)]
enum Race {
    /// Each demotes the other.
    EachOther,
    /// Each demotes itself.
    Themselves,
}

/// Two instances on one database; a fresh center with exactly two active admins each
/// round; both demotions are sent at once (one to each instance). Exactly one may
/// succeed, the other is `CONFLICT`, the center keeps one active admin and the log one
/// entry. Rounds repeat until the two requests were in flight at the same time (at most
/// ten rounds; every round must keep the rule).
async fn race_two_demotions(race: Race) {
    let (a, b) = spawn_pair().await;
    let mut concurrent_rounds = 0;
    for round in 0..10 {
        let center = entity::center::ActiveModel {
            code: Set(format!("race{round}{}", rand::random::<u32>())),
            name: Set(format!("Race center {round}")),
            region: Set("Test".to_owned()),
            created_at: Set(zouqin::domain::now()),
            ..Default::default()
        }
        .insert(&a.db.conn)
        .await
        .expect("center")
        .id;
        let first = member_of(&a, center, Role::CenterAdmin).await;
        let second = member_of(&a, center, Role::CenterAdmin).await;
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let demote = |app: &TestApp, by: &Member, whom: &Member| {
            let (client, url) = (app.client.clone(), app.url("/graphql"));
            let (token, target) = (by.token.clone(), whom.id.clone());
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let began = Instant::now();
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .json(
                        &json!({ "query": SET_ROLE, "variables": { "id": target, "r": "USHER" } }),
                    )
                    .send()
                    .await
                    .expect("sent");
                let body: Value = response.json().await.expect("json");
                (began, Instant::now(), body)
            })
        };
        let (one, other) = match race {
            Race::EachOther => (demote(&a, &first, &second), demote(&b, &second, &first)),
            Race::Themselves => (demote(&a, &first, &first), demote(&b, &second, &second)),
        };
        let (one, other) = (one.await.expect("join"), other.await.expect("join"));
        let codes: Vec<Option<String>> = [&one.2, &other.2]
            .iter()
            .map(|body| {
                body["errors"][0]["extensions"]["code"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let succeeded = codes.iter().filter(|c| c.is_none()).count();
        let conflicts = codes
            .iter()
            .filter(|c| c.as_deref() == Some("CONFLICT"))
            .count();
        assert_eq!(
            (succeeded, conflicts),
            (1, 1),
            "round {round}: {} / {}",
            one.2,
            other.2
        );
        assert_eq!(active_admins(&a, center).await, 1, "round {round}");
        let demotions = entity::audit_entry::Entity::find()
            .filter(entity::audit_entry::Column::CenterId.eq(center))
            .filter(entity::audit_entry::Column::Action.eq("account.set_role"))
            .count(&a.db.conn)
            .await
            .expect("count");
        assert_eq!(demotions, 1, "round {round}: one change, one entry");
        if one.0.max(other.0) < one.1.min(other.1) {
            concurrent_rounds += 1;
            break;
        }
    }
    assert!(
        concurrent_rounds > 0,
        "the two demotions never overlapped in 10 rounds"
    );
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_on_two_instances_leave_exactly_one() {
    race_two_demotions(Race::EachOther).await;
}

#[tokio::test]
async fn two_admins_stepping_down_at_once_on_two_instances_leave_exactly_one() {
    race_two_demotions(Race::Themselves).await;
}

#[tokio::test]
async fn a_demoted_admins_tokens_are_refused_and_a_refresh_carries_the_new_role() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let second = member(&app, "pinghu", Role::CenterAdmin).await;
    let r = app
        .gql(
            Some(&admin),
            CREATE_STAFF,
            json!({ "i": { "email": "deputy@pinghu.example", "password": PASSWORD, "displayName": "Deputy", "role": "CENTER_ADMIN" } }),
        )
        .await;
    let deputy_id = r.data()["createStaffAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (access, refresh_token) = session(&app, "deputy@pinghu.example", PASSWORD).await;
    assert!(
        app.gql(Some(&access), ACCOUNTS, json!({}))
            .await
            .body
            .get("errors")
            .is_none()
    );

    let changed = Instant::now();
    let r = app
        .gql(
            Some(&second.token),
            SET_ROLE,
            json!({ "id": deputy_id, "r": "USHER" }),
        )
        .await;
    assert_eq!(r.data()["setStaffRole"]["role"], "USHER");
    let after = refused_within(&app, &access, changed, Duration::from_secs(5)).await;
    assert!(
        after.is_some(),
        "the old CENTER_ADMIN token is still accepted"
    );

    let renewed = refresh(&app, &refresh_token).await;
    let token = renewed.data()["refreshToken"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me.data()["me"]["role"], "USHER");
    let r = app.gql(Some(&token), ACCOUNTS, json!({})).await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
}

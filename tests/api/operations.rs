//! Operating it for real: a center's staff list, staff roles and the last-admin rule,
//! deactivation (and how fast every instance refuses the account's tokens), password
//! changes and resets, profiles, the `reset-password` command, and the append-only audit
//! log that every staff action and account change writes (API.md "Rules of operation").

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::enums::Role;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{Value, json};
use zouqin::ids::{Kind, encode};

use crate::accounts::zouqin_cli;
use crate::helpers::*;

const SET_ROLE: &str = "mutation($id: ID!, $r: Role!) { setStaffRole(accountId: $id, role: $r) { id role active center { code } } }";
const DEACTIVATE: &str =
    "mutation($id: ID!) { deactivateAccount(accountId: $id) { id active role } }";
const ISSUE_RESET: &str =
    "mutation($id: ID!) { issuePasswordReset(accountId: $id) { token expiresAt } }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const CHANGE: &str =
    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
const PROFILE: &str = "mutation($i: UpdateProfileInput!) { updateMyProfile(input: $i) { id displayName homeCenter { code } } }";
const ACCOUNTS: &str = "query($r: Role, $f: Int, $a: String) { centerAccounts(role: $r, first: $f, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { node { id email role active center { code } } } } }";
const AUDIT: &str = "query($a: String, $f: Int, $after: String) { auditLog(action: $a, first: $f, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id at action subjectId details actor { id } center { code } } } } }";
const REFRESH: &str =
    "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";
const CREATE_STAFF: &str =
    "mutation($i: CreateStaffInput!) { createStaffAccount(input: $i) { id } }";
const ME: &str = "{ me { id email role active displayName homeCenter { code } } }";
/// Needs no identity, so it answers whenever the token is accepted and is refused
/// (`UNAUTHENTICATED`) as soon as it is not.
const PROBE: &str = "{ centers { code } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on AuditEntry { action } } }";

/// The global id of an account row.
fn account_id(id: i64) -> String {
    encode(Kind::Account, id)
}

/// The row id inside a global id.
fn row(global: &str) -> i64 {
    zouqin::ids::decode_any(global).expect("a global id").1
}

/// A staff member created straight in the database (shared password hash, a token from
/// the app's own keys), so tests do not spend argon2 time.
struct Member {
    email: String,
    id: String,
    token: String,
}

async fn center_id(app: &TestApp, code: &str) -> i64 {
    entity::center::Entity::find()
        .filter(entity::center::Column::Code.eq(code))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("center")
        .id
}

async fn member_of(app: &TestApp, center: i64, role: Role) -> Member {
    let email = format!(
        "{}-{}@staff.example",
        format!("{role:?}").to_lowercase(),
        rand::random::<u64>()
    );
    let account = entity::account::ActiveModel {
        email: Set(email.clone()),
        password_hash: Set(password_hash().await),
        display_name: Set(format!("{role:?} member")),
        role: Set(role),
        center_id: Set(Some(center)),
        home_center_id: Set(None),
        active: Set(true),
        created_at: Set(zouqin::domain::now()),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .expect("insert staff");
    let identity = zouqin::domain::accounts::identity_of(&account);
    let token = app
        .keys()
        .issue(&identity, zouqin::domain::now())
        .expect("token")
        .0;
    Member {
        email,
        id: account_id(account.id),
        token,
    }
}

async fn member(app: &TestApp, code: &str, role: Role) -> Member {
    let center = center_id(app, code).await;
    member_of(app, center, role).await
}

/// The account's global id, as `me` says.
async fn my_id(app: &TestApp, token: &str) -> String {
    app.gql(Some(token), ME, json!({})).await.data()["me"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Logs in; returns (access token, refresh token).
async fn session(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let r = app.login(email, password).await;
    let data = r.data();
    (
        data["login"]["accessToken"]
            .as_str()
            .expect("access")
            .to_owned(),
        data["login"]["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

async fn refresh(app: &TestApp, token: &str) -> Gql {
    app.anon(REFRESH, json!({ "t": token })).await
}

/// The caller's center's audit entries (newest first), optionally of one action.
async fn audit_log(app: &TestApp, admin: &str, action: Option<&str>) -> Vec<Value> {
    let r = app
        .gql(Some(admin), AUDIT, json!({ "a": action, "f": 100 }))
        .await;
    r.data()["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Every stored entry, oldest first, straight from the database.
async fn stored_entries(app: &TestApp) -> Vec<entity::audit_entry::Model> {
    entity::audit_entry::Entity::find()
        .order_by_asc(entity::audit_entry::Column::Id)
        .all(&app.db.conn)
        .await
        .expect("query")
}

/// Asserts that `entries` hold exactly one entry, by `actor` about `subject`.
#[track_caller]
fn assert_one(entries: &[Value], action: &str, actor: Option<&str>, subject: &str) {
    assert_eq!(entries.len(), 1, "one {action} entry: {entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["action"], action, "{entry}");
    assert_eq!(entry["actor"]["id"].as_str(), actor, "{entry}");
    assert_eq!(entry["subjectId"], subject, "{entry}");
}

/// Polls `app` with `token` until it is refused; the time from `since`, or None when it
/// was still accepted `limit` after `since`.
async fn refused_within(
    app: &TestApp,
    token: &str,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    loop {
        let r = app.gql(Some(token), PROBE, json!({})).await;
        if r.code() == Some("UNAUTHENTICATED") {
            return Some(since.elapsed());
        }
        assert!(r.body.get("errors").is_none(), "{}", r.body);
        if since.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn active_admins(app: &TestApp, center: i64) -> u64 {
    entity::account::Entity::find()
        .filter(entity::account::Column::CenterId.eq(center))
        .filter(entity::account::Column::Role.eq(Role::CenterAdmin))
        .filter(entity::account::Column::Active.eq(true))
        .count(&app.db.conn)
        .await
        .expect("count")
}

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

// ---------------------------------------------------------------------------------------
// Deactivation.

#[tokio::test]
async fn a_deactivated_accounts_token_is_refused_within_five_seconds_on_the_other_instance() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("jinshan").await;
    let usher_token = a.staff(&admin, "door@jinshan.example", "USHER").await;
    let usher_id = my_id(&a, &usher_token).await;
    let r = b.gql(Some(&usher_token), PROBE, json!({})).await;
    assert!(
        r.body.get("errors").is_none(),
        "accepted before: {}",
        r.body
    );

    let deactivated = Instant::now();
    let r = a
        .gql(Some(&admin), DEACTIVATE, json!({ "id": usher_id }))
        .await;
    assert_eq!(r.data()["deactivateAccount"]["active"], false);
    let took = refused_within(&b, &usher_token, deactivated, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|t| t <= Duration::from_secs(5)),
        "still accepted on the other instance after 5 s"
    );
    // …and on the instance that made the change (its snapshot is reloaded like any other's:
    // the bound is the same).
    let took = refused_within(&a, &usher_token, deactivated, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|t| t <= Duration::from_secs(5)),
        "still accepted on the instance that deactivated it after 5 s"
    );
    // Anonymous requests are untouched.
    assert!(b.anon(PROBE, json!({})).await.body.get("errors").is_none());
}

#[tokio::test]
async fn a_deactivated_account_cannot_log_in_and_the_answer_is_that_of_a_wrong_password() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    app.staff(&admin, "gone@pinghu.example", "SCHEDULER").await;
    app.staff(&admin, "here@pinghu.example", "SCHEDULER").await;
    let (_, refresh_token) = session(&app, "gone@pinghu.example", PASSWORD).await;
    let gone = account_id(
        entity::account::Entity::find()
            .filter(entity::account::Column::Email.eq("gone@pinghu.example"))
            .one(&app.db.conn)
            .await
            .expect("query")
            .expect("account")
            .id,
    );
    let r = app
        .gql(Some(&admin), DEACTIVATE, json!({ "id": gone }))
        .await;
    assert_eq!(r.data()["deactivateAccount"]["active"], false);

    let right_password = app.login("gone@pinghu.example", PASSWORD).await;
    let wrong_password = app.login("here@pinghu.example", "not-the-password").await;
    assert_eq!(right_password.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        right_password.body, wrong_password.body,
        "a deactivated account answers exactly like a wrong password"
    );
    let r = refresh(&app, &refresh_token).await;
    assert_eq!(
        r.code(),
        Some("UNAUTHENTICATED"),
        "its refresh token is dead: {}",
        r.body
    );

    // A deactivated account is changed no further.
    for (mutation, vars) in [
        (DEACTIVATE, json!({ "id": gone })),
        (ISSUE_RESET, json!({ "id": gone })),
        (SET_ROLE, json!({ "id": gone, "r": "USHER" })),
    ] {
        let r = app.gql(Some(&admin), mutation, vars).await;
        assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    }
    let listed = app
        .gql(Some(&admin), ACCOUNTS, json!({ "r": "SCHEDULER" }))
        .await;
    let inactive: Vec<&Value> = listed.data()["centerAccounts"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["active"] == false)
        .collect();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0]["node"]["id"], gone.as_str());
    let admin_id = my_id(&app, &admin).await;
    let entries = audit_log(&app, &admin, Some("account.deactivate")).await;
    assert_one(&entries, "account.deactivate", Some(&admin_id), &gone);
}

#[tokio::test]
async fn a_resident_deactivates_itself_but_another_account_is_not_found() {
    let app = spawn().await;
    let world = app.world().await;
    let me = app
        .resident("leaving@residents.example", &world.jinshan)
        .await;
    let other = app
        .resident("staying@residents.example", &world.jinshan)
        .await;
    let me_id = my_id(&app, &me).await;
    let other_id = my_id(&app, &other).await;
    let admin = app.admin("jinshan").await;
    let admin_id = my_id(&app, &admin).await;

    for target in [&other_id, &admin_id] {
        let r = app
            .gql(Some(&me), DEACTIVATE, json!({ "id": target }))
            .await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    }
    let r = app.gql(Some(&me), DEACTIVATE, json!({ "id": me_id })).await;
    assert_eq!(r.data()["deactivateAccount"]["active"], false);
    let r = app.login("leaving@residents.example", PASSWORD).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    assert!(
        app.login("staying@residents.example", PASSWORD)
            .await
            .body
            .get("errors")
            .is_none()
    );

    let deactivations: Vec<_> = stored_entries(&app)
        .await
        .into_iter()
        .filter(|e| e.action == "account.deactivate")
        .collect();
    assert_eq!(deactivations.len(), 1);
    assert_eq!(deactivations[0].actor_id, Some(row(&me_id)));
    assert_eq!(deactivations[0].subject_id, Some(row(&me_id)));
    assert_eq!(
        deactivations[0].center_id, None,
        "a resident's own change is in no center's log"
    );
}

// ---------------------------------------------------------------------------------------
// Password resets.

async fn issue_reset(app: &TestApp, admin: &str, account: &str) -> (String, String) {
    let r = app
        .gql(Some(admin), ISSUE_RESET, json!({ "id": account }))
        .await;
    let reset = &r.data()["issuePasswordReset"];
    (
        reset["token"].as_str().expect("token").to_owned(),
        reset["expiresAt"].as_str().expect("expiry").to_owned(),
    )
}

async fn password_resets(app: &TestApp) -> Vec<entity::password_reset::Model> {
    entity::password_reset::Entity::find()
        .order_by_asc(entity::password_reset::Column::Id)
        .all(&app.db.conn)
        .await
        .expect("query")
}

#[tokio::test]
async fn a_reset_token_sets_a_new_password_once_and_ends_every_session() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let admin_id = my_id(&app, &admin).await;
    app.staff(&admin, "forgetful@pinghu.example", "USHER").await;
    let (access, refresh_token) = session(&app, "forgetful@pinghu.example", PASSWORD).await;
    let usher_id = my_id(&app, &access).await;

    let (token, expires_at) = issue_reset(&app, &admin, &usher_id).await;
    assert_eq!(token.len(), 43, "256 random bits, base64url: {token}");
    let expires = chrono::DateTime::parse_from_rfc3339(&expires_at).expect("rfc3339");
    let minutes = (expires.with_timezone(&Utc) - Utc::now()).num_minutes();
    assert!(
        (23 * 60 + 58..=24 * 60).contains(&minutes),
        "valid 24 h: {expires_at}"
    );
    let stored = password_resets(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].token_hash, zouqin::auth::token_hash(&token));
    assert!(
        !format!("{stored:?}").contains(&token),
        "only the hash is stored"
    );

    let reset_at = Instant::now();
    let r = app
        .anon(RESET, json!({ "t": token, "p": "a-brand-new-password" }))
        .await;
    assert_eq!(r.data()["resetPassword"], true);
    assert!(
        app.login("forgetful@pinghu.example", "a-brand-new-password")
            .await
            .body
            .get("errors")
            .is_none()
    );
    assert_eq!(
        app.login("forgetful@pinghu.example", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        refused_within(&app, &access, reset_at, Duration::from_secs(5))
            .await
            .is_some(),
        "the old session's access token is still accepted"
    );

    // Once only.
    let again = app
        .anon(RESET, json!({ "t": token, "p": "yet-another-password" }))
        .await;
    assert_eq!(again.code(), Some("UNAUTHENTICATED"), "{}", again.body);
    assert!(
        app.login("forgetful@pinghu.example", "a-brand-new-password")
            .await
            .body
            .get("errors")
            .is_none()
    );

    let issued = audit_log(&app, &admin, Some("account.issue_password_reset")).await;
    assert_one(
        &issued,
        "account.issue_password_reset",
        Some(&admin_id),
        &usher_id,
    );
    let used = audit_log(&app, &admin, Some("account.reset_password")).await;
    assert_one(&used, "account.reset_password", Some(&usher_id), &usher_id);
    assert!(!used[0]["details"].as_str().unwrap_or("").contains(&token));
}

#[tokio::test]
async fn an_expired_reset_token_fails_and_changes_nothing() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    let usher = member(&app, "jinshan", Role::Usher).await;
    let (token, _) = issue_reset(&app, &admin, &usher.id).await;
    // Time passes: the token's expiry is moved into the past.
    entity::password_reset::Entity::update_many()
        .col_expr(
            entity::password_reset::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(zouqin::domain::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.db.conn)
        .await
        .expect("expire");
    let r = app
        .anon(RESET, json!({ "t": token, "p": "a-brand-new-password" }))
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    assert!(
        app.login(&usher.email, PASSWORD)
            .await
            .body
            .get("errors")
            .is_none(),
        "the old password still works"
    );
    assert!(
        audit_log(&app, &admin, Some("account.reset_password"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_newer_reset_token_voids_the_older_and_junk_tokens_fail() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    let usher = member(&app, "jinshan", Role::Usher).await;
    let (older, _) = issue_reset(&app, &admin, &usher.id).await;
    let (newer, _) = issue_reset(&app, &admin, &usher.id).await;
    for token in [older.as_str(), "", "not-a-token", &"A".repeat(43)] {
        let r = app
            .anon(RESET, json!({ "t": token, "p": "a-brand-new-password" }))
            .await;
        assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{token:?}: {}", r.body);
    }
    // A short password is refused on its field, and the token stays good.
    let r = app.anon(RESET, json!({ "t": newer, "p": "short" })).await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "newPassword");
    let r = app
        .anon(RESET, json!({ "t": newer, "p": "a-brand-new-password" }))
        .await;
    assert_eq!(r.data()["resetPassword"], true);
}

// ---------------------------------------------------------------------------------------
// Password changes.

#[tokio::test]
async fn a_wrong_current_password_fails_and_changes_nothing() {
    let app = spawn().await;
    let (access, refresh_token) = session(&app, "admin@jiashan.example", PASSWORD).await;
    let r = app
        .gql(
            Some(&access),
            CHANGE,
            json!({ "c": "not-my-password", "n": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    assert!(
        app.login("admin@jiashan.example", PASSWORD)
            .await
            .body
            .get("errors")
            .is_none()
    );
    assert!(
        refresh(&app, &refresh_token)
            .await
            .body
            .get("errors")
            .is_none()
    );
    assert!(stored_entries(&app).await.is_empty());
    // A short new password is refused on its field.
    let r = app
        .gql(
            Some(&access),
            CHANGE,
            json!({ "c": PASSWORD, "n": "short" }),
        )
        .await;
    assert_eq!(
        r.error()["extensions"]["field"],
        "newPassword",
        "{}",
        r.body
    );
    let r = app
        .anon(
            CHANGE,
            json!({ "c": PASSWORD, "n": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_but_keeps_the_callers() {
    let (a, b) = spawn_pair().await;
    let (laptop, laptop_refresh) = session(&a, "admin@pinghu.example", PASSWORD).await;
    let (phone, phone_refresh) = session(&a, "admin@pinghu.example", PASSWORD).await;
    let admin_id = my_id(&a, &laptop).await;

    let changed = Instant::now();
    let r = a
        .gql(
            Some(&laptop),
            CHANGE,
            json!({ "c": PASSWORD, "n": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(r.data()["changePassword"], true);
    assert_eq!(
        refresh(&a, &phone_refresh).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        refused_within(&b, &phone, changed, Duration::from_secs(5))
            .await
            .is_some(),
        "the other session's access token is still accepted elsewhere"
    );
    // The caller's session goes on: its access token and its refresh token.
    for app in [&a, &b] {
        let me = app.gql(Some(&laptop), ME, json!({})).await;
        assert_eq!(me.data()["me"]["id"], admin_id.as_str());
    }
    let renewed = refresh(&a, &laptop_refresh).await;
    assert!(renewed.body.get("errors").is_none(), "{}", renewed.body);

    assert_eq!(
        a.login("admin@pinghu.example", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    let (fresh, _) = session(&a, "admin@pinghu.example", "a-brand-new-password").await;
    let entries = audit_log(&a, &fresh, Some("account.change_password")).await;
    assert_one(
        &entries,
        "account.change_password",
        Some(&admin_id),
        &admin_id,
    );
}

// ---------------------------------------------------------------------------------------
// Profiles.

#[tokio::test]
async fn an_account_updates_its_own_profile() {
    let app = spawn().await;
    let world = app.world().await;
    let resident = app.resident("mover@residents.example", &world.pinghu).await;
    let r = app
        .gql(
            Some(&resident),
            PROFILE,
            json!({ "i": { "displayName": "  Li Mover ", "homeCenterId": world.jiashan } }),
        )
        .await;
    assert_eq!(r.data()["updateMyProfile"]["displayName"], "Li Mover");
    assert_eq!(r.data()["updateMyProfile"]["homeCenter"]["code"], "jiashan");
    let me = app.gql(Some(&resident), ME, json!({})).await;
    assert_eq!(me.data()["me"]["homeCenter"]["code"], "jiashan");

    let admin = app.admin("pinghu").await;
    let admin_id = my_id(&app, &admin).await;
    let r = app
        .gql(
            Some(&admin),
            PROFILE,
            json!({ "i": { "homeCenterId": world.jinshan } }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "homeCenterId");
    let r = app
        .gql(Some(&admin), PROFILE, json!({ "i": { "displayName": "" } }))
        .await;
    assert_eq!(
        r.error()["extensions"]["field"],
        "displayName",
        "{}",
        r.body
    );
    let r = app
        .gql(
            Some(&admin),
            PROFILE,
            json!({ "i": { "displayName": "Director Wang" } }),
        )
        .await;
    assert_eq!(r.data()["updateMyProfile"]["displayName"], "Director Wang");
    let r = app
        .anon(PROFILE, json!({ "i": { "displayName": "Nobody" } }))
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));

    let entries = audit_log(&app, &admin, Some("account.update_profile")).await;
    assert_one(
        &entries,
        "account.update_profile",
        Some(&admin_id),
        &admin_id,
    );
    let resident_entries: Vec<_> = stored_entries(&app)
        .await
        .into_iter()
        .filter(|e| e.action == "account.update_profile" && e.center_id.is_none())
        .collect();
    assert_eq!(
        resident_entries.len(),
        1,
        "the resident's change is logged too"
    );
}

// ---------------------------------------------------------------------------------------
// The audit log.

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

// ---------------------------------------------------------------------------------------
// The command line and the demo loader.

#[tokio::test]
async fn the_cli_creates_accounts_through_the_audited_path() {
    let app = spawn().await;
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "night@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "night-shift-password"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let admin = app.admin("pinghu").await;
    let entries = audit_log(&app, &admin, Some("account.create")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]["actor"].is_null(),
        "no account acted: {}",
        entries[0]
    );
    let details: Value =
        serde_json::from_str(entries[0]["details"].as_str().expect("details")).expect("json");
    assert_eq!(details["via"], "cli");
    assert_eq!(details["role"], "USHER");
}

#[tokio::test]
async fn the_cli_reset_recovers_a_locked_out_last_admin_and_ends_its_sessions() {
    let app = spawn().await;
    let (access, refresh_token) = session(&app, "admin@jiashan.example", PASSWORD).await;
    for _ in 0..5 {
        app.login("admin@jiashan.example", "a-wrong-guess-123")
            .await;
    }
    assert_eq!(
        app.login("admin@jiashan.example", PASSWORD).await.code(),
        Some("RATE_LIMITED"),
        "locked out"
    );
    let reset_at = Instant::now();
    let run = zouqin_cli(
        &["reset-password", "--email", "Admin@Jiashan.example"],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "recovered-password-1"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        !run.stdout.contains("recovered-password-1")
            && !run.stderr.contains("recovered-password-1")
    );

    let (fresh, _) = session(&app, "admin@jiashan.example", "recovered-password-1").await;
    assert_eq!(
        app.login("admin@jiashan.example", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        refused_within(&app, &access, reset_at, Duration::from_secs(5))
            .await
            .is_some()
    );
    let admin_id = my_id(&app, &fresh).await;
    let entries = audit_log(&app, &fresh, Some("account.reset_password")).await;
    assert_one(&entries, "account.reset_password", None, &admin_id);
    let details: Value =
        serde_json::from_str(entries[0]["details"].as_str().expect("details")).expect("json");
    assert_eq!(details, json!({ "via": "cli", "reactivated": false }));
}

#[tokio::test]
async fn the_cli_reset_reactivates_only_when_asked_and_reads_stdin_never_argv() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    app.staff(&admin, "away@pinghu.example", "SCHEDULER").await;
    let away = account_id(
        entity::account::Entity::find()
            .filter(entity::account::Column::Email.eq("away@pinghu.example"))
            .one(&app.db.conn)
            .await
            .expect("query")
            .expect("account")
            .id,
    );
    app.gql(Some(&admin), DEACTIVATE, json!({ "id": away }))
        .await
        .data();
    let url = app.database_url.as_str();

    let argv = zouqin_cli(
        &[
            "reset-password",
            "--email",
            "away@pinghu.example",
            "--password",
            "argv-password-1",
        ],
        &[("DATABASE_URL", url)],
        None,
    )
    .await;
    assert!(!argv.success, "--password must be refused: {}", argv.stdout);

    let plain = zouqin_cli(
        &["reset-password", "--email", "away@pinghu.example"],
        &[("DATABASE_URL", url)],
        Some("back-again-password\n"),
    )
    .await;
    assert!(
        plain.success,
        "stdout: {}\nstderr: {}",
        plain.stdout, plain.stderr
    );
    assert_eq!(
        app.login("away@pinghu.example", "back-again-password")
            .await
            .code(),
        Some("UNAUTHENTICATED"),
        "still deactivated"
    );
    let reactivated = zouqin_cli(
        &[
            "reset-password",
            "--email",
            "away@pinghu.example",
            "--reactivate",
        ],
        &[
            ("DATABASE_URL", url),
            ("ZOUQIN_PASSWORD", "back-again-password"),
        ],
        None,
    )
    .await;
    assert!(reactivated.success, "stderr: {}", reactivated.stderr);
    let (token, _) = session(&app, "away@pinghu.example", "back-again-password").await;
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await.data()["me"]["active"],
        true
    );
    let unknown = zouqin_cli(
        &["reset-password", "--email", "nobody@pinghu.example"],
        &[
            ("DATABASE_URL", url),
            ("ZOUQIN_PASSWORD", "whatever-password"),
        ],
        None,
    )
    .await;
    assert!(!unknown.success);
    let resets: Vec<String> = audit_log(&app, &admin, Some("account.reset_password"))
        .await
        .iter()
        .map(|e| e["details"].as_str().expect("details").to_owned())
        .collect();
    assert_eq!(resets.len(), 2, "{resets:?}");
    assert!(resets[0].contains("\"reactivated\":true"), "{resets:?}");
    assert!(resets[1].contains("\"reactivated\":false"), "{resets:?}");
}

#[tokio::test]
async fn the_demo_loader_creates_its_admins_through_the_audited_path() {
    let app = spawn_on(&fresh_database().await, settings()).await;
    zouqin::demo::seed(&app.db.conn, "demo-password-123")
        .await
        .expect("demo data");
    let entries = stored_entries(&app).await;
    let admins: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "account.create")
        .collect();
    assert_eq!(admins.len(), 3);
    for entry in &admins {
        assert_eq!(entry.actor_id, None);
        assert!(entry.center_id.is_some());
        assert!(
            entry
                .details
                .as_deref()
                .is_some_and(|d| d.contains("\"via\":\"demo\""))
        );
    }
    assert!(entries.iter().any(|e| e.action == "venue.create"));
    assert!(entries.iter().any(|e| e.action == "performance.publish"));
    let before = entries.len();
    zouqin::demo::seed(&app.db.conn, "demo-password-123")
        .await
        .expect("again");
    assert_eq!(
        stored_entries(&app).await.len(),
        before,
        "a second run changes nothing and logs nothing"
    );
}

//! Operating it for real: a center's staff list, staff roles and the last-admin rule,
//! deactivation (and how fast every instance refuses the account's tokens), password
//! changes and resets, profiles, the `reset-password` command, and the append-only audit
//! log that every staff action and account change writes (API.md "Rules of operation").

use std::time::{Duration, Instant};

use entity::enums::Role;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};
use zouqin::ids::{Kind, encode};

use crate::helpers::*;

mod account;
mod audit;
mod cli;
mod staff;

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

//! One account over its life: deactivation (and how fast every instance refuses its
//! tokens), password resets and changes, and its profile.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::enums::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::*;

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

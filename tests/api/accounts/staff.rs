//! Staff management and role checks, and who sees an email whole.

use sea_orm::EntityTrait;
use serde_json::json;

use super::*;

// ---------------------------------------------------------------------------------------
// Staff management and role checks.

#[tokio::test]
async fn a_jinshan_admin_creates_staff_for_jinshan_only() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    let r = create_staff(
        &app,
        Some(&admin),
        "scheduler@jinshan.example",
        PASSWORD,
        "SCHEDULER",
    )
    .await;
    let created = &r.data()["createStaffAccount"];
    assert_eq!(created["role"], "SCHEDULER");
    // Its own center's admin sees the new account's email whole.
    assert_eq!(created["email"], "scheduler@jinshan.example");
    assert_eq!(created["center"]["code"], "jinshan");
    assert!(created["homeCenter"].is_null());
    // The new account signs in and acts for Jinshan.
    let token = app.token("scheduler@jinshan.example").await;
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "SCHEDULER");
    assert_eq!(me.data()["me"]["center"]["code"], "jinshan");
    // There is no way to name another center.
    let r = app
        .gql(
            Some(&admin),
            "mutation($i: CreateStaffInput!) { createStaffAccount(input: $i) { id } }",
            json!({ "i": { "email": "usher@pinghu.example", "password": PASSWORD, "displayName": "x", "role": "USHER", "centerId": app.world().await.pinghu } }),
        )
        .await;
    assert_eq!(r.code(), Some("GRAPHQL_VALIDATION_FAILED"), "{}", r.body);
    assert!(account_row(&app, "usher@pinghu.example").await.is_none());
}

#[tokio::test]
async fn a_center_admin_may_create_another_center_admin_but_not_a_resident() {
    let app = spawn().await;
    let admin = staff_fast(&app, "jiashan", entity::enums::Role::CenterAdmin).await;
    let r = create_staff(
        &app,
        Some(&admin.token),
        "deputy@jiashan.example",
        PASSWORD,
        "CENTER_ADMIN",
    )
    .await;
    assert_eq!(r.data()["createStaffAccount"]["role"], "CENTER_ADMIN");
    assert_eq!(r.data()["createStaffAccount"]["center"]["code"], "jiashan");
    let r = create_staff(
        &app,
        Some(&admin.token),
        "resident@jiashan.example",
        PASSWORD,
        "RESIDENT",
    )
    .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "role");
    assert!(
        account_row(&app, "resident@jiashan.example")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn schedulers_and_ushers_may_not_create_staff() {
    let app = spawn().await;
    for role in [entity::enums::Role::Scheduler, entity::enums::Role::Usher] {
        let member = staff_fast(&app, "jinshan", role).await;
        for new_role in ["USHER", "SCHEDULER", "CENTER_ADMIN"] {
            let email = format!("by-{role:?}-{new_role}@jinshan.example").to_lowercase();
            let r = create_staff(&app, Some(&member.token), &email, PASSWORD, new_role).await;
            assert_eq!(
                r.code(),
                Some("FORBIDDEN"),
                "{role:?} → {new_role}: {}",
                r.body
            );
            assert!(account_row(&app, &email).await.is_none());
        }
    }
}

#[tokio::test]
async fn a_resident_may_not_create_staff_venues_or_performances() {
    let app = spawn().await;
    let admin = staff_fast(&app, "pinghu", entity::enums::Role::CenterAdmin).await;
    let venue = app
        .gql(
            Some(&admin.token),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": "Pinghu Hall", "address": "1 Culture Rd", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 50 } }),
        )
        .await;
    let venue_id = str_at(venue.data(), "/createVenue/id").to_owned();
    let resident = app.residents_fast(1, "pinghu").await.remove(0);

    let r = create_staff(
        &app,
        Some(&resident),
        "sneaky@pinghu.example",
        PASSWORD,
        "CENTER_ADMIN",
    )
    .await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    assert!(account_row(&app, "sneaky@pinghu.example").await.is_none());

    let r = app
        .gql(
            Some(&resident),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": "My Garage", "address": "2 Culture Rd", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 10 } }),
        )
        .await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);

    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let r = app
        .gql(
            Some(&resident),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
            json!({ "i": {
                "venueId": venue_id,
                "title": "Karaoke night",
                "category": "CONCERT",
                "startsAt": starts.to_rfc3339(),
                "endsAt": (starts + chrono::Duration::hours(2)).to_rfc3339(),
            } }),
        )
        .await;
    assert_eq!(r.code(), Some("FORBIDDEN"), "{}", r.body);
    let performances = entity::performance::Entity::find()
        .all(&app.db.conn)
        .await
        .expect("query");
    assert!(performances.is_empty());
}

#[tokio::test]
async fn an_anonymous_caller_may_not_create_staff_or_venues() {
    let app = spawn().await;
    let r = create_staff(&app, None, "ghost@pinghu.example", PASSWORD, "USHER").await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    assert!(account_row(&app, "ghost@pinghu.example").await.is_none());
    let r = app
        .anon(
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": "Nobody's Hall", "address": "3 Culture Rd", "kind": "HALL", "seating": "GENERAL_ADMISSION", "capacity": 10 } }),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
}

// ---------------------------------------------------------------------------------------
// Email visibility.

#[tokio::test]
async fn an_account_sees_its_own_email_whole() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "jinshan").await.remove(0);
    let r = me(&app, &resident).await;
    let email = str_at(r.data(), "/me/email");
    assert!(
        !email.contains("***") && email.ends_with("@residents.example"),
        "{email}"
    );
    let usher = staff_fast(&app, "jinshan", entity::enums::Role::Usher).await;
    assert_eq!(
        me(&app, &usher.token).await.data()["me"]["email"],
        usher.email.as_str()
    );
}

#[tokio::test]
async fn the_signed_in_account_sees_its_own_email_whole_in_the_auth_payload() {
    // Whoever receives an AuthPayload has just proven to be that account (password or
    // refresh token), even though the request itself carried no access token.
    let app = spawn().await;
    let world = app.world().await;
    let r = register(
        &app,
        "wang.fang@residents.example",
        PASSWORD,
        &world.jinshan,
    )
    .await;
    assert_eq!(
        r.data()["registerResident"]["account"]["email"],
        "wang.fang@residents.example"
    );
    let r = app.login("admin@jinshan.example", PASSWORD).await;
    assert_eq!(
        r.data()["login"]["account"]["email"],
        "admin@jinshan.example"
    );
    let refresh_token = str_at(r.data(), "/login/refreshToken").to_owned();
    let r = refresh(&app, &refresh_token).await;
    assert_eq!(
        r.data()["refreshToken"]["account"]["email"],
        "admin@jinshan.example"
    );
}

#[tokio::test]
async fn other_staff_of_the_center_see_an_email_masked_but_its_admin_sees_it_whole() {
    let app = spawn().await;
    let admin = staff_fast(&app, "jinshan", entity::enums::Role::CenterAdmin).await;
    let scheduler = staff_fast(&app, "jinshan", entity::enums::Role::Scheduler).await;
    let usher = staff_fast(&app, "jinshan", entity::enums::Role::Usher).await;
    let masked = |email: &str| {
        let (local, domain) = email.split_once('@').expect("@");
        format!("{}***@{domain}", &local[..1])
    };

    // A scheduler reading a colleague (the usher) or the admin: masked.
    for other in [&usher, &admin] {
        let r = app
            .gql(
                Some(&scheduler.token),
                NODE_EMAIL,
                json!({ "id": other.id }),
            )
            .await;
        assert_eq!(r.data()["node"]["email"], masked(&other.email).as_str());
        assert_ne!(r.data()["node"]["email"], other.email.as_str());
    }
    // The center's admin reads its staff whole.
    let r = app
        .gql(Some(&admin.token), NODE_EMAIL, json!({ "id": usher.id }))
        .await;
    assert_eq!(r.data()["node"]["email"], usher.email.as_str());
    // So does the account itself through node().
    let r = app
        .gql(Some(&usher.token), NODE_EMAIL, json!({ "id": usher.id }))
        .await;
    assert_eq!(r.data()["node"]["email"], usher.email.as_str());
}

#[tokio::test]
async fn another_centers_admin_never_sees_an_email_whole() {
    let app = spawn().await;
    let jinshan_usher = staff_fast(&app, "jinshan", entity::enums::Role::Usher).await;
    let pinghu_admin = staff_fast(&app, "pinghu", entity::enums::Role::CenterAdmin).await;
    let r = app
        .gql(
            Some(&pinghu_admin.token),
            NODE_EMAIL,
            json!({ "id": jinshan_usher.id }),
        )
        .await;
    // Either the account is not visible at all, or its email is masked.
    match r.code() {
        Some(code) => assert_eq!(code, "NOT_FOUND", "{}", r.body),
        None => assert_ne!(r.data()["node"]["email"], jinshan_usher.email.as_str()),
    }
    assert!(!r.body.to_string().contains(&jinshan_usher.email));
}

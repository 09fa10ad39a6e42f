//! Login and `me`, the rules on passwords and emails, and the brute-force limits.

use serde_json::{Value, json};

use super::*;

// ---------------------------------------------------------------------------------------
// Login and `me`.

#[tokio::test]
async fn a_resident_logs_in_and_me_names_its_home_center() {
    let app = spawn().await;
    let world = app.world().await;
    let email = "lin.wei@residents.example";
    register(&app, email, PASSWORD, &world.jiashan).await.data();
    let login = app.login(email, PASSWORD).await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    assert_eq!(login.data()["login"]["account"]["role"], "RESIDENT");
    let r = me(&app, &token).await;
    let account = &r.data()["me"];
    assert_eq!(account["email"], email);
    assert_eq!(account["role"], "RESIDENT");
    assert_eq!(account["homeCenter"]["code"], "jiashan");
    assert!(
        account["center"].is_null(),
        "a resident has no staff center"
    );
}

#[tokio::test]
async fn each_center_admin_logs_in_and_me_names_its_own_center() {
    let app = spawn().await;
    for code in ["pinghu", "jinshan", "jiashan"] {
        let email = format!("admin@{code}.example");
        let token = app.admin(code).await;
        let r = me(&app, &token).await;
        let account = &r.data()["me"];
        assert_eq!(account["email"], email.as_str());
        assert_eq!(account["role"], "CENTER_ADMIN", "{code}");
        assert_eq!(account["center"]["code"], code);
        assert!(account["homeCenter"].is_null(), "staff have no home center");
    }
}

#[tokio::test]
async fn me_is_null_for_an_anonymous_caller() {
    let app = spawn().await;
    let r = app.anon(ME, json!({})).await;
    assert!(r.data()["me"].is_null());
}

#[tokio::test]
async fn login_ignores_the_case_and_surrounding_spaces_of_the_email() {
    let app = spawn().await;
    let r = app.login("  Admin@PINGHU.example ", PASSWORD).await;
    assert_eq!(
        signed_in_email(&app, &r, "login").await,
        "admin@pinghu.example"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_both_unauthenticated_with_one_message() {
    let app = spawn().await;
    let wrong_password = app.login("admin@pinghu.example", "not-the-password").await;
    let unknown_email = app.login("nobody@pinghu.example", PASSWORD).await;
    let malformed_email = app.login("not an email", PASSWORD).await;
    for r in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
        assert!(r.body["data"].is_null(), "{}", r.body);
    }
    let message = wrong_password.error()["message"].as_str().expect("message");
    assert_eq!(unknown_email.error()["message"], message);
    assert_eq!(malformed_email.error()["message"], message);
}

// ---------------------------------------------------------------------------------------
// Input rules.

#[tokio::test]
async fn passwords_of_9_or_257_characters_are_refused_on_the_password_field() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = staff_fast(&app, "pinghu", entity::enums::Role::CenterAdmin).await;
    for password in ["123456789".to_owned(), "p".repeat(257), "走".repeat(257)] {
        let r = register(&app, "short@residents.example", &password, &world.pinghu).await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
        assert_eq!(r.error()["extensions"]["field"], "password");

        let r = create_staff(
            &app,
            Some(&admin.token),
            "short@pinghu.example",
            &password,
            "USHER",
        )
        .await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
        assert_eq!(r.error()["extensions"]["field"], "password");
    }
    assert!(account_row(&app, "short@residents.example").await.is_none());
    assert!(account_row(&app, "short@pinghu.example").await.is_none());
}

#[tokio::test]
async fn passwords_of_10_and_256_characters_are_accepted_and_work() {
    let app = spawn().await;
    let world = app.world().await;
    let ten = "0123456789";
    register(&app, "ten@residents.example", ten, &world.pinghu)
        .await
        .data();
    // 256 characters of three bytes each: the limit counts characters, not bytes.
    let long = "走".repeat(256);
    register(&app, "long@residents.example", &long, &world.pinghu)
        .await
        .data();
    let r = app.login("long@residents.example", &long).await;
    assert_eq!(r.data()["login"]["account"]["role"], "RESIDENT");
}

#[tokio::test]
async fn a_malformed_email_is_refused_on_the_email_field() {
    let app = spawn().await;
    let world = app.world().await;
    let admin = staff_fast(&app, "jiashan", entity::enums::Role::CenterAdmin).await;
    for email in [
        "not-an-email",
        "@example.com",
        "someone@",
        "someone@localhost",
        "two@at@example.com",
        "with space@example.com",
        "",
    ] {
        let r = register(&app, email, PASSWORD, &world.jiashan).await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{email:?}: {}", r.body);
        assert_eq!(r.error()["extensions"]["field"], "email", "{email:?}");

        let r = create_staff(&app, Some(&admin.token), email, PASSWORD, "USHER").await;
        assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{email:?}: {}", r.body);
        assert_eq!(r.error()["extensions"]["field"], "email", "{email:?}");
    }
}

#[tokio::test]
async fn registering_an_existing_email_in_another_case_or_with_spaces_is_a_conflict() {
    let app = spawn().await;
    let world = app.world().await;
    let r = register(&app, "Zhang.Min@Residents.example", PASSWORD, &world.pinghu).await;
    assert_eq!(
        signed_in_email(&app, &r, "registerResident").await,
        "zhang.min@residents.example"
    );
    let again = register(
        &app,
        "  ZHANG.MIN@residents.EXAMPLE ",
        "another-password-1",
        &world.jinshan,
    )
    .await;
    assert_eq!(again.code(), Some("CONFLICT"), "{}", again.body);
    // A seeded staff email is taken too, for residents and for new staff alike.
    let r = register(&app, "Admin@Jinshan.Example", PASSWORD, &world.jinshan).await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    let admin = staff_fast(&app, "jinshan", entity::enums::Role::CenterAdmin).await;
    let r = create_staff(
        &app,
        Some(&admin.token),
        " ZHANG.MIN@residents.example",
        PASSWORD,
        "USHER",
    )
    .await;
    assert_eq!(r.code(), Some("CONFLICT"), "{}", r.body);
    // The original account is untouched: its password still works.
    let r = app.login("zhang.min@residents.example", PASSWORD).await;
    assert_eq!(r.data()["login"]["account"]["role"], "RESIDENT");
}

// ---------------------------------------------------------------------------------------
// Brute-force protection.

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_against_the_right_password() {
    let app = spawn().await;
    for attempt in 1..=5 {
        let r = app
            .login("admin@jinshan.example", &format!("guess-number-{attempt}"))
            .await;
        assert_eq!(
            r.code(),
            Some("UNAUTHENTICATED"),
            "attempt {attempt}: {}",
            r.body
        );
    }
    let r = app.login("admin@jinshan.example", PASSWORD).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    let seconds = retry_after(&r);
    assert!(
        seconds > 0 && seconds <= 900,
        "retryAfterSeconds = {seconds}"
    );
    assert!(
        r.body["data"].is_null(),
        "no tokens while locked: {}",
        r.body
    );
    // The lock is per account: another admin still signs in.
    let other = app.login("admin@pinghu.example", PASSWORD).await;
    assert_eq!(
        signed_in_email(&app, &other, "login").await,
        "admin@pinghu.example"
    );
}

#[tokio::test]
async fn four_wrong_passwords_do_not_lock_the_account() {
    let app = spawn().await;
    for attempt in 1..=4 {
        let r = app
            .login("admin@jiashan.example", &format!("guess-number-{attempt}"))
            .await;
        assert_eq!(
            r.code(),
            Some("UNAUTHENTICATED"),
            "attempt {attempt}: {}",
            r.body
        );
    }
    let r = app.login("admin@jiashan.example", PASSWORD).await;
    assert_eq!(
        signed_in_email(&app, &r, "login").await,
        "admin@jiashan.example"
    );
}

#[tokio::test]
async fn the_lockout_holds_across_instances_sharing_the_database() {
    let (a, b) = spawn_pair().await;
    for attempt in 1..=5 {
        let instance = if attempt % 2 == 1 { &a } else { &b };
        let r = instance
            .login("admin@pinghu.example", &format!("guess-number-{attempt}"))
            .await;
        assert_eq!(
            r.code(),
            Some("UNAUTHENTICATED"),
            "attempt {attempt}: {}",
            r.body
        );
    }
    // Three failures were seen by `a` and two by `b`: each alone is under the limit.
    for instance in [&b, &a] {
        let r = instance.login("admin@pinghu.example", PASSWORD).await;
        assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
        let seconds = retry_after(&r);
        assert!(
            seconds > 0 && seconds <= 900,
            "retryAfterSeconds = {seconds}"
        );
    }
}

#[tokio::test]
async fn the_fourth_login_or_registration_in_a_minute_from_one_ip_is_rate_limited() {
    let mut settings = settings();
    settings.ip_rate_limit = 3;
    let app = spawn_on(&fresh_database().await, settings).await;
    zouqin::demo::seed_centers(&app.db.conn)
        .await
        .expect("centers");
    let world = app.world().await;
    let email = "ip.limit@residents.example";
    // Three attempts of either kind are allowed…
    register(&app, email, PASSWORD, &world.pinghu).await.data();
    let r = app.login(email, "not-the-password").await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    app.login(email, PASSWORD).await.data();
    // …the fourth is not, whatever it is and however right its password.
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    let seconds = retry_after(&r);
    assert!(
        seconds > 0 && seconds <= 60,
        "retryAfterSeconds = {seconds}"
    );
    let r = register(&app, "second@residents.example", PASSWORD, &world.pinghu).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    assert!(
        account_row(&app, "second@residents.example")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_fourth_registration_in_a_minute_from_one_ip_is_rate_limited() {
    let mut settings = settings();
    settings.ip_rate_limit = 3;
    let app = spawn_on(&fresh_database().await, settings).await;
    zouqin::demo::seed_centers(&app.db.conn)
        .await
        .expect("centers");
    let world = app.world().await;
    for i in 1..=3 {
        register(
            &app,
            &format!("r{i}@residents.example"),
            PASSWORD,
            &world.jinshan,
        )
        .await
        .data();
    }
    let r = register(&app, "r4@residents.example", PASSWORD, &world.jinshan).await;
    assert_eq!(r.code(), Some("RATE_LIMITED"), "{}", r.body);
    let seconds = retry_after(&r);
    assert!(
        seconds > 0 && seconds <= 60,
        "retryAfterSeconds = {seconds}"
    );
    assert!(account_row(&app, "r4@residents.example").await.is_none());
}

#[tokio::test]
async fn the_per_ip_limit_counts_each_client_ip_separately() {
    let mut settings = settings();
    settings.ip_rate_limit = 1;
    settings.trust_forwarded_for = true;
    let app = spawn_on(&fresh_database().await, settings).await;
    let login_from = |ip: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", ip)
            .json(&json!({
                "query": "mutation { login(email: \"nobody@residents.example\", password: \"whatever-password\") { accessToken } }"
            }))
            .send()
    };
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();
    let first: Value = login_from("203.0.113.1")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(code(&first), "UNAUTHENTICATED", "{first}");
    let second: Value = login_from("203.0.113.1")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(code(&second), "RATE_LIMITED", "{second}");
    let elsewhere: Value = login_from("198.51.100.7")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(code(&elsewhere), "UNAUTHENTICATED", "{elsewhere}");
}

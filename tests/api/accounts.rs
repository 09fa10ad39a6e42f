//! Accounts: login, tokens, refresh sessions, brute-force limits, staff management, email
//! visibility and the `create-account` command.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;

const ME: &str = "{ me { id email displayName role center { code } homeCenter { code } } }";

const REGISTER: &str = "mutation($i: RegisterResidentInput!) { registerResident(input: $i) { accessToken refreshToken account { email role homeCenter { code } } } }";

const CREATE_STAFF: &str = "mutation($i: CreateStaffInput!) { createStaffAccount(input: $i) { id email role center { code } homeCenter { code } } }";

const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken expiresAt account { email role } } }";

const LOGOUT: &str = "mutation($t: String!) { logout(refreshToken: $t) }";

const NODE_EMAIL: &str = "query($id: ID!) { node(id: $id) { ... on Account { email role } } }";

// ---------------------------------------------------------------------------------------
// Helpers local to these tests.

async fn me(app: &TestApp, token: &str) -> Gql {
    app.gql(Some(token), ME, json!({})).await
}

async fn register(app: &TestApp, email: &str, password: &str, home_center_id: &str) -> Gql {
    app.anon(
        REGISTER,
        json!({ "i": { "email": email, "password": password, "displayName": "A resident", "homeCenterId": home_center_id } }),
    )
    .await
}

async fn create_staff(
    app: &TestApp,
    token: Option<&str>,
    email: &str,
    password: &str,
    role: &str,
) -> Gql {
    app.gql(
        token,
        CREATE_STAFF,
        json!({ "i": { "email": email, "password": password, "displayName": "Staff member", "role": role } }),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Gql {
    app.anon(REFRESH, json!({ "t": token })).await
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

/// The stored account with this (normalised) email.
async fn account_row(app: &TestApp, email: &str) -> Option<entity::account::Model> {
    entity::account::Entity::find()
        .filter(entity::account::Column::Email.eq(email))
        .one(&app.db.conn)
        .await
        .expect("query")
}

/// A staff member of `center_code` created straight in the database (shared hash, token
/// from the app's own keys: no argon2 work); returns its email, global id and token.
async fn staff_fast(app: &TestApp, center_code: &str, role: entity::enums::Role) -> StaffMember {
    use sea_orm::{ActiveModelTrait, Set};
    let center = entity::center::Entity::find()
        .filter(entity::center::Column::Code.eq(center_code))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("center");
    let email = format!(
        "{}-{}@{center_code}.example",
        format!("{role:?}").to_lowercase(),
        rand::random::<u32>()
    );
    let account = entity::account::ActiveModel {
        email: Set(email.clone()),
        password_hash: Set(password_hash().await),
        display_name: Set(format!("{role:?} of {center_code}")),
        role: Set(role),
        center_id: Set(Some(center.id)),
        home_center_id: Set(None),
        active: Set(true),
        created_at: Set(zouqin::domain::now()),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .expect("insert staff");
    StaffMember {
        email,
        id: zouqin::ids::encode(zouqin::ids::Kind::Account, account.id),
        token: issue(app, &account),
    }
}

/// A new session (refresh-token family) of `account`, stored as `login` stores one but
/// without argon2's work, so a test can start hundreds of them; returns its refresh token.
async fn signed_in_fast(app: &TestApp, account: &entity::account::Model) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    let token = zouqin::auth::random_token(32);
    let now = zouqin::domain::now();
    entity::refresh_session::ActiveModel {
        account_id: Set(account.id),
        family_id: Set(zouqin::auth::random_token(16)),
        token_hash: Set(zouqin::auth::token_hash(&token)),
        issued_at: Set(now),
        expires_at: Set(now + zouqin::domain::accounts::REFRESH_TTL),
        used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .expect("insert session");
    token
}

struct StaffMember {
    email: String,
    id: String,
    token: String,
}

/// An access token for `account` from the app's own signing code.
fn issue(app: &TestApp, account: &entity::account::Model) -> String {
    let identity = zouqin::domain::accounts::identity_of(account);
    app.keys()
        .issue(&identity, zouqin::domain::now())
        .expect("token")
        .0
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims the server puts in an access token, for a seeded center admin, valid now.
async fn admin_claims(app: &TestApp, code: &str) -> Value {
    let admin = account_row(app, &format!("admin@{code}.example"))
        .await
        .expect("seeded admin");
    json!({
        "sub": admin.id.to_string(),
        "role": "CENTER_ADMIN",
        "center": admin.center_id.expect("admin has a center"),
        "iss": "zouqin",
        "aud": "zouqin-api",
        "iat": now_secs(),
        "exp": now_secs() + 600,
        "jti": format!("test-{}", rand::random::<u64>()),
    })
}

/// An HS256 (or other HMAC) token over `claims`.
fn sign(algorithm: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret).expect("hmac key"),
    )
    .expect("encode")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The decoded payload of a JWT.
fn payload_of(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
}

/// Asserts that `token` is refused as UNAUTHENTICATED on a query that needs no identity.
async fn assert_token_refused(app: &TestApp, token: &str) {
    let r = app.gql(Some(token), ME, json!({})).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    assert!(
        r.body["data"]["me"].is_null(),
        "a refused token must not resolve `me`: {}",
        r.body
    );
}

/// Asserts that the hand-made `claims`, signed properly, act as the Jinshan admin (so the
/// negative variants of each test start from a token that would work).
async fn assert_claims_accepted(app: &TestApp, claims: &Value) {
    let token = sign(Algorithm::HS256, claims, JWT_SECRET.as_bytes());
    let r = me(app, &token).await;
    let data = r.data();
    assert_eq!(data["me"]["email"], "admin@jinshan.example");
    assert_eq!(data["me"]["role"], "CENTER_ADMIN");
    assert_eq!(data["me"]["center"]["code"], "jinshan");
}

/// The email `me` shows to the holder of the access token in a `login`,
/// `registerResident` or `refreshToken` payload (so that tests of signing in do not depend
/// on how the payload's own `account` field is resolved).
async fn signed_in_email(app: &TestApp, payload: &Gql, mutation: &str) -> String {
    let token = str_at(payload.data(), &format!("/{mutation}/accessToken")).to_owned();
    str_at(me(app, &token).await.data(), "/me/email").to_owned()
}

fn retry_after(r: &Gql) -> i64 {
    r.error()["extensions"]["retryAfterSeconds"]
        .as_i64()
        .unwrap_or_else(|| panic!("RATE_LIMITED without retryAfterSeconds: {}", r.body))
}

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
// Access tokens.

#[tokio::test]
async fn a_hand_made_token_signed_with_the_servers_key_is_accepted() {
    let app = spawn().await;
    let claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
}

#[tokio::test]
async fn a_token_the_server_issued_carries_the_documented_claims() {
    let app = spawn().await;
    let token = app.admin("jiashan").await;
    let admin = account_row(&app, "admin@jiashan.example")
        .await
        .expect("admin");
    let claims = payload_of(&token);
    assert_eq!(claims["sub"], admin.id.to_string());
    assert_eq!(claims["role"], "CENTER_ADMIN");
    assert_eq!(claims["center"], admin.center_id.expect("center"));
    assert_eq!(claims["iss"], "zouqin");
    assert_eq!(claims["aud"], "zouqin-api");
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!((exp - iat - 15 * 60).abs() <= 1, "15-minute access tokens");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "HS256");
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_unauthenticated() {
    let app = spawn().await;
    let claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({ "alg": alg, "typ": "JWT" })),
            b64(&claims)
        );
        assert_token_refused(&app, &token).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_unauthenticated() {
    let app = spawn().await;
    let claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    let token = sign(
        Algorithm::HS256,
        &claims,
        b"another-secret-another-secret-another-secret",
    );
    assert_token_refused(&app, &token).await;
}

#[tokio::test]
async fn a_token_signed_with_the_right_key_but_another_algorithm_is_unauthenticated() {
    let app = spawn().await;
    let claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(algorithm, &claims, JWT_SECRET.as_bytes());
        assert_token_refused(&app, &token).await;
    }
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let app = spawn().await;
    let mut claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    claims["iat"] = json!(now_secs() - 20 * 60);
    claims["exp"] = json!(now_secs() - 5 * 60);
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, &claims, JWT_SECRET.as_bytes()),
    )
    .await;
}

#[tokio::test]
async fn a_token_without_an_expiry_is_unauthenticated() {
    let app = spawn().await;
    let mut claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    claims.as_object_mut().expect("object").remove("exp");
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, &claims, JWT_SECRET.as_bytes()),
    )
    .await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let app = spawn().await;
    let mut claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    claims["aud"] = json!("zouqin-admin");
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, &claims, JWT_SECRET.as_bytes()),
    )
    .await;
    claims.as_object_mut().expect("object").remove("aud");
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, &claims, JWT_SECRET.as_bytes()),
    )
    .await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_unauthenticated() {
    let app = spawn().await;
    let mut claims = admin_claims(&app, "jinshan").await;
    assert_claims_accepted(&app, &claims).await;
    claims["iss"] = json!("someone-else");
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, &claims, JWT_SECRET.as_bytes()),
    )
    .await;
}

#[tokio::test]
async fn a_token_whose_payload_was_tampered_with_is_unauthenticated() {
    let app = spawn().await;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    let r = me(&app, &resident).await;
    assert_eq!(r.data()["me"]["role"], "RESIDENT");
    // The payload a real Jinshan-admin token would carry, under the resident's signature.
    let admin = account_row(&app, "admin@jinshan.example")
        .await
        .expect("admin");
    let admin_payload = payload_of(&issue(&app, &admin));
    let mut payload = payload_of(&resident);
    for claim in ["sub", "role", "center"] {
        payload[claim] = admin_payload[claim].clone();
    }
    let mut parts: Vec<&str> = resident.split('.').collect();
    let forged_payload = b64(&payload);
    parts[1] = &forged_payload;
    assert_token_refused(&app, &parts.join(".")).await;
    // Promoting only the role (same account) is refused as well.
    let mut payload = payload_of(&resident);
    payload["role"] = admin_payload["role"].clone();
    payload["center"] = admin_payload["center"].clone();
    let forged_payload = b64(&payload);
    let mut parts: Vec<&str> = resident.split('.').collect();
    parts[1] = &forged_payload;
    assert_token_refused(&app, &parts.join(".")).await;
}

#[tokio::test]
async fn a_bad_token_is_refused_even_on_mutations_anyone_may_call() {
    let app = spawn().await;
    let claims = admin_claims(&app, "jinshan").await;
    let token = sign(
        Algorithm::HS256,
        &claims,
        b"another-secret-another-secret-another",
    );
    let r = app
        .gql(
            Some(&token),
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": "admin@jinshan.example", "p": PASSWORD }),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    assert!(r.body["data"].is_null() || r.body["data"]["login"].is_null());
}

// ---------------------------------------------------------------------------------------
// Refresh tokens and logout.

#[tokio::test]
async fn refreshing_rotates_the_tokens_and_reusing_an_old_one_revokes_the_session() {
    let app = spawn().await;
    let login = app.login("admin@pinghu.example", PASSWORD).await;
    let first = str_at(login.data(), "/login/refreshToken").to_owned();

    let rotated = refresh(&app, &first).await;
    let second = str_at(rotated.data(), "/refreshToken/refreshToken").to_owned();
    let access = str_at(rotated.data(), "/refreshToken/accessToken").to_owned();
    assert_ne!(second, first, "a refresh hands out a new refresh token");
    assert_eq!(
        signed_in_email(&app, &rotated, "refreshToken").await,
        "admin@pinghu.example"
    );
    assert_eq!(
        me(&app, &access).await.data()["me"]["center"]["code"],
        "pinghu"
    );

    let rotated_again = refresh(&app, &second).await;
    let third = str_at(rotated_again.data(), "/refreshToken/refreshToken").to_owned();

    // The first token was spent: presenting it again is a theft signal.
    let reuse = refresh(&app, &first).await;
    assert_eq!(reuse.code(), Some("UNAUTHENTICATED"), "{}", reuse.body);
    // …and the whole family is gone, including the newest token.
    let newest = refresh(&app, &third).await;
    assert_eq!(newest.code(), Some("UNAUTHENTICATED"), "{}", newest.body);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_one_it_was_traded_for() {
    let app = spawn().await;
    let login = app.login("admin@jiashan.example", PASSWORD).await;
    let first = str_at(login.data(), "/login/refreshToken").to_owned();
    let second = str_at(
        refresh(&app, &first).await.data(),
        "/refreshToken/refreshToken",
    )
    .to_owned();
    assert_eq!(refresh(&app, &first).await.code(), Some("UNAUTHENTICATED"));
    assert_eq!(refresh(&app, &second).await.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn an_unknown_refresh_token_is_unauthenticated() {
    let app = spawn().await;
    for token in ["", "not-a-refresh-token", &"A".repeat(43)] {
        let r = refresh(&app, token).await;
        assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{token:?}: {}", r.body);
    }
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = spawn().await;
    let login = app.login("admin@pinghu.example", PASSWORD).await;
    let access = str_at(login.data(), "/login/accessToken");
    let r = refresh(&app, access).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
}

#[tokio::test]
async fn logout_ends_that_session_but_not_another_session_of_the_same_account() {
    let app = spawn().await;
    let laptop = app.login("admin@jinshan.example", PASSWORD).await;
    let laptop = str_at(laptop.data(), "/login/refreshToken").to_owned();
    let phone = app.login("admin@jinshan.example", PASSWORD).await;
    let phone = str_at(phone.data(), "/login/refreshToken").to_owned();

    let r = app.anon(LOGOUT, json!({ "t": laptop })).await;
    assert_eq!(r.data()["logout"], true);

    let r = refresh(&app, &laptop).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    let r = refresh(&app, &phone).await;
    assert_eq!(
        signed_in_email(&app, &r, "refreshToken").await,
        "admin@jinshan.example"
    );
}

#[tokio::test]
async fn logout_with_a_rotated_refresh_token_ends_the_session() {
    let app = spawn().await;
    let login = app.login("admin@jinshan.example", PASSWORD).await;
    let first = str_at(login.data(), "/login/refreshToken").to_owned();
    let second = str_at(
        refresh(&app, &first).await.data(),
        "/refreshToken/refreshToken",
    )
    .to_owned();
    // Logging out with the current token ends the session…
    let r = app.anon(LOGOUT, json!({ "t": second })).await;
    assert_eq!(r.data()["logout"], true);
    assert_eq!(refresh(&app, &second).await.code(), Some("UNAUTHENTICATED"));
    // …and a logged-out token cannot log out again.
    let again = app.anon(LOGOUT, json!({ "t": second })).await;
    assert_eq!(again.code(), Some("UNAUTHENTICATED"), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_racing_a_logout_never_leaves_a_live_token_in_the_ended_session() {
    // On PostgreSQL the two really run side by side; SQLite serializes writers anyway, so a
    // few rounds there only check that the same answers come out.
    let rounds = if postgres_base().is_some() { 200 } else { 20 };
    let app = spawn().await;
    let admin = account_row(&app, "admin@pinghu.example")
        .await
        .expect("admin");
    let mut refreshed_first = 0;
    for round in 0..rounds {
        let token = signed_in_fast(&app, &admin).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let refreshing = {
            let (barrier, client, url, token) = (
                barrier.clone(),
                app.client.clone(),
                app.url("/graphql"),
                token.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                client
                    .post(url)
                    .json(&json!({ "query": REFRESH, "variables": { "t": token } }))
                    .send()
                    .await
                    .expect("refresh sent")
                    .json::<Value>()
                    .await
                    .expect("json")
            })
        };
        let logging_out = {
            let (barrier, client, url, token) = (
                barrier.clone(),
                app.client.clone(),
                app.url("/graphql"),
                token.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                client
                    .post(url)
                    .json(&json!({ "query": LOGOUT, "variables": { "t": token } }))
                    .send()
                    .await
                    .expect("logout sent")
                    .json::<Value>()
                    .await
                    .expect("json")
            })
        };
        let (refreshed, logged_out) = (
            refreshing.await.expect("refresh task"),
            logging_out.await.expect("logout task"),
        );
        assert_eq!(
            logged_out["data"]["logout"], true,
            "round {round}: logout did not end the session: {logged_out}"
        );
        // The token the refresh handed out (if it won) must be dead: logout ended the family.
        if let Some(newer) = refreshed
            .pointer("/data/refreshToken/refreshToken")
            .and_then(Value::as_str)
        {
            refreshed_first += 1;
            let r = refresh(&app, newer).await;
            assert_eq!(
                r.code(),
                Some("UNAUTHENTICATED"),
                "round {round}: the token from a refresh survived logout: {}",
                r.body
            );
        } else {
            assert_eq!(
                refreshed["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "round {round}: {refreshed}"
            );
        }
        let r = refresh(&app, &token).await;
        assert_eq!(
            r.code(),
            Some("UNAUTHENTICATED"),
            "round {round}: {}",
            r.body
        );
    }
    println!("refresh answered before logout in {refreshed_first} of {rounds} rounds");
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

// ---------------------------------------------------------------------------------------
// The command line.

pub(crate) struct CliRun {
    /// The exit code (None when killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the built `zouqin` binary with `args`, `env`, and `stdin` piped in.
pub(crate) async fn zouqin_cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> CliRun {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zouqin"));
        command
            .args(&args)
            .env_remove("ZOUQIN_PASSWORD")
            .env_remove("ZOUQIN_DEMO_PASSWORD")
            .env("RUST_LOG", "warn")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the zouqin binary runs");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait");
        CliRun {
            code: output.status.code(),
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

/// An app on a fresh database holding only the three centers (no accounts).
async fn app_with_centers_only() -> TestApp {
    let app = spawn_on(&fresh_database().await, settings()).await;
    zouqin::demo::seed_centers(&app.db.conn)
        .await
        .expect("centers");
    app
}

#[tokio::test]
async fn the_cli_creates_a_staff_account_that_can_log_in() {
    let app = app_with_centers_only().await;
    let password = "cli-password-123";
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "Ops@Pinghu.example",
            "--role",
            "SCHEDULER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", password),
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
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "the password is never echoed"
    );
    let login = app.login("ops@pinghu.example", password).await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "SCHEDULER");
    assert_eq!(me.data()["me"]["center"]["code"], "pinghu");
}

#[tokio::test]
async fn the_cli_reads_the_password_from_stdin_when_the_env_var_is_unset() {
    let app = app_with_centers_only().await;
    let password = "stdin-password-123";
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "door@jiashan.example",
            "--role",
            "USHER",
            "--center",
            "jiashan",
        ],
        &[("DATABASE_URL", app.database_url.as_str())],
        Some(&format!("{password}\n")),
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let login = app.login("door@jiashan.example", password).await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "USHER");
    assert_eq!(me.data()["me"]["center"]["code"], "jiashan");
}

#[tokio::test]
async fn the_cli_seeds_centers_and_the_created_account_logs_in() {
    let url = fresh_database().await;
    let seed = zouqin_cli(
        &["seed-demo"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_DEMO_PASSWORD", "demo-password-123"),
        ],
        None,
    )
    .await;
    assert!(
        seed.success,
        "stdout: {}\nstderr: {}",
        seed.stdout, seed.stderr
    );
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "boss@jinshan.example",
            "--role",
            "CENTER_ADMIN",
            "--center",
            "jinshan",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "boss-password-123"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let app = spawn_on(&url, settings()).await;
    let login = app.login("boss@jinshan.example", "boss-password-123").await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "CENTER_ADMIN");
    assert_eq!(me.data()["me"]["center"]["code"], "jinshan");
}

#[tokio::test]
async fn the_cli_never_takes_the_password_from_the_command_line() {
    let app = app_with_centers_only().await;
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "argv@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
            "--password",
            "argv-password-123",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "env-password-123"),
        ],
        None,
    )
    .await;
    assert_eq!(
        run.code,
        Some(2),
        "--password must be refused as a usage error: stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("unexpected argument '--password'"),
        "{}",
        run.stderr
    );
    assert!(account_row(&app, "argv@pinghu.example").await.is_none());
}

/// Rows per table of a database (every table but the migration bookkeeping).
async fn row_counts(url: &str) -> Vec<(String, i64)> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = zouqin::db::connect(url, 1, std::time::Duration::from_secs(5))
        .await
        .expect("connect");
    let conn = &db.conn;
    let backend = conn.get_database_backend();
    let list = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'seaql_migrations' ORDER BY name"
        }
        _ => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .expect("tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("name"))
        .collect();
    let mut counts = Vec::new();
    for table in tables {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM \"{table}\""),
            ))
            .await
            .expect("count")
            .expect("row");
        counts.push((table, row.try_get_by_index::<i64>(0).expect("count")));
    }
    counts
}

#[tokio::test]
async fn seeding_the_demo_twice_adds_nothing_the_second_time() {
    let url = fresh_database().await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("ZOUQIN_DEMO_PASSWORD", "demo-password-123"),
    ];
    let first = zouqin_cli(&["seed-demo"], &env, None).await;
    assert!(first.success, "stderr: {}", first.stderr);
    let after_first = row_counts(&url).await;
    let performances = after_first
        .iter()
        .find(|(t, _)| t == "performance")
        .map(|(_, n)| *n);
    assert!(performances.is_some_and(|n| n > 5), "{after_first:?}");
    let second = zouqin_cli(&["seed-demo"], &env, None).await;
    assert!(second.success, "stderr: {}", second.stderr);
    assert_eq!(row_counts(&url).await, after_first);
}

#[tokio::test]
async fn the_cli_refuses_a_short_password_and_an_unknown_center() {
    let app = app_with_centers_only().await;
    let url = app.database_url.clone();
    let short = zouqin_cli(
        &[
            "create-account",
            "--email",
            "short@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "123456789"),
        ],
        None,
    )
    .await;
    assert_eq!(short.code, Some(1), "stdout: {}", short.stdout);
    assert!(
        short.stderr.contains("BAD_USER_INPUT") && short.stderr.contains("at least 10 characters"),
        "{}",
        short.stderr
    );
    let nowhere = zouqin_cli(
        &[
            "create-account",
            "--email",
            "nowhere@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "atlantis",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "long-enough-password"),
        ],
        None,
    )
    .await;
    assert_eq!(nowhere.code, Some(1), "stdout: {}", nowhere.stdout);
    assert!(
        nowhere.stderr.contains("no center with code atlantis"),
        "{}",
        nowhere.stderr
    );
    assert!(account_row(&app, "short@pinghu.example").await.is_none());
    assert!(account_row(&app, "nowhere@pinghu.example").await.is_none());
}

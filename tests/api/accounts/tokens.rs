//! Access tokens (what the server accepts and refuses), refresh sessions and logout.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::*;

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

//! Accounts: login, tokens, refresh sessions, brute-force limits, staff management, email
//! visibility and the `create-account` command.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;

mod cli;
mod login;
mod staff;
mod tokens;

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

//! Notifications: made with their event (a followed production's new session, a cancelled
//! performance, a suspension), stored per account, read and marked read by that account
//! only, and pushed live over WebSocket from any instance, a lost signal included.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::*;
use crate::productions::{from_now, hall, production, publish_session};

const MINE: &str = "query($unread: Boolean, $first: Int, $after: String) { myNotifications(unreadOnly: $unread, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id kind read message createdAt performance { id title } production { id title } } } } }";

const MARK: &str = "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }";

const FOLLOW: &str = "mutation($id: ID!) { followProduction(id: $id) { id } }";

const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on Notification { kind message } } }";

const SUBSCRIPTION: &str =
    "subscription { notificationAdded { id kind message performance { id } production { id } } }";

/// The caller's notifications, newest first.
async fn mine(app: &TestApp, token: &str, unread_only: bool) -> Vec<Value> {
    let r = app
        .gql(Some(token), MINE, json!({ "unread": unread_only }))
        .await;
    r.data()["myNotifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn mark(app: &TestApp, token: &str, ids: Value) -> i64 {
    let r = app.gql(Some(token), MARK, json!({ "ids": ids })).await;
    r.data()["markNotificationsRead"].as_i64().expect("a count")
}

/// A world where Jinshan's 《大雷雨》 has a follower from Pinghu: (production, Pinghu
/// admin, Pinghu's hall, the follower's token).
async fn followed(app: &TestApp) -> (String, String, String, String) {
    let world = app.world().await;
    let jinshan = app.admin("jinshan").await;
    let pinghu = app.admin("pinghu").await;
    let thunderstorm = production(app, &jinshan, "沪剧《大雷雨》", "OPERA").await;
    let venue = hall(app, &pinghu, "平湖剧场").await;
    let follower = app.resident("fan@residents.example", &world.pinghu).await;
    app.gql(Some(&follower), FOLLOW, json!({ "id": thunderstorm }))
        .await
        .data();
    (thunderstorm, pinghu, venue, follower)
}

#[tokio::test]
async fn another_center_publishing_a_session_of_a_followed_production_notifies_the_follower() {
    let app = spawn().await;
    let world = app.world().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&app).await;
    let bystander = app
        .resident("other@residents.example", &world.jinshan)
        .await;

    let perf = publish_session(&app, &pinghu, &venue, &thunderstorm, 600).await;
    let got = mine(&app, &follower, false).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let note = &got[0];
    assert_eq!(note["kind"], "PRODUCTION_SCHEDULED");
    assert_eq!(note["read"], false);
    assert_eq!(note["performance"]["id"], perf.as_str());
    assert_eq!(note["production"]["id"], thunderstorm.as_str());
    let message = note["message"].as_str().expect("message");
    assert!(
        message.starts_with("沪剧《大雷雨》 平湖新场次 "),
        "{message}"
    );
    assert!(mine(&app, &bystander, false).await.is_empty());
    // A draft notifies nobody; only publication does.
    let r = crate::productions::schedule(
        &app,
        &pinghu,
        json!({ "venueId": venue, "productionId": thunderstorm,
                "startsAt": from_now(2000), "endsAt": from_now(2100) }),
    )
    .await;
    r.data();
    assert_eq!(mine(&app, &follower, false).await.len(), 1);
}

#[tokio::test]
async fn marking_notifications_read_counts_what_changed_and_touches_only_the_callers_own() {
    let app = spawn().await;
    let world = app.world().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&app).await;
    let other = app.resident("other@residents.example", &world.pinghu).await;
    app.gql(Some(&other), FOLLOW, json!({ "id": thunderstorm }))
        .await
        .data();
    for minutes in [600, 900, 1200] {
        publish_session(&app, &pinghu, &venue, &thunderstorm, minutes).await;
    }
    let got = mine(&app, &follower, false).await;
    assert_eq!(got.len(), 3);
    // Newest first.
    let ids: Vec<String> = got
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    let r = app.gql(Some(&follower), MINE, json!({ "first": 2 })).await;
    let page = &r.data()["myNotifications"];
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["edges"][1]["node"]["id"], ids[1].as_str());
    let r = app
        .gql(
            Some(&follower),
            MINE,
            json!({ "first": 2, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        r.data()["myNotifications"]["edges"][0]["node"]["id"],
        ids[2].as_str()
    );

    assert_eq!(mark(&app, &follower, json!([ids[0]])).await, 1);
    assert_eq!(mark(&app, &follower, json!([ids[0]])).await, 0);
    // Another's ids change nothing, theirs or the caller's.
    assert_eq!(mark(&app, &other, json!([ids[1], ids[2]])).await, 0);
    assert_eq!(mine(&app, &follower, true).await.len(), 2);
    assert_eq!(mark(&app, &follower, json!([])).await, 0);
    assert_eq!(mark(&app, &follower, Value::Null).await, 2);
    assert_eq!(mark(&app, &follower, Value::Null).await, 0);
    assert!(mine(&app, &follower, true).await.is_empty());
    assert!(
        mine(&app, &follower, false)
            .await
            .iter()
            .all(|n| n["read"] == true)
    );
    assert_eq!(mine(&app, &other, true).await.len(), 3);

    let r = app
        .gql(Some(&follower), MARK, json!({ "ids": [thunderstorm] }))
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "ids");
    let r = app.anon(MARK, json!({ "ids": null })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
}

#[tokio::test]
async fn a_notification_exists_only_for_its_account() {
    let app = spawn().await;
    let world = app.world().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&app).await;
    publish_session(&app, &pinghu, &venue, &thunderstorm, 600).await;
    let id = mine(&app, &follower, false).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app.gql(Some(&follower), NODE, json!({ "id": id })).await;
    assert_eq!(r.data()["node"]["kind"], "PRODUCTION_SCHEDULED");
    let other = app.resident("other@residents.example", &world.pinghu).await;
    for token in [Some(other.as_str()), Some(pinghu.as_str()), None] {
        let r = app.gql(token, NODE, json!({ "id": id })).await;
        assert_eq!(r.code(), Some("NOT_FOUND"), "{}", r.body);
    }
    let r = app.anon(MINE, json!({})).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    // Staff have none of their own.
    let r = app.gql(Some(&pinghu), MINE, json!({})).await;
    assert_eq!(r.data()["myNotifications"]["totalCount"], 0);
}

#[tokio::test]
async fn cancelling_a_performance_notifies_the_holders_of_its_bookings() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "平湖剧场").await;
    let gala = production(&app, &pinghu, "浙沪共村晚", "GALA").await;
    let perf = publish_session(&app, &pinghu, &venue, &gala, 600).await;
    let holder = app
        .resident("holder@residents.example", &world.pinghu)
        .await;
    let quitter = app
        .resident("quitter@residents.example", &world.pinghu)
        .await;
    let book = "mutation($p: ID!) { bookSeats(input: { performanceId: $p, quantity: 2 }) { id } }";
    app.gql(Some(&holder), book, json!({ "p": perf }))
        .await
        .data();
    let r = app.gql(Some(&quitter), book, json!({ "p": perf })).await;
    let booking = r.data()["bookSeats"]["id"].clone();
    app.gql(
        Some(&quitter),
        "mutation($id: ID!) { cancelBooking(id: $id) { id } }",
        json!({ "id": booking }),
    )
    .await
    .data();
    app.gql(
        Some(&pinghu),
        "mutation($id: ID!) { cancelPerformance(id: $id, reason: \"暴雨停演\") { id } }",
        json!({ "id": perf }),
    )
    .await
    .data();
    let got = mine(&app, &holder, false).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["kind"], "PERFORMANCE_CANCELLED");
    assert_eq!(got[0]["performance"]["id"], perf.as_str());
    assert_eq!(got[0]["production"]["id"], gala.as_str());
    let message = got[0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("浙沪共村晚 ") && message.ends_with("已取消：暴雨停演"),
        "{message}"
    );
    assert!(mine(&app, &quitter, false).await.is_empty());
}

#[tokio::test]
async fn the_no_show_step_tells_a_resident_it_suspends() {
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let venue = hall(&app, &pinghu, "平湖剧场").await;
    let gala = production(&app, &pinghu, "浙沪共村晚", "GALA").await;
    let perf = publish_session(&app, &pinghu, &venue, &gala, 600).await;
    let absent = app
        .resident("absent@residents.example", &world.pinghu)
        .await;
    app.gql(
        Some(&absent),
        "mutation($p: ID!) { bookSeats(input: { performanceId: $p, quantity: 1 }) { id } }",
        json!({ "p": perf }),
    )
    .await
    .data();
    let one_strike = zouqin::domain::no_shows::Policy::new(1, 180, 30);
    let after_the_end = Utc::now() + chrono::Duration::minutes(800);
    let marked = zouqin::domain::no_shows::mark_due(&app.db.conn, &one_strike, after_the_end)
        .await
        .unwrap_or_else(|e| panic!("the no-show step failed: {e:?}"));
    assert_eq!(marked.suspended, 1);
    let got = mine(&app, &absent, false).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["kind"], "BOOKING_SUSPENDED");
    assert!(got[0]["performance"].is_null());
    let message = got[0]["message"].as_str().expect("message");
    assert!(message.starts_with("多次未到场，预订暂停至 "), "{message}");
}

// ---------------------------------------------------------------------------------------
// Live delivery over WebSocket
// ---------------------------------------------------------------------------------------

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WS_TIMEOUT: StdDuration = StdDuration::from_secs(15);

/// A `graphql-transport-ws` client subscribed to `notificationAdded`.
struct Subscriber {
    stream: WsStream,
}

/// How many notification streams listen on `app` (its state, or its `/metrics`).
async fn streams(app: &TestApp) -> usize {
    if app.process.is_none() {
        return app.state().services.realtime.notification_streams();
    }
    app.metric("zouqin_notification_streams").await as usize
}

impl Subscriber {
    /// Connects with `token`, subscribes, and waits until the stream listens.
    async fn start(app: &TestApp, token: &str) -> Subscriber {
        let listening = streams(app).await;
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (stream, _) =
            tokio::time::timeout(WS_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .expect("WebSocket handshake in time")
                .expect("WebSocket handshake");
        let mut subscriber = Subscriber { stream };
        subscriber
            .send(json!({ "type": "connection_init",
                          "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let ack = subscriber.next(WS_TIMEOUT).await.expect("an ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        subscriber
            .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }))
            .await;
        let deadline = tokio::time::Instant::now() + WS_TIMEOUT;
        while streams(app).await <= listening {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the subscription never started listening"
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        subscriber
    }

    async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// The next protocol message within `limit` (None: nothing came).
    async fn next(&mut self, limit: StdDuration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(message) => message
                    .expect("the WebSocket stays open")
                    .expect("a WebSocket message"),
            };
            let text = match message {
                Message::Text(text) => text.to_string(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected WebSocket message: {other:?}"),
            };
            let value: Value = serde_json::from_str(&text).expect("JSON message");
            match value["type"].as_str() {
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                Some("pong") => {}
                _ => return Some(value),
            }
        }
    }

    /// The next notification pushed, within `limit`.
    async fn notification(&mut self, limit: StdDuration) -> Value {
        let message = self.next(limit).await.expect("a notification in time");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["notificationAdded"].clone()
    }
}

#[tokio::test]
async fn a_notification_added_subscription_receives_the_followers_notification() {
    let app = spawn().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&app).await;
    // One made before the subscription is not pushed (it is in myNotifications).
    publish_session(&app, &pinghu, &venue, &thunderstorm, 300).await;
    let mut subscriber = Subscriber::start(&app, &follower).await;
    let started = std::time::Instant::now();
    let perf = publish_session(&app, &pinghu, &venue, &thunderstorm, 600).await;
    let pushed = subscriber.notification(WS_TIMEOUT).await;
    assert_eq!(pushed["kind"], "PRODUCTION_SCHEDULED");
    assert_eq!(pushed["performance"]["id"], perf.as_str());
    assert_eq!(pushed["production"]["id"], thunderstorm.as_str());
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "pushed on the signal, not on the fallback read: {:?}",
        started.elapsed()
    );
    assert_eq!(
        pushed["id"],
        mine(&app, &follower, false).await[0]["id"],
        "the stored notification is the one pushed"
    );
    // Exactly once.
    assert!(subscriber.next(StdDuration::from_secs(6)).await.is_none());
}

#[tokio::test]
async fn notification_added_needs_a_signed_in_account() {
    let app = spawn().await;
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    let mut subscriber = Subscriber { stream };
    subscriber
        .send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    let ack = subscriber.next(WS_TIMEOUT).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack");
    subscriber
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }))
        .await;
    let answer = subscriber.next(WS_TIMEOUT).await.expect("an answer");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{answer}"
    );
}

#[tokio::test]
async fn a_subscriber_on_one_instance_receives_a_notification_caused_on_the_other_on_postgres() {
    if postgres_or_skip(
        "a_subscriber_on_one_instance_receives_a_notification_caused_on_the_other_on_postgres",
    )
    .is_none()
    {
        return;
    }
    let (a, b) = spawn_pair().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&b).await;
    let mut subscriber = Subscriber::start(&a, &follower).await;
    let started = std::time::Instant::now();
    let first = publish_session(&b, &pinghu, &venue, &thunderstorm, 600).await;
    let second = publish_session(&b, &pinghu, &venue, &thunderstorm, 900).await;
    let pushed = subscriber.notification(WS_TIMEOUT).await;
    assert_eq!(pushed["performance"]["id"], first.as_str());
    let pushed = subscriber.notification(WS_TIMEOUT).await;
    assert_eq!(pushed["performance"]["id"], second.as_str());
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "pushed on the signal across instances: {:?}",
        started.elapsed()
    );
    assert!(subscriber.next(StdDuration::from_secs(6)).await.is_none());
}

#[tokio::test]
async fn a_notification_whose_signal_was_lost_is_still_delivered_on_postgres() {
    if postgres_or_skip("a_notification_whose_signal_was_lost_is_still_delivered_on_postgres")
        .is_none()
    {
        return;
    }
    use sea_orm::{ConnectionTrait, Statement};
    let (a, b) = spawn_pair().await;
    let (thunderstorm, pinghu, venue, follower) = followed(&b).await;
    let mut subscriber = Subscriber::start(&a, &follower).await;
    // Made while no signal reaches instance A: a row written without its NOTIFY (as when
    // the listener is reconnecting and misses it).
    let account: i64 =
        b.db.conn
            .query_one_raw(Statement::from_string(
                b.db.backend(),
                "SELECT id FROM account WHERE email = 'fan@residents.example'",
            ))
            .await
            .expect("query")
            .expect("the follower")
            .try_get("", "id")
            .expect("id");
    let now: DateTime<Utc> = Utc::now();
    b.db.conn
        .execute_raw(Statement::from_sql_and_values(
            b.db.backend(),
            "INSERT INTO notification (account_id, kind, created_at, message) \
             VALUES ($1, 'BOOKING_SUSPENDED', $2, '信号丢失的通知')",
            [account.into(), now.into()],
        ))
        .await
        .expect("a notification without a signal");
    let lost = subscriber.notification(StdDuration::from_secs(12)).await;
    assert_eq!(lost["message"], "信号丢失的通知");
    // The next one, signalled, follows it once and in order.
    let perf = publish_session(&b, &pinghu, &venue, &thunderstorm, 600).await;
    let next = subscriber.notification(WS_TIMEOUT).await;
    assert_eq!(next["performance"]["id"], perf.as_str());
    assert!(subscriber.next(StdDuration::from_secs(6)).await.is_none());
}

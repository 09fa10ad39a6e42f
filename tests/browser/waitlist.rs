//! The waiting list in the browser, when the server has one: sold out → join → a
//! cancellation elsewhere → the offer appears → accept → tickets.

use std::time::Duration;

use chrono::Duration as Span;
use serde_json::json;

use crate::harness::{Browser, chromium_or_skip, skip};
use crate::helpers::{PASSWORD, spawn};
use crate::world;

const NAME: &str = "a_cancellation_elsewhere_offers_the_seats_to_the_waiting_resident_who_accepts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_elsewhere_offers_the_seats_to_the_waiting_resident_who_accepts() {
    if !chromium_or_skip(NAME) {
        return;
    }
    let app = spawn().await;
    let has = app
        .anon(
            "{ __type(name: \"Mutation\") { fields { name } } }",
            json!({}),
        )
        .await;
    let names = has.data()["__type"]["fields"].to_string();
    if !names.contains("\"joinWaitlist\"") {
        skip(NAME, "the schema has no waiting list (joinWaitlist) yet");
        return;
    }
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let show = world::show(
        &app,
        &admin,
        "沪剧《大雷雨》加演",
        1,
        2,
        Span::days(2),
        json!({}),
    )
    .await;
    let first = app.resident("first@pinghu.example", &world.pinghu).await;
    let (booking, _) = world::book(&app, &first, &show.id, 2).await;
    app.resident("waiting@pinghu.example", &world.pinghu).await;

    let b = Browser::start(&app.address, 1024).await;
    b.open("/#/login").await;
    b.type_into("input[name=email]", "waiting@pinghu.example")
        .await;
    b.type_into("input[name=password]", PASSWORD).await;
    b.click("#auth-submit").await;
    b.wait("#performances").await;
    b.open(&format!("/#/p/{}", show.id)).await;
    b.click("#waitlist-join").await;
    b.wait("#waitlist-waiting").await;
    assert!(
        b.text("#waitlist-waiting").await.contains('1'),
        "first in line"
    );
    b.assert_clean("waiting").await;

    let r = app
        .gql(
            Some(&first),
            "mutation($id: ID!) { cancelBooking(id: $id) { status } }",
            json!({ "id": booking }),
        )
        .await;
    assert_eq!(r.data()["cancelBooking"]["status"], "CANCELLED");
    b.until(
        "the offer appears without a reload",
        Duration::from_secs(20),
        "return document.getElementById('waitlist-offer') !== null",
    )
    .await;
    assert!(
        !b.text("#offer-countdown").await.is_empty(),
        "the offer's countdown runs"
    );
    b.assert_clean("the offer").await;
    b.click("#offer-accept").await;
    b.until(
        "two tickets with QR codes",
        Duration::from_secs(10),
        "return document.querySelectorAll('.ticket svg[role=img]').length === 2",
    )
    .await;
    b.quit().await;
}

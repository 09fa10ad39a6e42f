//! The door: an usher types a code on a 375-px phone and gets a full-screen answer.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, FixedOffset};
use serde_json::json;

use crate::harness::{Browser, chromium_or_skip};
use crate::helpers::{PASSWORD, spawn};
use crate::world;

async fn sign_in(b: &Browser, email: &str) {
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait("#code").await;
}

async fn scan(b: &Browser, code: &str) {
    b.type_into("#code", code).await;
    b.click("#check").await;
    b.wait("#verdict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_admits_a_typed_code_once_then_says_when_and_refuses_another_centers_usher() {
    if !chromium_or_skip(
        "the_door_admits_a_typed_code_once_then_says_when_and_refuses_another_centers_usher",
    ) {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let jinshan = app.admin("jinshan").await;
    let usher = app.staff(&pinghu, "usher@pinghu.example", "USHER").await;
    app.staff(&jinshan, "usher@jinshan.example", "USHER").await;
    let show = world::show(
        &app,
        &pinghu,
        "沪剧《大雷雨》",
        2,
        6,
        Span::hours(1),
        json!({}),
    )
    .await;
    let resident = app.resident("door@pinghu.example", &world.pinghu).await;
    let (_, codes) = world::book(&app, &resident, &show.id, 2).await;
    let b = Browser::start(&app.address, 375).await;

    b.open("/door").await;
    b.wait("#email").await;
    b.assert_clean("the door's sign-in").await;
    sign_in(&b, "usher@pinghu.example").await;
    let width = b
        .js("return document.documentElement.scrollWidth", vec![])
        .await;
    assert!(
        width.as_u64().unwrap_or(999) <= 375,
        "no sideways scrolling on a 375-px phone: {width}"
    );

    // Typed in lower case without dashes, as an usher might.
    let typed = codes[0].to_lowercase().replace('-', "");
    scan(&b, &typed).await;
    assert_eq!(
        b.js(
            "return document.getElementById('verdict').dataset.verdict",
            vec![]
        )
        .await,
        json!("ok")
    );
    let r = app
        .gql(
            Some(&usher),
            "query($c: String!) { ticket(code: $c) { status checkedInAt seat { label } } }",
            json!({ "c": codes[0] }),
        )
        .await;
    let ticket = r.data()["ticket"].clone();
    assert_eq!(ticket["status"], "CHECKED_IN");
    assert_eq!(
        b.text("#verdict .seat-label").await,
        ticket["seat"]["label"].as_str().expect("label")
    );
    let covers = b.js("const r = document.getElementById('verdict').getBoundingClientRect(); return r.width >= innerWidth && r.height >= innerHeight", vec![]).await;
    assert_eq!(covers, json!(true), "the answer fills the screen");
    b.screenshot("door").await;
    b.assert_clean("the door's green answer").await;

    b.click("#next").await;
    b.until(
        "ready for the next ticket",
        Duration::from_secs(5),
        "return !document.getElementById('verdict') && document.activeElement.id === 'code'",
    )
    .await;
    scan(&b, &codes[0]).await;
    assert_eq!(
        b.js(
            "return document.getElementById('verdict').dataset.verdict",
            vec![]
        )
        .await,
        json!("bad")
    );
    let first: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339(ticket["checkedInAt"].as_str().expect("time"))
            .expect("rfc3339");
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("offset");
    let hhmmss = first
        .with_timezone(&shanghai)
        .format("%H:%M:%S")
        .to_string();
    let said = b.text("#verdict .first-scan").await;
    assert!(
        said.contains(&hhmmss),
        "the time of the first scan ({hhmmss}) is shown: {said}"
    );
    assert_eq!(
        b.text("#verdict .seat-label").await,
        ticket["seat"]["label"].as_str().expect("label")
    );
    b.assert_clean("the door's red answer").await;
    b.click("#next").await;

    // Another center's usher: the ticket does not exist for it, and stays valid.
    b.click("#sign-out").await;
    sign_in(&b, "usher@jinshan.example").await;
    scan(&b, &codes[1]).await;
    assert_eq!(
        b.js(
            "return document.getElementById('verdict').dataset.verdict",
            vec![]
        )
        .await,
        json!("bad")
    );
    let text = b.text("#verdict").await;
    assert!(
        text.contains("本馆没有这张票"),
        "not found, said plainly: {text}"
    );
    let r = app
        .gql(
            Some(&usher),
            "query($c: String!) { ticket(code: $c) { status } }",
            json!({ "c": codes[1] }),
        )
        .await;
    assert_eq!(r.data()["ticket"]["status"], "VALID");
    b.assert_clean("another center's door").await;
    b.quit().await;
}

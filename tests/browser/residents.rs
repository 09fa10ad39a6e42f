//! The residents' app: browse, register, book, see the tickets' QR codes, the live seat
//! map, and the whole flow by keyboard.

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use serde_json::{Value, json};

use crate::harness::{Browser, chromium_or_skip};
use crate::helpers::{PASSWORD, TestApp, spawn};
use crate::world;

/// The session of the residents' page, as the app keeps it.
const SESSION_KEY: &str = "zouqin.session.residents";

async fn tickets_of(app: &TestApp, email: &str) -> Vec<Value> {
    let token = app.token(email).await;
    let r = app
        .gql(
            Some(&token),
            "{ myBookings(first: 10) { nodes { status tickets { code qrSvg seat { id label } } } } }",
            json!({}),
        )
        .await;
    r.data()["myBookings"]["nodes"]
        .as_array()
        .expect("bookings")
        .iter()
        .filter(|b| b["status"] == "CONFIRMED")
        .flat_map(|b| b["tickets"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn dom_codes(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('.ticket')].filter(t => t.querySelector('svg[role=img] path, svg[role=img] rect')).map(t => t.dataset.code)",
            vec![],
        )
        .await;
    let mut codes: Vec<String> = serde_json::from_value(v).expect("codes");
    codes.sort();
    codes
}

/// Puts a resident's session into the browser's storage (as signing in would) and reloads.
async fn sign_in_directly(b: &Browser, app: &TestApp, email: &str) {
    let payload = world::login_payload(app, email).await;
    b.open("/").await;
    b.js(
        "localStorage.setItem(arguments[0], JSON.stringify(arguments[1])); return true",
        vec![json!(SESSION_KEY), payload],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_browses_registers_books_the_best_two_and_sees_the_qr_codes() {
    if !chromium_or_skip("a_resident_browses_registers_books_the_best_two_and_sees_the_qr_codes") {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let show = world::show(
        &app,
        &admin,
        "沪剧《大雷雨》",
        4,
        10,
        Span::days(2),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    world::show(
        &app,
        &admin,
        "浙沪共村晚",
        2,
        6,
        Span::days(3),
        json!({ "category": "GALA" }),
    )
    .await;
    let b = Browser::start(&app.address, 1024).await;

    b.open("/").await;
    b.wait(".perf-link").await;
    let titles = b
        .js(
            "return [...document.querySelectorAll('.perf-link')].map(a => a.textContent)",
            vec![],
        )
        .await;
    assert_eq!(
        titles,
        json!(["沪剧《大雷雨》", "浙沪共村晚"]),
        "the list, by start"
    );
    let transferred = b
        .js(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)",
            vec![],
        )
        .await
        .as_f64()
        .expect("a size");
    assert!(
        transferred > 0.0 && transferred <= 150_000.0,
        "the first load of / transferred {transferred} bytes"
    );
    b.assert_clean("the list of performances").await;

    // Filters: a category, then a search with no match.
    b.js(
        "document.querySelector('select[name=category]').value = 'GALA'; return true",
        vec![],
    )
    .await;
    b.click("form[role=search] button[type=submit]").await;
    b.until("the category filter applies", Duration::from_secs(10),
        "return location.hash.includes('GALA') && [...document.querySelectorAll('.perf-link')].map(a => a.textContent).join() === '浙沪共村晚'").await;
    b.open("/#/?q=%E9%9B%B7%E9%9B%A8").await;
    b.until("the search finds 《大雷雨》", Duration::from_secs(10),
        "return [...document.querySelectorAll('.perf-link')].map(a => a.textContent).join() === '沪剧《大雷雨》'").await;

    b.click(".perf-link").await;
    b.wait("svg.seatmap").await;
    let seats = b
        .js(
            "return [...document.querySelectorAll('rect.seat[data-id]')].map(r => r.dataset.state)",
            vec![],
        )
        .await;
    assert_eq!(seats.as_array().map(Vec::len), Some(40), "every seat drawn");
    assert!(
        seats
            .as_array()
            .expect("seats")
            .iter()
            .all(|s| s == "AVAILABLE")
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('svg.seatmap .seat-access').length",
            vec![]
        )
        .await,
        json!(1),
        "the accessible seat is marked"
    );
    assert_eq!(b.text("#seats-available").await, "40");
    b.assert_clean("the performance page").await;

    // Booking without an account leads to sign-in; register from there, with a home center.
    b.click("#book-best").await;
    b.click("a[href='#/register']").await;
    b.type_into("input[name=email]", "grandma@pinghu.example")
        .await;
    b.type_into("input[name=password]", PASSWORD).await;
    b.type_into("input[name=displayName]", "王阿婆").await;
    b.js(
        "const s = document.querySelector('select[name=homeCenter]'); s.value = arguments[0]; return true",
        vec![json!(world.pinghu)],
    )
    .await;
    b.assert_clean("the registration form").await;
    b.click("#auth-submit").await;
    b.wait("svg.seatmap").await;
    assert!(b.text(".top").await.contains("王阿婆"), "signed in");
    b.click("#book-best").await;
    b.wait(".ticket svg[role=img]").await;
    b.until(
        "two tickets with QR codes",
        Duration::from_secs(10),
        "return document.querySelectorAll('.ticket svg[role=img]').length === 2",
    )
    .await;

    let tickets = tickets_of(&app, "grandma@pinghu.example").await;
    let mut codes: Vec<String> = tickets
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_owned())
        .collect();
    codes.sort();
    assert_eq!(
        dom_codes(&b).await,
        codes,
        "the page shows the booked tickets, each with its QR"
    );
    let first_qr = b
        .js(
            "return document.querySelector('.ticket svg[role=img]').outerHTML.length",
            vec![],
        )
        .await;
    assert!(
        first_qr.as_u64().unwrap_or(0) > 500,
        "a QR drawing, not an empty box"
    );
    let labels = b.js("return [...document.querySelectorAll('.ticket .seat-label')].map(p => p.textContent).sort()", vec![]).await;
    let mut want: Vec<String> = tickets
        .iter()
        .map(|t| t["seat"]["label"].as_str().expect("label").to_owned())
        .collect();
    want.sort();
    assert_eq!(labels, json!(want));
    b.assert_clean("my tickets").await;

    // Back on the performance page, the two seats are taken; English shows English.
    b.open(&format!("/#/p/{}", show.id)).await;
    b.until(
        "the two seats show as taken",
        Duration::from_secs(10),
        "return document.querySelectorAll('svg.seatmap rect.seat[data-state=TAKEN]').length === 2",
    )
    .await;
    b.js(
        "document.getElementById('book-h').scrollIntoView(); return true",
        vec![],
    )
    .await;
    b.screenshot("residents").await;
    b.click("#lang").await;
    b.until("the page speaks English", Duration::from_secs(10), "return document.documentElement.lang === 'en' && document.body.innerText.includes('Seat map')").await;
    b.assert_clean("the performance page in English").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_in_another_browser_changes_the_seat_map_within_two_seconds() {
    if !chromium_or_skip("a_booking_in_another_browser_changes_the_seat_map_within_two_seconds") {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    let show = world::show(
        &app,
        &admin,
        "越剧《红楼梦》",
        3,
        8,
        Span::days(2),
        json!({}),
    )
    .await;
    app.resident("second@jinshan.example", &world.jinshan).await;

    let watcher = Browser::start(&app.address, 1024).await;
    let booker = Browser::start(&app.address, 1024).await;
    watcher.open(&format!("/#/p/{}", show.id)).await;
    watcher.wait("svg.seatmap").await;
    sign_in_directly(&booker, &app, "second@jinshan.example").await;
    booker.open(&format!("/#/p/{}", show.id)).await;
    booker.wait("svg.seatmap").await;
    // Give the watcher's subscription its start before the booking happens.
    let subscribed = Instant::now() + Duration::from_secs(10);
    while app.subscribers().await < 2 && Instant::now() < subscribed {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let picked = [&show.seats[10], &show.seats[11]];
    for seat in picked {
        booker.click(&format!("rect.seat[data-id='{seat}']")).await;
    }
    assert_eq!(
        booker
            .js(
                "return document.querySelectorAll('svg.seatmap rect.seat[aria-checked=true]').length",
                vec![]
            )
            .await,
        json!(2)
    );
    booker.click("#book-picked").await;
    let clicked = Instant::now();
    let script = format!(
        "return [{}].every(id => document.querySelector(`rect.seat[data-id='${{id}}']`).dataset.state === 'TAKEN') && document.getElementById('seats-available').textContent === '22'",
        picked
            .iter()
            .map(|s| json!(s).to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    watcher
        .until(
            "the watcher's map shows both seats taken",
            Duration::from_secs(2),
            &script,
        )
        .await;
    let seen_after = clicked.elapsed();
    booker.wait(".ticket svg[role=img]").await;
    assert!(
        seen_after <= Duration::from_secs(2),
        "seen after {seen_after:?}"
    );
    watcher.assert_clean("the watched performance page").await;
    booker.assert_clean("the booker's tickets").await;
    watcher.quit().await;
    booker.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_booking_flow_works_with_the_keyboard_only() {
    if !chromium_or_skip("the_whole_booking_flow_works_with_the_keyboard_only") {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("jiashan").await;
    let show = world::show(&app, &admin, "嘉善田歌", 2, 6, Span::days(2), json!({})).await;
    app.resident("keys@jiashan.example", &world.jiashan).await;
    let b = Browser::start(&app.address, 1024).await;
    const ENTER: &str = "\u{E007}";

    b.open("/").await;
    b.wait(".perf-link").await;
    b.tab_to("a.perf-link").await;
    b.keys(ENTER).await;
    b.wait("svg.seatmap").await;
    b.tab_to("#book-best").await;
    b.keys(ENTER).await;
    b.wait("input[name=email]:focus").await;
    b.keys("keys@jiashan.example").await;
    b.keys("\u{E004}").await;
    b.keys(PASSWORD).await;
    b.keys(ENTER).await;
    b.wait("svg.seatmap").await;

    // Pick two seats on the map: the first free seat, then the one to its right.
    b.tab_to("rect.seat[tabindex='0']").await;
    b.keys(" ").await;
    b.keys("\u{E014}").await; // ArrowRight
    b.keys(" ").await;
    assert_eq!(
        b.js(
            "return document.querySelectorAll('svg.seatmap rect.seat[aria-checked=true]').length",
            vec![]
        )
        .await,
        json!(2)
    );
    b.tab_to("#book-picked").await;
    b.keys(ENTER).await;
    b.until(
        "two tickets with QR codes",
        Duration::from_secs(10),
        "return document.querySelectorAll('.ticket svg[role=img]').length === 2",
    )
    .await;
    let picked: Vec<String> = show.seats[..2].to_vec();
    let tickets = tickets_of(&app, "keys@jiashan.example").await;
    let mut seats: Vec<String> = tickets
        .iter()
        .map(|t| t["seat"]["id"].as_str().expect("seat").to_owned())
        .collect();
    seats.sort();
    let mut want = picked.clone();
    want.sort();
    assert_eq!(
        seats, want,
        "the two seats picked with the keyboard were booked"
    );

    // Cancel, still by keyboard.
    b.tab_to("button[data-cancel]").await;
    b.keys(ENTER).await;
    b.wait("button[data-confirm-cancel]:focus").await;
    b.keys(ENTER).await;
    b.until(
        "the booking shows as cancelled",
        Duration::from_secs(10),
        "return document.querySelector('[data-status=CANCELLED]') !== null",
    )
    .await;
    assert!(
        tickets_of(&app, "keys@jiashan.example").await.is_empty(),
        "cancelled on the server"
    );
    b.assert_clean("the keyboard flow").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_access_token_is_refreshed_unseen_and_signing_out_ends_the_session() {
    if !chromium_or_skip(
        "a_refused_access_token_is_refreshed_unseen_and_signing_out_ends_the_session",
    ) {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    app.resident("refresh@jinshan.example", &world.jinshan)
        .await;
    let b = Browser::start(&app.address, 1024).await;
    b.open("/#/login").await;
    b.type_into("input[name=email]", "refresh@jinshan.example")
        .await;
    b.type_into("input[name=password]", PASSWORD).await;
    b.click("#auth-submit").await;
    b.wait("#sign-out").await;

    // The access token stops working (as after a key change); the page refreshes it.
    let before = b
        .js(
            "const s = JSON.parse(localStorage.getItem(arguments[0])); const old = s.refreshToken;
             s.accessToken = 'not-a-token'; localStorage.setItem(arguments[0], JSON.stringify(s)); return old",
            vec![json!(SESSION_KEY)],
        )
        .await;
    b.open("/#/bookings").await;
    b.until(
        "my tickets load",
        Duration::from_secs(10),
        "return document.querySelector('#bookings') !== null",
    )
    .await;
    let after = b
        .js(
            "return JSON.parse(localStorage.getItem(arguments[0])).refreshToken",
            vec![json!(SESSION_KEY)],
        )
        .await;
    assert_ne!(before, after, "the session was refreshed");
    let spent = app
        .anon(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": before }),
        )
        .await;
    assert_eq!(
        spent.code(),
        Some("UNAUTHENTICATED"),
        "the old refresh token is spent"
    );

    b.click("#sign-out").await;
    b.wait("#nav-sign-in").await;
    assert_eq!(
        b.js(
            "return localStorage.getItem(arguments[0])",
            vec![json!(SESSION_KEY)]
        )
        .await,
        Value::Null
    );
    let ended = app
        .anon(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": after }),
        )
        .await;
    assert_eq!(
        ended.code(),
        Some("UNAUTHENTICATED"),
        "signing out ended the session on the server"
    );
    b.assert_clean("after signing out").await;
    b.quit().await;
}

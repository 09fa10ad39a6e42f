//! The optional parts of the schema (waiting list, shares, productions, notifications, the
//! exchange report) are found by introspection, or by probing when introspection is off.

use serde_json::{Value, json};

use crate::harness::{Browser, chromium_or_skip};
use crate::helpers::{TestApp, settings, spawn, spawn_with_settings};

/// What the page's `features()` says of each optional field, as `Type.field` → bool.
async fn found(b: &Browser) -> Value {
    b.client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const src = document.querySelector('script[type=module]').src.replace(/[a-z]+\\.js$/, 'api.js');
             import(src).then(m => m.features()).then(f => done(Object.fromEntries(arguments[0].map(n => [n, f.has(...n.split('.'))]))), e => done(String(e)));",
            vec![json!(FIELDS)],
        )
        .await
        .expect("features")
}

const FIELDS: [&str; 12] = [
    "Performance.seatsAvailableToViewer",
    "Performance.waitlistLength",
    "Performance.sharesReleaseAt",
    "Performance.production",
    "Performance.seatShares",
    "Performance.viewerWaitlistEntry",
    "Query.myWaitlist",
    "Query.myNotifications",
    "Query.exchangeReport",
    "Mutation.joinWaitlist",
    "Mutation.followProduction",
    "Subscription.notificationAdded",
];

/// The truth, from the schema the server prints.
fn expected(app: &TestApp) -> Value {
    let sdl = app.state().schema.sdl();
    let has = |ty: &str, field: &str| {
        let start = sdl.find(&format!("\ntype {ty} ")).expect("the type");
        let body = &sdl[start..start + sdl[start..].find("\n}").expect("its end")];
        body.contains(&format!("\n\t{field}:")) || body.contains(&format!("\n\t{field}("))
    };
    Value::Object(
        FIELDS
            .iter()
            .map(|n| {
                let (ty, field) = n.split_once('.').expect("Type.field");
                ((*n).to_owned(), Value::Bool(has(ty, field)))
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_find_the_optional_fields_with_introspection_and_by_probing_without() {
    if !chromium_or_skip(
        "the_pages_find_the_optional_fields_with_introspection_and_by_probing_without",
    ) {
        return;
    }
    let open = spawn().await;
    let mut closed_settings = settings();
    closed_settings.introspection = false;
    let closed = spawn_with_settings(closed_settings).await;
    let truth = expected(&open);
    assert_eq!(
        truth["Query.exchangeReport"],
        json!(true),
        "the report exists here"
    );

    for (app, how) in [(&open, "introspection"), (&closed, "probing")] {
        let b = Browser::start(&app.address, 1024).await;
        b.open("/staff").await;
        b.wait("#email").await;
        assert_eq!(found(&b).await, truth, "found by {how}");
        b.assert_clean(&format!("the staff page, fields found by {how}"))
            .await;
        b.quit().await;
    }
}

//! The staff page: the exchange report of a year as charts and a table whose totals are
//! the API's, the CSV, and a year without exchange sessions.

use std::time::Duration;

use chrono::{Datelike, Duration as Span, FixedOffset, Utc};
use serde_json::{Value, json};

use crate::harness::{Browser, chromium_or_skip};
use crate::helpers::{PASSWORD, spawn};
use crate::world;

fn sum(rows: &[Value], key: &str) -> i64 {
    rows.iter().map(|r| r[key].as_i64().expect("a count")).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_chart_totals_equal_the_exchange_report() {
    if !chromium_or_skip("the_staff_chart_totals_equal_the_exchange_report") {
        return;
    }
    let app = spawn().await;
    let world = app.world().await;
    let pinghu = app.admin("pinghu").await;
    let usher = app.staff(&pinghu, "usher@pinghu.example", "USHER").await;
    let from_jinshan = world::show(
        &app,
        &pinghu,
        "沪剧《大雷雨》",
        2,
        6,
        Span::hours(1),
        json!({ "originCenterId": world.jinshan }),
    )
    .await;
    let from_jiashan = world::show(
        &app,
        &pinghu,
        "嘉善田歌",
        2,
        6,
        Span::hours(2),
        json!({ "originCenterId": world.jiashan }),
    )
    .await;
    let a = app.resident("a@pinghu.example", &world.pinghu).await;
    let c = app.resident("c@jinshan.example", &world.jinshan).await;
    let (_, codes_a) = world::book(&app, &a, &from_jinshan.id, 3).await;
    let (_, codes_c) = world::book(&app, &c, &from_jinshan.id, 2).await;
    let (_, codes_d) = world::book(&app, &c, &from_jiashan.id, 1).await;
    for code in [&codes_a[0], &codes_a[1], &codes_c[0], &codes_d[0]] {
        let r = app
            .gql(
                Some(&usher),
                "mutation($c: String!) { checkInTicket(code: $c) { status } }",
                json!({ "c": code }),
            )
            .await;
        assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
    }
    let year = Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("offset"))
        .year();
    let r = app
        .gql(Some(&pinghu), "query($y: Int!) { exchangeReport(year: $y) { sessionsScheduled sessionsHeld sessionsCancelled seatsOffered ticketsSold attendances noShows byHomeCenter { center { name } tickets attendances } } }", json!({ "y": year }))
        .await;
    let rows = r.data()["exchangeReport"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 2, "two pairs");
    assert_eq!(sum(&rows, "attendances"), 4);

    let b = Browser::start(&app.address, 1024).await;
    b.open("/staff").await;
    b.type_into("#email", "admin@pinghu.example").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait("#report-table").await;
    for key in [
        "sessionsScheduled",
        "sessionsHeld",
        "sessionsCancelled",
        "seatsOffered",
        "ticketsSold",
        "attendances",
        "noShows",
    ] {
        let shown = b.text(&format!("[data-total={key}]")).await;
        assert_eq!(
            shown,
            sum(&rows, key).to_string(),
            "the table's total of {key}"
        );
    }
    let bars = |chart: &str, series: &str| {
        format!(
            "return [...document.querySelectorAll('#{chart} rect[data-series={series}]')].reduce((n, r) => n + Number(r.dataset.value), 0)"
        )
    };
    assert_eq!(
        b.js(&bars("chart-sessions", "sessions"), vec![]).await,
        json!(sum(&rows, "sessionsScheduled"))
    );
    assert_eq!(
        b.js(&bars("chart-attendances", "attendances"), vec![])
            .await,
        json!(sum(&rows, "attendances"))
    );
    assert_eq!(
        b.js(&bars("chart-attendances", "tickets"), vec![]).await,
        json!(sum(&rows, "ticketsSold"))
    );
    let home: i64 = rows
        .iter()
        .flat_map(|r| r["byHomeCenter"].as_array().cloned().unwrap_or_default())
        .map(|c| c["attendances"].as_i64().expect("n"))
        .sum();
    assert_eq!(
        b.js(&bars("chart-home", "attendances"), vec![]).await,
        json!(home)
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#chart-home rect[data-series=attendances]').length",
            vec![]
        )
        .await,
        json!(2),
        "two home centers"
    );
    b.screenshot("staff").await;
    b.assert_clean("the staff report").await;

    // The CSV, fetched the way the download button does (with the bearer token).
    let csv = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const src = document.querySelector('script[type=module]').src.replace('staff.js', 'api.js');
             import(src).then(m => m.download(arguments[0])).then(blob => blob.text()).then(done, e => done('failed: ' + e.code));",
            vec![json!(format!("/reports/exchange.csv?year={year}"))],
        )
        .await
        .expect("csv fetched");
    let csv = csv.as_str().expect("text").to_owned();
    assert_eq!(
        csv.trim_start_matches('\u{feff}').lines().count(),
        3,
        "a header and two rows:\n{csv}"
    );

    // A year without exchange sessions says so.
    b.open("/staff?year=2017").await;
    b.until("the empty year is explained", Duration::from_secs(10), "return document.querySelector('#report .notice') !== null && !document.getElementById('report-table')").await;
    assert!(b.text("#report .notice").await.contains("2017"));
    b.assert_clean("an empty year").await;
    b.quit().await;
}

//! Check-in: ushers scanning tickets, the check-in window, and the ticket's QR code.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn a_pinghu_usher_checks_in_a_ticket_once() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 2).await;
    let booking_id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    let codes = ticket_codes(&r);

    let before = Utc::now();
    let first = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": codes[0] }))
        .await;
    let ticket = &first.data()["checkInTicket"];
    assert_eq!(ticket["status"], "CHECKED_IN");
    assert_eq!(ticket["code"], codes[0].as_str());
    let checked_in_at = instant(ticket["checkedInAt"].as_str().expect("checkedInAt set"));
    assert!(checked_in_at >= before - Duration::seconds(1));
    assert!(checked_in_at <= Utc::now() + Duration::seconds(1));

    let second = app
        .gql(Some(&usher), CHECK_IN, json!({ "c": codes[0] }))
        .await;
    assert_eq!(second.code(), Some("ALREADY_CHECKED_IN"));
    let reported = second.error()["extensions"]["checkedInAt"]
        .as_str()
        .unwrap_or_else(|| panic!("extensions.checkedInAt: {}", second.body));
    assert_eq!(instant(reported), checked_in_at);

    // The holder sees it; the other ticket stays valid.
    let b = app
        .gql(Some(&token), BOOKING, json!({ "id": booking_id }))
        .await;
    let tickets = b.data()["booking"]["tickets"].as_array().expect("tickets");
    let by_code: HashMap<&str, &Value> = tickets
        .iter()
        .map(|t| (t["code"].as_str().expect("code"), t))
        .collect();
    assert_eq!(by_code[codes[0].as_str()]["status"], "CHECKED_IN");
    assert_eq!(by_code[codes[1].as_str()]["status"], "VALID");
    assert!(by_code[codes[1].as_str()]["checkedInAt"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_is_never_both_checked_in_and_cancelled() {
    // The holder cancels while an usher scans, 20 times over two instances: one of them
    // wins each time, and the seat of a checked-in ticket is never given back.
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let usher = a.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&a, &admin, json!({})).await;
    let tokens = a.residents_fast(20, "pinghu").await;
    let mut outcomes = HashMap::new();
    for token in &tokens {
        let r = book_quantity(&a, token, &perf.id, 1).await;
        let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
        let code = ticket_codes(&r).remove(0);
        let (cancelled, scanned) = tokio::join!(
            b.gql(Some(token), CANCEL_BOOKING, json!({ "id": id })),
            a.gql(Some(&usher), CHECK_IN, json!({ "c": code })),
        );
        let cancelled_ok = cancelled.body.get("errors").is_none();
        let scanned_ok = scanned.body.get("errors").is_none();
        assert!(
            cancelled_ok != scanned_ok,
            "exactly one may win: {} / {}",
            cancelled.body,
            scanned.body
        );
        if scanned_ok {
            assert_eq!(cancelled.code(), Some("CONFLICT"), "{}", cancelled.body);
        } else {
            assert_eq!(scanned.code(), Some("CONFLICT"), "{}", scanned.body);
        }
        *outcomes.entry(scanned_ok).or_insert(0) += 1;
    }
    // Every checked-in ticket still holds its seat; every cancelled one gave it back.
    let live = live_tickets(&a, &perf.id).await;
    assert_eq!(live.len(), outcomes.get(&true).copied().unwrap_or(0));
    assert!(
        live.iter()
            .all(|t| t.status == entity::enums::TicketStatus::CheckedIn)
    );
    assert_eq!(
        seats_available(&b, &perf.id).await,
        20 - live.len() as i64,
        "outcomes: {outcomes:?}"
    );
}

#[tokio::test]
async fn a_typed_code_in_lower_case_without_dashes_checks_in() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);
    let typed = code.to_lowercase().replace('-', " ");
    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": typed })).await;
    assert_eq!(r.data()["checkInTicket"]["code"], code.as_str());
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

#[tokio::test]
async fn an_usher_of_another_center_finds_no_such_ticket() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let jinshan_admin = app.admin("jinshan").await;
    let jinshan_usher = app
        .staff(&jinshan_admin, "usher@jinshan.example", "USHER")
        .await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "jinshan").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    let r = app
        .gql(Some(&jinshan_usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = app
        .gql(Some(&jinshan_usher), TICKET, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = app
        .gql(Some(&jinshan_admin), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let tickets = live_tickets(&app, &perf.id).await;
    assert_eq!(tickets[0].status, entity::enums::TicketStatus::Valid);
}

#[tokio::test]
async fn an_unknown_code_is_not_found() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let r = app
        .gql(
            Some(&usher),
            CHECK_IN,
            json!({ "c": zouqin::domain::booking::ticket_code() }),
        )
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_cancelled_ticket_cannot_be_checked_in() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let r = book_quantity(&app, &token, &perf.id, 1).await;
    let id = r.data()["bookSeats"]["id"].as_str().expect("id").to_owned();
    let code = ticket_codes(&r).remove(0);
    app.gql(Some(&token), CANCEL_BOOKING, json!({ "id": id }))
        .await
        .data();

    let scan = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(scan.code(), Some("CONFLICT"));
    let lookup = app.gql(Some(&usher), TICKET, json!({ "c": code })).await;
    assert_eq!(lookup.data()["ticket"]["status"], "CANCELLED");
    assert!(lookup.data()["ticket"]["checkedInAt"].is_null());
}

#[tokio::test]
async fn host_staff_look_tickets_up_by_code_but_residents_may_not() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let scheduler = app
        .staff(&admin, "scheduler@pinghu.example", "SCHEDULER")
        .await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    for staff in [&usher, &scheduler, &admin] {
        let r = app.gql(Some(staff), TICKET, json!({ "c": code })).await;
        let ticket = &r.data()["ticket"];
        assert_eq!(ticket["code"], code.as_str());
        assert_eq!(ticket["status"], "VALID");
        assert_eq!(ticket["performance"]["id"], perf.id.as_str());
    }
    let r = app.gql(Some(&token), TICKET, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"));
    let r = app.gql(Some(&token), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("FORBIDDEN"));
    let r = app.anon(TICKET, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        live_tickets(&app, &perf.id).await[0].status,
        entity::enums::TicketStatus::Valid
    );
}

#[tokio::test]
async fn check_in_is_refused_for_a_performance_two_days_away() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let rows = grid(1, 10);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let lookup = app.gql(Some(&usher), TICKET, json!({ "c": code })).await;
    assert_eq!(lookup.data()["ticket"]["status"], "VALID");
}

#[tokio::test]
async fn check_in_opens_at_the_configured_number_of_minutes_before_the_start() {
    let app = spawn().await;
    let mut narrow = settings();
    narrow.checkin_opens_minutes = 30;
    let strict = spawn_on(&app.database_url, narrow).await;
    let admin = app.admin("pinghu").await;
    let usher = app.staff(&admin, "usher@pinghu.example", "USHER").await;
    let perf = tonight(&app, &admin, json!({})).await;
    let token = app.residents_fast(1, "pinghu").await.remove(0);
    let code = ticket_codes(&book_quantity(&app, &token, &perf.id, 1).await).remove(0);

    // Starts in an hour: outside a 30-minute window, inside the default 180-minute one.
    let r = strict
        .gql(Some(&usher), CHECK_IN, json!({ "c": code }))
        .await;
    assert_eq!(r.code(), Some("CONFLICT"));
    let r = app.gql(Some(&usher), CHECK_IN, json!({ "c": code })).await;
    assert_eq!(r.data()["checkInTicket"]["status"], "CHECKED_IN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_scanning_one_ticket_at_once_admit_it_once() {
    let (a, b) = spawn_pair().await;
    let admin = a.admin("pinghu").await;
    let ushers = [
        a.staff(&admin, "usher1@pinghu.example", "USHER").await,
        a.staff(&admin, "usher2@pinghu.example", "USHER").await,
    ];
    let perf = tonight(&a, &admin, json!({ "perResidentLimit": 10 })).await;
    let token = a.residents_fast(1, "pinghu").await.remove(0);
    let codes = ticket_codes(&book_quantity(&a, &token, &perf.id, 8).await);
    assert_eq!(codes.len(), 8);

    // Every ticket is scanned at the same moment at two doors, one on each instance.
    let scans = join_all(codes.iter().flat_map(|code| {
        [(&a, &ushers[0]), (&b, &ushers[1])]
            .into_iter()
            .map(move |(app, usher)| async move {
                (
                    code.clone(),
                    app.gql(Some(usher), CHECK_IN, json!({ "c": code })).await,
                )
            })
    }))
    .await;

    for code in &codes {
        let answers: Vec<&Gql> = scans
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(answers.len(), 2);
        let admitted: Vec<&&Gql> = answers
            .iter()
            .filter(|r| r.body.get("errors").is_none())
            .collect();
        assert_eq!(
            admitted.len(),
            1,
            "exactly one scan admits {code}: {answers:?}"
        );
        let refused: Vec<&&Gql> = answers
            .iter()
            .filter(|r| r.body.get("errors").is_some())
            .collect();
        assert_eq!(
            refused[0].code(),
            Some("ALREADY_CHECKED_IN"),
            "{}",
            refused[0].body
        );
        let at_admission = instant(
            admitted[0].data()["checkInTicket"]["checkedInAt"]
                .as_str()
                .expect("checkedInAt"),
        );
        let reported = instant(
            refused[0].error()["extensions"]["checkedInAt"]
                .as_str()
                .expect("extensions.checkedInAt"),
        );
        assert_eq!(reported, at_admission);
    }
    let tickets = live_tickets(&a, &perf.id).await;
    assert!(
        tickets.iter().all(
            |t| t.status == entity::enums::TicketStatus::CheckedIn && t.checked_in_at.is_some()
        )
    );
}

/// Reads a QR drawn as `Ticket.qrSvg` draws it (one `M x y h w v w H x V y` square per dark
/// module) back into its text, with a QR decoder of its own.
fn decode_qr_svg(svg: &str) -> String {
    let number = |name: &str| -> usize {
        let at = svg.find(&format!("{name}=\"")).expect("a size") + name.len() + 2;
        svg[at..]
            .split('"')
            .next()
            .expect("digits")
            .parse()
            .expect("a number")
    };
    let (width, height) = (number("width"), number("height"));
    let mut pixels = vec![255u8; width * height];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .expect("a path")
        .split('"')
        .next()
        .expect("d");
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let (xy, rest) = square.split_once('h').expect("h");
        let (x, y) = xy.split_once(' ').expect("x y");
        let (x, y): (usize, usize) = (x.parse().expect("x"), y.parse().expect("y"));
        let side: usize = rest.split('v').next().expect("side").parse().expect("side");
        for row in y..y + side {
            for col in x..x + side {
                pixels[row * width + col] = 0;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the drawing");
    grids[0].decode().expect("a readable QR").1
}

#[tokio::test]
async fn a_tickets_qr_svg_reads_back_as_its_code_for_its_holder() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let rows = grid(1, 6);
    let perf = show(&app, &admin, Layout::Rows(&rows), json!({})).await;
    let tokens = app.residents_fast(2, "pinghu").await;
    book_quantity(&app, &tokens[0], &perf.id, 2).await.data();
    let r = app
        .gql(
            Some(&tokens[0]),
            "{ myBookings { nodes { tickets { code qrSvg } } } }",
            json!({}),
        )
        .await;
    let tickets = r.data()["myBookings"]["nodes"][0]["tickets"]
        .as_array()
        .expect("tickets")
        .clone();
    assert_eq!(tickets.len(), 2);
    for ticket in &tickets {
        let svg = ticket["qrSvg"].as_str().expect("markup");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "inline SVG, no XML prolog"
        );
        assert!(!svg.contains("<script"), "nothing but a drawing");
        assert_eq!(decode_qr_svg(svg), ticket["code"].as_str().expect("code"));
    }
    assert_ne!(tickets[0]["qrSvg"], tickets[1]["qrSvg"]);
}

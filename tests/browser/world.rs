//! What the browser tests book, scan and count: venues and published performances made
//! through the public API, as staff would.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A published performance and its seats' ids.
pub struct Show {
    /// Its global id.
    pub id: String,
    /// Its seats' global ids, front row first.
    pub seats: Vec<String>,
}

/// Creates a reserved venue of the admin's center with `rows` rows of `per_row` seats (the
/// first row's middle seat accessible) and publishes a performance there starting in
/// `starts_in`; `extra` is merged into the scheduling input.
pub async fn show(
    app: &TestApp,
    admin: &str,
    title: &str,
    rows: usize,
    per_row: i64,
    starts_in: Duration,
    extra: Value,
) -> Show {
    let labels = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let name = format!("{title} 剧场 {}", uuid_ish());
    let r = app
        .gql(
            Some(admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id seats { id } } }",
            json!({ "i": {
                "name": name, "address": "平湖市当湖街道文化路 1 号", "kind": "THEATER", "seating": "RESERVED",
                "sections": [{ "name": "池座", "rows": labels[..rows].iter().enumerate().map(|(i, l)| json!({
                    "label": l, "seats": per_row,
                    "accessibleSeats": if i == 0 { json!([(per_row + 1) / 2]) } else { json!([]) },
                })).collect::<Vec<_>>() }],
            } }),
        )
        .await;
    let venue = &r.data()["createVenue"];
    let seats = venue["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().expect("seat id").to_owned())
        .collect();
    let starts = Utc::now() + starts_in;
    let input = json!({
        "venueId": venue["id"], "title": title, "category": "OPERA",
        "description": "上海金山沪剧团来平湖演出。",
        "startsAt": starts.to_rfc3339(), "endsAt": (starts + Duration::hours(2)).to_rfc3339(),
        "priceCents": 3000,
    });
    let id = app.published_performance(admin, input, &extra).await;
    Show { id, seats }
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Books `quantity` seats as the resident; returns the ticket codes.
pub async fn book(
    app: &TestApp,
    token: &str,
    performance: &str,
    quantity: i64,
) -> (String, Vec<String>) {
    let r = app
        .gql(
            Some(token),
            "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id tickets { code } } }",
            json!({ "i": { "performanceId": performance, "quantity": quantity } }),
        )
        .await;
    let booking = &r.data()["bookSeats"];
    let codes = booking["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["code"].as_str().expect("code").to_owned())
        .collect();
    (booking["id"].as_str().expect("id").to_owned(), codes)
}

/// What `login` answers for an account, with the fields the pages keep as their session (a
/// test puts it in the browser's storage to start past the sign-in form).
pub async fn login_payload(app: &TestApp, email: &str) -> Value {
    let r = app
        .anon(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken expiresAt
              account { id email displayName role center { id name code } homeCenter { id name code } } } }",
            json!({ "e": email, "p": crate::helpers::PASSWORD }),
        )
        .await;
    r.data()["login"].clone()
}

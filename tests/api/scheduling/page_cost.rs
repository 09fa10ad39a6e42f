//! What a page of the catalogue costs in SQL statements.

use serde_json::{Value, json};

use super::*;

/// Counts the SQL statements each HTTP request runs.
///
/// sqlx emits one `sqlx::query` tracing event per statement. The server wraps each request
/// in a `request` span carrying its `x-request-id`; DataLoader batches run in that span
/// (async-graphql's `tracing` feature), and SQLite's worker threads re-enter the caller's
/// span. A process-wide subscriber therefore attributes every statement to the request
/// that ran it, even while other tests run in parallel.
mod statements {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing::{Event, Metadata, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// Only request ids with this prefix are counted.
    pub const PREFIX: &str = "statement-count-";

    fn counts() -> &'static Mutex<HashMap<String, usize>> {
        static COUNTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
        COUNTS.get_or_init(Default::default)
    }

    struct RequestId(String);

    struct FindRequestId(Option<String>);

    impl Visit for FindRequestId {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "request_id" {
                self.0 = Some(value.to_owned());
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "request_id" {
                self.0 = Some(format!("{value:?}"));
            }
        }
    }

    struct Counter;

    impl<S> Layer<S> for Counter
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
            (metadata.is_span() && metadata.name() == "request")
                || metadata.target() == "sqlx::query"
        }

        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut visitor = FindRequestId(None);
            attrs.record(&mut visitor);
            if let (Some(value), Some(span)) = (visitor.0, ctx.span(id))
                && value.starts_with(PREFIX)
            {
                span.extensions_mut().insert(RequestId(value));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            if event.metadata().target() != "sqlx::query" {
                return;
            }
            let Some(scope) = ctx.event_scope(event) else {
                return;
            };
            for span in scope {
                if let Some(RequestId(id)) = span.extensions().get::<RequestId>() {
                    *counts()
                        .lock()
                        .expect("counts")
                        .entry(id.clone())
                        .or_default() += 1;
                    return;
                }
            }
        }
    }

    /// Installs the counting subscriber for the whole test process (once).
    pub fn install() {
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        let installed = *INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Counter))
                .is_ok()
        });
        assert!(
            installed,
            "another global tracing subscriber was installed first"
        );
    }

    /// How many statements the request with `request_id` ran.
    pub fn of(request_id: &str) -> usize {
        counts()
            .lock()
            .expect("counts")
            .get(request_id)
            .copied()
            .unwrap_or(0)
    }
}

/// Runs `query` anonymously with a fresh request id; returns the body and the number of
/// SQL statements it cost.
async fn counted(app: &TestApp, query: &str, variables: Value) -> (Value, usize) {
    counted_as(app, None, query, variables).await
}

/// [`counted`], with the caller's token when there is one.
async fn counted_as(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (Value, usize) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let request_id = format!(
        "{}{}-{}",
        statements::PREFIX,
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", &request_id);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    // A statement may still be logged on a driver thread after the answer: read the count
    // until it has stayed the same for 50 ms (at most 5 s).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut count, mut steady) = (statements::of(&request_id), 0);
    while steady < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let now = statements::of(&request_id);
        steady = if now == count { steady + 1 } else { 0 };
        count = now;
    }
    (body, count)
}

#[tokio::test]
async fn a_page_of_performances_costs_the_same_few_statements_whatever_its_size() {
    statements::install();
    let app = spawn().await;
    let world = app.world().await;
    let mut venues = Vec::new();
    for code in ["pinghu", "jinshan", "jiashan"] {
        let admin = app.admin(code).await;
        venues.push((
            admin.clone(),
            hall(&app, &admin, &format!("{code} hall")).await,
        ));
        venues.push((
            admin.clone(),
            hall(&app, &admin, &format!("{code} stage")).await,
        ));
    }
    // 120 published sessions, round-robin over six venues of three centers, half of them
    // from another center.
    for i in 0..120u32 {
        let (admin, venue) = &venues[(i % 6) as usize];
        let day = i / 6 + 1;
        let mut input = session(
            venue,
            &format!("Session {i}"),
            &format!("2030-03-{day:02}T19:00:00+08:00"),
            &format!("2030-03-{day:02}T21:00:00+08:00"),
        );
        if i % 2 == 1 {
            input["originCenterId"] = json!(world.jinshan);
        }
        published(&app, admin, input).await;
    }
    let query = "query($n: Int) { performances(first: $n) { totalCount edges { node { id venue { name center { name } } hostCenter { name } originCenter { name } seatsAvailable } } } }";
    let (body, small) = counted(&app, query, json!({ "n": 10 })).await;
    assert_eq!(
        body["data"]["performances"]["edges"]
            .as_array()
            .expect("edges")
            .len(),
        10
    );
    assert_eq!(
        body["data"]["performances"]["edges"][0]["node"]["seatsAvailable"],
        200
    );
    let (body, large) = counted(&app, query, json!({ "n": 100 })).await;
    let edges = body["data"]["performances"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 100);
    assert!(
        edges.iter().all(|e| e["node"]["seatsAvailable"] == 200
            && e["node"]["venue"]["center"]["name"].is_string()
            && e["node"]["originCenter"]["name"].is_string()),
        "every node resolved"
    );
    assert!(small > 0, "no statement was counted: the counter is broken");
    assert_eq!(
        small, large,
        "a page of 10 cost {small} statements, a page of 100 cost {large}"
    );
    // count + page + venues + centers + free seats, with one to spare.
    assert!(large <= 6, "a page of 100 cost {large} statements");
}

#[tokio::test]
async fn a_page_of_bookings_with_their_tickets_costs_the_same_few_statements_whatever_its_size() {
    statements::install();
    let app = spawn().await;
    let world = app.world().await;
    let admin = app.admin("pinghu").await;
    // Reserved seating, so that each ticket's seat is loaded too.
    let venue = create_venue(
        &app,
        &admin,
        json!({ "name": "Pinghu theatre", "address": "2 Culture Road", "kind": "THEATER",
            "seating": "RESERVED", "sections": [{ "name": "Stalls",
                "rows": [{ "label": "1", "seats": 10 }, { "label": "2", "seats": 10 }] }] }),
    )
    .await
    .data()["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_owned();
    let resident = app
        .resident("page-cost@residents.example", &world.pinghu)
        .await;
    // Eight bookings of two seats each, one per session.
    for day in 1..=8u32 {
        let performance = published(
            &app,
            &admin,
            session(
                &venue,
                &format!("Session {day}"),
                &format!("2030-04-{day:02}T19:00:00+08:00"),
                &format!("2030-04-{day:02}T21:00:00+08:00"),
            ),
        )
        .await;
        app.gql(
            Some(&resident),
            "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }",
            json!({ "i": { "performanceId": performance, "quantity": 2 } }),
        )
        .await
        .data();
    }
    let query = "query($n: Int) { myBookings(first: $n) { totalCount edges { node { id status performance { title venue { name } } tickets { code status seat { label } } } } } }";
    let (body, small) = counted_as(&app, Some(&resident), query, json!({ "n": 2 })).await;
    assert_eq!(body["data"]["myBookings"]["totalCount"], 8);
    let (body, large) = counted_as(&app, Some(&resident), query, json!({ "n": 8 })).await;
    let edges = body["data"]["myBookings"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 8);
    let codes: std::collections::HashSet<&str> = edges
        .iter()
        .flat_map(|e| e["node"]["tickets"].as_array().expect("tickets"))
        .map(|t| {
            assert_eq!(t["status"], "VALID");
            assert!(t["seat"]["label"].is_string(), "{t}");
            t["code"].as_str().expect("code")
        })
        .collect();
    assert_eq!(codes.len(), 16, "each booking has its own two tickets");
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["tickets"].as_array().map(Vec::len) == Some(2)),
        "{body}"
    );
    assert!(small > 0, "no statement was counted: the counter is broken");
    assert_eq!(
        small, large,
        "a page of 2 bookings cost {small} statements, a page of 8 cost {large}"
    );
}

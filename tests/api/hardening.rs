//! Abuse limits and observability at the edge.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_forty_level_nested_query_is_refused_as_too_complex() {
    let app = spawn().await;
    let mut query = String::from("{ centers { ");
    for _ in 0..20 {
        query.push_str("venues { center { ");
    }
    query.push_str("code");
    for _ in 0..20 {
        query.push_str(" } }");
    }
    query.push_str(" } }");
    let r = app.anon(&query, json!({})).await;
    assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{}", r.body);
}

#[tokio::test]
async fn a_two_thousand_alias_query_is_refused_as_too_complex() {
    let app = spawn().await;
    let aliases: Vec<String> = (0..2000)
        .map(|i| format!("a{i}: centers {{ code }}"))
        .collect();
    let query = format!("{{ {} }}", aliases.join(" "));
    let r = app.anon(&query, json!({})).await;
    assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{}", r.body);
}

#[tokio::test]
async fn a_page_of_more_than_a_hundred_is_bad_user_input() {
    let app = spawn().await;
    let r = app
        .anon("{ performances(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"));
    assert_eq!(r.error()["extensions"]["field"], "first");
}

#[tokio::test]
async fn a_body_just_over_the_limit_is_http_413() {
    let app = spawn().await;
    // 1.1 MiB: over the 1 MiB limit, small enough that the server reads it all before it
    // answers (a far larger body may see the connection closed under it instead).
    let padding = "x".repeat(1024 * 1024 + 100 * 1024);
    let body =
        format!(r#"{{"query": "{{ centers {{ code }} }}", "extensions": {{"pad": "{padding}"}}}}"#);
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        Err(e) => panic!("no answer: {e}"),
    }
}

#[tokio::test]
async fn too_large_a_batch_is_refused() {
    let app = spawn().await;
    let batch: Vec<_> = (0..11)
        .map(|_| json!({ "query": "{ centers { code } }" }))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn a_small_batch_is_answered_in_order() {
    let app = spawn().await;
    let batch = json!([{ "query": "{ centers { code } }" }, { "query": "{ me { id } }" }]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .expect("sent");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body[0]["data"]["centers"][0]["code"], "pinghu");
    assert!(body[1]["data"]["me"].is_null());
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let app = spawn().await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let made = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert!(!made.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn metrics_count_graphql_operations() {
    let app = spawn().await;
    app.anon("query CentersForMetrics { centers { code } }", json!({}))
        .await
        .data();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(text.contains("zouqin_graphql_requests_total"), "{text}");
    assert!(text.contains("CentersForMetrics"));
}

#[tokio::test]
async fn cors_preflights_are_answered_for_configured_origins_only() {
    let mut settings = settings();
    settings.cors_origins = vec!["https://app.example".to_owned()];
    let url = fresh_database().await;
    let app = spawn_on(&url, settings).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.expect("sent");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let denied = preflight("https://evil.example").await.expect("sent");
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_malformed_date_time_is_bad_user_input_naming_its_field() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let r = app
        .gql(
            Some(&admin),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
            json!({ "i": { "venueId": "x", "title": "t", "category": "OPERA",
                "startsAt": "2030-01-01T19:00:00+08:00", "endsAt": "tomorrow evening" } }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "endsAt");
    let r = app
        .anon(
            "{ performances(filter: { from: \"2030-13-01T00:00:00Z\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "from");
}

#[tokio::test]
async fn shutdown_completes_open_subscriptions_and_stops_the_server() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = app
        .gql(
            Some(&admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": "Square", "address": "Pinghu", "kind": "OUTDOOR",
                "seating": "GENERAL_ADMISSION", "capacity": 50 } }),
        )
        .await;
    let venue_id = venue.data()["createVenue"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let starts = chrono::Utc::now() + chrono::Duration::days(2);
    let perf = app
        .gql(
            Some(&admin),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
            json!({ "i": { "venueId": venue_id, "title": "Gala", "category": "GALA",
                "startsAt": starts.to_rfc3339(), "endsAt": (starts + chrono::Duration::hours(2)).to_rfc3339() } }),
        )
        .await;
    let perf_id = perf.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql(
        Some(&admin),
        "mutation($id: ID!) { publishPerformance(id: $id) { id } }",
        json!({ "id": perf_id }),
    )
    .await
    .data();

    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |value: serde_json::Value| Message::Text(value.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": {} })))
        .await
        .expect("init");
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($p: ID!) { seatAvailability(performanceId: $p) { seatsAvailable } }",
        "variables": { "p": perf_id } } })))
        .await
        .expect("subscribe");
    for _ in 0..100 {
        if app.state().services.realtime.subscribers() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        app.state().services.realtime.subscribers() > 0,
        "the subscription never started"
    );

    let server = app.stop();
    let completed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(&text).expect("json");
                if value["type"] == "complete" && value["id"] == "1" {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        completed.ok(),
        Some(true),
        "the subscription was not completed"
    );
    let finished = tokio::time::timeout(std::time::Duration::from_secs(30), server).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "the server did not stop cleanly"
    );
}

// ---------------------------------------------------------------------------------------
// The JWT key: from the environment or a file only, never the command line.

/// Runs a `zouqin serve` that is expected to stop by itself; returns its exit code and
/// standard error.
pub(crate) async fn serve_that_stops(
    mut command: tokio::process::Command,
) -> (Option<i32>, String) {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the server did not stop by itself")
        .expect("run zouqin");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_jwt_key_on_the_command_line_is_refused() {
    let url = fresh_database().await;
    let (mut command, _) = serve_command(&url);
    command.args(["--jwt-secret", JWT_SECRET]);
    let (code, stderr) = serve_that_stops(command).await;
    assert_eq!(code, Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("--jwt-secret"), "{stderr}");
}

#[tokio::test]
async fn a_jwt_key_shorter_than_32_bytes_stops_the_server_naming_the_variable() {
    let url = fresh_database().await;
    let (mut command, _) = serve_command(&url);
    command.env("ZOUQIN_JWT_SECRET", "too-short-a-key");
    let (code, stderr) = serve_that_stops(command).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ZOUQIN_JWT_SECRET"), "{stderr}");
    assert!(
        !stderr.contains("too-short-a-key"),
        "the key is echoed: {stderr}"
    );
}

#[tokio::test]
async fn the_jwt_key_may_come_from_a_file_but_not_from_both_places() {
    let app = spawn().await;
    let token = app.admin("pinghu").await;
    let path = std::env::temp_dir().join(format!("zouqin-jwt-{}.key", std::process::id()));
    std::fs::write(&path, format!("{JWT_SECRET}\n")).expect("write the key file");

    // Both the variable and the file: refused, so nobody wonders which one is in force.
    let (mut command, _) = serve_command(&app.database_url);
    command.env("ZOUQIN_JWT_SECRET_FILE", &path);
    let (code, stderr) = serve_that_stops(command).await;
    assert_eq!(code, Some(1), "{stderr}");

    // The file alone: tokens signed with that key (by another instance) are accepted.
    let (mut command, port) = serve_command(&app.database_url);
    command
        .env_remove("ZOUQIN_JWT_SECRET")
        .env("ZOUQIN_JWT_SECRET_FILE", &path);
    let server = ChildServer::start(command, port).await;
    let r = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ me { email } }" }))
        .send()
        .await
        .expect("sent")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    std::fs::remove_file(&path).ok();
    assert_eq!(r["data"]["me"]["email"], "admin@pinghu.example", "{r}");
}

//! The HTTP surface, the schema file, and the deployment files.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn centers_are_listed_with_their_venues() {
    let app = spawn().await;
    let r = app
        .anon(
            "{ centers { code name region venues { name capacity } } }",
            json!({}),
        )
        .await;
    let centers = r.data()["centers"].as_array().expect("list").clone();
    let codes: Vec<&str> = centers.iter().filter_map(|c| c["code"].as_str()).collect();
    assert_eq!(codes, vec!["pinghu", "jinshan", "jiashan"]);
    assert_eq!(centers[1]["name"], "金山区文化馆");
}

#[tokio::test]
async fn malformed_json_is_http_400() {
    let app = spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn a_body_without_query_is_http_400() {
    let app = spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(r#"{"variables": {}}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn an_unsupported_content_type_is_http_415() {
    let app = spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "text/plain")
        .body("{ centers { code } }")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn an_unknown_field_is_a_validation_error() {
    let app = spawn().await;
    let r = app.anon("{ centers { nope } }", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.code(), Some("GRAPHQL_VALIDATION_FAILED"));
}

#[tokio::test]
async fn a_document_that_does_not_parse_is_a_parse_error() {
    let app = spawn().await;
    let r = app.anon("{ centers { ", json!({})).await;
    assert_eq!(r.code(), Some("GRAPHQL_PARSE_FAILED"));
}

#[tokio::test]
async fn graphql_response_json_answers_4xx_for_invalid_documents() {
    let app = spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ centers { nope } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "application/graphql-response+json"
    );
}

#[tokio::test]
async fn application_json_is_answered_when_asked() {
    let app = spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .json(&json!({ "query": "{ centers { code } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "application/json"
    );
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_are_405() {
    let app = spawn().await;
    let ok = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ centers { code } }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status().as_u16(), 200);
    let body: serde_json::Value = ok.json().await.expect("json");
    assert_eq!(body["data"]["centers"][0]["code"], "pinghu");
    let mutation = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { logout(refreshToken: \"x\") }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(mutation.status().as_u16(), 405);
}

#[tokio::test]
async fn browsers_get_graphiql_with_local_assets() {
    let app = spawn().await;
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("text");
    assert!(html.contains("/graphql/assets/graphiql.min.js"));
    assert!(
        !html.contains("https://"),
        "GraphiQL must not load anything from a CDN"
    );
    let js = app
        .client
        .get(app.url("/graphql/assets/graphiql.min.js"))
        .send()
        .await
        .expect("sent");
    assert_eq!(js.status().as_u16(), 200);
    assert!(js.bytes().await.expect("bytes").len() > 100_000);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_forged_token_is_unauthenticated_not_anonymous() {
    let app = spawn().await;
    let r = app
        .gql(Some("not-a-jwt"), "{ centers { code } }", json!({}))
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn a_wrongly_typed_global_id_is_not_found() {
    let app = spawn().await;
    let world = app.world().await;
    let r = app
        .anon(
            "query($id: ID!) { performance(id: $id) { title } }",
            json!({ "id": world.pinghu }),
        )
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
    let r = app
        .anon(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": "garbage" }),
        )
        .await;
    assert_eq!(r.code(), Some("NOT_FOUND"));
}

#[test]
fn the_checked_in_schema_matches_the_code() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql exists");
    assert!(
        checked_in == zouqin::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
}

#[test]
fn the_compose_file_runs_postgres_and_two_replicas_behind_a_proxy() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
        .expect("docker-compose.yml");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    doc.apply_merge().expect("merge keys resolve");
    let services = doc["services"].as_mapping().expect("services");
    for name in ["postgres", "migrate", "zouqin-1", "zouqin-2", "proxy"] {
        assert!(services.contains_key(name), "missing service {name}");
    }
    for name in ["postgres", "zouqin-1", "zouqin-2", "proxy"] {
        assert!(
            !doc["services"][name]["healthcheck"].is_null(),
            "{name} has no healthcheck"
        );
    }
    let secret = |name: &str| {
        format!(
            "{:?}",
            doc["services"][name]["environment"]["ZOUQIN_JWT_SECRET"]
        )
    };
    assert!(
        doc["services"]["zouqin-1"]["environment"]["ZOUQIN_JWT_SECRET"].is_string(),
        "the replicas get no JWT secret: {}",
        secret("zouqin-1")
    );
    assert_eq!(
        secret("zouqin-1"),
        secret("zouqin-2"),
        "replicas must share one JWT secret"
    );
    assert!(
        format!(
            "{:?}",
            doc["services"]["zouqin-1"]["environment"]["DATABASE_URL"]
        )
        .contains("postgres")
    );
}

#[tokio::test]
async fn response_fields_keep_the_order_of_the_selection() {
    let app = spawn().await;
    let text = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(r#"{"query": "{ centers { region name code } }"}"#)
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    let (region, name, code) = (
        text.find("\"region\"").expect("region"),
        text.find("\"name\"").expect("name"),
        text.find("\"code\"").expect("code"),
    );
    assert!(region < name && name < code, "{text}");
}

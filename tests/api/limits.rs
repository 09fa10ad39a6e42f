//! The cost limits: documents that would make the server do unbounded work are refused
//! before any of it happens, while everything else keeps being answered.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use zouqin::graphql::limits::{LIST_COSTS, ListCost, SchemaModel};

use crate::helpers::*;

/// Aborts the test binary when a test runs past `limit`: a document that pins the server's
/// workers also starves the test's own timers, so a hang must still end in a failure.
struct Watchdog(mpsc::Sender<()>);

impl Watchdog {
    fn new(name: &'static str, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("{name}: still running after {limit:?}: the server is stuck");
                std::process::abort();
            }
        });
        Self(tx)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// `query { ...F0 } fragment F0 on Query { ...F1 ...F1 } … fragment F<n> on Query { __typename }`
/// with each fragment spreading the next `width` times.
fn fan_out(levels: usize, width: usize) -> String {
    let mut query = String::from("query { ...F0 }");
    for i in 0..levels {
        query.push_str(&format!(" fragment F{i} on Query {{"));
        for _ in 0..width {
            query.push_str(&format!(" ...F{}", i + 1));
        }
        query.push_str(" }");
    }
    query.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    query
}

/// The fan-out with aliased fields and inline fragments at every level.
fn mixed_fan_out(levels: usize) -> String {
    let mut query = String::from("query { a: centers { code } ...F0 }");
    for i in 0..levels {
        query.push_str(&format!(
            " fragment F{i} on Query {{ x{i}: centers {{ code }} ... on Query {{ ...F{n} }} \
             ... {{ y{i}: __typename ...F{n} }} }}",
            n = i + 1
        ));
    }
    query.push_str(&format!(
        " fragment F{levels} on Query {{ centers {{ name }} }}"
    ));
    query
}

/// The same fan-out, but over object fields: each fragment selects a center's venues' center.
fn nested_fan_out(levels: usize) -> String {
    let mut query = String::from("query { centers { ...C0 } }");
    for i in 0..levels {
        query.push_str(&format!(
            " fragment C{i} on Center {{ code ...C{n} ...C{n} }}",
            n = i + 1
        ));
    }
    query.push_str(&format!(" fragment C{levels} on Center {{ name }}"));
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_fan_outs_are_refused_at_once_while_cheap_queries_keep_answering() {
    let _watchdog = Watchdog::new("fan-out", Duration::from_secs(120));
    let app = spawn().await;
    let original = fan_out(40, 2);
    assert!(
        original.len() < 2_000,
        "the document is the reported 1.5 KB one"
    );
    let documents = [
        ("the reported document", original),
        ("deeper", fan_out(60, 2)),
        ("wider", fan_out(20, 8)),
        ("aliases and inline fragments", mixed_fan_out(40)),
        ("over object fields", nested_fan_out(40)),
    ];
    // Cheap queries run alongside the whole time; each must keep being answered.
    let cheap = {
        let app = app.clone_client();
        tokio::spawn(async move {
            let mut answered = 0;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let r = app.anon("{ centers { code } }", json!({})).await;
                assert_eq!(r.data()["centers"].as_array().map(Vec::len), Some(3));
                answered += 1;
            }
            answered
        })
    };
    for round in 0..3 {
        let mut attacks = Vec::new();
        for (name, document) in &documents {
            let app = app.clone_client();
            let document = document.clone();
            let name = *name;
            attacks.push(tokio::spawn(async move {
                let started = Instant::now();
                let r = app.anon(&document, json!({})).await;
                (name, started.elapsed(), r)
            }));
        }
        for attack in attacks {
            let (name, elapsed, r) = attack.await.expect("attack task");
            assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{name}: {}", r.body);
            assert!(
                elapsed < Duration::from_secs(1),
                "round {round}, {name}: refused after {elapsed:?}, API.md says within a second"
            );
        }
    }
    let answered = cheap.await.expect("cheap queries");
    assert!(answered > 0);
    let health = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn lists_inside_lists_are_costed_by_their_length() {
    let app = spawn().await;
    let fan_out =
        "{ centers { performances(first: 100) { edges { node { seatMap { state } } } } } }";
    let r = app.anon(fan_out, json!({})).await;
    assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{}", r.body);
    let aliased: Vec<String> = (0..15)
        .map(|i| format!("a{i}: {}", &fan_out[1..fan_out.len() - 1]))
        .collect();
    let r = app
        .anon(&format!("{{ {} }}", aliased.join(" ")), json!({}))
        .await;
    assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{}", r.body);
    // Every seat of every venue of every center: a list of lists of lists.
    let r = app
        .anon("{ centers { venues { seats { id label } } } }", json!({}))
        .await;
    assert_eq!(r.code(), Some("QUERY_TOO_COMPLEX"), "{}", r.body);
    // A page of bookings with every ticket's seat: 100 × 100 × 8 fits.
    let r = app
        .anon(
            "{ myBookings(first: 100) { edges { node { tickets { seat { id label section row number accessible } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    // A staff page of allocations with their sessions is within bounds.
    let r = app
        .anon(
            "{ seasonalAllocations(year: 2019) { id remaining performances { id title startsAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{}", r.body);
    // What a frontend asks for is answered.
    let r = app
        .anon(
            "{ centers { code venues { name capacity } \
               performances(first: 20) { totalCount edges { node { title venue { name } } } } } }",
            json!({}),
        )
        .await;
    assert!(r.body.get("errors").is_none(), "{}", r.body);
}

#[tokio::test]
async fn one_seat_map_of_the_largest_hall_is_answered() {
    let app = spawn().await;
    let admin = app.admin("jinshan").await;
    // The largest reserved hall: 40 rows of 500.
    let rows: Vec<Value> = (1..=40)
        .map(|r| json!({ "label": r.to_string(), "seats": 500 }))
        .collect();
    let venue = app
        .gql(
            Some(&admin),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id capacity } }",
            json!({ "input": { "name": "Arena", "address": "Jinshan", "kind": "HALL",
                "seating": "RESERVED", "sections": [{ "name": "Floor", "rows": rows }] } }),
        )
        .await;
    assert_eq!(venue.data()["createVenue"]["capacity"], 20_000);
    let venue_id = venue.data()["createVenue"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .anon(
            "query($id: ID!) { venue(id: $id) { seats { id section row number label accessible } } }",
            json!({ "id": venue_id }),
        )
        .await;
    assert_eq!(
        r.data()["venue"]["seats"].as_array().map(Vec::len),
        Some(20_000)
    );
    // One more row is a venue no seat map could be drawn for.
    let mut more: Vec<Value> = (1..=40)
        .map(|r| json!({ "label": r.to_string(), "seats": 500 }))
        .collect();
    more.push(json!({ "label": "41", "seats": 1 }));
    let r = app
        .gql(
            Some(&admin),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
            json!({ "input": { "name": "Stadium", "address": "Jinshan", "kind": "OUTDOOR",
                "seating": "RESERVED", "sections": [{ "name": "Stand", "rows": more }] } }),
        )
        .await;
    assert_eq!(r.code(), Some("BAD_USER_INPUT"), "{}", r.body);
    assert_eq!(r.error()["extensions"]["field"], "sections");
}

#[tokio::test]
async fn fragments_that_spread_each_other_are_a_validation_failure() {
    let app = spawn().await;
    for document in [
        "{ ...A } fragment A on Query { ...A }",
        "{ ...A } fragment A on Query { centers { code } ...B } fragment B on Query { ... on Query { ...A } }",
        "{ centers { ...C } } fragment C on Center { venues { center { ...C } } }",
    ] {
        let response = reqwest::Client::new()
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": document }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{document}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{document}: {body}"
        );
        assert!(body.get("data").is_none(), "{body}");
    }
}

/// Each connection field of the schema and a document that reaches it with a page argument.
const CONNECTIONS: &[(&str, &str, &str)] = &[
    (
        "Query",
        "auditLog",
        "query($n: Int) { auditLog(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "centerAccounts",
        "query($n: Int) { centerAccounts(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "performances",
        "query($n: Int) { performances(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "venues",
        "query($n: Int) { venues(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "myBookings",
        "query($n: Int) { myBookings(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "myWaitlist",
        "query($n: Int) { myWaitlist(ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "performanceWaitlist",
        "query($n: Int) { performanceWaitlist(performanceId: \"x\", ARG: $n) { totalCount } }",
    ),
    (
        "Query",
        "performanceBookings",
        "query($n: Int) { performanceBookings(performanceId: \"x\", ARG: $n) { totalCount } }",
    ),
    (
        "Center",
        "performances",
        "query($n: Int) { centers { performances(ARG: $n) { totalCount } } }",
    ),
    (
        "Query",
        "productions",
        "query($n: Int) { productions(ARG: $n) { totalCount } }",
    ),
    (
        "Production",
        "performances",
        "query($n: Int) { productions { edges { node { performances(ARG: $n) { totalCount } } } } }",
    ),
    (
        "Query",
        "myNotifications",
        "query($n: Int) { myNotifications(ARG: $n) { totalCount } }",
    ),
];

/// Connection fields of the printed schema, as (type, field).
fn connection_fields() -> Vec<(String, String, Vec<String>)> {
    let doc = async_graphql::parser::parse_schema(zouqin::graphql::sdl()).expect("sdl");
    let mut out = Vec::new();
    for definition in doc.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let fields = match &t.node.kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            _ => continue,
        };
        for field in fields {
            let named = match &field.node.ty.node.base {
                BaseType::Named(n) => n.to_string(),
                BaseType::List(_) => continue,
            };
            if named.ends_with("Connection") {
                let args = field
                    .node
                    .arguments
                    .iter()
                    .map(|a| a.node.name.node.to_string())
                    .collect();
                out.push((
                    t.node.name.node.to_string(),
                    field.node.name.node.to_string(),
                    args,
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_page_over_a_hundred_is_bad_user_input_naming_the_argument_on_every_connection() {
    let app = spawn().await;
    let token = app.admin("pinghu").await;
    // A production, so that `Production.performances` is reached.
    app.gql(
        Some(&token),
        "mutation { createProduction(input: { title: \"沪剧《大雷雨》\", category: OPERA }) { id } }",
        json!({}),
    )
    .await
    .data();
    let fields = connection_fields();
    for (owner, field, args) in &fields {
        assert!(
            args.iter().any(|a| a == "first"),
            "{owner}.{field} takes no `first`"
        );
        assert!(
            CONNECTIONS.iter().any(|(o, f, _)| o == owner && f == field),
            "{owner}.{field}: add it to CONNECTIONS so its page argument is tested"
        );
    }
    for (owner, field, template) in CONNECTIONS {
        let args = &fields
            .iter()
            .find(|(o, f, _)| o == owner && f == field)
            .unwrap_or_else(|| panic!("{owner}.{field} is not in the schema"))
            .2;
        for argument in ["first", "last"] {
            if !args.iter().any(|a| a == argument) {
                continue;
            }
            let document = template.replace("ARG", argument);
            // As a literal too: huge literals must not fail validation first.
            let literal = template
                .replace("query($n: Int) ", "")
                .replace("ARG: $n", &format!("{argument}: 99999999999"));
            for (document, variables) in [
                (document.clone(), json!({ "n": 101 })),
                (document.clone(), json!({ "n": 1_000_000 })),
                (document.clone(), json!({ "n": 99_999_999_999_i64 })),
                (document.clone(), json!({ "n": -1 })),
                (literal, json!({})),
            ] {
                let r = app.gql(Some(&token), &document, variables.clone()).await;
                assert_eq!(
                    r.code(),
                    Some("BAD_USER_INPUT"),
                    "{document} {variables}: {}",
                    r.body
                );
                assert_eq!(
                    r.error()["extensions"]["field"],
                    argument,
                    "{document}: {}",
                    r.body
                );
            }
        }
    }
}

#[test]
fn every_list_field_of_the_schema_has_a_cost() {
    let model = SchemaModel::new(&zouqin::graphql::sdl());
    let fields = model.list_fields();
    assert!(
        fields.len() >= LIST_COSTS.len() / 2,
        "the schema's lists were found"
    );
    let missing: Vec<String> = fields
        .iter()
        .filter(|(_, _, cost)| cost.is_none())
        .map(|(owner, field, _)| format!("{owner}.{field}"))
        .collect();
    assert!(
        missing.is_empty(),
        "list fields without an entry in graphql::limits::LIST_COSTS: {missing:?}"
    );
    for (owner, field, cost) in LIST_COSTS {
        assert!(
            fields.iter().any(|(o, f, _)| o == owner && f == field),
            "LIST_COSTS names {owner}.{field}, which is not a list field of the schema"
        );
        match cost {
            ListCost::Rows(n) => assert!(*n > 0, "{owner}.{field}"),
            ListCost::Page => assert!(owner.ends_with("Connection"), "{owner}.{field}"),
        }
    }
}

/// A field as the fuzzer sees it: name, named type, required arguments (name, type).
type FieldShape = (String, String, Vec<(String, String)>);

/// A path of fields from `Query` (or `Subscription`) to each reachable type (breadth first),
/// as a document with a hole: `{ centers { venues { HOLE } } }`.
fn paths_to_types() -> BTreeMap<String, String> {
    let doc = async_graphql::parser::parse_schema(zouqin::graphql::sdl()).expect("sdl");
    let mut fields: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for definition in doc.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let list = match &t.node.kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            _ => continue,
        };
        let entry = fields.entry(t.node.name.node.to_string()).or_default();
        for field in list {
            let mut ty = &field.node.ty.node;
            while let BaseType::List(inner) = &ty.base {
                ty = inner;
            }
            if let BaseType::Named(named) = &ty.base {
                entry.push((field.node.name.node.to_string(), named.to_string()));
            }
        }
    }
    let mut paths = BTreeMap::from([
        ("Query".to_owned(), "{ HOLE }".to_owned()),
        (
            "Subscription".to_owned(),
            "subscription { HOLE }".to_owned(),
        ),
    ]);
    let mut queue =
        std::collections::VecDeque::from(["Query".to_owned(), "Subscription".to_owned()]);
    while let Some(owner) = queue.pop_front() {
        let path = paths[&owner].clone();
        for (field, named) in fields.get(&owner).cloned().unwrap_or_default() {
            if fields.contains_key(&named) && !paths.contains_key(&named) {
                paths.insert(
                    named.clone(),
                    path.replace("HOLE", &format!("{field} {{ HOLE }}")),
                );
                queue.push_back(named);
            }
        }
    }
    paths
}

#[test]
fn every_list_field_multiplies_its_children_by_its_declared_length() {
    let model = SchemaModel::new(&zouqin::graphql::sdl());
    let cost = |document: &str| -> u64 {
        let doc = async_graphql::parser::parse_query(document).expect("parses");
        zouqin::graphql::limits::check(&model, &doc, &async_graphql::Variables::default())
            .unwrap_or_else(|e| panic!("{document}: {e:?}"))
    };
    let paths = paths_to_types();
    for (owner, field, declared) in model.list_fields() {
        let path = paths
            .get(&owner)
            .unwrap_or_else(|| panic!("{owner} is not reachable from a root"));
        let at = |inner: &str| path.replace("HOLE", inner);
        // One more child at the owner costs the multiplier of the path (P); one more child
        // under the list field costs P × its length.
        let per_owner = cost(&at("a: __typename b: __typename")) - cost(&at("a: __typename"));
        let per_item = cost(&at(&format!("{field} {{ a: __typename b: __typename }}")))
            - cost(&at(&format!("{field} {{ a: __typename }}")));
        let length = per_item / per_owner.max(1);
        let expected = match declared {
            Some(ListCost::Rows(n)) => n,
            Some(ListCost::Page) => 1,
            None => panic!("{owner}.{field} has no cost"),
        };
        assert_eq!(length, expected, "{owner}.{field}: costed as {length} rows");
    }
}

/// A random document over the schema: aliases, named and inline fragments, nesting.
struct Fuzzer {
    rng: StdRng,
    /// type → its fields
    types: BTreeMap<String, Vec<FieldShape>>,
    enums: BTreeMap<String, String>,
    fragments: Vec<String>,
}

impl Fuzzer {
    fn new(seed: u64) -> Self {
        let doc = async_graphql::parser::parse_schema(zouqin::graphql::sdl()).expect("sdl");
        let mut types = BTreeMap::new();
        let mut enums = BTreeMap::new();
        for definition in doc.definitions {
            let TypeSystemDefinition::Type(t) = definition else {
                continue;
            };
            let name = t.node.name.node.to_string();
            let fields = match &t.node.kind {
                TypeKind::Object(o) => &o.fields,
                TypeKind::Interface(i) => &i.fields,
                TypeKind::Enum(e) => {
                    enums.insert(name, e.values[0].node.value.node.to_string());
                    continue;
                }
                _ => continue,
            };
            let mut list = Vec::new();
            for field in fields {
                let mut ty = &field.node.ty.node;
                while let BaseType::List(inner) = &ty.base {
                    ty = inner;
                }
                let BaseType::Named(named) = &ty.base else {
                    continue;
                };
                let required = field
                    .node
                    .arguments
                    .iter()
                    .filter(|a| !a.node.ty.node.nullable)
                    .map(|a| {
                        (
                            a.node.name.node.to_string(),
                            a.node.ty.node.base.to_string(),
                        )
                    })
                    .collect();
                list.push((
                    field.node.name.node.to_string(),
                    named.to_string(),
                    required,
                ));
            }
            types.insert(name, list);
        }
        Self {
            rng: StdRng::seed_from_u64(seed),
            types,
            enums,
            fragments: Vec::new(),
        }
    }

    fn argument(&mut self, ty: &str) -> Option<String> {
        Some(match ty {
            "ID" => "\"UGVyZm9ybWFuY2U6MQ\"".to_owned(),
            "String" => "\"7K3M-Q9XD\"".to_owned(),
            "Int" => self.rng.random_range(-1..200).to_string(),
            "Boolean" => "true".to_owned(),
            other => self.enums.get(other)?.clone(),
        })
    }

    fn selection(&mut self, on: &str, depth: usize) -> String {
        let Some(fields) = self.types.get(on).cloned() else {
            return "__typename".to_owned();
        };
        let mut parts = Vec::new();
        for _ in 0..self.rng.random_range(1..5) {
            let (name, named, required) = fields[self.rng.random_range(0..fields.len())].clone();
            let object = self.types.contains_key(&named);
            if object && depth == 0 {
                parts.push("__typename".to_owned());
                continue;
            }
            let mut args = Vec::new();
            let mut complete = true;
            for (arg, ty) in &required {
                match self.argument(ty) {
                    Some(value) => args.push(format!("{arg}: {value}")),
                    None => complete = false,
                }
            }
            if !complete {
                continue;
            }
            if named.ends_with("Connection") && self.rng.random_bool(0.5) {
                args.push(format!(
                    "first: {}",
                    [0, 1, 20, 100, 101][self.rng.random_range(0..5)]
                ));
            }
            let alias = if self.rng.random_bool(0.3) {
                format!("a{}: ", self.rng.random_range(0..1000))
            } else {
                String::new()
            };
            let args = if args.is_empty() {
                String::new()
            } else {
                format!("({})", args.join(", "))
            };
            let sub = if object {
                format!(" {{ {} }}", self.selection(&named, depth - 1))
            } else {
                String::new()
            };
            parts.push(format!("{alias}{name}{args}{sub}"));
        }
        if depth > 0 && self.rng.random_bool(0.3) {
            // A named fragment of this type, spread a few times.
            let body = self.selection(on, depth - 1);
            let name = format!("G{}", self.fragments.len());
            self.fragments
                .push(format!("fragment {name} on {on} {{ {body} }}"));
            for _ in 0..self.rng.random_range(1..4) {
                parts.push(format!("...{name}"));
            }
        }
        if depth > 0 && self.rng.random_bool(0.2) {
            let body = self.selection(on, depth - 1);
            parts.push(format!("... on {on} {{ {body} }}"));
        }
        parts.join(" ")
    }

    fn document(&mut self) -> String {
        self.fragments.clear();
        let depth = self.rng.random_range(1..8);
        let root = self.selection("Query", depth);
        let mut document = format!("query {{ {root} }}");
        for fragment in &self.fragments {
            document.push(' ');
            document.push_str(fragment);
        }
        document
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_documents_are_answered_within_a_bound_and_the_server_stays_healthy() {
    let _watchdog = Watchdog::new("fuzz", Duration::from_secs(300));
    let seed: u64 = std::env::var("ZOUQIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_129);
    eprintln!("fuzz seed {seed} (ZOUQIN_FUZZ_SEED)");
    let app = spawn().await;
    let token = app.admin("pinghu").await;
    let mut fuzzer = Fuzzer::new(seed);
    let allowed = [
        "GRAPHQL_VALIDATION_FAILED",
        "QUERY_TOO_COMPLEX",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "UNAUTHENTICATED",
        "FORBIDDEN",
    ];
    let mut refused = 0;
    let mut answered = 0;
    for round in 0..60 {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let document = fuzzer.document();
            let app = app.clone_client();
            let token = (round % 2 == 0).then(|| token.clone());
            batch.push(tokio::spawn(async move {
                let started = Instant::now();
                let r = app.gql(token.as_deref(), &document, json!({})).await;
                (document, started.elapsed(), r)
            }));
        }
        for task in batch {
            let (document, elapsed, r) = task.await.expect("request task");
            assert!(
                elapsed < Duration::from_secs(10),
                "seed {seed}: {document} took {elapsed:?}"
            );
            assert!(
                r.status == 200 || r.status == 400,
                "seed {seed}: {document}: {}",
                r.status
            );
            let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
            for error in &errors {
                let code = error["extensions"]["code"].as_str().unwrap_or("none");
                assert!(
                    allowed.contains(&code),
                    "seed {seed}: {document}: {}",
                    r.body
                );
            }
            if errors
                .iter()
                .any(|e| e["extensions"]["code"] == "QUERY_TOO_COMPLEX")
            {
                refused += 1;
            } else {
                answered += 1;
            }
        }
    }
    assert!(answered > 0, "seed {seed}: every document was refused");
    eprintln!("fuzz: {answered} answered, {refused} refused as too complex");
    let health = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
    let r = app.anon("{ centers { code } }", json!({})).await;
    assert_eq!(r.data()["centers"].as_array().map(Vec::len), Some(3));
}

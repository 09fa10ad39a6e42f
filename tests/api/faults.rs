//! Faults and bad input: a database outage, a server killed mid-rush, and random input.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use zouqin::auth::revocation;

use crate::helpers::*;

/// What the proxy does to connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Passes traffic both ways.
    Up,
    /// Closes every connection (as a stopped server or a refused port would).
    Closed,
    /// Drops open connections and leaves new ones unanswered (as a lost network would).
    Silent,
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Proxy {
    port: u16,
    link: watch::Sender<Link>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (link, watcher) = watch::channel(Link::Up);
        let upstream = Arc::new(upstream);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut watcher = watcher.clone();
                let state = *watcher.borrow();
                match state {
                    Link::Closed => {
                        drop(client);
                        continue;
                    }
                    Link::Silent => {
                        // Hold it unanswered until the link is up again.
                        tokio::spawn(async move {
                            let _ = watcher.wait_for(|link| *link == Link::Up).await;
                            drop(client);
                        });
                        continue;
                    }
                    Link::Up => {}
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream.as_str()).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watcher.wait_for(|link| *link != Link::Up) => {}
                    }
                });
            }
        });
        Self { port, link }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

async fn wait_for_status(app: &TestApp, path: &str, status: u16) -> bool {
    for _ in 0..60 {
        let answered = app
            .client
            .get(app.url(path))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if answered.is_ok_and(|s| s == status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// The acquire timeout of the outage test, and the margin its answers get on top of it.
const OUTAGE_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);
const OUTAGE_MARGIN: Duration = Duration::from_millis(1500);

/// Requests that need the database while it is away: each must be `UNAVAILABLE` with
/// `retryAfterSeconds`, within the acquire timeout plus a margin, and without details.
async fn assert_requests_are_unavailable(app: &TestApp, resident: &str, link: Link) {
    let missing_performance = zouqin::ids::encode(zouqin::ids::Kind::Performance, 1);
    let requests: [(&str, Option<&str>, &str, Value); 3] = [
        ("centers", None, "{ centers { code } }", json!({})),
        (
            "login",
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": "admin@pinghu.example", "p": PASSWORD }),
        ),
        (
            "bookSeats",
            Some(resident),
            "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }",
            json!({ "i": { "performanceId": missing_performance, "quantity": 1 } }),
        ),
    ];
    for (what, token, query, variables) in requests {
        assert_unavailable(app, token, query, variables, &format!("{link:?} {what}")).await;
    }
}

/// One request while the database is away: `UNAVAILABLE` with `retryAfterSeconds`, within
/// the acquire timeout plus a margin, without details.
async fn assert_unavailable(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
    what: &str,
) {
    let started = std::time::Instant::now();
    let r = app.gql(token, query, variables).await;
    let took = started.elapsed();
    assert_eq!(r.code(), Some("UNAVAILABLE"), "{what}: {}", r.body);
    let retry = r.error()["extensions"]["retryAfterSeconds"].as_i64();
    assert!(retry.is_some_and(|s| s > 0), "{what}: {}", r.body);
    assert!(
        took < OUTAGE_ACQUIRE_TIMEOUT + OUTAGE_MARGIN,
        "{what}: answered after {took:?}"
    );
    let message = r.error()["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        !message.contains("sql") && !message.contains("postgres"),
        "{message}"
    );
}

#[tokio::test]
async fn a_database_outage_is_unavailable_in_time_and_the_server_recovers_on_postgres() {
    // The outage is simulated between the server and a PostgreSQL server; SQLite has no network.
    let Some(base) = postgres_or_skip(
        "a_database_outage_is_unavailable_in_time_and_the_server_recovers_on_postgres",
    ) else {
        return;
    };
    let direct = fresh_database().await;
    let name = direct.rsplit('/').next().expect("database name").to_owned();
    let host = base.rsplit('@').next().expect("host:port").to_owned();
    let proxy = Proxy::start(host).await;
    let through_proxy = format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port);
    let args = zouqin::config::DbArgs {
        database_url: through_proxy,
        db_max_connections: 16,
        db_acquire_timeout_ms: OUTAGE_ACQUIRE_TIMEOUT.as_millis() as u64,
    };
    let app = spawn_with(args, settings()).await;
    app.seed_world().await;
    let world = app.world().await;
    let resident = app.resident("li@residents.example", &world.pinghu).await;
    assert!(wait_for_status(&app, "/readyz", 200).await);

    for link in [Link::Closed, Link::Silent] {
        let cut = std::time::Instant::now();
        proxy.set(link);
        assert!(
            wait_for_status(&app, "/readyz", 503).await,
            "{link:?}: readiness never turned 503"
        );
        assert!(
            wait_for_status(&app, "/healthz", 200).await,
            "{link:?}: liveness must stay 200"
        );
        assert_requests_are_unavailable(&app, &resident, link).await;
        // Once the instance's snapshot of revoked tokens is too old to trust, checking the
        // resident's token needs the database itself, before GraphQL runs: the same answer.
        let stale = revocation::TRUST_FOR + revocation::POLL_EVERY;
        tokio::time::sleep(stale.saturating_sub(cut.elapsed())).await;
        assert_unavailable(
            &app,
            Some(&resident),
            "{ myBookings(first: 1) { totalCount } }",
            json!({}),
            &format!("{link:?} a signed-in read with a stale token snapshot"),
        )
        .await;
    }

    proxy.set(Link::Up);
    assert!(
        wait_for_status(&app, "/readyz", 200).await,
        "readiness never came back"
    );
    // Connections are opened again one by one, each within the short acquire timeout: on a
    // loaded machine a request may still be `UNAVAILABLE` for a moment (and nothing else),
    // until a read, a login (several statements and a write) and a booking by a signed-in
    // resident (its token checked against the database) all work again.
    let mut recovered = false;
    for _ in 0..40 {
        let answers = [
            app.anon("{ centers { code } }", json!({})).await,
            app.login("admin@pinghu.example", PASSWORD).await,
            app.gql(
                Some(&resident),
                "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }",
                json!({ "i": { "performanceId": zouqin::ids::encode(zouqin::ids::Kind::Performance, 1), "quantity": 1 } }),
            )
            .await,
        ];
        let [centers, login, booking] = &answers;
        for r in [centers, login] {
            assert!(
                r.body.get("errors").is_none() || r.code() == Some("UNAVAILABLE"),
                "after the outage: {}",
                r.body
            );
        }
        // The performance does not exist: once the database answers, that is what it says.
        assert!(
            matches!(booking.code(), Some("NOT_FOUND" | "UNAVAILABLE")),
            "after the outage: {}",
            booking.body
        );
        if centers.body.get("errors").is_none()
            && login.body.get("errors").is_none()
            && booking.code() == Some("NOT_FOUND")
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "requests never worked again");
}

#[tokio::test]
async fn a_server_killed_mid_rush_leaves_no_half_made_booking() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let venue = app
        .gql(
            Some(&admin),
            "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
            json!({ "i": { "name": "Rush hall", "address": "Pinghu", "kind": "HALL", "seating": "RESERVED",
                "sections": [{ "name": "Stalls", "rows": (1..=10).map(|r| json!({ "label": r.to_string(), "seats": 20 })).collect::<Vec<_>>() }] } }),
        )
        .await;
    let venue_id = venue.data()["createVenue"]["id"]
        .as_str()
        .expect("venue")
        .to_owned();
    let starts = chrono::Utc::now() + chrono::Duration::days(3);
    let perf = app
        .gql(
            Some(&admin),
            "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
            json!({ "i": { "venueId": venue_id, "title": "大雷雨", "category": "OPERA",
                "startsAt": starts.to_rfc3339(), "endsAt": (starts + chrono::Duration::hours(2)).to_rfc3339() } }),
        )
        .await;
    let perf_id = perf.data()["schedulePerformance"]["id"]
        .as_str()
        .expect("perf")
        .to_owned();
    app.gql(
        Some(&admin),
        "mutation($id: ID!) { publishPerformance(id: $id) { id } }",
        json!({ "id": perf_id }),
    )
    .await
    .data();
    let residents = app.residents_fast(150, "pinghu").await;

    let mut child = spawn_process(&app.database_url).await;
    let base = child.address.clone();
    let client = reqwest::Client::new();

    // The kill comes right after the first answer, with the rest of the rush in flight: the
    // test counts only if it really cut requests off (some answered, some never).
    let (first_tx, mut first_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut tasks = Vec::new();
    for token in residents {
        let client = client.clone();
        let url = format!("{base}/graphql");
        let perf_id = perf_id.clone();
        let first_tx = first_tx.clone();
        tasks.push(tokio::spawn(async move {
            let answer = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }",
                    "variables": { "i": { "performanceId": perf_id, "quantity": 2 } } }))
                .send()
                .await;
            match answer {
                Ok(response) => {
                    let _ = first_tx.try_send(());
                    response.json::<Value>().await.is_ok()
                }
                Err(_) => false,
            }
        }));
    }
    drop(first_tx);
    let _ = tokio::time::timeout(Duration::from_secs(30), first_rx.recv()).await;
    let process = child.process.as_mut().expect("a process");
    process.start_kill().expect("SIGKILL");
    let _ = process.wait().await;
    let (mut answered, mut cut) = (0, 0);
    for task in tasks {
        if task.await.expect("request task") {
            answered += 1;
        } else {
            cut += 1;
        }
    }
    assert!(answered > 0, "no request was answered before the kill");
    assert!(
        cut > 0,
        "the kill came after every request was answered: it interrupted nothing"
    );

    use sea_orm::{ConnectionTrait, Statement};
    let conn = &app.db.conn;
    let count = |sql: &'static str| async move {
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .expect("query")
            .expect("row");
        row.try_get_by_index::<i64>(0).expect("count")
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM booking b WHERE b.status = 'CONFIRMED' AND b.quantity <> \
               (SELECT COUNT(*) FROM ticket t WHERE t.booking_id = b.id AND t.status <> 'CANCELLED')")
        .await,
        0,
        "a confirmed booking is missing tickets"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM inventory i WHERE i.booking_id IS NOT NULL AND NOT EXISTS \
               (SELECT 1 FROM ticket t WHERE t.inventory_id = i.id AND t.booking_id = i.booking_id AND t.status <> 'CANCELLED')")
        .await,
        0,
        "a seat is marked sold without a ticket"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM ticket t JOIN inventory i ON i.id = t.inventory_id \
               WHERE t.status <> 'CANCELLED' AND (i.booking_id IS NULL OR i.booking_id <> t.booking_id)")
        .await,
        0,
        "a live ticket's seat is not marked for its booking"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM resident_hold h WHERE h.tickets <> (SELECT COUNT(*) FROM ticket t \
               JOIN booking b ON b.id = t.booking_id WHERE b.account_id = h.account_id \
               AND t.performance_id = h.performance_id AND t.status <> 'CANCELLED')")
        .await,
        0,
        "a resident's holding disagrees with its tickets"
    );
    let sold = count("SELECT COUNT(*) FROM ticket WHERE status <> 'CANCELLED'").await;
    let r = app
        .anon(
            "query($id: ID!) { performance(id: $id) { seatsAvailable capacity } }",
            json!({ "id": perf_id }),
        )
        .await;
    let available = r.data()["performance"]["seatsAvailable"]
        .as_i64()
        .expect("int");
    assert_eq!(available + sold, 200);
}

/// Whether `url` answers within `within` (any HTTP status).
async fn answers(client: &reqwest::Client, url: &str, within: Duration) -> bool {
    client.get(url).timeout(within).send().await.is_ok()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_process_within_the_grace_period_even_with_every_worker_stuck() {
    const GRACE: Duration = Duration::from_secs(2);
    let url = fresh_database().await;
    let (mut command, port) = serve_command(&url);
    command
        .env("ZOUQIN_SHUTDOWN_GRACE_SECS", GRACE.as_secs().to_string())
        .env("TOKIO_WORKER_THREADS", "2")
        .env(
            zouqin::config::TEST_HOOKS_VAR,
            zouqin::config::TEST_HOOKS_VALUE,
        );
    let mut server = ChildServer::start(command, port).await;
    let client = reqwest::Client::new();
    let spin = format!("{}/__test/spin?secs=120", server.base);
    let healthz = format!("{}/healthz", server.base);

    // Requests stuck in CPU loops take the workers one by one, until nothing answers.
    let mut spinners = Vec::new();
    let mut pinned = false;
    for _ in 0..8 {
        let (spinning, spin) = (client.clone(), spin.clone());
        spinners.push(tokio::spawn(async move { spinning.get(spin).send().await }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !answers(&client, &healthz, Duration::from_secs(1)).await {
            pinned = true;
            break;
        }
    }
    assert!(pinned, "the spinning requests never took every worker");

    server.terminate();
    let sent = std::time::Instant::now();
    let exited = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    let took = sent.elapsed();
    for spinner in spinners {
        spinner.abort();
    }
    let status = exited
        .expect("the server was still running 30 s after SIGTERM")
        .expect("wait");
    // The contract: the grace period ends in an exit, whatever the workers are doing.
    assert!(
        took <= GRACE + Duration::from_secs(1),
        "exited {took:?} after SIGTERM with a grace period of {GRACE:?}"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "abandoned requests exit 1: {status}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_with_nothing_in_flight_shuts_down_cleanly_before_the_grace_period() {
    let url = fresh_database().await;
    let (mut command, port) = serve_command(&url);
    command.env("ZOUQIN_SHUTDOWN_GRACE_SECS", "30");
    let mut server = ChildServer::start(command, port).await;
    server.terminate();
    let status = tokio::time::timeout(Duration::from_secs(25), server.child.wait())
        .await
        .expect("still running 25 s after SIGTERM with nothing to finish")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn the_test_hooks_are_not_mounted_without_their_exact_value() {
    let url = fresh_database().await;
    for value in [None, Some("1"), Some("true")] {
        let (mut command, port) = serve_command(&url);
        if let Some(value) = value {
            command.env(zouqin::config::TEST_HOOKS_VAR, value);
        }
        let server = ChildServer::start(command, port).await;
        let r = reqwest::Client::new()
            .get(format!("{}/__test/spin?secs=0", server.base))
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status().as_u16(), 404, "ZOUQIN_TEST_HOOKS={value:?}");
    }
}

fn nasty_strings() -> Vec<Value> {
    vec![
        json!(""),
        json!(" "),
        json!("\u{0000}"),
        json!("💥".repeat(300)),
        json!("' OR 1=1 --"),
        json!("%_\\"),
        json!("a".repeat(10_000)),
        json!("池座"),
        json!("\u{202e}rtl"),
    ]
}

fn nasty_ids() -> Vec<Value> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    vec![
        json!(""),
        json!("garbage"),
        json!(b64("Performance:0")),
        json!(b64("Performance:-1")),
        json!(b64("Performance:99999999999999999999")),
        json!(b64("Performance:9223372036854775807")),
        json!(b64("Seat:1")),
        json!(b64("Center:1")),
        json!(b64("Nope:1")),
        json!("🎭"),
    ]
}

fn nasty_ints() -> Vec<Value> {
    vec![
        json!(0),
        json!(-1),
        json!(1),
        json!(2147483647),
        json!(-2147483648),
        json!(100001),
    ]
}

fn nasty_dates() -> Vec<Value> {
    vec![
        json!("2030-01-01T00:00:00+08:00"),
        json!("1969-12-31T23:59:59Z"),
        json!("9999-12-31T23:59:59Z"),
        json!("2030-02-30T00:00:00Z"),
        json!("yesterday"),
        json!(""),
    ]
}

/// Every answer is data or errors that all carry a code other than INTERNAL.
fn assert_coded(r: &Gql, what: &str) {
    assert!(
        r.status == 200 || r.status == 400,
        "{what}: HTTP {}",
        r.status
    );
    if let Some(errors) = r.body.get("errors").and_then(Value::as_array) {
        for error in errors {
            let code = error["extensions"]["code"].as_str();
            assert!(code.is_some(), "{what}: uncoded error {error}");
            assert_ne!(code, Some("INTERNAL"), "{what}: {error}");
        }
    } else {
        assert!(
            r.body.get("data").is_some(),
            "{what}: neither data nor errors: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn random_and_hostile_input_gets_coded_errors_never_internal() {
    use rand::seq::IndexedRandom;
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    let world = app.world().await;
    let resident = app.resident("fuzz@residents.example", &world.pinghu).await;
    let mut rng = rand::rng();
    let (strings, ids, ints, dates) = (nasty_strings(), nasty_ids(), nasty_ints(), nasty_dates());
    for round in 0..60 {
        let pick = |v: &Vec<Value>, rng: &mut rand::rngs::ThreadRng| {
            v.choose(rng).cloned().unwrap_or(Value::Null)
        };
        let venue = json!({ "i": {
            "name": pick(&strings, &mut rng), "address": pick(&strings, &mut rng),
            "kind": "HALL", "seating": if round % 2 == 0 { "RESERVED" } else { "GENERAL_ADMISSION" },
            "capacity": pick(&ints, &mut rng),
            "sections": [{ "name": pick(&strings, &mut rng), "rows": [{ "label": pick(&strings, &mut rng), "seats": pick(&ints, &mut rng), "accessibleSeats": [pick(&ints, &mut rng)] }] }]
        } });
        let r = app
            .gql(
                Some(&admin),
                "mutation($i: CreateVenueInput!) { createVenue(input: $i) { id } }",
                venue,
            )
            .await;
        assert_coded(&r, "createVenue");
        let schedule = json!({ "i": {
            "venueId": pick(&ids, &mut rng), "title": pick(&strings, &mut rng), "category": "OPERA",
            "startsAt": pick(&dates, &mut rng), "endsAt": pick(&dates, &mut rng),
            "priceCents": pick(&ints, &mut rng), "perResidentLimit": pick(&ints, &mut rng),
            "allocationId": pick(&ids, &mut rng)
        } });
        let r = app
            .gql(
                Some(&admin),
                "mutation($i: SchedulePerformanceInput!) { schedulePerformance(input: $i) { id } }",
                schedule,
            )
            .await;
        assert_coded(&r, "schedulePerformance");
        let book = json!({ "i": {
            "performanceId": pick(&ids, &mut rng),
            "seatIds": if round % 3 == 0 { json!([pick(&ids, &mut rng), pick(&ids, &mut rng)]) } else { Value::Null },
            "quantity": if round % 3 == 1 { pick(&ints, &mut rng) } else { Value::Null },
            "idempotencyKey": pick(&strings, &mut rng)
        } });
        let r = app
            .gql(
                Some(&resident),
                "mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }",
                book,
            )
            .await;
        assert_coded(&r, "bookSeats");
        let filter = json!({ "f": { "search": pick(&strings, &mut rng), "from": pick(&dates, &mut rng), "hostCenterId": pick(&ids, &mut rng) },
            "first": pick(&ints, &mut rng), "after": pick(&strings, &mut rng) });
        let r = app
            .anon("query($f: PerformanceFilter, $first: Int, $after: String) { performances(filter: $f, first: $first, after: $after) { totalCount } }", filter)
            .await;
        assert_coded(&r, "performances");
        let r = app
            .anon(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": pick(&ids, &mut rng) }),
            )
            .await;
        assert_coded(&r, "node");
        let r = app
            .anon(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                json!({ "e": pick(&strings, &mut rng), "p": pick(&strings, &mut rng) }),
            )
            .await;
        assert_coded(&r, "login");
    }
}

#[tokio::test]
async fn instances_starting_together_on_a_new_database_migrate_one_after_the_other_on_postgres() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    if postgres_or_skip(
        "instances_starting_together_on_a_new_database_migrate_one_after_the_other_on_postgres",
    )
    .is_none()
    {
        return;
    }
    let url = fresh_database().await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(
            zouqin::db::connect(&url, 4, Duration::from_secs(5))
                .await
                .expect("connect"),
        );
    }
    // One migrates while the others wait for it; one of the migrations builds an index
    // CONCURRENTLY, which waits for every older snapshot of the database. A bound well
    // past any real run turns a wait that never ends into a failure.
    let together = futures::future::join_all(instances.iter().map(zouqin::db::migrate));
    let results = tokio::time::timeout(Duration::from_secs(300), together)
        .await
        .expect("the instances never finished migrating: they wait for each other");
    for result in results {
        result.expect("migrated");
    }
    let applied = instances[0]
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            instances[0].backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .expect("count")
        .expect("row");
    let applied: i64 = applied.try_get("", "n").expect("n");
    assert_eq!(applied as usize, Migrator::migrations().len());
}

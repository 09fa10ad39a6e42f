//! The streaming read replica (`ZOUQIN_READ_DATABASE_URL`) against a real hot standby of the
//! test server: anonymous browsing reads the standby, a signed-in caller reads its own writes
//! at once on any instance, a report right after a write includes it, and a standby that
//! falls behind or goes away turns into reads on the primary, never into errors.
//!
//! One standby serves every test of this binary ([`standby`]); the tests take turns
//! ([`SERIAL`]) because pausing its replay or stopping it concerns them all. Databases made
//! on the primary after its base backup reach it through the WAL like any other write.

use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

use crate::booking::{Layout, book_quantity, show};
use crate::hardening::serve_that_stops;
use crate::helpers::*;
use crate::standby::Standby;

/// The replica tests run one at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// The standby shared by this binary (removed when the process ends).
static STANDBY: OnceLock<Result<Standby, String>> = OnceLock::new();

/// The shared standby, made on first use.
async fn standby(base: String) -> &'static Standby {
    let made =
        tokio::task::spawn_blocking(move || STANDBY.get_or_init(|| Standby::start_from(&base)))
            .await
            .expect("standby set-up ran");
    match made {
        Ok(standby) => standby,
        Err(e) => panic!("cannot start a standby: {e}"),
    }
}

/// A test's standby, its turn, and a fresh database on the primary.
struct Fixture {
    standby: &'static Standby,
    url: String,
    _turn: MutexGuard<'static, ()>,
}

impl Fixture {
    /// `None` (skipped) without PostgreSQL.
    async fn new(test: &str) -> Option<Self> {
        let base = postgres_or_skip(test)?;
        let turn = SERIAL.lock().await;
        let standby = standby(base).await;
        // Whatever an earlier test left behind: the standby runs and replays.
        blocking(move || {
            if !standby.is_running() {
                standby.start().expect("restart the standby");
            }
            standby
                .sql("SELECT pg_wal_replay_resume()")
                .expect("resume replay");
        })
        .await;
        Some(Self {
            standby,
            url: fresh_database().await,
            _turn: turn,
        })
    }

    /// The test database's URL on the standby.
    fn read_url(&self) -> String {
        let name = self.url.rsplit('/').next().expect("database name");
        self.standby.url(name)
    }

    /// Test settings reading through the standby with this staleness bound.
    fn settings(&self, max_lag_ms: u64) -> zouqin::config::Settings {
        let mut settings = settings();
        settings.replica.read_database_url = Some(self.read_url());
        settings.replica.read_max_lag_ms = max_lag_ms;
        settings
    }

    /// An in-process instance reading through the standby, on the world.
    async fn app(&self, max_lag_ms: u64) -> TestApp {
        let app = spawn_on(&self.url, self.settings(max_lag_ms)).await;
        app.seed_world().await;
        app
    }

    /// Two `zouqin` processes reading through the standby, on the world.
    async fn pair(&self, max_lag_ms: u64) -> (TestApp, TestApp) {
        let read_url = self.read_url();
        let lag = max_lag_ms.to_string();
        let env = [
            ("ZOUQIN_READ_DATABASE_URL", read_url.as_str()),
            ("ZOUQIN_READ_MAX_LAG_MS", lag.as_str()),
        ];
        let a = spawn_process_with(&self.url, &env).await;
        a.seed_world().await;
        let b = spawn_process_with(&self.url, &env).await;
        (a, b)
    }

    /// Pauses replay on the standby until the guard is dropped.
    async fn pause_replay(&self) -> Resume {
        let standby = self.standby;
        blocking(move || {
            standby
                .sql("SELECT pg_wal_replay_pause()")
                .expect("pause replay")
        })
        .await;
        Resume(standby)
    }
}

/// Resumes the standby's replay when dropped (also when the test fails).
struct Resume(&'static Standby);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = self.0.sql("SELECT pg_wal_replay_resume()");
    }
}

/// Starts the standby again when dropped, if it is down (also when the test fails).
struct Restart(&'static Standby);

impl Drop for Restart {
    fn drop(&mut self) {
        if !self.0.is_running() {
            let _ = self.0.start();
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Polls `check` every 50 ms until it holds; panics with `what` after three minutes (a
/// standby replays whatever else the shared server was busy writing meanwhile).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(180);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

const FRESH: &str = "zouqin_replica_fresh";
const READ_REPLICA: &str = "zouqin_replica_routed_reads_total{server=\"replica\"}";
const READ_PRIMARY: &str = "zouqin_replica_routed_reads_total{server=\"primary\"}";

/// Whether the instance counts its replica fresh right now.
async fn fresh(app: &TestApp) -> bool {
    if app.process.is_some() {
        return app.metric(FRESH).await == 1.0;
    }
    app.state()
        .services
        .replica
        .as_ref()
        .is_some_and(zouqin::db::replica::Replica::is_fresh)
}

const SEATS: &str = "query($id: ID!) { performance(id: $id) { seatsAvailable } }";

/// The performance's free seats as `token` (or an anonymous caller) reads them; `None` when
/// it does not see the performance. Panics on any other error: reads never fail here.
async fn seats(app: &TestApp, token: Option<&str>, perf: &str) -> Option<i64> {
    let r = app.gql(token, SEATS, json!({ "id": perf })).await;
    if r.code() == Some("NOT_FOUND") {
        return None;
    }
    r.data()["performance"]["seatsAvailable"].as_i64()
}

/// Waits until the instance's replica is fresh and an anonymous caller sees `expected`
/// free seats of `perf` (the standby has replayed the set-up).
async fn settled(app: &TestApp, perf: &str, expected: i64) {
    eventually("the replica is fresh and has the set-up", || async {
        fresh(app).await && seats(app, None, perf).await == Some(expected)
    })
    .await;
}

#[tokio::test]
async fn anonymous_browsing_reads_the_standby_on_postgres() {
    let Some(fx) = Fixture::new("anonymous_browsing_reads_the_standby_on_postgres").await else {
        return;
    };
    // Two minutes of allowed staleness: a paused standby stays "fresh" for the whole test.
    let app = fx.app(120_000).await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::General(10), json!({})).await.id;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    settled(&app, &perf, 10).await;
    let before = app.metric(READ_REPLICA).await;

    let paused = fx.pause_replay().await;
    let r = book_quantity(&app, &resident, &perf, 3).await;
    assert_eq!(r.data()["bookSeats"]["status"], "CONFIRMED");
    // The resident reads the primary; an anonymous caller reads the paused standby.
    assert_eq!(seats(&app, Some(&resident), &perf).await, Some(7));
    assert_eq!(seats(&app, None, &perf).await, Some(10));
    assert!(app.metric(READ_REPLICA).await > before);

    drop(paused);
    eventually("the standby replays the booking", || async {
        seats(&app, None, &perf).await == Some(7)
    })
    .await;
}

#[tokio::test]
async fn a_signed_in_caller_reads_its_own_writes_at_once_on_either_instance_on_postgres() {
    let Some(fx) = Fixture::new(
        "a_signed_in_caller_reads_its_own_writes_at_once_on_either_instance_on_postgres",
    )
    .await
    else {
        return;
    };
    let (a, b) = fx.pair(120_000).await;
    let admin = a.admin("pinghu").await;
    let resident = a.residents_fast(1, "pinghu").await.remove(0);
    let warm_up = show(&a, &admin, Layout::General(5), json!({})).await.id;
    settled(&a, &warm_up, 5).await;
    settled(&b, &warm_up, 5).await;

    // With replay paused, anything read from the standby is stale: the writes below are
    // visible only on the primary.
    let _paused = fx.pause_replay().await;
    let perf = show(&a, &admin, Layout::General(10), json!({})).await.id;
    let r = b
        .gql(
            Some(&admin),
            "query($id: ID!) { performance(id: $id) { status } }",
            json!({ "id": perf }),
        )
        .await;
    assert_eq!(r.data()["performance"]["status"], "PUBLISHED");
    let r = book_quantity(&b, &resident, &perf, 3).await;
    let booking = r.data()["bookSeats"]["id"].clone();
    let mine = a
        .gql(
            Some(&resident),
            "{ myBookings(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.data()["myBookings"]["edges"][0]["node"]["id"], booking);
    assert_eq!(seats(&a, Some(&resident), &perf).await, Some(7));
    assert_eq!(seats(&b, Some(&resident), &perf).await, Some(7));
    // Meanwhile an anonymous caller is still served by the paused standby.
    assert_eq!(seats(&b, None, &perf).await, None);
}

const REPORT: &str = "query($y: Int!) { exchangeReport(year: $y) { \
     providerCenter { code } hostCenter { code } sessionsScheduled } }";
const AUDIT: &str =
    "{ auditLog(action: \"performance.publish\", first: 100) { edges { node { subjectId } } } }";

/// Sessions scheduled from Pinghu at Jinshan this year, in Jinshan's report on `app`.
async fn pinghu_at_jinshan(app: &TestApp, token: &str, year: i32) -> i64 {
    let r = app.gql(Some(token), REPORT, json!({ "y": year })).await;
    r.data()["exchangeReport"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| {
            row["providerCenter"]["code"] == "pinghu" && row["hostCenter"]["code"] == "jinshan"
        })
        .map(|row| row["sessionsScheduled"].as_i64().expect("count"))
        .sum()
}

/// Whether Jinshan's audit log on `app` shows the publication of `perf`.
async fn audited(app: &TestApp, token: &str, perf: &str) -> bool {
    let r = app.gql(Some(token), AUDIT, json!({})).await;
    let perf_id = perf.to_owned();
    r.data()["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .any(|e| e["node"]["subjectId"] == perf_id.as_str())
}

#[tokio::test]
async fn a_report_right_after_a_write_includes_it_on_postgres() {
    let Some(fx) = Fixture::new("a_report_right_after_a_write_includes_it_on_postgres").await
    else {
        return;
    };
    let (a, b) = fx.pair(1_000).await;
    let world = a.world().await;
    let jinshan = a.admin("jinshan").await;
    // Two days ahead, in Shanghai's year (the report's quarters are local).
    let year: i32 = (chrono::Utc::now() + chrono::Duration::days(2))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
        .format("%Y")
        .to_string()
        .parse()
        .expect("year");
    let exchange = json!({ "originCenterId": world.pinghu });
    let warm_up = show(&a, &jinshan, Layout::General(5), json!({})).await.id;
    settled(&b, &warm_up, 5).await;
    assert_eq!(pinghu_at_jinshan(&b, &jinshan, year).await, 0);

    // Published on one instance, reported at once on the other.
    let first = show(&a, &jinshan, Layout::General(5), exchange.clone())
        .await
        .id;
    assert_eq!(pinghu_at_jinshan(&b, &jinshan, year).await, 1);
    assert!(audited(&b, &jinshan, &first).await);

    // Reports do read the standby once it has caught up (and still include the write).
    let before = b.metric(READ_REPLICA).await;
    eventually("a report reads the standby", || async {
        assert_eq!(pinghu_at_jinshan(&b, &jinshan, year).await, 1);
        b.metric(READ_REPLICA).await > before
    })
    .await;

    // A standby that has not replayed the write is not used for the report.
    let _paused = fx.pause_replay().await;
    let primary_before = b.metric(READ_PRIMARY).await;
    let second = show(&a, &jinshan, Layout::General(5), exchange).await.id;
    assert_eq!(pinghu_at_jinshan(&b, &jinshan, year).await, 2);
    assert!(audited(&b, &jinshan, &second).await);
    assert!(b.metric(READ_PRIMARY).await > primary_before);
}

#[tokio::test]
async fn a_standby_that_stops_replaying_hands_anonymous_reads_to_the_primary_on_postgres() {
    let Some(fx) = Fixture::new(
        "a_standby_that_stops_replaying_hands_anonymous_reads_to_the_primary_on_postgres",
    )
    .await
    else {
        return;
    };
    let app = fx.app(300).await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::General(10), json!({})).await.id;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    settled(&app, &perf, 10).await;

    let paused = fx.pause_replay().await;
    book_quantity(&app, &resident, &perf, 3).await;
    // Within the staleness bound plus a poll the standby is no longer fresh, and anonymous
    // reads come from the primary; none of them fails meanwhile (`seats` panics on errors).
    eventually("anonymous reads show the booking", || async {
        seats(&app, None, &perf).await == Some(7)
    })
    .await;
    assert!(!fresh(&app).await);

    drop(paused);
    eventually("the standby is fresh again", || fresh(&app)).await;
    let before = app.metric(READ_REPLICA).await;
    assert_eq!(seats(&app, None, &perf).await, Some(7));
    assert!(app.metric(READ_REPLICA).await > before);
}

#[tokio::test]
async fn a_standby_that_goes_away_never_fails_an_anonymous_read_on_postgres() {
    let Some(fx) =
        Fixture::new("a_standby_that_goes_away_never_fails_an_anonymous_read_on_postgres").await
    else {
        return;
    };
    let app = fx.app(1_000).await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::General(10), json!({})).await.id;
    let resident = app.residents_fast(1, "pinghu").await.remove(0);
    settled(&app, &perf, 10).await;
    let before = app.metric(READ_REPLICA).await;
    assert_eq!(seats(&app, None, &perf).await, Some(10));
    assert!(app.metric(READ_REPLICA).await > before);

    let _restart = Restart(fx.standby);
    let standby = fx.standby;
    blocking(move || standby.stop_immediate().expect("stop the standby")).await;
    // The very first read after the stop included: answers, no error.
    for _ in 0..20 {
        assert_eq!(seats(&app, None, &perf).await, Some(10));
    }
    book_quantity(&app, &resident, &perf, 3).await;
    assert_eq!(seats(&app, None, &perf).await, Some(7));
    assert!(!fresh(&app).await);

    // Back: used again.
    blocking(move || standby.start().expect("start the standby")).await;
    eventually("the standby is fresh again", || fresh(&app)).await;
    let before = app.metric(READ_REPLICA).await;
    assert_eq!(seats(&app, None, &perf).await, Some(7));
    assert!(app.metric(READ_REPLICA).await > before);
}

/// Lets the standby run again when dropped (also when the test fails).
struct Thaw(&'static Standby);

impl Drop for Thaw {
    fn drop(&mut self) {
        let _ = self.0.thaw();
    }
}

#[tokio::test]
async fn a_read_the_standby_cannot_answer_is_answered_by_the_primary_on_postgres() {
    let Some(fx) =
        Fixture::new("a_read_the_standby_cannot_answer_is_answered_by_the_primary_on_postgres")
            .await
    else {
        return;
    };
    // A long staleness bound, so that only the failed read (not the watcher) can stop the
    // instance from routing to the standby during the first request.
    let app = fx.app(120_000).await;
    let admin = app.admin("pinghu").await;
    let perf = show(&app, &admin, Layout::General(10), json!({})).await.id;
    settled(&app, &perf, 10).await;
    let fallbacks = app.metric("zouqin_replica_fallbacks_total").await;

    // A hung standby: routed there (it was fresh a moment ago), the read waits out the read
    // pool's acquire timeout and runs again on the primary.
    let thaw = Thaw(fx.standby);
    fx.standby.freeze().expect("freeze the standby");
    assert_eq!(seats(&app, None, &perf).await, Some(10));
    assert!(app.metric("zouqin_replica_fallbacks_total").await > fallbacks);
    assert!(!fresh(&app).await);
    for _ in 0..5 {
        assert_eq!(seats(&app, None, &perf).await, Some(10));
    }

    drop(thaw);
    eventually("the standby is fresh again", || fresh(&app)).await;
}

#[tokio::test]
async fn a_server_whose_standby_is_down_at_start_serves_from_the_primary_on_postgres() {
    if postgres_or_skip(
        "a_server_whose_standby_is_down_at_start_serves_from_the_primary_on_postgres",
    )
    .is_none()
    {
        return;
    }
    let mut settings = settings();
    settings.replica.read_database_url = Some(format!(
        "postgres://postgres@127.0.0.1:{}/nowhere",
        free_port()
    ));
    let app = spawn_with_settings(settings).await;
    let r = app.anon("{ centers { code } }", json!({})).await;
    assert_eq!(r.data()["centers"].as_array().map(Vec::len), Some(3));
    assert!(!fresh(&app).await);
}

/// Runs `zouqin serve` on SQLite with `env` until it stops by itself; its exit code and
/// stderr.
async fn serve_refused(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let (mut command, _) = serve_command("sqlite::memory:");
    for (key, value) in env {
        command.env(key, value);
    }
    serve_that_stops(command).await
}

#[tokio::test]
async fn a_read_replica_needs_postgresql_on_both_sides() {
    // A SQLite primary has no standby.
    let (code, stderr) = serve_refused(&[(
        "ZOUQIN_READ_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5433/zouqin",
    )])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("ZOUQIN_READ_DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("PostgreSQL primary"), "{stderr}");

    // A read URL that is not PostgreSQL.
    let (code, stderr) = serve_refused(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zouqin"),
        ("ZOUQIN_READ_DATABASE_URL", "sqlite://replica.db"),
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must be a postgres:// URL"), "{stderr}");
}

//! The login, browse and storm scenarios.

use super::*;

// ---------------------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------------------

pub(super) struct LoginResult {
    pub(super) concurrency: usize,
    pub(super) sample: Sample,
    pub(super) rss_mib: f64,
    pub(super) cpu_ms_per_login: f64,
}

pub(super) async fn login_scenario(
    fx: &Arc<Fixture>,
    settings: &Settings,
) -> BoxResult<LoginResult> {
    let server = Server::start(fx, "login", "warn").await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let concurrency = 8;
    let cpu_before = server.cpu_ticks();
    let sample = closed_loop(
        concurrency,
        Duration::from_secs(settings.login_secs),
        Arc::new(AtomicBool::new(false)),
        login_request(&api, &fx.residents, 0),
    )
    .await;
    let cpu = server.cpu_ticks().saturating_sub(cpu_before);
    let rss_mib = server.peak_rss_mib();
    server.stop();
    Ok(LoginResult {
        concurrency,
        cpu_ms_per_login: cpu as f64 * 1000.0 / clock_ticks_per_sec() / sample.ok.max(1) as f64,
        sample,
        rss_mib,
    })
}

// ---------------------------------------------------------------------------------------
// browse (+ the shared baseline `browse.sh`)
// ---------------------------------------------------------------------------------------

pub(super) struct BrowseResult {
    pub(super) concurrency: usize,
    pub(super) sample: Sample,
    pub(super) rss_mib: f64,
    pub(super) cpu_ms_per_request: f64,
    pub(super) pg_cpu_ms_per_request: f64,
    pub(super) gen_cpu_ms_per_request: f64,
    /// `browse.sh CLIENTS SECONDS`, or why it did not run.
    pub(super) baseline: Baseline,
    pub(super) baseline_secs: u64,
    /// The same query with a resident's access token on every request: what verifying the
    /// token and checking it against the revocation snapshot costs (anonymous requests skip
    /// both).
    pub(super) signed_in: Sample,
    /// Anonymous again, on a server with the public answer cache off.
    pub(super) uncached: Sample,
    pub(super) uncached_cpu_ms_per_request: f64,
    /// Anonymous, cache off, reads on a hot standby (or why that did not run).
    pub(super) replica: Result<Sample, String>,
}

pub(super) async fn browse_scenario(
    fx: &Arc<Fixture>,
    pg: &Postgres,
    settings: &Settings,
) -> BoxResult<BrowseResult> {
    let server = Server::start(fx, "browse", "warn").await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let concurrency = 32;
    let cpu_before = server.cpu_ticks();
    let gen_before = proc_cpu_ticks(std::process::id()).unwrap_or(0);
    let pg_before = backend_ticks(&fx.pool, &fx.db_name).await;
    let sample = anonymous_browse(&api, concurrency, settings).await;
    let pg_after = backend_ticks(&fx.pool, &fx.db_name).await;
    let cpu = server.cpu_ticks().saturating_sub(cpu_before);
    let gen_cpu = proc_cpu_ticks(std::process::id())
        .unwrap_or(0)
        .saturating_sub(gen_before);
    // Then signed in, on the same server right after (the tokens are the residents').
    let signed_in = closed_loop(
        concurrency,
        Duration::from_secs(settings.browse_secs),
        Arc::new(AtomicBool::new(false)),
        signed_in_browse_request(&api, &fx.residents),
    )
    .await;
    let rss_mib = server.peak_rss_mib();
    server.stop();
    // Then anonymous again on a server without the public answer cache: every request
    // executes the query.
    let uncached_server = Server::start_with(
        fx,
        "browse-uncached",
        "warn",
        &[("ZOUQIN_PUBLIC_CACHE_MS", "0")],
    )
    .await?;
    let uncached_api = Api::new(&uncached_server)?;
    warm_up(&uncached_api).await;
    let uncached_before = uncached_server.cpu_ticks();
    let uncached = anonymous_browse(&uncached_api, concurrency, settings).await;
    let uncached_cpu = uncached_server.cpu_ticks().saturating_sub(uncached_before);
    uncached_server.stop();
    let replica = replica_browse(fx, concurrency, settings).await;
    let per = |ticks: u64| ticks as f64 * 1000.0 / clock_ticks_per_sec() / sample.ok.max(1) as f64;
    // The shared baseline, as it is, with zouqin's concurrency (capped by the free connections).
    let clients = concurrency.min(pg.free_connections().await?);
    let baseline = run_baseline(
        &settings.baselines,
        "browse.sh",
        clients,
        &[clients.to_string(), settings.pgbench_secs.to_string()],
        &[],
    )
    .await;
    Ok(BrowseResult {
        concurrency,
        cpu_ms_per_request: per(cpu),
        pg_cpu_ms_per_request: per(ticks_between(&pg_before, &pg_after)),
        gen_cpu_ms_per_request: per(gen_cpu),
        sample,
        rss_mib,
        baseline,
        baseline_secs: settings.pgbench_secs,
        signed_in,
        uncached_cpu_ms_per_request: uncached_cpu as f64 * 1000.0
            / clock_ticks_per_sec()
            / uncached.ok.max(1) as f64,
        uncached,
        replica,
    })
}

/// The browse query, anonymous, `concurrency` clients for the browse phase's time.
async fn anonymous_browse(api: &Api, concurrency: usize, settings: &Settings) -> Sample {
    closed_loop(
        concurrency,
        Duration::from_secs(settings.browse_secs),
        Arc::new(AtomicBool::new(false)),
        browse_request(api),
    )
    .await
}

/// Anonymous browse, public cache off, on a server whose anonymous reads go to a hot
/// standby of the bench's PostgreSQL (a base backup on this machine, another port): what the
/// replica takes off the primary. Or why it could not run.
async fn replica_browse(
    fx: &Arc<Fixture>,
    concurrency: usize,
    settings: &Settings,
) -> Result<Sample, String> {
    let primary = format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres");
    let standby = tokio::task::spawn_blocking(move || standby::Standby::start_from(&primary))
        .await
        .map_err(|e| e.to_string())??;
    let read_url = standby.url(&fx.db_name);
    let server = Server::start_with(
        fx,
        "browse-replica",
        "warn",
        &[
            ("ZOUQIN_PUBLIC_CACHE_MS", "0"),
            ("ZOUQIN_READ_DATABASE_URL", read_url.as_str()),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    let api = Api::new(&server).map_err(|e| e.to_string())?;
    // Wait until the server finds the standby fresh (it polls every 100 ms).
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if metrics
            .lines()
            .any(|l| l.trim() == "zouqin_replica_fresh 1")
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the standby never became fresh".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    warm_up(&api).await;
    let sample = anonymous_browse(&api, concurrency, settings).await;
    server.stop();
    drop(standby);
    Ok(sample)
}

// ---------------------------------------------------------------------------------------
// storm: browse and a cheap query, idle and during continuous logins
// ---------------------------------------------------------------------------------------

pub(super) struct StormResult {
    pub(super) cheap_idle: Sample,
    pub(super) browse_idle: Sample,
    pub(super) browse_storm: Sample,
    pub(super) cheap_storm: Sample,
    pub(super) logins: Sample,
    pub(super) rss_mib: f64,
}

pub(super) async fn storm_scenario(
    fx: &Arc<Fixture>,
    settings: &Settings,
) -> BoxResult<StormResult> {
    // The storm asks whether logins starve the requests that run beside them, so every
    // request here executes: with the public answer cache on, idle browsing is served from
    // memory and each login's commit turns hits back into executions, and the ratio would
    // measure the cache's hit rate instead.
    let server =
        Server::start_with(fx, "storm", "warn", &[("ZOUQIN_PUBLIC_CACHE_MS", "0")]).await?;
    let api = Api::new(&server)?;
    warm_up(&api).await;
    let phase = Duration::from_secs(settings.storm_secs);
    let cheap_phase = Duration::from_secs(settings.storm_secs.div_ceil(2).max(4));
    let never = || Arc::new(AtomicBool::new(false));
    let cheap_idle = closed_loop(8, cheap_phase, never(), cheap_request(&api)).await;
    let browse_idle = closed_loop(32, phase, never(), browse_request(&api)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let storm = tokio::spawn(closed_loop(
        STORM_LOGINS,
        Duration::from_secs(3600),
        stop.clone(),
        // Other accounts than the login scenario used, so no account sees a burst twice.
        login_request(&api, &fx.residents, 5_000),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let browse_storm = closed_loop(32, phase, never(), browse_request(&api)).await;
    let cheap_storm = closed_loop(8, cheap_phase, never(), cheap_request(&api)).await;
    stop.store(true, Ordering::SeqCst);
    let logins = storm.await.map_err(|e| format!("login storm task: {e}"))?;
    let rss_mib = server.peak_rss_mib();
    server.stop();
    Ok(StormResult {
        cheap_idle,
        browse_idle,
        browse_storm,
        cheap_storm,
        logins,
        rss_mib,
    })
}

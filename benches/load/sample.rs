//! Load loops and latency statistics: `Sample`, the closed loop and the request builders.

use super::*;

/// Latencies of successful requests and counts of every outcome.
#[derive(Default, Clone, Debug)]
pub(super) struct Sample {
    pub(super) latencies_us: Vec<u64>,
    pub(super) ok: u64,
    pub(super) codes: BTreeMap<String, u64>,
    pub(super) elapsed: Duration,
}

impl Sample {
    pub(super) fn absorb(&mut self, other: Sample) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
    }

    pub(super) fn finish(mut self, elapsed: Duration) -> Self {
        self.latencies_us.sort_unstable();
        self.elapsed = elapsed;
        self
    }

    pub(super) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the successful requests' latency, in ms.
    pub(super) fn ms(&self, q: f64) -> f64 {
        percentile_ms(&self.latencies_us, q)
    }

    /// The mean latency of the successful requests, in ms (what pgbench's
    /// `latency average` is for the baselines).
    pub(super) fn mean_ms(&self) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.iter().sum::<u64>() as f64 / self.latencies_us.len() as f64 / 1000.0
    }

    pub(super) fn codes_text(&self) -> String {
        if self.codes.is_empty() {
            return "none".to_owned();
        }
        self.codes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// Runs `concurrency` workers that each send one request after another until `duration`
/// passes or `stop` is set (closed loop: latency includes no queueing in the generator).
pub(super) async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    stop: Arc<AtomicBool>,
    request: F,
) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let request = request.clone();
        let counter = counter.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match request(n).await {
                    Ok(()) => {
                        sample.ok += 1;
                        sample.latencies_us.push(t.elapsed().as_micros() as u64);
                    }
                    Err(code) => *sample.codes.entry(code).or_default() += 1,
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for worker in workers {
        if let Ok(sample) = worker.await {
            total.absorb(sample);
        }
    }
    total.finish(started.elapsed())
}

pub(super) fn browse_request(
    api: &Api,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    move |_| {
        let api = api.clone();
        Box::pin(async move {
            let data = api.call(None, BROWSE_QUERY, json!({})).await?;
            match data
                .pointer("/performances/edges")
                .and_then(Value::as_array)
            {
                Some(edges) if edges.len() == 20 => Ok(()),
                _ => Err("SHORT_PAGE".to_owned()),
            }
        })
    }
}

/// The browse query with a resident's token (request `i` uses resident `i` mod their number).
pub(super) fn signed_in_browse_request(
    api: &Api,
    residents: &Arc<Vec<Resident>>,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    let residents = residents.clone();
    move |i| {
        let api = api.clone();
        let residents = residents.clone();
        Box::pin(async move {
            let token = &residents[i % residents.len().max(1)].token;
            let data = api.call(Some(token), BROWSE_QUERY, json!({})).await?;
            match data
                .pointer("/performances/edges")
                .and_then(Value::as_array)
            {
                Some(edges) if edges.len() == 20 => Ok(()),
                _ => Err("SHORT_PAGE".to_owned()),
            }
        })
    }
}

pub(super) fn cheap_request(
    api: &Api,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    move |_| {
        let api = api.clone();
        Box::pin(async move { api.call(None, CHEAP_QUERY, json!({})).await.map(|_| ()) })
    }
}

pub(super) fn login_request(
    api: &Api,
    residents: &Arc<Vec<Resident>>,
    offset: usize,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Send
+ Sync
+ 'static {
    let api = api.clone();
    let residents = residents.clone();
    move |n| {
        let api = api.clone();
        let email = residents[(offset + n) % residents.len()].email.clone();
        Box::pin(async move {
            api.call(
                None,
                LOGIN_MUTATION,
                json!({ "e": email, "p": RESIDENT_PASSWORD }),
            )
            .await
            .map(|_| ())
        })
    }
}

/// A short unmeasured run, so pool connections and keep-alive sockets exist before timing.
pub(super) async fn warm_up(api: &Api) {
    let _ = closed_loop(
        8,
        Duration::from_millis(1500),
        Arc::new(AtomicBool::new(false)),
        browse_request(api),
    )
    .await;
}

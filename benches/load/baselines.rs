//! Baselines: the shared pgbench scripts (`../shared/baselines`), run as they are.

use super::*;

/// The files of the shared baselines the bench runs (the scripts and the SQL they feed pgbench).
const BASELINE_FILES: [&str; 4] = ["browse.sh", "browse.sql", "rush.sh", "booking.sql"];

/// Where the shared baseline scripts are: `ZQ_BENCH_BASELINES`, else
/// `<project root>/../shared/baselines`.
#[derive(Clone, Debug)]
pub(super) struct Baselines {
    pub(super) dir: PathBuf,
    /// How the directory was given, for the report.
    pub(super) shown: String,
    /// Why the scripts cannot run, when they cannot (then no baseline and no ratio).
    pub(super) missing: Option<String>,
    /// The first 12 hex digits of a sha256 over the files, so runs can tell whether the
    /// baselines they compare against changed.
    pub(super) fingerprint: String,
}

impl Baselines {
    pub(super) fn locate() -> Self {
        let (dir, shown) = match std::env::var("ZQ_BENCH_BASELINES") {
            Ok(d) if !d.is_empty() => (PathBuf::from(&d), format!("`{d}` (`ZQ_BENCH_BASELINES`)")),
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/baselines"),
                "`../shared/baselines` (the default)".to_owned(),
            ),
        };
        let absent: Vec<&str> = BASELINE_FILES
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        let missing = if !dir.is_dir() {
            Some(format!(
                "the baseline directory {} does not exist (set `ZQ_BENCH_BASELINES=<dir>`)",
                dir.display()
            ))
        } else if !absent.is_empty() {
            Some(format!(
                "{} missing in {} (set `ZQ_BENCH_BASELINES=<dir>`)",
                absent.join(", "),
                dir.display()
            ))
        } else {
            None
        };
        let fingerprint = match missing {
            Some(_) => String::new(),
            None => {
                use sha2::{Digest, Sha256};
                let mut hash = Sha256::new();
                for file in BASELINE_FILES {
                    hash.update(file.as_bytes());
                    hash.update(std::fs::read(dir.join(file)).unwrap_or_default());
                }
                let hex = format!("{:x}", hash.finalize());
                hex[..12].to_owned()
            }
        };
        Self {
            dir,
            shown,
            missing,
            fingerprint,
        }
    }
}

/// What one run of a baseline script printed. The scripts print pgbench's summary lines
/// (no per-transaction log), so there is an average latency and no percentiles.
pub(super) struct BaselineRun {
    pub(super) clients: usize,
    pub(super) tps: f64,
    pub(super) transactions: Option<u64>,
    pub(super) latency_avg_ms: f64,
    /// `rush.sh`'s oversell check, when it printed one.
    pub(super) check: Option<SoldCheck>,
}

/// A baseline run, or why there is none (directory missing, script failed, output not
/// understood): reported in place of the figures, never replaced by something else.
pub(super) type Baseline = Result<BaselineRun, String>;

impl BaselineRun {
    /// Bookings per second: transactions that found no 2 free seats write nothing and do
    /// not count.
    pub(super) fn bookings_rate(&self) -> f64 {
        match (&self.check, self.transactions) {
            (Some(check), Some(t)) if t > 0 => {
                self.tps * (check.bookings as f64 / t as f64).min(1.0)
            }
            _ => self.tps,
        }
    }
}

/// `rush.sh`'s last line: `bookings=… tickets=… seats_sold=… double_sold=…`.
pub(super) struct SoldCheck {
    pub(super) line: String,
    bookings: i64,
    tickets: i64,
    seats_sold: i64,
    double_sold: i64,
}

impl SoldCheck {
    fn parse(line: &str) -> Option<Self> {
        let mut fields = HashMap::new();
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=')?;
            fields.insert(k, v.parse::<i64>().ok()?);
        }
        Some(Self {
            line: line.trim().to_owned(),
            bookings: *fields.get("bookings")?,
            tickets: *fields.get("tickets")?,
            seats_sold: *fields.get("seats_sold")?,
            double_sold: *fields.get("double_sold")?,
        })
    }

    /// No seat in two tickets, 2 tickets a booking, every ticket's seat marked sold.
    pub(super) fn sound(&self) -> bool {
        self.double_sold == 0
            && self.tickets == 2 * self.bookings
            && self.seats_sold == self.tickets
    }
}

/// Runs `<baselines>/<script> ARGS…` with `env` added, as it is, and reads what it prints.
pub(super) async fn run_baseline(
    baselines: &Baselines,
    script: &str,
    clients: usize,
    args: &[String],
    env: &[(&str, String)],
) -> Baseline {
    if let Some(why) = &baselines.missing {
        log(&format!("no baseline for {script}: {why}"));
        return Err(why.clone());
    }
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain([script.to_owned()])
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    log(&format!("baseline: {shown} …"));
    let mut cmd = Command::new("bash");
    cmd.arg(baselines.dir.join(script))
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("`{script}` could not be started: {e}")),
        Err(e) => return Err(format!("`{script}`: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for line in stdout.lines() {
        log(&format!("{script}: {line}"));
    }
    if !output.status.success() {
        let tail: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        log(&format!("{script} failed ({}): {tail}", output.status));
        return Err(format!("`{shown}` failed ({}): {tail}", output.status));
    }
    parse_baseline(&stdout, clients).map_err(|why| {
        log(&format!("{script}: {why}"));
        format!("`{shown}`: {why}")
    })
}

/// pgbench's `tps = …` (the last one: older pgbench printed the figure with connection time
/// first), `latency average = … ms`, `number of transactions actually processed: N[/M]` and,
/// from `rush.sh`, the oversell check.
pub(super) fn parse_baseline(stdout: &str, clients: usize) -> Result<BaselineRun, String> {
    let value_after = |prefix: &str| {
        stdout
            .lines()
            .rfind(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    let tps = value_after("tps = ")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or("printed no `tps = …` line")?;
    let latency_avg_ms = value_after("latency average = ")
        .and_then(|v| v.strip_suffix("ms")?.trim().parse::<f64>().ok())
        .ok_or("printed no `latency average = … ms` line")?;
    let transactions = value_after("number of transactions actually processed:")
        .and_then(|v| v.split('/').next()?.trim().parse::<u64>().ok());
    let check = stdout
        .lines()
        .rfind(|l| l.starts_with("bookings="))
        .and_then(SoldCheck::parse);
    Ok(BaselineRun {
        clients,
        tps,
        transactions,
        latency_avg_ms,
        check,
    })
}

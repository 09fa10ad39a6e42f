//! Report: the machine, the rendered blocks, the targets and BENCHMARKS.md.

use super::*;

#[derive(Default)]
pub(super) struct Results {
    pub(super) profile: Option<Profile>,
    pub(super) login: Option<LoginResult>,
    pub(super) browse: Option<BrowseResult>,
    pub(super) storm: Option<StormResult>,
    pub(super) rush: Option<RushResult>,
    pub(super) cancellations: Option<cancellations::CancellationResult>,
    pub(super) big: Option<big::BigResult>,
}

pub(super) struct Machine {
    pub(super) nproc: usize,
    pub(super) cpu: String,
    pub(super) memory: String,
    date: String,
    pub(super) load_before: String,
    git: String,
}

impl Machine {
    pub(super) fn probe() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let run = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let commit = run("git", &["rev-parse", "--short", "HEAD"]);
        let changed: Vec<String> = run("git", &["status", "--porcelain", "--untracked-files=no"])
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect();
        Self {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            memory: run("free", &["-h"]),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            load_before: loadavg(),
            git: match changed.len() {
                0 => commit,
                1..=4 => format!("{commit} + uncommitted changes to {}", changed.join(", ")),
                n => format!("{commit} + {n} uncommitted files"),
            },
        }
    }
}

pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(super) struct MachineReport {
    pub(super) before: Machine,
    pub(super) load_after: String,
    pub(super) command: String,
    pub(super) pg_version: String,
    pub(super) pg_settings: String,
    pub(super) baselines: Baselines,
    pub(super) server_env: String,
    pub(super) total: Duration,
}

pub(super) fn f0(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.0}")
    }
}

pub(super) fn f1(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.1}")
    }
}

fn f2(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn pct(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else {
        format!("{:.0}%", v * 100.0)
    }
}

pub(super) fn stamp(m: &MachineReport) -> String {
    format!("_{} · `{}` · {}_\n", m.before.date, m.command, m.before.git)
}

/// The generated blocks of BENCHMARKS.md, by name, in order.
pub(super) fn render(m: &MachineReport, r: &Results, all: bool) -> Vec<(&'static str, String)> {
    let mut blocks = Vec::new();
    let mut s = String::new();
    let _ = writeln!(s, "### Machine and run\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| date | {} |", m.before.date);
    let _ = writeln!(s, "| command | `{}` |", m.command);
    let _ = writeln!(s, "| code | {} |", m.before.git);
    let _ = writeln!(s, "| `nproc` | {} |", m.before.nproc);
    let _ = writeln!(s, "| CPU | {} |", m.before.cpu);
    let _ = writeln!(
        s,
        "| PostgreSQL | {} on 127.0.0.1 ({}) |",
        m.pg_version, m.pg_settings
    );
    let _ = writeln!(
        s,
        "| zouqin | release binary, default settings (DB pool 16), `ZOUQIN_IP_RATE_LIMIT=0`, `RUST_LOG=warn`; restarted for every scenario and rush run |"
    );
    let _ = match &m.baselines.missing {
        None => writeln!(
            s,
            "| baselines | {}: `browse.sh`, `rush.sh` (pgbench), run as they are; files sha256 {} |",
            m.baselines.shown, m.baselines.fingerprint
        ),
        Some(why) => writeln!(
            s,
            "| baselines | **none: {}**; browse and rush have no baseline and no ratio in this run |",
            cell(why)
        ),
    };
    let _ = writeln!(
        s,
        "| load average (1/5/15 min) | {} at the start, {} at the end (the 2 cores are shared with other work) |",
        m.before.load_before, m.load_after
    );
    if !m.server_env.is_empty() {
        let _ = writeln!(
            s,
            "| extra server environment (`ZQ_BENCH_SERVER_ENV`) | `{}` |",
            m.server_env
        );
    }
    let _ = writeln!(s, "| whole run | {:.0} s |", m.total.as_secs_f64());
    let _ = writeln!(s, "\n`free -h`:\n\n```\n{}\n```", m.before.memory);
    blocks.push(("machine", s));

    if let Some(l) = &r.login {
        let mut s = String::new();
        let _ = writeln!(s, "### login\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "| concurrency | duration | logins/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/login | peak RSS |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        let _ = writeln!(
            s,
            "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} MiB |",
            l.concurrency,
            l.sample.elapsed.as_secs_f64(),
            f1(l.sample.rate()),
            f1(l.sample.ms(0.5)),
            f1(l.sample.ms(0.95)),
            f1(l.sample.ms(0.99)),
            l.sample.codes_text(),
            f1(l.cpu_ms_per_login),
            f1(l.rss_mib)
        );
        blocks.push(("login", s));
    }

    if let Some(b) = &r.browse {
        let mut s = String::new();
        let _ = writeln!(s, "### browse\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "`{BROWSE_QUERY}`, anonymous; then the same with a resident's access token on every request (signature, claims and the revocation snapshot checked: the cost of signing in).\n"
        );
        let _ = writeln!(
            s,
            "| | clients | req/s | latency avg ms | p50 ms | p95 ms | p99 ms | errors |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
        let mut row = |label: String, sample: &Sample| {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} | {} | {} | {} |",
                b.concurrency,
                f0(sample.rate()),
                f1(sample.mean_ms()),
                f1(sample.ms(0.5)),
                f1(sample.ms(0.95)),
                f1(sample.ms(0.99)),
                sample.codes_text()
            );
        };
        row("zouqin".to_owned(), &b.sample);
        row(
            format!(
                "zouqin, signed in (÷ anonymous: {})",
                pct(b.signed_in.rate() / b.sample.rate())
            ),
            &b.signed_in,
        );
        row(
            format!(
                "zouqin, anonymous, public cache off (÷ anonymous: {})",
                pct(b.uncached.rate() / b.sample.rate())
            ),
            &b.uncached,
        );
        match &b.replica {
            Ok(replica) => row(
                format!(
                    "zouqin, anonymous, public cache off, reads on a hot standby (÷ cache off on the primary: {})",
                    pct(replica.rate() / b.uncached.rate())
                ),
                replica,
            ),
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| zouqin with a hot standby | **not run**: {} | | | | | | |",
                    cell(why)
                );
            }
        }
        match &b.baseline {
            Ok(p) => {
                let _ = writeln!(
                    s,
                    "| baseline `browse.sh {} {}` | {} | {} | {} | – | – | – | – |",
                    p.clients,
                    b.baseline_secs,
                    p.clients,
                    f0(p.tps),
                    f1(p.latency_avg_ms),
                );
                let _ = writeln!(
                    s,
                    "| **zouqin / baseline** | | **{}** | | | | | |",
                    pct(b.sample.rate() / p.tps)
                );
                let _ = writeln!(
                    s,
                    "| zouqin with the public cache off / baseline | | {} | | | | | |",
                    pct(b.uncached.rate() / p.tps)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| baseline `browse.sh` | **none**: {} | | | | | | |",
                    cell(why)
                );
            }
        }
        let _ = writeln!(
            s,
            "\nBaseline: the shared `browse.sh`, as it is, on its own database (`zouqin_limit_browse`): pgbench runs one indexed join over 3 small tables (20 upcoming published performances with venue, center and a *stored* seat count; simple protocol), for {} s. It leaves out what zouqin's request does beyond that: HTTP, GraphQL parsing and validation, the auth layer, and summing the counting slots of each performance on the page. With the public answer cache (on by default) a repeated anonymous request is served from memory after one `pg_current_snapshot()` shows no commit since the answer was computed; the cache-off row executes every request. It prints tps and the average latency, no percentiles.",
            b.baseline_secs
        );
        if let Err(why) = &b.baseline {
            let _ = writeln!(
                s,
                "\n**No baseline in this run** ({}), so no ratio.",
                cell(why)
            );
        }
        if let Some(p) = &r.profile {
            let _ = writeln!(
                s,
                "\nStatements zouqin runs per browse request (its sqlx statement log): {} — {}; `{{ centers {{ code }} }}`: {}.",
                p.browse_statements.len(),
                p.browse_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                p.cheap_statements.len()
            );
        }
        let _ = writeln!(
            s,
            "\nCPU per browse request: zouqin {} ms (public cache off: {} ms), PostgreSQL backends {} ms, load generator {} ms. Server peak RSS {} MiB.",
            f2(b.cpu_ms_per_request),
            f2(b.uncached_cpu_ms_per_request),
            f2(b.pg_cpu_ms_per_request),
            f2(b.gen_cpu_ms_per_request),
            f1(b.rss_mib)
        );
        blocks.push(("browse", s));
    }

    if let Some(st) = &r.storm {
        let mut s = String::new();
        let _ = writeln!(s, "### storm\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "On a server with the public answer cache off (`ZOUQIN_PUBLIC_CACHE_MS=0`): every request executes, so the ratios measure whether logins starve the requests beside them.\n"
        );
        let _ = writeln!(
            s,
            "| phase | query | clients | req/s | p50 ms | p95 ms | p99 ms | errors |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
        for (phase, query, c, x) in [
            ("idle", "`{ centers { code } }`", 8, &st.cheap_idle),
            ("idle", "browse", 32, &st.browse_idle),
            ("20 logins running", "browse", 32, &st.browse_storm),
            (
                "20 logins running",
                "`{ centers { code } }`",
                8,
                &st.cheap_storm,
            ),
            ("(the storm itself)", "`login`", STORM_LOGINS, &st.logins),
        ] {
            let _ = writeln!(
                s,
                "| {phase} | {query} | {c} | {} | {} | {} | {} | {} |",
                f1(x.rate()),
                f1(x.ms(0.5)),
                f1(x.ms(0.95)),
                f1(x.ms(0.99)),
                x.codes_text()
            );
        }
        let _ = writeln!(
            s,
            "\n**browse p99 during logins / idle: {:.2}×** (p50 {:.2}×, throughput {}); cheap query p99 during logins / idle: **{:.2}×**. Server peak RSS {} MiB.",
            st.browse_storm.ms(0.99) / st.browse_idle.ms(0.99),
            st.browse_storm.ms(0.5) / st.browse_idle.ms(0.5),
            pct(st.browse_storm.rate() / st.browse_idle.rate()),
            st.cheap_storm.ms(0.99) / st.cheap_idle.ms(0.99),
            f1(st.rss_mib)
        );
        blocks.push(("storm", s));
    }

    if let Some(rush) = &r.rush {
        let mut s = String::new();
        let _ = writeln!(s, "### rush\n\n{}", stamp(m));
        let _ = writeln!(
            s,
            "One RESERVED performance of {} seats (100 rows × 200) per run, {} residents, each `bookSeats(quantity: 2, idempotencyKey)` once, until SOLD_OUT or {} s.\n\nBaseline: the shared `SEATS={} rush.sh CLIENTS`, as it is, on its own database (`zouqin_limit`), at the same client count (capped by the free connections of the shared server): pgbench books 2 seats per transaction in one statement (pick 2 free seats `FOR UPDATE SKIP LOCKED`, insert the booking, mark the seats, insert 2 tickets), {} / 2 / CLIENTS transactions per client, so {} or a few less bookings. It leaves out the performance's status and booking-window check, the per-resident limit, idempotency, the performance row lock and the writers' advisory lock, the NOTIFY of availability, and HTTP/GraphQL/JWT. It prints tps, the transactions, the average latency and its oversell check (`bookings=… tickets=… seats_sold=… double_sold=…`), no percentiles.\n",
            rush.capacity,
            rush.residents,
            rush.cap_secs,
            rush.capacity,
            rush.capacity,
            rush.capacity / 2
        );
        if let Some(Err(why)) = rush.runs.first().map(|r| &r.baseline) {
            let _ = writeln!(
                s,
                "**No baseline in this run** ({}), so no ratio.\n",
                cell(why)
            );
        }
        let _ = writeln!(
            s,
            "| clients | sold out | bookings | wall | bookings/s | p50 ms | p95 ms | p99 ms | other outcomes | split pairs | peak RSS |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        for run in &rush.runs {
            let x = &run.sample;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} MiB |",
                run.label(),
                if run.sold_out { "yes" } else { "no (time cap)" },
                x.ok,
                x.elapsed.as_secs_f64(),
                f1(x.rate()),
                f1(x.ms(0.5)),
                f1(x.ms(0.95)),
                f1(x.ms(0.99)),
                x.codes_text(),
                run.split,
                f1(run.rss_mib)
            );
        }
        let _ = writeln!(
            s,
            "\n| clients | baseline clients | baseline transactions | baseline bookings/s | latency avg ms: zouqin / baseline | **zouqin / baseline** | oversell check (zouqin run) | oversell check (`rush.sh`) | CPU ms per booking: zouqin / PostgreSQL / load generator |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---|---:|---|---|---|");
        for run in &rush.runs {
            let (clients, transactions, rate, baseline_avg, ratio, check) = match &run.baseline {
                Ok(p) => (
                    p.clients.to_string(),
                    p.transactions.map_or("–".to_owned(), |t| t.to_string()),
                    f0(p.bookings_rate()),
                    f1(p.latency_avg_ms),
                    format!("**{}**", pct(run.sample.rate() / p.bookings_rate())),
                    match &p.check {
                        Some(c) => format!(
                            "{}: `{}`",
                            if c.sound() { "ok" } else { "**FAILED**" },
                            c.line
                        ),
                        None => "**printed no check**".to_owned(),
                    },
                ),
                Err(why) => {
                    let none = "–".to_owned();
                    let why = format!("none: {}", cell(why));
                    (
                        none.clone(),
                        none.clone(),
                        none.clone(),
                        none.clone(),
                        none,
                        why,
                    )
                }
            };
            let _ = writeln!(
                s,
                "| {} | {clients} | {transactions} | {rate} | {} / {baseline_avg} | {ratio} | {} | {check} | {} / {} / {} |",
                run.label(),
                f1(run.sample.mean_ms()),
                check_text(&run.check, run.sold_out, run.sample.ok),
                f1(run.cpu_ms),
                f1(run.pg_cpu_ms),
                f1(run.gen_cpu_ms)
            );
        }
        if let Some(p) = &r.profile {
            let _ = writeln!(
                s,
                "\nOne `bookSeats` costs **{} SQL round trips** (the server's own sqlx statement log, the second booking of a performance on an idle server; a BEGIN that sqlx does not log is counted): {}. The first booking after a start also reads what the server keeps for a second or more (performance, venue's seating, the free front rows): {}.\n",
                p.booking_round_trips(),
                p.booking_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                p.first_booking_statements
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            );
        }
        let _ = writeln!(
            s,
            "The best-available search's free-seat read (the parallel path's seat picture reads it about once per 300 bookings or 2 s; the exact path's `claim_best` once per booking) on a fresh {}-seat performance:\n\n| read | rows | inside PostgreSQL (EXPLAIN ANALYZE) | a client's fetch |\n|---|---:|---:|---:|",
            rush.capacity
        );
        for cost in &rush.free_seat_reads {
            let _ = writeln!(
                s,
                "| {} | {} | {} ms | {} ms |",
                cost.what,
                cost.rows,
                f1(cost.query_ms),
                f1(cost.fetch_ms)
            );
        }
        blocks.push(("rush", s));
    }
    if let Some(c) = &r.cancellations {
        blocks.push(("cancellations", cancellations::render(m, c)));
    }
    if let Some(b) = &r.big {
        blocks.push(("big", big::render(m, b)));
    }

    if all {
        blocks.push(("targets", targets(m, r)));
    }
    blocks
}

/// Text for a table cell: no pipes or line breaks.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub(super) fn check_text(inv: &Inventory, sold_out: bool, responses: u64) -> String {
    let agrees = responses as i64 == inv.confirmed;
    let ok = inv.sound(sold_out) && agrees;
    format!(
        "{}: {} confirmed, {} live tickets, {} free; double-sold seats {}, partial bookings {}{}",
        if ok { "ok" } else { "**FAILED**" },
        inv.confirmed,
        inv.live_tickets,
        inv.free,
        inv.double_sold_inventory.max(inv.double_sold_seats),
        inv.partial_bookings,
        if agrees {
            String::new()
        } else {
            format!(", but {responses} OK responses")
        }
    )
}

fn targets(m: &MachineReport, r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### Targets\n\n{}", stamp(m));
    let _ = writeln!(s, "| target | measured | |\n|---|---|---|");
    let mark = |ok: bool| if ok { "met" } else { "**missed**" };
    if let Some(rush) = &r.rush {
        let plain = rush
            .runs
            .iter()
            .find(|x| x.concurrency == SHARES_RUSH_CLIENTS && !x.shares);
        if let (Some(plain), Some(shared)) = (plain, rush.runs.iter().find(|x| x.shares)) {
            let ratio = shared.sample.rate() / plain.sample.rate();
            let _ = writeln!(
                s,
                "| rush with 50/50 seat shares ≥ 90% of the rush without shares (32 clients, same run) | {} ({} vs {} bookings/s) | {} |",
                pct(ratio),
                f1(shared.sample.rate()),
                f1(plain.sample.rate()),
                mark(ratio >= 0.9)
            );
        }
        if let Some(run) = rush.runs.iter().find(|x| x.concurrency == 32 && !x.shares) {
            match &run.baseline {
                Ok(p) => {
                    let ceiling = p.bookings_rate();
                    let ratio = run.sample.rate() / ceiling;
                    let _ = writeln!(
                        s,
                        "| rush at 32 clients ≥ 50% of the `rush.sh` baseline | {} ({} vs {} bookings/s, baseline at {} clients) | {} |",
                        pct(ratio),
                        f1(run.sample.rate()),
                        f0(ceiling),
                        p.clients,
                        mark(ratio >= 0.5)
                    );
                }
                Err(why) => {
                    let _ = writeln!(
                        s,
                        "| rush at 32 clients ≥ 50% of the `rush.sh` baseline | no baseline: {} | not measured |",
                        cell(why)
                    );
                }
            }
            let p99 = run.sample.ms(0.99);
            let _ = writeln!(
                s,
                "| rush at 32 clients p99 < 100 ms | {} ms | {} |",
                f1(p99),
                mark(p99 < 100.0)
            );
        }
        let oversold: i64 = rush
            .runs
            .iter()
            .map(|x| x.check.double_sold_inventory + x.check.double_sold_seats)
            .sum();
        let sound = rush
            .runs
            .iter()
            .all(|x| x.check.sound(x.sold_out) && x.check.confirmed == x.sample.ok as i64);
        let _ = writeln!(
            s,
            "| zero oversell | {} double-sold seats; every run's SQL check {} | {} |",
            oversold,
            if sound { "ok" } else { "FAILED" },
            mark(oversold == 0 && sound)
        );
        let internal: u64 = rush
            .runs
            .iter()
            .map(|x| x.sample.codes.get("INTERNAL").copied().unwrap_or(0))
            .sum();
        let _ = writeln!(
            s,
            "| zero INTERNAL | {internal} | {} |",
            mark(internal == 0)
        );
    }
    if let Some(b) = &r.browse {
        match &b.baseline {
            Ok(p) => {
                let ratio = b.sample.rate() / p.tps;
                let _ = writeln!(
                    s,
                    "| browse ≥ 40% of the `browse.sh` baseline | {} ({} vs {} req/s) | {} |",
                    pct(ratio),
                    f0(b.sample.rate()),
                    f0(p.tps),
                    mark(ratio >= 0.4)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    s,
                    "| browse ≥ 40% of the `browse.sh` baseline | no baseline: {} | not measured |",
                    cell(why)
                );
            }
        }
    }
    if let Some(st) = &r.storm {
        let ratio = st.browse_storm.ms(0.99) / st.browse_idle.ms(0.99);
        let _ = writeln!(
            s,
            "| storm: browse p99 ≤ 2× idle | {:.2}× ({} vs {} ms) | {} |",
            ratio,
            f1(st.browse_storm.ms(0.99)),
            f1(st.browse_idle.ms(0.99)),
            mark(ratio <= 2.0)
        );
    }
    let mut peaks: Vec<(String, f64)> = Vec::new();
    if let Some(l) = &r.login {
        peaks.push(("login".into(), l.rss_mib));
    }
    if let Some(b) = &r.browse {
        peaks.push(("browse".into(), b.rss_mib));
    }
    if let Some(st) = &r.storm {
        peaks.push(("storm".into(), st.rss_mib));
    }
    if let Some(rush) = &r.rush {
        for run in &rush.runs {
            peaks.push((format!("rush {}", run.label()), run.rss_mib));
        }
    }
    let max = peaks.iter().map(|p| p.1).fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "| peak RSS < 150 MiB | {} MiB at most ({}) | {} |",
        f1(max),
        peaks
            .iter()
            .map(|(n, v)| format!("{n} {}", f1(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        mark(max < 150.0)
    );
    s
}

const BEGIN: &str = "<!-- zq-bench:begin ";
const END: &str = "<!-- zq-bench:end ";

/// Replaces the generated blocks of BENCHMARKS.md that this run produced, keeping the
/// others and everything written by hand around them.
pub(super) fn write_benchmarks_md(path: &Path, blocks: &[(&str, String)]) -> BoxResult<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| {
        let mut t = String::from(
            "# Benchmarks\n\n`cargo bench --bench load -- all` (or `login`, `browse`, `storm`, `rush`). The blocks below are written by `benches/load.rs`; each carries the date and command of the run that produced it.\n\n",
        );
        for name in ["machine", "targets", "login", "browse", "storm", "rush", "cancellations"] {
            let _ = write!(t, "{BEGIN}{name} -->\n_not run yet_\n{END}{name} -->\n\n");
        }
        t.push_str("## What we found\n\n_to be written_\n");
        t
    });
    for (name, body) in blocks {
        let open = format!("{BEGIN}{name} -->");
        let close = format!("{END}{name} -->");
        let replacement = format!("{open}\n{body}\n{close}");
        match (text.find(&open), text.find(&close)) {
            (Some(a), Some(b)) if b > a => {
                text.replace_range(a..b + close.len(), &replacement);
            }
            _ => {
                let at = text.find("## What we found").unwrap_or(text.len());
                text.insert_str(at, &format!("{replacement}\n\n"));
            }
        }
    }
    std::fs::write(path, text)?;
    Ok(())
}

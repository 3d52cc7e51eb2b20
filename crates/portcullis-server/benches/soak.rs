//! Soak: mixed traffic at about half of capacity for a long time, sampled every few seconds.
//!
//! Starts the release `portcullis serve` on a fresh Postgres database (as the load benchmark
//! does), registers its clients and users with the CLI, measures capacity with a short
//! closed-loop burst of the mix (or takes `--rate`), then starts operations open-loop at
//! `--fraction` of it (half by default) for `--minutes`. The mix: client_credentials
//! (certificate-bound, mTLS listener), introspection, revocation, RFC 7591 registration with an
//! initial access token, and whole authorization code flows through the real pages (PAR,
//! sign-in page, sign-in, consent, code exchange, refresh; DPoP-bound). Every `--sample-secs` it
//! writes a CSV row: server RSS and open files, database connections, CPU split, and per kind
//! good answers per second, p50/p99 and errors. `soak/plot.py` draws the CSV.
//!
//! ```text
//! cargo bench --bench soak -- [--minutes M | --seconds S] [--rate OPS] [--fraction F]
//!     [--capacity-secs S] [--workers N] [--sample-secs S] [--csv PATH]
//!     [--outage-at S --outage-secs S --outage-stop CMD --outage-start CMD]
//! ```
//!
//! With `--outage-stop` and `--outage-start` (see `benches/outage.sh`, which gives the commands
//! of a throwaway Postgres cluster), the soak runs those commands at `--outage-at` seconds, the
//! database down for `--outage-secs`, and reports errors per second against that window.
//!
//! Only 127.0.0.1 is contacted. The server is killed and the database dropped at the end, also
//! when a step fails. Figures: `docs/BENCHMARKS.md` ("Soak").

#[path = "load/cpu.rs"]
#[expect(
    dead_code,
    reason = "shared with the load benchmark, which also waits for a quiet machine"
)]
mod cpu;
#[path = "load/driver.rs"]
#[expect(
    dead_code,
    reason = "shared with the load benchmark; fixture.rs needs its types"
)]
mod driver;
#[path = "load/fixture.rs"]
#[expect(
    dead_code,
    reason = "shared with the load benchmark; the soak uses its keys"
)]
mod fixture;
#[path = "soak/outage.rs"]
mod outage;
#[path = "soak/record.rs"]
mod record;
#[path = "soak/sample.rs"]
mod sample;
#[path = "load/server.rs"]
mod server;
#[path = "soak/traffic.rs"]
mod traffic;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use tokio::task::JoinSet;

use crate::record::Recorder;
use crate::sample::{Row, Sampler, Watched};
use crate::server::{Database, Server};
use crate::traffic::{MIX, Traffic};

/// Warm-up before the capacity burst.
const WARMUP: Duration = Duration::from_secs(5);

/// Added to the planned duration: the whole soak stops after that, whatever happens.
const OVERALL_MARGIN: Duration = Duration::from_secs(10 * 60);

/// What to run.
#[derive(Debug)]
struct Args {
    duration: Duration,
    rate: Option<f64>,
    fraction: f64,
    capacity: Duration,
    workers: usize,
    sample: Duration,
    max_in_flight: usize,
    csv: PathBuf,
    outage: Option<outage::Plan>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut duration = Duration::from_secs(30 * 60);
        let mut rate = None;
        let mut fraction = 0.5;
        let mut capacity = Duration::from_secs(20);
        let mut workers = 16;
        let mut sample = Duration::from_secs(10);
        let mut max_in_flight = 256;
        let mut csv = None;
        let mut outage_at = Duration::from_secs(20);
        let mut outage_secs = Duration::from_secs(5);
        let mut stop = None;
        let mut start = None;
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            let number = |text: String, range: std::ops::RangeInclusive<f64>| {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .with_context(|| format!("{arg} takes a number from {range:?}"))
            };
            match arg.as_str() {
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                "--minutes" => {
                    duration = Duration::from_secs_f64(number(value()?, 0.1..=600.0)? * 60.0);
                }
                "--seconds" => {
                    duration = Duration::from_secs_f64(number(value()?, 1.0..=36_000.0)?)
                }
                "--rate" => rate = Some(number(value()?, 0.1..=100_000.0)?),
                "--fraction" => fraction = number(value()?, 0.01..=1.0)?,
                "--capacity-secs" => {
                    capacity = Duration::from_secs_f64(number(value()?, 1.0..=600.0)?);
                }
                "--workers" => workers = number(value()?, 1.0..=256.0)? as usize,
                "--sample-secs" => sample = Duration::from_secs_f64(number(value()?, 0.5..=600.0)?),
                "--max-in-flight" => max_in_flight = number(value()?, 1.0..=10_000.0)? as usize,
                "--csv" => csv = Some(PathBuf::from(value()?)),
                "--outage-at" => {
                    outage_at = Duration::from_secs_f64(number(value()?, 1.0..=36_000.0)?)
                }
                "--outage-secs" => {
                    outage_secs = Duration::from_secs_f64(number(value()?, 0.5..=600.0)?);
                }
                "--outage-stop" => stop = Some(value()?),
                "--outage-start" => start = Some(value()?),
                other => bail!(
                    "unknown argument {other:?}; usage: cargo bench --bench soak -- [--minutes M | \
                     --seconds S] [--rate OPS] [--fraction F] [--capacity-secs S] [--workers N] \
                     [--sample-secs S] [--max-in-flight N] [--csv PATH] [--outage-at S \
                     --outage-secs S --outage-stop CMD --outage-start CMD]"
                ),
            }
        }
        let outage = match (stop, start) {
            (Some(stop), Some(start)) => {
                if outage_at + outage_secs >= duration {
                    bail!("the outage must end before the soak does");
                }
                Some(outage::Plan {
                    at: outage_at,
                    down_for: outage_secs,
                    stop,
                    start,
                })
            }
            (None, None) => None,
            _ => bail!("--outage-stop and --outage-start go together"),
        };
        let csv = csv.unwrap_or_else(|| {
            let unix = {
                use portcullis_server::setup::clock::{Clock as _, SystemClock};
                SystemClock.now().unix()
            };
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("soak-{unix}.csv"))
        });
        Ok(Self {
            duration,
            rate,
            fraction,
            capacity,
            workers,
            sample,
            max_in_flight,
            csv,
            outage,
        })
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the database, runs the soak, and drops the database whatever happened. `Ok(false)`:
/// the outage run did not meet its rules.
async fn run(args: Args) -> anyhow::Result<bool> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let db = Database::create().await?;
    eprintln!("database {}", db.name);
    let limit = args.duration + args.capacity + WARMUP + OVERALL_MARGIN;
    // Dropping the soak future on a timeout or a signal kills the server (kill_on_drop).
    let result = tokio::select! {
        result = tokio::time::timeout(limit, with_database(&args, &db)) => {
            result.unwrap_or_else(|_| Err(anyhow!("stopped after {limit:?}")))
        }
        signal = interrupted() => Err(anyhow!("stopped by {signal}")),
    };
    let dropped = db.drop_database().await;
    let pass = result?;
    dropped?;
    Ok(pass)
}

/// Resolves on Ctrl-C or SIGTERM, naming the signal.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return "SIGINT",
            _ = term.recv() => return "SIGTERM",
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Budgets raised past what the soak sends: every request comes from 127.0.0.1, a handful of
/// clients send hundreds a second, and eight accounts sign in several times a second. The load
/// benchmark's own settings raise `address.api` and `client` the same way.
fn rate_limit_overrides() -> Vec<(&'static str, String)> {
    [
        "PORTCULLIS_RATE_LIMITS__ADDRESS__BROWSER__PER_SECOND",
        "PORTCULLIS_RATE_LIMITS__ADDRESS__BROWSER__BURST",
        "PORTCULLIS_RATE_LIMITS__ADDRESS__SIGNIN__PER_SECOND",
        "PORTCULLIS_RATE_LIMITS__ADDRESS__SIGNIN__BURST",
        "PORTCULLIS_RATE_LIMITS__REGISTRATION__PER_SECOND",
        "PORTCULLIS_RATE_LIMITS__REGISTRATION__BURST",
        "PORTCULLIS_RATE_LIMITS__ACCOUNT__PER_SECOND",
        "PORTCULLIS_RATE_LIMITS__ACCOUNT__BURST",
    ]
    .into_iter()
    .map(|name| (name, "1000000".to_owned()))
    .collect()
}

/// Starts the server, runs the soak, and stops the server whatever happened.
async fn with_database(args: &Args, db: &Database) -> anyhow::Result<bool> {
    let server = Server::start(db, None, rate_limit_overrides()).await?;
    eprintln!("server pid {} ({})", server.pid, server.issuer);
    let result = with_server(args, db, &server).await;
    if result.is_err() {
        eprintln!("server log: {}", server.log_tail());
    }
    server.stop().await;
    result
}

async fn with_server(args: &Args, db: &Database, server: &Server) -> anyhow::Result<bool> {
    let traffic = Arc::new(Traffic::set_up(server).await?);
    traffic.wait_ready().await?;
    let (rate, capacity_note) = match args.rate {
        Some(rate) => (rate, format!("rate given: {rate:.1} operations/s")),
        None => {
            let capacity = measure_capacity(args, &traffic).await;
            if capacity <= 0.0 {
                bail!("no operation completed during the capacity burst");
            }
            let rate = capacity * args.fraction;
            (
                rate,
                format!(
                    "capacity {capacity:.1} operations/s ({} workers, closed loop, {} s); soak at \
                     {:.0} % of it: {rate:.1} operations/s",
                    args.workers,
                    args.capacity.as_secs_f64(),
                    args.fraction * 100.0
                ),
            )
        }
    };
    eprintln!("{capacity_note}");
    let recorder = Arc::new(Recorder::new(args.outage.is_some()));
    let comments = vec![
        format!("portcullis soak, commit {}", commit()),
        capacity_note,
        format!(
            "duration {} s, sample every {} s, mix per 20 operations: 8 client_credentials, 6 \
             introspect, 3 revoke, 2 code flows, 1 register",
            args.duration.as_secs_f64(),
            args.sample.as_secs_f64()
        ),
    ];
    let admin_url = portcullis_store::testing::postgres_admin_url();
    let watched = Watched {
        server,
        database: &db.name,
        admin_url: &admin_url,
    };
    let mut sampler = Sampler::create(watched, &args.csv, &comments, recorder.started())?;
    eprintln!("writing {}", args.csv.display());
    let deadline = recorder.started() + args.duration;
    let pacer = tokio::spawn(paced(
        Arc::clone(&traffic),
        Arc::clone(&recorder),
        rate,
        deadline,
        args.max_in_flight,
    ));
    let outage = args
        .outage
        .clone()
        .map(|plan| tokio::spawn(outage::run(plan, recorder.started())));
    let mut rows = Vec::new();
    let mut ticks =
        tokio::time::interval_at((recorder.started() + args.sample).into(), args.sample);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() + args.sample / 2 < deadline {
        ticks.tick().await;
        let row = sampler.sample(&recorder).await?;
        progress(&row);
        rows.push(row);
    }
    pacer.await.context("the pacer failed")?;
    // The operations still running at the deadline end in a short last interval: a sample of
    // it only if it is long enough to say something.
    if sampler.since_last() >= args.sample / 2 {
        let row = sampler.sample(&recorder).await?;
        progress(&row);
        rows.push(row);
    }
    summary(&recorder, &rows);
    eprintln!("CSV: {}", args.csv.display());
    match outage {
        Some(task) => {
            let window = task.await.context("the outage task failed")??;
            let pass = outage::report(&recorder.events(), &window);
            // When the server marked the database down and up (once each, if all went well).
            for line in server.log().lines().filter(|l| {
                l.contains("database unreachable") || l.contains("database reachable again")
            }) {
                println!("server: {}", strip_ansi(line));
            }
            Ok(pass)
        }
        None => Ok(true),
    }
}

/// Capacity in operations per second: the mix, closed loop on `args.workers` tasks, after a
/// warm-up.
async fn measure_capacity(args: &Args, traffic: &Arc<Traffic>) -> f64 {
    eprintln!(
        "capacity: warm-up {} s, then {} s closed loop on {} workers",
        WARMUP.as_secs(),
        args.capacity.as_secs_f64(),
        args.workers
    );
    closed_loop(
        traffic,
        &Arc::new(Recorder::new(false)),
        args.workers,
        WARMUP,
    )
    .await;
    let recorder = Arc::new(Recorder::new(false));
    let started = Instant::now();
    closed_loop(traffic, &recorder, args.workers, args.capacity).await;
    let elapsed = started.elapsed().as_secs_f64();
    let done = recorder.ops_done.load(Ordering::Relaxed) as f64;
    eprintln!("capacity burst:");
    summary_kinds(&recorder, elapsed);
    done / elapsed
}

/// `workers` tasks, each running the mix's next operation as soon as its last one ended, for
/// `limit`.
async fn closed_loop(
    traffic: &Arc<Traffic>,
    recorder: &Arc<Recorder>,
    workers: usize,
    limit: Duration,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (traffic, recorder, next) =
            (Arc::clone(traffic), Arc::clone(recorder), Arc::clone(&next));
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let op = MIX[next.fetch_add(1, Ordering::Relaxed) % MIX.len()];
                traffic.run(op, &recorder).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Starts operations of the mix at `rate` per second, evenly spaced, whatever the answers
/// (open loop), until `deadline`; one not started when `max_in_flight` are running (counted as
/// shed). Waits for the running ones at the end.
async fn paced(
    traffic: Arc<Traffic>,
    recorder: Arc<Recorder>,
    rate: f64,
    deadline: Instant,
    max_in_flight: usize,
) {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0u64.. {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        if due >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        while tasks.try_join_next().is_some() {}
        if tasks.len() >= max_in_flight {
            recorder.shed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let op = MIX[usize::try_from(i % MIX.len() as u64).unwrap_or(0)];
        let (traffic, recorder) = (Arc::clone(&traffic), Arc::clone(&recorder));
        tasks.spawn(async move { traffic.run(op, &recorder).await });
    }
    while tasks.join_next().await.is_some() {}
}

/// One line per sample on standard error.
fn progress(row: &Row) {
    let mib = |kib: Option<u64>| {
        kib.map_or_else(|| "-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    eprintln!(
        "{:>7.1} s  RSS {} MiB  fds {}  db conns {}  CPU server {} %  {:.0} good/s  {} errors  \
         {} in flight",
        row.elapsed_s,
        mib(row.rss_kib),
        opt(row.fds.map(|v| v.to_string())),
        opt(row.db_connections.map(|v| v.to_string())),
        opt(row.cpu.map(|c| format!("{:.0}", c.server))),
        row.good_per_s(),
        row.errors(),
        row.in_flight,
    );
}

/// The whole run's figures on standard output: per kind, start and end, refusals.
fn summary(recorder: &Recorder, rows: &[Row]) {
    let elapsed = recorder.started().elapsed().as_secs_f64();
    println!();
    println!("Soak: {elapsed:.0} s.");
    summary_kinds(recorder, elapsed);
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return;
    };
    let mib = |kib: Option<u64>| {
        kib.map_or_else(|| "-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    println!();
    println!(
        "| | first sample ({:.0} s) | last sample ({:.0} s) |",
        first.elapsed_s, last.elapsed_s
    );
    println!("|---|---:|---:|");
    println!(
        "| server RSS MiB | {} | {} |",
        mib(first.rss_kib),
        mib(last.rss_kib)
    );
    println!(
        "| server VmHWM MiB | {} | {} |",
        mib(first.hwm_kib),
        mib(last.hwm_kib)
    );
    println!(
        "| open files | {} | {} |",
        opt(first.fds.map(|v| v.to_string())),
        opt(last.fds.map(|v| v.to_string()))
    );
    println!(
        "| database connections | {} | {} |",
        opt(first.db_connections.map(|v| v.to_string())),
        opt(last.db_connections.map(|v| v.to_string()))
    );
    println!(
        "operations: {} completed, {} stopped at a bad answer, {} shed (too many in flight), {} \
         with nothing to do",
        recorder.ops_done.load(Ordering::Relaxed),
        recorder.ops_failed.load(Ordering::Relaxed),
        recorder.shed.load(Ordering::Relaxed),
        recorder.idle.load(Ordering::Relaxed),
    );
}

/// Per kind: good answers, their rate, p50, p99, errors; then the errors by cause.
fn summary_kinds(recorder: &Recorder, elapsed: f64) {
    println!();
    println!("| kind | good | per s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut good = 0;
    let mut errors = 0;
    for (kind, f) in recorder.totals() {
        good += f.good;
        errors += f.errors;
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {} |",
            kind.name(),
            f.good,
            f.good as f64 / elapsed,
            f.p50_ms,
            f.p99_ms,
            f.errors
        );
    }
    println!(
        "| all | {good} | {:.1} | | | {errors} |",
        good as f64 / elapsed
    );
    for ((kind, cause), count) in recorder.causes() {
        println!("errors: {} {cause}: {count}", kind.name());
    }
}

/// `line` without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().take_while(|&c| c != 'm').for_each(drop);
        } else {
            out.push(c);
        }
    }
    out
}

/// The checked-out commit, for the CSV (`unknown` outside a git checkout).
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

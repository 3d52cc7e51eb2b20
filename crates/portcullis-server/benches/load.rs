//! Throughput benchmark of the token, introspection and revocation endpoints.
//!
//! Starts the release `portcullis serve` as a separate process on a fresh Postgres database,
//! registers clients with `portcullis client create`, then drives the mTLS listener over
//! keep-alive TLS connections presenting a client certificate, at 1, 16 and 64 connections. Each
//! request carries its own client assertion (and DPoP proof), all signed before the timed window.
//! Each measurement runs three times and the median run (by requests/s) is reported, as a
//! markdown table with the CPU split between server, Postgres and this load generator.
//!
//! ```text
//! cargo bench --bench load -- [--quick] [--scenario NAME]... [--connections N]...
//!                             [--runs N] [--seconds S] [--db-params QUERY]
//! ```
//!
//! `--db-params sslmode=disable` appends query parameters to the server's database URL.
//!
//! Only 127.0.0.1 is contacted. The server is killed and the database dropped at the end, also
//! when a step fails. Method and recorded figures: `docs/BENCHMARKS.md`.

#[path = "load/cpu.rs"]
mod cpu;
#[path = "load/driver.rs"]
mod driver;
#[path = "load/fixture.rs"]
mod fixture;
#[path = "load/report.rs"]
mod report;
#[path = "load/server.rs"]
mod server;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;

use crate::driver::{Connections, Target};
use crate::fixture::{Fixture, Scenario, Tokens};
use crate::report::{Footer, Measured, Row, measure, report_run};
use crate::server::{Database, Server};

/// The whole benchmark stops after this long, whatever happens.
const OVERALL_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Connections used to issue the access tokens that introspection and revocation need.
const ISSUING_CONNECTIONS: usize = 16;

/// Tokens in the introspection pool (each is introspected many times).
const INTROSPECTION_POOL: usize = 2_000;

/// Requests per second assumed before anything has been measured (sizes the first run).
const FIRST_GUESS_RATE: f64 = 1_500.0;

/// What to run.
#[derive(Debug)]
struct Args {
    scenarios: Vec<Scenario>,
    connections: Vec<usize>,
    runs: usize,
    /// Longest timed run.
    seconds: f64,
    /// Longest warm-up.
    warmup_seconds: f64,
    /// Wait for a quiet machine and repeat disturbed runs (off with --quick).
    gate: bool,
    /// Query parameters for the server's database URL (`sslmode=disable`).
    db_params: Option<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut quick = false;
        let mut scenarios = Vec::new();
        let mut connections = Vec::new();
        let mut runs = None;
        let mut seconds = None;
        let mut db_params = None;
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                "--quick" => quick = true,
                "--scenario" => {
                    let name = value()?;
                    scenarios.push(Scenario::parse(&name).with_context(|| {
                        let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                        format!("unknown scenario {name:?} (one of {})", names.join(", "))
                    })?);
                }
                "--connections" => connections.push(
                    value()?
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=256).contains(n))
                        .context("--connections takes a number from 1 to 256")?,
                ),
                "--runs" => {
                    runs = Some(
                        value()?
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=9).contains(n))
                            .context("--runs takes a number from 1 to 9")?,
                    );
                }
                "--seconds" => {
                    seconds = Some(
                        value()?
                            .parse::<f64>()
                            .ok()
                            .filter(|s| (0.1..=60.0).contains(s))
                            .context("--seconds takes a number from 0.1 to 60")?,
                    );
                }
                "--db-params" => {
                    let params = value()?;
                    if !params
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"=&_-".contains(&b))
                    {
                        bail!("--db-params takes URL query parameters such as sslmode=disable");
                    }
                    db_params = Some(params);
                }
                other => bail!(
                    "unknown argument {other:?}; usage: cargo bench --bench load -- [--quick] \
                     [--scenario NAME]... [--connections N]... [--runs N] [--seconds S] \
                     [--db-params QUERY]"
                ),
            }
        }
        if scenarios.is_empty() {
            scenarios = Scenario::ALL.to_vec();
        }
        if connections.is_empty() {
            connections = vec![1, 16, 64];
        }
        Ok(Self {
            scenarios,
            connections,
            runs: runs.unwrap_or(if quick { 1 } else { 3 }),
            seconds: seconds.unwrap_or(if quick { 0.5 } else { 3.0 }),
            warmup_seconds: if quick { 0.2 } else { 0.5 },
            gate: !quick,
            db_params,
        })
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("load: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the database, runs the benchmark, and drops the database whatever happened.
async fn run(args: Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let db = Database::create().await?;
    eprintln!("database {}", db.name);
    // Dropping the benchmark future on a timeout or a signal kills the server (kill_on_drop).
    let result = tokio::select! {
        result = tokio::time::timeout(OVERALL_LIMIT, with_database(&args, &db)) => {
            result.unwrap_or_else(|_| Err(anyhow!("stopped after {OVERALL_LIMIT:?}")))
        }
        signal = interrupted() => Err(anyhow!("stopped by {signal}")),
    };
    let dropped = db.drop_database().await;
    result?;
    dropped
}

/// Resolves on Ctrl-C or SIGTERM, naming the signal.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = term.recv() => return "SIGTERM",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Starts the server, runs the benchmark, and stops the server whatever happened.
async fn with_database(args: &Args, db: &Database) -> anyhow::Result<()> {
    let server = Server::start(db, args.db_params.as_deref(), Vec::new()).await?;
    eprintln!("server pid {} ({})", server.pid, server.issuer);
    let result = with_server(args, db, &server).await;
    if result.is_err() {
        eprintln!("server log: {}", server.log_tail());
    }
    server.stop().await;
    result
}

async fn with_server(args: &Args, db: &Database, server: &Server) -> anyhow::Result<()> {
    let fixture = Fixture::register(server).await?;
    let roots = portcullis_server::config::read_cert_chain(&server.ca_file())?;
    let target = Arc::new(Target::new(
        server.mtls,
        roots,
        fixture.cert.der.clone(),
        fixture.cert.key_der(),
    )?);
    wait_ready(&target).await?;
    let mut bench = Bench {
        args,
        server,
        database: &db.name,
        fixture,
        issuing: Connections::new(Arc::clone(&target)),
        pool: Vec::new(),
        pool_issued_at: Instant::now(),
        warmup_failures: 0,
        repeat_left: if args.gate {
            REPEAT_TIME
        } else {
            Duration::ZERO
        },
        wait_left: if args.gate {
            QUIET_WAIT_TOTAL
        } else {
            Duration::ZERO
        },
        disturbed: 0,
        discarded_failures: 0,
    };
    let mut rows = Vec::new();
    let mut memory = Vec::new();
    for &scenario in &args.scenarios {
        bench.pool.clear();
        let mut guess = FIRST_GUESS_RATE;
        for &n in &args.connections {
            let mut conns = Connections::new(Arc::clone(&target));
            let mut runs = Vec::new();
            for rep in 0..args.runs {
                // Size the run from the last measured rate, with headroom, so it ends by time.
                let headroom = if rep == 0 { 2.5 } else { 1.5 };
                let measured = bench
                    .measure(scenario, n, rep, &mut conns, guess * headroom)
                    .await?;
                guess = measured.rate.max(50.0);
                runs.push(measured);
            }
            rows.push(Row {
                scenario,
                connections: n,
                runs,
            });
        }
        memory.push((scenario, server.memory_kib()));
    }
    let footer = Footer {
        runs: args.runs,
        seconds: args.seconds,
        quiet_threshold: QUIET_THRESHOLD,
        disturbed: bench.disturbed,
        discarded_failures: bench.discarded_failures,
        warmup_failures: bench.warmup_failures,
    };
    report::print_table(&rows, &memory, &footer);
    Ok(())
}

/// Other processes may use up to this much CPU (% of one core) during a timed run; a run
/// disturbed by more is repeated.
const QUIET_THRESHOLD: f64 = 25.0;

/// Time spent repeating disturbed runs in the whole benchmark, at most; each run is repeated
/// once at most.
const REPEAT_TIME: Duration = Duration::from_secs(60);

/// Longest wait for a quiet machine before one run, and in the whole benchmark.
const QUIET_WAIT: Duration = Duration::from_secs(3);
const QUIET_WAIT_TOTAL: Duration = Duration::from_secs(60);

/// The benchmark's state between runs.
struct Bench<'a> {
    args: &'a Args,
    server: &'a Server,
    database: &'a str,
    fixture: Fixture,
    /// Connections that issue pool tokens.
    issuing: Connections,
    /// Access tokens for introspection (reused) or revocation (used up).
    pool: Vec<String>,
    pool_issued_at: Instant,
    warmup_failures: u64,
    /// What is left of the time to repeat disturbed runs.
    repeat_left: Duration,
    /// What is left of the time to wait for a quiet machine.
    wait_left: Duration,
    /// Timed runs discarded because other processes used the CPU.
    disturbed: usize,
    /// Failed requests in the discarded runs.
    discarded_failures: u64,
}

impl Bench<'_> {
    /// One measurement: pre-generate, wait for a quiet machine, warm up, run timed; repeated
    /// (within the budget) while other processes disturb it.
    async fn measure(
        &mut self,
        scenario: Scenario,
        n: usize,
        rep: usize,
        conns: &mut Connections,
        expected_rate: f64,
    ) -> anyhow::Result<Measured> {
        let args = self.args;
        let budget = ((expected_rate * args.seconds) as usize)
            .clamp(200, (20_000.0 * args.seconds) as usize + 1_000);
        let warmup = (20 * n).max(100);
        let mut repeated = false;
        loop {
            let attempt = Instant::now();
            self.fill_pool(scenario, warmup + budget).await?;
            let signing = Instant::now();
            let warmup_jobs = self.fixture.jobs(scenario, warmup, &self.pool)?;
            if scenario.tokens() == Tokens::Consumed {
                self.pool.drain(..warmup);
            }
            let jobs = self.fixture.jobs(scenario, budget, &self.pool)?;
            let signing = signing.elapsed();
            if !self.wait_left.is_zero() {
                let (waited, quiet) = cpu::wait_quiet(
                    self.server.pid,
                    self.database,
                    QUIET_THRESHOLD,
                    QUIET_WAIT.min(self.wait_left),
                )
                .await;
                self.wait_left = self.wait_left.saturating_sub(waited);
                if !quiet {
                    eprintln!("  the machine stayed busy for {waited:.0?}; measuring anyway");
                }
            }
            let warm = driver::run(
                conns,
                n,
                Arc::new(warmup_jobs),
                scenario.expect(),
                Duration::from_secs_f64(args.warmup_seconds),
                false,
            )
            .await?;
            if warm.failed > 0 {
                self.warmup_failures += warm.failed;
                eprintln!(
                    "  warm-up: {} failed; first: {}",
                    warm.failed,
                    warm.first_failure.as_deref().unwrap_or("-")
                );
            }
            conns.ready(n).await?;
            eprintln!(
                "  timing {} at {n} connections (at most {budget} requests or {} s)",
                scenario.name(),
                args.seconds
            );
            let before = cpu::Sample::take(self.server.pid, self.database);
            let outcome = driver::run(
                conns,
                n,
                Arc::new(jobs),
                scenario.expect(),
                Duration::from_secs_f64(args.seconds),
                false,
            )
            .await?;
            let after = cpu::Sample::take(self.server.pid, self.database);
            if scenario.tokens() == Tokens::Consumed {
                // Sent requests used their token up, answered or not.
                let used = outcome.attempted.min(self.pool.len());
                self.pool.drain(..used);
            }
            let measured = measure(&outcome, before.zip(after).map(|(b, a)| b.until(&a)));
            report_run(
                scenario,
                n,
                rep,
                &measured,
                &outcome,
                signing,
                budget + warmup,
            );
            let disturbed = measured.cpu.is_some_and(|c| c.other >= QUIET_THRESHOLD);
            if disturbed && !repeated && self.repeat_left >= attempt.elapsed() {
                self.repeat_left -= attempt.elapsed();
                repeated = true;
                self.disturbed += 1;
                self.discarded_failures += measured.failed;
                eprintln!("  disturbed by other processes: repeating the run");
                continue;
            }
            return Ok(measured);
        }
    }

    /// Makes sure the token pool can serve `needed` requests of `scenario`.
    async fn fill_pool(&mut self, scenario: Scenario, needed: usize) -> anyhow::Result<()> {
        match scenario.tokens() {
            Tokens::None => {}
            Tokens::Reused => {
                // Tokens live five minutes: reissue well before they expire.
                if self.pool.is_empty() || self.pool_issued_at.elapsed() > Duration::from_secs(150)
                {
                    self.pool =
                        issue_tokens(&self.fixture, &mut self.issuing, INTROSPECTION_POOL).await?;
                    self.pool_issued_at = Instant::now();
                }
            }
            Tokens::Consumed => {
                let missing = needed.saturating_sub(self.pool.len());
                if missing > 0 {
                    let fresh = issue_tokens(&self.fixture, &mut self.issuing, missing).await?;
                    self.pool.extend(fresh);
                }
            }
        }
        Ok(())
    }
}

/// Waits until `/readyz` answers 200 (the server reaches its database).
async fn wait_ready(target: &Target) -> anyhow::Result<()> {
    let probe = driver::Job {
        method: hyper::Method::GET,
        path: "/readyz",
        body: hyper::body::Bytes::new(),
        dpop: None,
    };
    let started = Instant::now();
    loop {
        match target.once(&probe).await {
            Ok((status, _)) if status.is_success() => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok((status, _)) => bail!("/readyz answers {status}"),
            Err(e) => return Err(e.context("/readyz")),
        }
    }
}

/// Issues `count` certificate-bound tokens to the private_key_jwt client (outside timed runs).
async fn issue_tokens(
    fixture: &Fixture,
    conns: &mut Connections,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let jobs = fixture.jobs(Scenario::CcPkjwtMtls, count, &[])?;
    let outcome = driver::run(
        conns,
        ISSUING_CONNECTIONS,
        Arc::new(jobs),
        Scenario::CcPkjwtMtls.expect(),
        Duration::from_secs(120),
        true,
    )
    .await?;
    if outcome.failed > 0 || outcome.bodies.len() != count {
        bail!(
            "issuing {count} tokens: {} failed; first: {}",
            outcome.failed,
            outcome.first_failure.as_deref().unwrap_or("-")
        );
    }
    let tokens = outcome
        .bodies
        .iter()
        .map(|body| {
            serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned))
                .context("a token response without access_token")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "  issued {count} tokens for the pool in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(tokens)
}

//! What the benchmark prints: a line per timed run on standard error, and the markdown table of
//! medians, with CPU split and memory, on standard output.

use std::time::Duration;

use crate::cpu;
use crate::driver::Outcome;
use crate::fixture::Scenario;

/// One table row: the median of the runs of one scenario at one connection count.
pub(crate) struct Row {
    pub(crate) scenario: Scenario,
    pub(crate) connections: usize,
    pub(crate) runs: Vec<Measured>,
}

/// One timed run.
pub(crate) struct Measured {
    pub(crate) rate: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) requests: usize,
    pub(crate) failed: u64,
    pub(crate) reconnects: u64,
    pub(crate) cpu: Option<cpu::Split>,
}

/// The figures of one timed run.
pub(crate) fn measure(outcome: &Outcome, cpu: Option<cpu::Split>) -> Measured {
    Measured {
        rate: outcome.rate(),
        p50_ms: outcome.percentile_ms(50.0),
        p99_ms: outcome.percentile_ms(99.0),
        requests: outcome.latencies_us.len(),
        failed: outcome.failed,
        reconnects: outcome.reconnects,
        cpu,
    }
}

/// One line per timed run, on standard error.
pub(crate) fn report_run(
    scenario: Scenario,
    n: usize,
    rep: usize,
    m: &Measured,
    outcome: &Outcome,
    signing: Duration,
    signed: usize,
) {
    let cpu = m.cpu.map_or_else(String::new, |c| {
        format!(
            ", CPU % server {:.0} postgres {:.0} load {:.0} irq {:.0} other {:.0}",
            c.server, c.postgres, c.generator, c.interrupts, c.other
        )
    });
    eprintln!(
        "{:<19} {n:>3} conn run {}: {:>6.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests in {:.2} s, {} failed, {} reconnects{cpu}",
        scenario.name(),
        rep + 1,
        m.rate,
        m.p50_ms,
        m.p99_ms,
        m.requests,
        outcome.elapsed.as_secs_f64(),
        m.failed,
        m.reconnects,
    );
    eprintln!(
        "  ({signed} requests pre-built in {:.2} s before the run)",
        signing.as_secs_f64()
    );
    if let Some(failure) = &outcome.first_failure {
        eprintln!("  first failure: {failure}");
    }
}

/// The conditions of the whole benchmark, printed with the table.
pub(crate) struct Footer {
    pub(crate) runs: usize,
    pub(crate) seconds: f64,
    /// CPU of other processes (% of a core) above which a run counted as disturbed.
    pub(crate) quiet_threshold: f64,
    /// Timed runs discarded and repeated because they were disturbed.
    pub(crate) disturbed: usize,
    /// Failed requests in the discarded runs.
    pub(crate) discarded_failures: u64,
    pub(crate) warmup_failures: u64,
}

/// The markdown table of medians, the server's memory and the footer, on standard output.
pub(crate) fn print_table(
    rows: &[Row],
    memory: &[(Scenario, Option<(u64, u64)>)],
    footer: &Footer,
) {
    println!();
    println!(
        "Median of {} run(s) of at most {} s each (by requests/s). CPU in % of one core \
         (machine: {} %), over the median run.",
        footer.runs,
        footer.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get()) * 100
    );
    println!();
    println!(
        "| scenario | conns | req/s | p50 ms | p99 ms | errors | req/s of each run | CPU server | CPU postgres | CPU load gen | CPU irq | CPU other | server µs/req | postgres µs/req |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let mut by_rate: Vec<&Measured> = row.runs.iter().collect();
        by_rate.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let Some(median) = by_rate.get(by_rate.len().saturating_sub(1) / 2) else {
            continue;
        };
        let errors: u64 = row.runs.iter().map(|m| m.failed).sum();
        let each: Vec<String> = row.runs.iter().map(|m| format!("{:.0}", m.rate)).collect();
        let cpu = |f: fn(&cpu::Split) -> f64| {
            median
                .cpu
                .map_or_else(|| "-".to_owned(), |c| format!("{:.0}", f(&c)))
        };
        // CPU time per request: percent of a core / requests per second, in microseconds.
        let per_request = |f: fn(&cpu::Split) -> f64| match median.cpu {
            Some(c) if median.rate > 0.0 => format!("{:.0}", f(&c) * 10_000.0 / median.rate),
            _ => "-".to_owned(),
        };
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.scenario.name(),
            row.connections,
            median.rate,
            median.p50_ms,
            median.p99_ms,
            errors,
            each.join(", "),
            cpu(|c| c.server),
            cpu(|c| c.postgres),
            cpu(|c| c.generator),
            cpu(|c| c.interrupts),
            cpu(|c| c.other),
            per_request(|c| c.server),
            per_request(|c| c.postgres),
        );
    }
    println!();
    for (scenario, mem) in memory {
        if let Some((rss, hwm)) = mem {
            println!(
                "server memory after {}: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                scenario.name(),
                *rss as f64 / 1024.0,
                *hwm as f64 / 1024.0
            );
        }
    }
    println!(
        "runs repeated because other processes used >= {} % of a core: {} (errors in them: {}); \
         warm-up errors: {}",
        footer.quiet_threshold, footer.disturbed, footer.discarded_failures, footer.warmup_failures
    );
}

//! Outage mode: stops the database mid-run with an operator's command, starts it again with
//! another, and places every request's end against that window: errors per second, errors
//! outside the window, and how soon after the database was back requests succeeded again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::record::{Answer, Event};

/// Requests must succeed again within this long after the database is back (issue 13).
const RECOVERY: Duration = Duration::from_secs(2);

/// The commands that stop and start the database, and when.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Seconds into the soak.
    pub(crate) at: Duration,
    /// How long the database stays down.
    pub(crate) down_for: Duration,
    pub(crate) stop: String,
    pub(crate) start: String,
}

/// When each step happened, since the recorder started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) stop_issued: Duration,
    pub(crate) stopped: Duration,
    pub(crate) start_issued: Duration,
    /// The start command returned: the database accepts connections.
    pub(crate) up: Duration,
}

/// Runs `plan` against the clock of `started`.
pub(crate) async fn run(plan: Plan, started: Instant) -> anyhow::Result<Window> {
    tokio::time::sleep_until((started + plan.at).into()).await;
    let stop_issued = started.elapsed();
    shell(&plan.stop).await?;
    let stopped = started.elapsed();
    eprintln!("outage: database stopped at {:.2} s", stopped.as_secs_f64());
    tokio::time::sleep(plan.down_for).await;
    let start_issued = started.elapsed();
    shell(&plan.start).await?;
    let up = started.elapsed();
    eprintln!("outage: database up again at {:.2} s", up.as_secs_f64());
    Ok(Window {
        stop_issued,
        stopped,
        start_issued,
        up,
    })
}

async fn shell(command: &str) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .await?;
    if !output.status.success() {
        anyhow::bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// What one second held.
#[derive(Default)]
struct Second {
    good: u64,
    unavailable: u64,
    other: BTreeMap<String, u64>,
}

/// Prints the errors per second and the verdict on standard output; returns whether the run
/// met both rules (errors only within the window, success again within [`RECOVERY`]).
pub(crate) fn report(events: &[Event], window: &Window) -> bool {
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    for event in events {
        let second = seconds.entry(event.at.as_secs()).or_default();
        match event.answer {
            Answer::Good => second.good += 1,
            Answer::Status {
                status: 503,
                retry_after: true,
            } => second.unavailable += 1,
            other => *second.other.entry(cause(other)).or_default() += 1,
        }
    }
    let secs = |d: Duration| d.as_secs_f64();
    println!();
    println!(
        "Outage: stop issued at {:.2} s, database down at {:.2} s, start issued at {:.2} s, \
         up at {:.2} s (seconds since the soak started).",
        secs(window.stop_issued),
        secs(window.stopped),
        secs(window.start_issued),
        secs(window.up)
    );
    println!();
    println!("| second | good | 503 + Retry-After | other errors | |");
    println!("|---:|---:|---:|---|---|");
    for (second, s) in &seconds {
        let from = Duration::from_secs(*second);
        let to = from + Duration::from_secs(1);
        let mark = if to > window.stop_issued && from < window.up {
            "database down"
        } else if from < window.up + RECOVERY && to > window.up {
            "recovery"
        } else {
            ""
        };
        let other: Vec<String> = s.other.iter().map(|(k, v)| format!("{v} × {k}")).collect();
        println!(
            "| {second} | {} | {} | {} | {mark} |",
            s.good,
            s.unavailable,
            other.join(", ")
        );
    }
    let is_error = |e: &&Event| !matches!(e.answer, Answer::Good);
    let errors: Vec<&Event> = events.iter().filter(is_error).collect();
    let before = errors.iter().filter(|e| e.at < window.stop_issued).count();
    let late = errors
        .iter()
        .filter(|e| e.at > window.up + RECOVERY)
        .count();
    let not_503 = errors
        .iter()
        .filter(|e| {
            !matches!(
                e.answer,
                Answer::Status {
                    status: 503,
                    retry_after: true
                }
            )
        })
        .count();
    let last_error = errors.iter().map(|e| e.at).max();
    let first_good_after = events
        .iter()
        .filter(|e| matches!(e.answer, Answer::Good) && e.at > window.up)
        .map(|e| e.at)
        .min();
    let after_up = |d: Option<Duration>| {
        d.map_or_else(
            || "-".to_owned(),
            |d| {
                let offset = d.as_secs_f64() - window.up.as_secs_f64();
                format!("{:.2} s ({offset:+.2} s from up)", d.as_secs_f64())
            },
        )
    };
    let recovered = first_good_after.is_some_and(|d| d <= window.up + RECOVERY);
    let pass = before == 0 && late == 0 && recovered;
    println!();
    println!(
        "errors: {} in all ({} not a 503 with Retry-After); before the stop: {before}; more than \
         {} s after the database was up: {late}",
        errors.len(),
        not_503,
        RECOVERY.as_secs()
    );
    println!(
        "last error at {}; first good answer after the database was up at {}",
        after_up(last_error),
        after_up(first_good_after)
    );
    println!(
        "verdict: {}",
        if pass {
            "PASS (errors only during the outage, success again within 2 s)"
        } else {
            "FAIL"
        }
    );
    pass
}

fn cause(answer: Answer) -> String {
    match answer {
        Answer::Good => "good".to_owned(),
        Answer::Status {
            status,
            retry_after: true,
        } => format!("{status}+RA"),
        Answer::Status { status, .. } => status.to_string(),
        Answer::Transport => "transport".to_owned(),
        Answer::Unusable => "unusable".to_owned(),
    }
}

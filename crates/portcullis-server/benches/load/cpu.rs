//! Where the CPU went during a run, from `/proc`: the server process, the Postgres processes
//! serving the benchmark database (plus Postgres's own background processes), this load
//! generator, and everything else on the machine. Linux only; elsewhere the figures are absent.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time counters at one instant, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    at: Instant,
    server: u64,
    postgres: u64,
    generator: u64,
    machine: Machine,
}

/// Machine-wide busy time from `/proc/stat`.
#[derive(Clone, Copy, Debug, Default)]
struct Machine {
    /// user + nice + system + steal: processes (and time the hypervisor took away).
    tasks: u64,
    /// irq + softirq: interrupt work not charged to any process (loopback networking included).
    interrupts: u64,
}

/// CPU used between two samples, in percent of one core (200 % = both cores of a 2-core
/// machine).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Split {
    pub(crate) server: f64,
    pub(crate) postgres: f64,
    pub(crate) generator: f64,
    /// Interrupt and softirq time (not charged to a process; includes loopback networking).
    pub(crate) interrupts: f64,
    /// Every other process on the machine, and hypervisor steal.
    pub(crate) other: f64,
}

impl Sample {
    /// Reads the counters; `None` where `/proc` cannot be read.
    pub(crate) fn take(server_pid: u32, database: &str) -> Option<Self> {
        Some(Self {
            at: Instant::now(),
            server: process_ticks(&server_pid.to_string())?,
            postgres: postgres_ticks(database),
            generator: process_ticks("self")?,
            machine: machine_ticks()?,
        })
    }

    /// The split from `self` to `later`.
    pub(crate) fn until(&self, later: &Self) -> Split {
        let secs = (later.at - self.at).as_secs_f64();
        let percent = |from: u64, to: u64| {
            if secs > 0.0 {
                to.saturating_sub(from) as f64 / TICKS_PER_SEC / secs * 100.0
            } else {
                0.0
            }
        };
        let server = percent(self.server, later.server);
        let postgres = percent(self.postgres, later.postgres);
        let generator = percent(self.generator, later.generator);
        let tasks = percent(self.machine.tasks, later.machine.tasks);
        Split {
            server,
            postgres,
            generator,
            interrupts: percent(self.machine.interrupts, later.machine.interrupts),
            other: (tasks - server - postgres - generator).max(0.0),
        }
    }
}

/// utime + stime of a process (`/proc/<pid>/stat` fields 14 and 15).
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU of the Postgres processes that work for this benchmark: the backends connected to
/// `database` and the server's background processes, but not backends serving other databases
/// (other people's tests).
fn postgres_ticks(database: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.trim() != "postgres" {
            continue;
        }
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let client_backend = cmdline.contains('(') || cmdline.contains("[local]");
        if client_backend && !cmdline.contains(database) {
            continue;
        }
        total += process_ticks(pid).unwrap_or(0);
    }
    total
}

/// Busy ticks of all CPUs (`/proc/stat`), split into task and interrupt time.
fn machine_ticks() -> Option<Machine> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(Machine {
        tasks: field(0) + field(1) + field(2) + field(7),
        interrupts: field(5) + field(6),
    })
}

/// Waits, at most `limit`, until other processes use less than `threshold` % of one core over a
/// quarter of a second. Returns how long it waited and whether the machine got quiet.
pub(crate) async fn wait_quiet(
    server_pid: u32,
    database: &str,
    threshold: f64,
    limit: Duration,
) -> (Duration, bool) {
    let started = Instant::now();
    loop {
        let Some(before) = Sample::take(server_pid, database) else {
            return (started.elapsed(), true);
        };
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(after) = Sample::take(server_pid, database) else {
            return (started.elapsed(), true);
        };
        if before.until(&after).other < threshold {
            return (started.elapsed(), true);
        }
        if started.elapsed() >= limit {
            return (started.elapsed(), false);
        }
    }
}

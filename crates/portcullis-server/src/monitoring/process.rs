//! Process gauges read from `/proc/self` at scrape time (Linux; elsewhere they are absent):
//! CPU seconds, resident memory, open file descriptors and their limit. The names are those of
//! the Prometheus client libraries' `process_*` metrics under the `portcullis_` prefix; the CPU
//! time is a gauge (it is read, not counted) that only grows, so `rate()` applies.

use metrics::{Unit, describe_gauge};

use super::Metrics;

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`): 100 on every Linux architecture
/// Portcullis runs on.
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size of `/proc/self/statm`'s counts: 4 KiB on x86-64 and the usual arm64 kernels.
const PAGE_BYTES: f64 = 4096.0;

pub(super) fn describe() {
    describe_gauge!(
        "portcullis_process_cpu_seconds",
        Unit::Seconds,
        "User and system CPU time of the process (only grows)"
    );
    describe_gauge!(
        "portcullis_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident set size of the process"
    );
    describe_gauge!(
        "portcullis_process_open_fds",
        "Open file descriptors of the process"
    );
    describe_gauge!(
        "portcullis_process_max_fds",
        "The process's limit on open file descriptors"
    );
}

/// Sets the process gauges from `/proc/self` (a file that cannot be read leaves its gauge).
pub fn collect(metrics: &Metrics) {
    if let Some(seconds) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| cpu_seconds(&stat))
    {
        metrics.gauge("portcullis_process_cpu_seconds", &[], seconds);
    }
    if let Some(bytes) = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| resident_bytes(&statm))
    {
        metrics.gauge("portcullis_process_resident_memory_bytes", &[], bytes);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle being read is one of the entries: not counted.
        let open = fds.count().saturating_sub(1);
        metrics.gauge("portcullis_process_open_fds", &[], open as f64);
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| max_fds(&limits))
    {
        metrics.gauge("portcullis_process_max_fds", &[], max);
    }
}

/// utime + stime (fields 14 and 15) of `/proc/self/stat`, in seconds. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its closing parenthesis.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The resident pages (second field) of `/proc/self/statm`, in bytes.
fn resident_bytes(statm: &str) -> Option<f64> {
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages as f64 * PAGE_BYTES)
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 10 1000 200";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn reads_resident_pages_and_the_descriptor_limit() {
        assert_eq!(resident_bytes("1000 25 3 1 0 80 0"), Some(25.0 * 4096.0));
        let limits = "Limit Soft Limit Hard Limit Units\nMax open files 1024 524288 files\n";
        assert_eq!(max_fds(limits), Some(1024.0));
    }

    #[test]
    fn this_process_is_readable() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_seconds(&stat).is_some());
    }
}

//! The samples the soak takes every interval, one CSV row each: the server's resident memory
//! and open files (`/proc/<pid>`), the database connections (`pg_stat_activity` for the bench
//! database), where the CPU went, and each traffic kind's good answers per second, latency
//! p50/p99 and errors over the interval.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use portcullis_server::setup::clock::{Clock as _, SystemClock};
use sqlx::Connection as _;

use crate::cpu;
use crate::record::{Figures, Kind, Recorder};
use crate::server::Server;

/// What the sampler watches.
pub(crate) struct Watched<'a> {
    pub(crate) server: &'a Server,
    pub(crate) database: &'a str,
    /// The Postgres server's admin URL (without a database).
    pub(crate) admin_url: &'a str,
}

/// One row of the CSV.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) elapsed_s: f64,
    pub(crate) unix_s: i64,
    pub(crate) rss_kib: Option<u64>,
    pub(crate) hwm_kib: Option<u64>,
    pub(crate) fds: Option<usize>,
    pub(crate) db_connections: Option<i64>,
    pub(crate) cpu: Option<cpu::Split>,
    pub(crate) in_flight: u64,
    pub(crate) shed: u64,
    pub(crate) kinds: Vec<(Kind, Figures)>,
    /// Seconds the interval lasted.
    pub(crate) interval_s: f64,
}

impl Row {
    /// Good answers per second over the interval, all kinds.
    pub(crate) fn good_per_s(&self) -> f64 {
        let good: u64 = self.kinds.iter().map(|(_, f)| f.good).sum();
        good as f64 / self.interval_s.max(f64::EPSILON)
    }

    /// Bad answers over the interval, all kinds.
    pub(crate) fn errors(&self) -> u64 {
        self.kinds.iter().map(|(_, f)| f.errors).sum()
    }
}

/// Takes the samples and writes the CSV.
pub(crate) struct Sampler<'a> {
    watched: Watched<'a>,
    csv: BufWriter<File>,
    /// A connection to the `postgres` database for `pg_stat_activity`, reopened after a failure.
    pg: Option<sqlx::PgConnection>,
    last_cpu: Option<cpu::Sample>,
    last_at: Instant,
    started: Instant,
}

impl<'a> Sampler<'a> {
    /// Creates the CSV at `path` with its header (preceded by `comments`, each as a `#` line).
    pub(crate) fn create(
        watched: Watched<'a>,
        path: &Path,
        comments: &[String],
        started: Instant,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut csv = BufWriter::new(File::create(path)?);
        for comment in comments {
            writeln!(csv, "# {comment}")?;
        }
        let mut header = vec![
            "elapsed_s",
            "unix_s",
            "rss_kib",
            "hwm_kib",
            "fds",
            "db_connections",
            "cpu_server_pct",
            "cpu_postgres_pct",
            "cpu_loadgen_pct",
            "cpu_other_pct",
            "in_flight",
            "shed",
            "good_per_s",
            "errors",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        for kind in Kind::ALL {
            for column in ["per_s", "p50_ms", "p99_ms", "errors"] {
                header.push(format!("{}_{column}", kind.name()));
            }
        }
        writeln!(csv, "{}", header.join(","))?;
        csv.flush()?;
        let last_cpu = cpu::Sample::take(watched.server.pid, watched.database);
        Ok(Self {
            watched,
            csv,
            pg: None,
            last_cpu,
            last_at: Instant::now(),
            started,
        })
    }

    /// Time since the last sample.
    pub(crate) fn since_last(&self) -> std::time::Duration {
        self.last_at.elapsed()
    }

    /// Takes a sample of the interval since the last one, writes it and returns it.
    pub(crate) async fn sample(&mut self, recorder: &Recorder) -> anyhow::Result<Row> {
        let now = Instant::now();
        let interval_s = (now - self.last_at).as_secs_f64();
        self.last_at = now;
        let kinds = recorder.take_interval();
        let cpu_now = cpu::Sample::take(self.watched.server.pid, self.watched.database);
        let cpu = self.last_cpu.zip(cpu_now).map(|(a, b)| a.until(&b));
        self.last_cpu = cpu_now;
        let memory = self.watched.server.memory_kib();
        let row = Row {
            elapsed_s: (now - self.started).as_secs_f64(),
            unix_s: SystemClock.now().unix(),
            rss_kib: memory.map(|m| m.0),
            hwm_kib: memory.map(|m| m.1),
            fds: open_files(self.watched.server.pid),
            db_connections: self.db_connections().await,
            cpu,
            in_flight: recorder.in_flight.load(Ordering::Relaxed),
            shed: recorder.shed.load(Ordering::Relaxed),
            kinds,
            interval_s,
        };
        self.write(&row)?;
        Ok(row)
    }

    fn write(&mut self, row: &Row) -> anyhow::Result<()> {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let pct = |f: fn(&cpu::Split) -> f64| opt(row.cpu.as_ref().map(|c| format!("{:.1}", f(c))));
        let mut fields = vec![
            format!("{:.1}", row.elapsed_s),
            row.unix_s.to_string(),
            opt(row.rss_kib.map(|v| v.to_string())),
            opt(row.hwm_kib.map(|v| v.to_string())),
            opt(row.fds.map(|v| v.to_string())),
            opt(row.db_connections.map(|v| v.to_string())),
            pct(|c| c.server),
            pct(|c| c.postgres),
            pct(|c| c.generator),
            pct(|c| c.other),
            row.in_flight.to_string(),
            row.shed.to_string(),
            format!("{:.1}", row.good_per_s()),
            row.errors().to_string(),
        ];
        for (_, figures) in &row.kinds {
            let ms = |v: f64| {
                if v.is_nan() {
                    String::new()
                } else {
                    format!("{v:.2}")
                }
            };
            fields.push(format!(
                "{:.2}",
                figures.good as f64 / row.interval_s.max(f64::EPSILON)
            ));
            fields.push(ms(figures.p50_ms));
            fields.push(ms(figures.p99_ms));
            fields.push(figures.errors.to_string());
        }
        writeln!(self.csv, "{}", fields.join(","))?;
        self.csv.flush()?;
        Ok(())
    }

    /// Connections to the bench database (the server's pool, its writers and listeners), or
    /// `None` when Postgres cannot be asked.
    async fn db_connections(&mut self) -> Option<i64> {
        if self.pg.is_none() {
            let url = format!("{}/postgres", self.watched.admin_url);
            let connect = sqlx::PgConnection::connect(&url);
            self.pg = tokio::time::timeout(std::time::Duration::from_secs(2), connect)
                .await
                .ok()?
                .ok();
        }
        let conn = self.pg.as_mut()?;
        let query = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(self.watched.database)
        .fetch_one(conn);
        match tokio::time::timeout(std::time::Duration::from_secs(2), query).await {
            Ok(Ok(count)) => Some(count),
            _ => {
                self.pg = None;
                None
            }
        }
    }
}

/// Open file descriptors of `pid` (sockets included).
fn open_files(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

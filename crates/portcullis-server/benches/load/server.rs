//! The server under test: the release `portcullis` binary as a separate process, configured by
//! environment variables, on a Postgres database created for the run and dropped after it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
use sqlx::Connection as _;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt as _;
use tokio::process::{Child, Command};

/// The binary `cargo bench` built next to this benchmark.
const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");

/// Longest wait for the server to create its files and answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for one `portcullis client create`.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// A Postgres database that exists for one benchmark run.
#[derive(Debug)]
pub(crate) struct Database {
    pub(crate) name: String,
    admin: String,
}

impl Database {
    /// Creates `portcullis_bench_<random>` on the server of `TEST_PG_URL` (default
    /// `postgres://postgres@127.0.0.1:5432`).
    pub(crate) async fn create() -> anyhow::Result<Self> {
        let admin = portcullis_store::testing::postgres_admin_url();
        let name = format!("portcullis_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&format!("{admin}/postgres"))
            .await
            .with_context(|| format!("Postgres at {admin} (set TEST_PG_URL)"))?;
        // The name is ours (a fixed prefix and hex digits), never input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("CREATE DATABASE")?;
        Ok(Self { name, admin })
    }

    /// The database's URL, with `params` as its query if given.
    pub(crate) fn url(&self, params: Option<&str>) -> String {
        match params {
            Some(params) => format!("{}/{}?{params}", self.admin, self.name),
            None => format!("{}/{}", self.admin, self.name),
        }
    }

    /// Drops the database, closing the connections still open to it.
    pub(crate) async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", self.admin)).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .context("DROP DATABASE")?;
        Ok(())
    }
}

/// A running `portcullis serve`.
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    dir: TempDir,
    env: Vec<(&'static str, String)>,
    pub(crate) issuer: String,
    pub(crate) mtls: SocketAddr,
}

/// A port that was free a moment ago (bound on 127.0.0.1:0, then released).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    /// Starts the server on `db` (its URL with `db_params`) and waits until it has written its
    /// development CA and the mTLS listener accepts connections. `extra` environment variables
    /// replace the benchmark's own of the same name.
    pub(crate) async fn start(
        db: &Database,
        db_params: Option<&str>,
        extra: Vec<(&'static str, String)>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let public = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mtls = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let issuer = format!("https://localhost:{}", public.port());
        let mut env = vec![
            ("DATABASE_URL", db.url(db_params)),
            ("PORTCULLIS_DATA_DIR", dir.path().display().to_string()),
            ("PORTCULLIS_ISSUER", issuer.clone()),
            ("PORTCULLIS_LISTEN__PUBLIC", public.to_string()),
            ("PORTCULLIS_LISTEN__MTLS", mtls.to_string()),
            ("PORTCULLIS_LOG__LEVEL", "warn".to_owned()),
            ("PORTCULLIS_CLIENTS__CACHE_SECS", "5".to_owned()),
            // Rate limits on, with budgets the load never reaches: every request comes from
            // 127.0.0.1, and each client sends thousands a second (decision record 0012).
            (
                "PORTCULLIS_RATE_LIMITS__ADDRESS__API__PER_SECOND",
                "1000000".to_owned(),
            ),
            (
                "PORTCULLIS_RATE_LIMITS__ADDRESS__API__BURST",
                "1000000".to_owned(),
            ),
            (
                "PORTCULLIS_RATE_LIMITS__CLIENT__PER_SECOND",
                "1000000".to_owned(),
            ),
            (
                "PORTCULLIS_RATE_LIMITS__CLIENT__BURST",
                "1000000".to_owned(),
            ),
            // BENCH_RATE_LIMITS=off measures the same run with them off (their cost).
            (
                "PORTCULLIS_RATE_LIMITS__ENABLED",
                (std::env::var("BENCH_RATE_LIMITS").as_deref() != Ok("off")).to_string(),
            ),
        ];
        env.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        env.extend(extra);
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = command(&env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {BINARY}"))?;
        let pid = child
            .id()
            .context("the server exited before it could be watched")?;
        let mut server = Self {
            child,
            pid,
            dir,
            env,
            issuer,
            mtls,
        };
        server.wait_listening().await?;
        Ok(server)
    }

    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}): {}", self.log_tail());
            }
            if self.ca_file().is_file() && tokio::net::TcpStream::connect(self.mtls).await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the server did not listen within {START_TIMEOUT:?}: {}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The development CA that issued the server certificate.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("dev-ca.pem")
    }

    /// Everything the server logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The last lines the server logged.
    pub(crate) fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join(" | ")
    }

    /// Registers a client with `portcullis client create --metadata -`.
    pub(crate) async fn register(&self, metadata: &Value) -> anyhow::Result<()> {
        self.cli(
            &["client", "create", "--metadata", "-"],
            &metadata.to_string(),
        )
        .await?;
        Ok(())
    }

    /// Runs `portcullis args…` on the server's database with `stdin` as its standard input;
    /// returns its standard output.
    pub(crate) async fn cli(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let what = format!(
            "portcullis {}",
            args.iter().take(2).copied().collect::<Vec<_>>().join(" ")
        );
        let mut child = command(&self.env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut input = child.stdin.take().context("stdin of the CLI")?;
        input.write_all(stdin.as_bytes()).await?;
        drop(input);
        let output = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
            .await
            .with_context(|| format!("{what} did not finish"))??;
        if !output.status.success() {
            bail!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Resident memory of the server now and at its peak, in KiB (`VmRSS`, `VmHWM`).
    pub(crate) fn memory_kib(&self) -> Option<(u64, u64)> {
        memory_kib(&Path::new("/proc").join(self.pid.to_string()).join("status"))
    }

    /// Stops the server.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The `portcullis` command with the benchmark's configuration and nothing inherited that could
/// change it.
fn command(env: &[(&'static str, String)]) -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars_os() {
        let inherited = name.to_string_lossy();
        if inherited.starts_with("PORTCULLIS_") || inherited == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

fn memory_kib(status: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(status).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

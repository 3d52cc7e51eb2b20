//! The load driver: N keep-alive HTTP/1.1 connections over mutual TLS, one task per connection,
//! each sending pre-built requests back to back and timing each one from the moment the request
//! is handed to the connection until the last byte of the response body has arrived.
//!
//! hyper's connection API is used directly (no pool), so N connections are exactly N TLS
//! sessions, and a connection the server closed is noticed and counted rather than silently
//! replaced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest wait for one response: a stuck request fails instead of stalling the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// One request, built (and signed) before the timed window.
pub(crate) struct Job {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// Form body (empty for GET).
    pub(crate) body: Bytes,
    /// A `DPoP` header value.
    pub(crate) dpop: Option<HeaderValue>,
}

impl Job {
    fn request(&self, host: &HeaderValue) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(HOST, host.clone());
        if self.method == Method::POST {
            builder = builder.header(CONTENT_TYPE, FORM);
        }
        if let Some(proof) = &self.dpop {
            builder = builder.header("dpop", proof.clone());
        }
        builder.body(Full::new(self.body.clone()))
    }
}

/// What a good response looks like beyond a 2xx status: a body containing `needle` (for
/// example `"active":true` for introspection, so that a fast `{"active":false}` never counts as
/// a success).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expect {
    pub(crate) needle: Option<&'static [u8]>,
}

impl Expect {
    fn accepts(self, status: StatusCode, body: &[u8]) -> bool {
        status.is_success()
            && self
                .needle
                .is_none_or(|n| body.windows(n.len()).any(|w| w == n))
    }
}

/// The server to connect to and the TLS identity to present.
pub(crate) struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl Target {
    /// A target at `addr`, reached as `localhost`, trusting `roots` and presenting `cert`.
    pub(crate) fn new(
        addr: SocketAddr,
        roots: Vec<CertificateDer<'static>>,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> anyhow::Result<Self> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root).context("development CA")?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(
            portcullis_server::transport::tls::provider(),
        )
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(store)
        .with_client_auth_cert(vec![cert], key)
        .context("client certificate")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&format!("localhost:{}", addr.port()))?,
            connector: TlsConnector::from(Arc::new(config)),
            server_name: ServerName::try_from("localhost")?,
        })
    }

    /// Opens one keep-alive connection (TCP, TLS handshake with the client certificate,
    /// HTTP/1.1).
    pub(crate) async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .context("TLS handshake")?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // Ends when either side closes; the sender then reports the connection closed.
            let _ = connection.await;
        });
        Ok(Conn { sender })
    }

    /// One request on a fresh connection: status and body.
    pub(crate) async fn once(&self, job: &Job) -> anyhow::Result<(StatusCode, Bytes)> {
        self.connect().await?.send(job, &self.host).await
    }
}

/// One keep-alive connection.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn send(&mut self, job: &Job, host: &HeaderValue) -> anyhow::Result<(StatusCode, Bytes)> {
        let request = job.request(host)?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(anyhow!("no response within {REQUEST_TIMEOUT:?}")),
        }
    }
}

/// A set of connections, opened on demand and reopened when the server closed one while idle
/// (outside timed runs).
pub(crate) struct Connections {
    target: Arc<Target>,
    conns: Vec<Option<Conn>>,
}

impl Connections {
    pub(crate) fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            conns: Vec::new(),
        }
    }

    /// Makes sure the first `n` connections are open.
    pub(crate) async fn ready(&mut self, n: usize) -> anyhow::Result<()> {
        if self.conns.len() < n {
            self.conns.resize_with(n, || None);
        }
        for slot in &mut self.conns[..n] {
            if slot.as_ref().is_none_or(|c| c.sender.is_closed()) {
                *slot = Some(self.target.connect().await?);
            }
        }
        Ok(())
    }
}

/// The result of one run.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Latency of every request that got a response, microseconds, sorted.
    pub(crate) latencies_us: Vec<u32>,
    /// Responses that were 2xx and looked right.
    pub(crate) ok: u64,
    /// Non-2xx or unexpected responses, and transport failures.
    pub(crate) failed: u64,
    /// Connections that had to be reopened during the run.
    pub(crate) reconnects: u64,
    /// Jobs that were sent (answered or not).
    pub(crate) attempted: usize,
    /// From the start until the last response.
    pub(crate) elapsed: Duration,
    /// The first failure, for the report.
    pub(crate) first_failure: Option<String>,
    /// Bodies of good responses, when asked for.
    pub(crate) bodies: Vec<Bytes>,
}

impl Outcome {
    /// Completed requests per second.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latencies_us.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile of the latencies, milliseconds.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        let sorted = &self.latencies_us;
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
    }
}

/// Sends `jobs` over the first `n` connections until every job is sent or `limit` has passed,
/// whichever comes first.
pub(crate) async fn run(
    conns: &mut Connections,
    n: usize,
    jobs: Arc<Vec<Job>>,
    expect: Expect,
    limit: Duration,
    keep_bodies: bool,
) -> anyhow::Result<Outcome> {
    conns.ready(n).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = Vec::with_capacity(n);
    for slot in &mut conns.conns[..n] {
        let conn = slot.take().ok_or_else(|| anyhow!("connection not ready"))?;
        let worker = Worker {
            target: Arc::clone(&conns.target),
            jobs: Arc::clone(&jobs),
            next: Arc::clone(&next),
            deadline,
            expect,
            keep_bodies,
        };
        workers.push(tokio::spawn(worker.run(conn, started)));
    }
    let mut outcome = Outcome::default();
    let mut last = started;
    for (slot, worker) in conns.conns[..n].iter_mut().zip(workers) {
        let (conn, tally) = worker.await.context("a load task failed")?;
        *slot = conn;
        last = last.max(tally.last);
        outcome.latencies_us.extend(tally.latencies_us);
        outcome.ok += tally.ok;
        outcome.failed += tally.failed;
        outcome.reconnects += tally.reconnects;
        outcome.bodies.extend(tally.bodies);
        if outcome.first_failure.is_none() {
            outcome.first_failure = tally.first_failure;
        }
    }
    outcome.attempted = next.load(Ordering::Relaxed).min(jobs.len());
    outcome.elapsed = last - started;
    outcome.latencies_us.sort_unstable();
    Ok(outcome)
}

/// What one connection's task needs.
struct Worker {
    target: Arc<Target>,
    jobs: Arc<Vec<Job>>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
    expect: Expect,
    keep_bodies: bool,
}

/// What one connection's task measured.
struct Tally {
    latencies_us: Vec<u32>,
    ok: u64,
    failed: u64,
    reconnects: u64,
    last: Instant,
    first_failure: Option<String>,
    bodies: Vec<Bytes>,
}

impl Worker {
    async fn run(self, mut conn: Conn, started: Instant) -> (Option<Conn>, Tally) {
        let mut tally = Tally {
            latencies_us: Vec::with_capacity(self.jobs.len()),
            ok: 0,
            failed: 0,
            reconnects: 0,
            last: started,
            first_failure: None,
            bodies: Vec::new(),
        };
        loop {
            if Instant::now() >= self.deadline {
                return (Some(conn), tally);
            }
            let Some(job) = self.jobs.get(self.next.fetch_add(1, Ordering::Relaxed)) else {
                return (Some(conn), tally);
            };
            let sent = Instant::now();
            match conn.send(job, &self.target.host).await {
                Ok((status, body)) => {
                    let done = Instant::now();
                    let micros = (done - sent).as_micros();
                    tally
                        .latencies_us
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    tally.last = done;
                    if self.expect.accepts(status, &body) {
                        tally.ok += 1;
                        if self.keep_bodies {
                            tally.bodies.push(body);
                        }
                    } else {
                        tally.failed += 1;
                        tally.first_failure.get_or_insert_with(|| {
                            format!(
                                "{status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            )
                        });
                    }
                }
                Err(e) => {
                    tally.failed += 1;
                    tally.last = Instant::now();
                    tally
                        .first_failure
                        .get_or_insert_with(|| format!("transport: {e:#}"));
                    match self.target.connect().await {
                        Ok(fresh) => {
                            conn = fresh;
                            tally.reconnects += 1;
                        }
                        Err(_) => return (None, tally),
                    }
                }
            }
        }
    }
}

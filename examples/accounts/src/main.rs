//! `accounts-example`: the accounts service beside a running Portcullis.
//!
//! ```text
//! cargo run -p accounts-example -- --issuer https://localhost:8443 --ca-file data/dev-ca.pem
//! ```
//!
//! See `docs/RESOURCE_SERVERS.md` for the whole walk-through (Portcullis settings, a client, a
//! DPoP-bound token, the call).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use portcullis_resource::settings::{Budget, ClientCredentials, Validation};
use portcullis_resource::{Settings, SystemClock};

/// Command-line options; every one also reads an `ACCOUNTS_*` environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "accounts-example",
    about = "An accounts API protected by portcullis-resource"
)]
struct Options {
    /// The authorization server's issuer.
    #[arg(
        long,
        env = "ACCOUNTS_ISSUER",
        default_value = "https://localhost:8443"
    )]
    issuer: String,
    /// PEM file of the CA that signed the authorization server's certificate (Portcullis's
    /// development CA is `data/dev-ca.pem`); repeat for more. None: the system's roots.
    #[arg(long = "ca-file", env = "ACCOUNTS_CA_FILE")]
    ca_files: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "ACCOUNTS_LISTEN", default_value = "127.0.0.1:9443")]
    listen: SocketAddr,
    /// This API's resource identifier: the `aud` its tokens carry (Portcullis:
    /// `tokens.audience`).
    #[arg(
        long,
        env = "ACCOUNTS_RESOURCE",
        default_value = "https://localhost:9443"
    )]
    resource: String,
    /// The API's base URL as clients call it (DPoP `htu`). Default: https://localhost:<port>.
    #[arg(long, env = "ACCOUNTS_BASE_URL")]
    base_url: Option<String>,
    /// TLS certificate chain (PEM). None: a self-signed certificate for localhost is made and
    /// written to `<data-dir>/accounts-cert.pem`.
    #[arg(long, env = "ACCOUNTS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "ACCOUNTS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where the generated certificate goes.
    #[arg(
        long,
        env = "ACCOUNTS_DATA_DIR",
        default_value = "data/accounts-example"
    )]
    data_dir: PathBuf,
    /// Check tokens by introspection (with this cache lifetime, seconds; 0: no cache) instead
    /// of locally as JWTs. Needs the client options.
    #[arg(long, env = "ACCOUNTS_INTROSPECTION_CACHE_SECS")]
    introspection_cache_secs: Option<i64>,
    /// Send reports of API-side events to the authorization server. Needs the client options.
    #[arg(long, env = "ACCOUNTS_REPORT")]
    report: bool,
    /// The API's client_id at the authorization server (registered with resource_server: true).
    #[arg(long, env = "ACCOUNTS_CLIENT_ID", requires_all = ["client_key", "client_cert", "client_cert_key"])]
    client_id: Option<String>,
    /// Its private JWK (JSON file).
    #[arg(long, env = "ACCOUNTS_CLIENT_KEY")]
    client_key: Option<PathBuf>,
    /// Its TLS client certificate (PEM) for the mTLS listener.
    #[arg(long, env = "ACCOUNTS_CLIENT_CERT")]
    client_cert: Option<PathBuf>,
    /// That certificate's private key (PEM).
    #[arg(long, env = "ACCOUNTS_CLIENT_CERT_KEY")]
    client_cert_key: Option<PathBuf>,
    /// Distinct account ids one token may read in the window before 429.
    #[arg(long, env = "ACCOUNTS_ENUMERATION_PER_TOKEN", default_value_t = 50)]
    enumeration_per_token: usize,
    /// Distinct account ids one client may read in the window before 429.
    #[arg(long, env = "ACCOUNTS_ENUMERATION_PER_CLIENT", default_value_t = 200)]
    enumeration_per_client: usize,
    /// Requests per minute per token (burst: a tenth, at least 10).
    #[arg(long, env = "ACCOUNTS_TOKEN_PER_MINUTE", default_value_t = 600)]
    token_per_minute: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = Options::parse();
    let port = options.listen.port();
    let base_url = options
        .base_url
        .clone()
        .unwrap_or_else(|| format!("https://localhost:{port}"));
    let mut settings = Settings::new(&options.issuer, &options.resource, &base_url);
    settings.ca_files = options.ca_files.clone();
    settings.enumeration.per_token = options.enumeration_per_token;
    settings.enumeration.per_client = options.enumeration_per_client;
    settings.budgets.per_token = Some(Budget {
        per_minute: options.token_per_minute,
        burst: (options.token_per_minute / 10).max(10),
    });
    if let Some(cache_secs) = options.introspection_cache_secs {
        settings.validation = Validation::introspection(cache_secs);
    }
    settings.reporting.enabled = options.report;
    if let (Some(client_id), Some(key), Some(cert), Some(cert_key)) = (
        &options.client_id,
        &options.client_key,
        &options.client_cert,
        &options.client_cert_key,
    ) {
        settings.client = Some(ClientCredentials {
            client_id: client_id.clone(),
            key_file: key.clone(),
            certificate_file: cert.clone(),
            certificate_key_file: cert_key.clone(),
        });
    }
    let (chain, key) = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => (
            std::fs::read(cert).with_context(|| cert.display().to_string())?,
            std::fs::read(key).with_context(|| key.display().to_string())?,
        ),
        _ => development_certificate(&options)?,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let running =
        accounts_example::start(settings, listener, &chain, &key, Arc::new(SystemClock)).await?;
    tracing::info!(url = %base_url, issuer = %options.issuer, "accounts API ready: GET {base_url}/accounts/{{id}}");
    tokio::signal::ctrl_c().await?;
    tracing::info!("stopping");
    running.shutdown().await;
    Ok(())
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written to the data directory so
/// that clients can trust it (`curl --cacert <data-dir>/accounts-cert.pem`).
fn development_certificate(options: &Options) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    let cert = params.self_signed(&key)?;
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| options.data_dir.display().to_string())?;
    let path = options.data_dir.join("accounts-cert.pem");
    std::fs::write(&path, cert.pem()).with_context(|| path.display().to_string())?;
    tracing::info!(certificate = %path.display(), "made a self-signed development certificate");
    Ok((cert.pem().into_bytes(), key.serialize_pem().into_bytes()))
}

//! Configuration: one typed value, secure by default, loaded once and passed down.
//!
//! Sources, later ones winning: the built-in defaults, an optional TOML file (`--config` or
//! `PORTCULLIS_CONFIG`), `PORTCULLIS_*` environment variables (`__` separates sections, so
//! `PORTCULLIS_LISTEN__PUBLIC` sets `listen.public`), and `DATABASE_URL`. Unknown keys are errors.
//! [`Config::validate`] checks everything that can be checked without the database, so that
//! `portcullis config check` and `serve` fail fast with one line naming the problem.
//! `docs/CONFIG.md` documents every setting.

mod files;
mod limits;
mod listen;
mod monitoring;
mod rate_limits;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use files::{directories, read_cert_chain, read_private_key};
pub use limits::Limits;
pub use listen::{Listen, Metrics};
pub use monitoring::{Alerts, Monitoring, RateDetector, Webhook};
pub use rate_limits::{AddressBudgets, Budget, RateLimits};

use anyhow::{Context as _, bail};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

/// The whole configuration of a Portcullis process.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The issuer identifier: an https URL without query, fragment or trailing slash (R2). Every
    /// public endpoint URL is built from it.
    pub issuer: String,
    /// Base URL of the mTLS listener, published in `mtls_endpoint_aliases`. Default: the issuer's
    /// scheme and host with the port of `listen.mtls`.
    pub mtls_base_url: Option<String>,
    /// Where first-run files are created: SQLite database, development PKI, key-encryption key.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`. Default: `sqlite://<data_dir>/portcullis.db`. The
    /// `DATABASE_URL` environment variable overrides it.
    pub database_url: Option<String>,
    /// Listen addresses.
    pub listen: Listen,
    /// TLS termination.
    pub tls: Tls,
    /// Proxy mode: TLS terminated by a trusted proxy that forwards client certificates.
    pub proxy: Proxy,
    /// Server signing keys and their encryption at rest.
    pub keys: Keys,
    /// HTTP limits and timeouts.
    pub http: Http,
    /// Access tokens.
    pub tokens: Tokens,
    /// DPoP (RFC 9449).
    pub dpop: Dpop,
    /// Client registry and client key retrieval.
    pub clients: Clients,
    /// The authorization code flow: lifetimes, sessions, scopes shown on the consent page.
    pub flow: Flow,
    /// Dynamic client registration (RFC 7591, RFC 7592).
    pub registration: Registration,
    /// The admin UI at `/admin`.
    pub admin: Admin,
    /// Logging.
    pub log: Log,
    /// Resource bounds (memory, connections, disk) under floods.
    pub limits: Limits,
    /// Rate limits (`429 Too Many Requests`).
    pub rate_limits: RateLimits,
    /// The Prometheus metrics listener.
    pub metrics: Metrics,
    /// The security detectors.
    pub monitoring: Monitoring,
    /// Where security events are sent.
    pub alerts: Alerts,
}

/// Admin UI settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// Serve the admin UI at `/admin` (off: every admin path answers 404).
    pub enabled: bool,
    /// An admin session with no request for this long ends, seconds.
    pub idle_timeout_secs: i64,
    /// An admin session ends this long after sign-in, whatever its use, seconds.
    pub session_lifetime_secs: i64,
    /// Audit events older than this many days are deleted by the hourly purge; 0 keeps them
    /// forever.
    pub audit_retention_days: i64,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_secs: 900,
            session_lifetime_secs: 8 * 3600,
            audit_retention_days: 400,
        }
    }
}

/// Authorization code flow settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Flow {
    /// Lifetime of a pushed request's `request_uri`, seconds (R27: under 600).
    pub request_uri_lifetime_secs: i64,
    /// Once the browser reaches the authorization endpoint within `request_uri_lifetime_secs`,
    /// the user has this long to sign in and consent, seconds.
    pub interaction_lifetime_secs: i64,
    /// Lifetime of an authorization code, seconds (R73: at most 60).
    pub code_lifetime_secs: i64,
    /// Lifetime of ID tokens, seconds.
    pub id_token_lifetime_secs: i64,
    /// A refresh token unused for this long expires, seconds.
    pub refresh_token_idle_secs: i64,
    /// A refresh token expires this long after it was issued, whatever its use, seconds.
    pub refresh_token_absolute_secs: i64,
    /// Lifetime of a browser session after sign-in, seconds.
    pub session_lifetime_secs: i64,
    /// Human descriptions of scopes for the consent page; scopes not listed are shown by name.
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
}

impl Default for Flow {
    fn default() -> Self {
        let descriptions = [
            ("openid", "Know who you are (your account identifier)"),
            ("profile", "See your user name"),
            ("offline_access", "Keep access while you are away"),
        ];
        Self {
            request_uri_lifetime_secs: 60,
            interaction_lifetime_secs: 600,
            code_lifetime_secs: 60,
            id_token_lifetime_secs: 300,
            refresh_token_idle_secs: 24 * 3600,
            refresh_token_absolute_secs: 30 * 24 * 3600,
            session_lifetime_secs: 8 * 3600,
            scope_descriptions: descriptions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Access token settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tokens {
    /// `opaque` (256 random bits, checked by introspection) or `jwt` (RFC 9068); a client's
    /// `access_token_format` overrides it.
    pub access_token_format: String,
    /// Default access token lifetime, seconds (FAPI2-SP §6.1: short).
    pub access_token_lifetime_secs: i64,
    /// Longest lifetime a client may register, seconds.
    pub max_access_token_lifetime_secs: i64,
    /// Algorithm of the server key that signs JWT access tokens and introspection responses.
    pub signing_alg: String,
    /// `aud` of access tokens. Default: the issuer.
    pub audience: Option<String>,
}

/// DPoP settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dpop {
    /// Require a server-provided nonce in every DPoP proof (R112). Nonces are derived from the
    /// key-encryption key, so every process sharing it accepts the others' nonces.
    pub require_nonce: bool,
}

/// Dynamic client registration settings (RFC 7591, RFC 7592).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Registration {
    /// Serve the registration endpoint (`/register`) and the client configuration endpoints
    /// (`/register/{client_id}`). Registering still needs an initial access token or a software
    /// statement of a trusted directory.
    pub enabled: bool,
    /// Directories whose signed software statements may register clients (RFC 7591 §2.3);
    /// empty: only initial access tokens can.
    pub software_statement_issuers: Vec<SoftwareStatementIssuer>,
    /// The scope a client registers when its metadata has no `scope` member (RFC 7591 §2),
    /// however it is registered (`portcullis client create`, `/register`, the admin UI); empty:
    /// none, and such a client can request no scope at all.
    pub default_scope: String,
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            enabled: true,
            software_statement_issuers: Vec::new(),
            default_scope: "openid profile offline_access".to_owned(),
        }
    }
}

/// A directory trusted to sign software statements.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareStatementIssuer {
    /// The `iss` of its software statements.
    pub issuer: String,
    /// A JWK Set file with the directory's public signing keys; read at start.
    pub jwks_file: PathBuf,
}

/// Client registry settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Clients {
    /// Seconds a process keeps a client's registration in memory before reading it again (a
    /// disabled client is refused everywhere within this time).
    pub cache_secs: u64,
    /// Allow `jwks_uri` hosts that resolve to loopback, private or link-local addresses. Off by
    /// default: a client must not make the server fetch from its internal network (SSRF).
    pub jwks_uri_allow_private: bool,
    /// Extra CA certificates (PEM) trusted for `jwks_uri` fetches, besides the system roots.
    pub jwks_uri_ca_file: Option<PathBuf>,
    /// Timeout of one `jwks_uri` fetch, seconds.
    pub jwks_uri_timeout_secs: u64,
    /// Largest accepted `jwks_uri` document, bytes.
    pub jwks_uri_max_bytes: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("mtls_base_url", &self.mtls_base_url)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::secret::redact_url),
            )
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("keys", &self.keys)
            .field("http", &self.http)
            .field("tokens", &self.tokens)
            .field("dpop", &self.dpop)
            .field("clients", &self.clients)
            .field("flow", &self.flow)
            .field("registration", &self.registration)
            .field("admin", &self.admin)
            .field("log", &self.log)
            .field("limits", &self.limits)
            .field("rate_limits", &self.rate_limits)
            .field("metrics", &self.metrics)
            .field("monitoring", &self.monitoring)
            .field("alerts", &self.alerts)
            .finish()
    }
}

/// Where TLS is terminated.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Portcullis terminates TLS itself (the default).
    Direct,
    /// Plain HTTP behind a TLS-terminating proxy (see [`Proxy`]).
    Proxy,
}

/// TLS settings for `tls.mode = "direct"`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Direct TLS or behind a proxy.
    pub mode: TlsMode,
    /// PEM certificate chain of the server. Unset: a development CA and certificate are created
    /// under `data_dir` on first start.
    pub cert_file: Option<PathBuf>,
    /// PEM private key matching `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM files of the CAs trusted for `tls_client_auth` client certificates.
    pub client_ca_files: Vec<PathBuf>,
}

/// Proxy mode: which peers may forward a client certificate, and in which header.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Proxy {
    /// Addresses (CIDR) of the proxies whose certificate headers are trusted. A request from any
    /// other address that carries a certificate header is refused.
    pub trusted: Vec<IpNet>,
    /// The RFC 9440 header carrying the client certificate (`:base64-DER:`).
    pub client_cert_header: String,
    /// An optional legacy header carrying a URL-encoded PEM certificate (nginx
    /// `$ssl_client_escaped_cert`).
    pub legacy_client_cert_header: Option<String>,
}

/// Signing keys.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Keys {
    /// File holding the base64 key-encryption key (32 bytes). Unset and no `kek`: created as
    /// `<data_dir>/kek.key` on first start.
    pub kek_file: Option<PathBuf>,
    /// The key-encryption key itself, base64 (for secret stores that inject environment
    /// variables: `PORTCULLIS_KEYS__KEK`). Takes precedence over `kek_file`.
    pub kek: Option<String>,
    /// Algorithms the server keeps a signing key for.
    pub algs: Vec<String>,
    /// Seconds a rotated-in key is published before it signs. At least the JWKS cache lifetime,
    /// so relying parties hold the key before they see its first signature.
    pub publish_ahead_secs: i64,
    /// Seconds a replaced key stays published after it stopped signing (R22).
    pub overlap_secs: i64,
    /// Seconds between reloads of the key set from the database (picks up rotations made by
    /// other processes or `portcullis keys rotate`).
    pub refresh_secs: u64,
}

/// HTTP limits and timeouts.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Largest accepted request body, bytes (R42: larger → 413).
    pub body_limit_bytes: usize,
    /// Longest time a request may take, seconds (then 503).
    pub request_timeout_secs: u64,
    /// Longest time to receive a request's headers, seconds.
    pub header_read_timeout_secs: u64,
    /// Longest time for a TLS handshake, seconds.
    pub handshake_timeout_secs: u64,
    /// A connection with no traffic for this long is closed, seconds (the first byte must come
    /// within `header_read_timeout_secs`).
    pub idle_timeout_secs: u64,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
}

/// Log output.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `portcullis=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "https://localhost:8443".to_owned(),
            mtls_base_url: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            listen: Listen::default(),
            tls: Tls::default(),
            proxy: Proxy::default(),
            keys: Keys::default(),
            http: Http::default(),
            tokens: Tokens::default(),
            dpop: Dpop::default(),
            clients: Clients::default(),
            flow: Flow::default(),
            registration: Registration::default(),
            admin: Admin::default(),
            log: Log::default(),
            limits: Limits::default(),
            rate_limits: RateLimits::default(),
            metrics: Metrics::default(),
            monitoring: Monitoring::default(),
            alerts: Alerts::default(),
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            mode: TlsMode::Direct,
            cert_file: None,
            key_file: None,
            client_ca_files: Vec::new(),
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            client_cert_header: "client-cert".to_owned(),
            legacy_client_cert_header: None,
        }
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            kek_file: None,
            kek: None,
            algs: vec!["PS256".to_owned(), "ES256".to_owned(), "EdDSA".to_owned()],
            publish_ahead_secs: 3600,
            overlap_secs: 7 * 24 * 3600,
            refresh_secs: 60,
        }
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("kek_file", &self.kek_file)
            .field("kek", &self.kek.as_ref().map(|_| "<redacted>"))
            .field("algs", &self.algs)
            .field("publish_ahead_secs", &self.publish_ahead_secs)
            .field("overlap_secs", &self.overlap_secs)
            .field("refresh_secs", &self.refresh_secs)
            .finish()
    }
}

impl Default for Http {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 5,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            access_token_format: "opaque".to_owned(),
            access_token_lifetime_secs: 300,
            max_access_token_lifetime_secs: 3600,
            signing_alg: "ES256".to_owned(),
            audience: None,
        }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Self {
            cache_secs: 5,
            jwks_uri_allow_private: false,
            jwks_uri_ca_file: None,
            jwks_uri_timeout_secs: 5,
            jwks_uri_max_bytes: 64 * 1024,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Seconds relying parties may cache the JWKS (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECS: i64 = 300;

impl Config {
    /// Loads the configuration from the defaults, `file` (if any), `PORTCULLIS_*` variables and
    /// `DATABASE_URL`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.is_file() {
                bail!("configuration file {} cannot be read", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::prefixed("PORTCULLIS_").split("__").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url"]));
        let config: Self = figment
            .extract()
            .map_err(|e| anyhow::anyhow!(one_line(&e)))?;
        Ok(config)
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/portcullis.db", self.data_dir.display()))
    }

    /// The effective base URL of the mTLS listener.
    pub fn mtls_base_url(&self) -> String {
        if let Some(base) = &self.mtls_base_url {
            return base.clone();
        }
        let mut url = match Url::parse(&self.issuer) {
            Ok(url) => url,
            Err(_) => return self.issuer.clone(),
        };
        // Validation has checked the issuer is an https URL with a host, so a port can be set.
        let _ = url.set_port(Some(self.listen.mtls.port()));
        url.as_str().trim_end_matches('/').to_owned()
    }

    /// The algorithm that signs JWT access tokens and introspection responses.
    pub fn token_signing_alg(&self) -> anyhow::Result<portcullis_core::jose::Alg> {
        portcullis_core::jose::Alg::parse(&self.tokens.signing_alg).with_context(|| {
            format!(
                "tokens.signing_alg: {:?} is not allowed (PS256, ES256, EdDSA)",
                self.tokens.signing_alg
            )
        })
    }

    /// The `aud` of access tokens.
    pub fn token_audience(&self) -> &str {
        self.tokens.audience.as_deref().unwrap_or(&self.issuer)
    }

    /// The configured signing algorithms, parsed.
    pub fn signing_algs(&self) -> anyhow::Result<Vec<portcullis_core::jose::Alg>> {
        if self.keys.algs.is_empty() {
            bail!("keys.algs must name at least one of PS256, ES256, EdDSA");
        }
        self.keys
            .algs
            .iter()
            .map(|name| {
                portcullis_core::jose::Alg::parse(name).with_context(|| {
                    format!("keys.algs: {name:?} is not allowed (PS256, ES256, EdDSA)")
                })
            })
            .collect()
    }
}

/// Collapses a multi-line error message into one line.
pub(crate) fn one_line(e: &dyn fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error and its causes (`outer: inner: root`) on one line.
pub fn one_line_error(e: &anyhow::Error) -> String {
    one_line(&format_args!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_kek_and_the_database_password() {
        let mut c = Config::default();
        c.keys.kek = Some("c2VjcmV0".into());
        c.database_url = Some("postgres://u:hunter2@db/p".into());
        let debug = format!("{c:?}");
        assert!(!debug.contains("c2VjcmV0"));
        assert!(!debug.contains("hunter2"));
        assert!(debug.contains("u:***@db"));
    }
}

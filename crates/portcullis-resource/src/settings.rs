//! Every setting of the layer, with its secure default. `docs/RESOURCE_SERVERS.md` explains each.
//!
//! The structs deserialize from TOML or JSON (unknown keys are errors), so an API can keep them
//! in its own configuration file, or build them in code from [`Settings::new`].

use std::path::PathBuf;

use serde::Deserialize;

/// The settings of one protected API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The authorization server's issuer identifier, e.g. `https://localhost:8443`. Its metadata
    /// is read from `{issuer}/.well-known/oauth-authorization-server` (RFC 8414) and must name
    /// the same issuer.
    pub issuer: String,
    /// This API's resource identifier: the `aud` every accepted token must carry (RFC 9068 §4).
    pub resource: String,
    /// The API's public base URL as clients call it (scheme, host, port; no path), e.g.
    /// `https://api.example`: DPoP proofs must name `{base_url}{path}` as `htu` (RFC 9449 §4.3).
    pub base_url: String,
    /// How tokens are checked.
    #[serde(default)]
    pub validation: Validation,
    /// JWT access tokens verified before are remembered by their SHA-256 until they expire, so a
    /// token sent again skips the signature check; this many at most (0: verify every time).
    #[serde(default = "defaults::jwt_cache_entries")]
    pub jwt_cache_entries: usize,
    /// The API's own client registration at the authorization server, for introspection and
    /// reports (`private_key_jwt` over mutual TLS).
    #[serde(default)]
    pub client: Option<ClientCredentials>,
    /// PEM files of the certificate authorities trusted for the authorization server's (and the
    /// report endpoint's) TLS certificates; empty: the system's roots.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// Timeout of each request to the authorization server, seconds.
    #[serde(default = "defaults::http_timeout_secs")]
    pub http_timeout_secs: u64,
    /// Refuse tokens that carry no sender constraint (`cnf`); FAPI 2.0 requires it
    /// (FAPI2-SP §5.3.4).
    #[serde(default = "defaults::yes")]
    pub require_sender_constraint: bool,
    /// JWK Set caching.
    #[serde(default)]
    pub jwks: Jwks,
    /// DPoP at this API (RFC 9449 §7).
    #[serde(default)]
    pub dpop: Dpop,
    /// Client certificates forwarded by a TLS-terminating proxy (RFC 9440).
    #[serde(default)]
    pub proxy: Proxy,
    /// Request budgets per token and per client.
    #[serde(default)]
    pub budgets: Budgets,
    /// The enumeration guard on routes that name an identifier parameter.
    #[serde(default)]
    pub enumeration: Enumeration,
    /// Reports of API-side events to the authorization server.
    #[serde(default)]
    pub reporting: Reporting,
}

impl Settings {
    /// Settings with every default: local JWT validation, no client registration, no reports.
    pub fn new(issuer: &str, resource: &str, base_url: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            validation: Validation::default(),
            jwt_cache_entries: defaults::jwt_cache_entries(),
            client: None,
            ca_files: Vec::new(),
            http_timeout_secs: defaults::http_timeout_secs(),
            require_sender_constraint: true,
            jwks: Jwks::default(),
            dpop: Dpop::default(),
            proxy: Proxy::default(),
            budgets: Budgets::default(),
            enumeration: Enumeration::default(),
            reporting: Reporting::default(),
        }
    }
}

/// How the layer checks a token.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validation {
    /// RFC 9068 JWT access tokens, checked locally against the authorization server's JWK Set.
    /// A revoked token stays usable until it expires (5 minutes by default at Portcullis).
    #[default]
    Jwt,
    /// RFC 7662 introspection of every token (opaque or JWT), authenticated as `client`.
    Introspection {
        /// How long an answer is reused, seconds; never past the token's expiry; 0: every
        /// request asks, so a revocation takes effect at once.
        #[serde(default = "defaults::introspection_cache_secs")]
        cache_secs: i64,
        /// Ask for RFC 9701 signed responses and verify them (FAPI 2.0 Message Signing).
        #[serde(default = "defaults::yes")]
        signed: bool,
        /// Most answers kept at once.
        #[serde(default = "defaults::introspection_cache_entries")]
        max_entries: usize,
    },
}

impl Validation {
    /// Introspection with the default cache lifetime, signed responses and cache size.
    pub fn introspection(cache_secs: i64) -> Self {
        Self::Introspection {
            cache_secs,
            signed: true,
            max_entries: defaults::introspection_cache_entries(),
        }
    }
}

/// The API's client registration: `private_key_jwt` with a key registered in its JWK Set, sent
/// over mutual TLS with its certificate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// The API's `client_id` (registered with `resource_server: true` to introspect others'
    /// tokens).
    pub client_id: String,
    /// A private JWK (JSON) whose public half is registered; it signs the client assertions.
    pub key_file: PathBuf,
    /// The PEM certificate chain presented at the authorization server's mTLS listener.
    pub certificate_file: PathBuf,
    /// The PEM private key of that certificate.
    pub certificate_key_file: PathBuf,
}

/// JWK Set caching (RFC 7517), for JWT access tokens and signed introspection responses.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwks {
    /// A token naming a `kid` not in the cached set triggers a refetch, at most this often,
    /// seconds (key rotation at the authorization server).
    #[serde(default = "defaults::jwks_min_refetch_secs")]
    pub min_refetch_secs: i64,
    /// The cached set is refetched when it is older than this, seconds, so that a key the
    /// authorization server withdrew stops verifying.
    #[serde(default = "defaults::jwks_max_age_secs")]
    pub max_age_secs: i64,
}

impl Default for Jwks {
    fn default() -> Self {
        Self {
            min_refetch_secs: defaults::jwks_min_refetch_secs(),
            max_age_secs: defaults::jwks_max_age_secs(),
        }
    }
}

/// DPoP at the resource server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dpop {
    /// Require a nonce this API issued in every proof (RFC 9449 §9): a proof without one gets
    /// `401` `use_dpop_nonce` with a `DPoP-Nonce` header.
    #[serde(default)]
    pub require_nonce: bool,
    /// A file holding 32 random bytes (or 64 hex digits) from which nonces are derived; every
    /// process of the API must share it. Absent: a fresh key per process.
    #[serde(default)]
    pub nonce_key_file: Option<PathBuf>,
    /// Most proof `jti`s remembered at once (R109); past that, requests with new proofs get
    /// `503` until old ones expire (replays are never let through).
    #[serde(default = "defaults::replay_capacity")]
    pub replay_capacity: usize,
}

impl Default for Dpop {
    fn default() -> Self {
        Self {
            require_nonce: false,
            nonce_key_file: None,
            replay_capacity: defaults::replay_capacity(),
        }
    }
}

/// A TLS-terminating proxy in front of the API that forwards client certificates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// Addresses (CIDR) of proxies whose certificate header is believed; empty: the header is
    /// refused from everyone (R103).
    #[serde(default)]
    pub trusted: Vec<ipnet::IpNet>,
    /// The header carrying the certificate as an RFC 8941 byte sequence (RFC 9440).
    #[serde(default = "defaults::client_cert_header")]
    pub client_cert_header: String,
}

impl Default for Proxy {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            client_cert_header: defaults::client_cert_header(),
        }
    }
}

/// Request budgets; each is a rate with a burst (GCRA). `None` disables one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// For each token.
    #[serde(default = "defaults::per_token_budget")]
    pub per_token: Option<Budget>,
    /// For each client, over all its tokens.
    #[serde(default = "defaults::per_client_budget")]
    pub per_client: Option<Budget>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            per_token: defaults::per_token_budget(),
            per_client: defaults::per_client_budget(),
        }
    }
}

/// A sustained rate and a burst.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests that may come at once.
    pub burst: u32,
}

/// The enumeration guard: distinct identifiers per token and per client in a sliding window, on
/// each route that names its identifier parameter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enumeration {
    /// The window, seconds.
    #[serde(default = "defaults::enumeration_window_secs")]
    pub window_secs: i64,
    /// Distinct identifiers one token may touch per route in the window; past it, new ones get
    /// `429` and an `enumeration_suspected` report.
    #[serde(default = "defaults::enumeration_per_token")]
    pub per_token: usize,
    /// Distinct identifiers one client may touch per route in the window, over all its tokens.
    #[serde(default = "defaults::enumeration_per_client")]
    pub per_client: usize,
}

impl Default for Enumeration {
    fn default() -> Self {
        Self {
            window_secs: defaults::enumeration_window_secs(),
            per_token: defaults::enumeration_per_token(),
            per_client: defaults::enumeration_per_client(),
        }
    }
}

/// Reports to the authorization server (`POST /resource-events`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reporting {
    /// Send reports (needs `client`).
    #[serde(default)]
    pub enabled: bool,
    /// The endpoint; absent: `resource_events_endpoint` of the metadata's
    /// `mtls_endpoint_aliases`, else `{issuer}/resource-events`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Events waiting to be sent at most; more are dropped (and counted) so a request never
    /// waits on a report.
    #[serde(default = "defaults::report_queue")]
    pub queue: usize,
    /// Events per request at most.
    #[serde(default = "defaults::report_batch")]
    pub batch: usize,
    /// How long the sender waits to fill a batch, milliseconds.
    #[serde(default = "defaults::report_flush_millis")]
    pub flush_millis: u64,
    /// The same event (kind and subject) is reported again at most this often, seconds.
    #[serde(default = "defaults::report_repeat_secs")]
    pub repeat_secs: i64,
}

impl Default for Reporting {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: None,
            queue: defaults::report_queue(),
            batch: defaults::report_batch(),
            flush_millis: defaults::report_flush_millis(),
            repeat_secs: defaults::report_repeat_secs(),
        }
    }
}

/// The default values, one function each (serde needs functions).
mod defaults {
    use super::Budget;

    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn jwt_cache_entries() -> usize {
        100_000
    }
    pub(super) fn http_timeout_secs() -> u64 {
        5
    }
    pub(super) fn introspection_cache_secs() -> i64 {
        30
    }
    pub(super) fn introspection_cache_entries() -> usize {
        100_000
    }
    pub(super) fn jwks_min_refetch_secs() -> i64 {
        60
    }
    pub(super) fn jwks_max_age_secs() -> i64 {
        300
    }
    pub(super) fn replay_capacity() -> usize {
        500_000
    }
    pub(super) fn client_cert_header() -> String {
        "client-cert".to_owned()
    }
    pub(super) fn per_token_budget() -> Option<Budget> {
        Some(Budget {
            per_minute: 600,
            burst: 100,
        })
    }
    pub(super) fn per_client_budget() -> Option<Budget> {
        Some(Budget {
            per_minute: 3_000,
            burst: 300,
        })
    }
    pub(super) fn enumeration_window_secs() -> i64 {
        600
    }
    pub(super) fn enumeration_per_token() -> usize {
        50
    }
    pub(super) fn enumeration_per_client() -> usize {
        200
    }
    pub(super) fn report_queue() -> usize {
        1_000
    }
    pub(super) fn report_batch() -> usize {
        50
    }
    pub(super) fn report_flush_millis() -> u64 {
        1_000
    }
    pub(super) fn report_repeat_secs() -> i64 {
        600
    }
}

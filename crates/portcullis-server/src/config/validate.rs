//! [`Config::validate`]: every setting that can be checked without the database, so that
//! `portcullis config check` and `serve` fail fast with one line naming the problem.

use anyhow::{Context as _, bail};
use url::Url;

use super::{Config, JWKS_MAX_AGE_SECS, TlsMode, directories, read_cert_chain, read_private_key};

impl Config {
    /// Checks every setting that can be checked without the database.
    pub fn validate(&self) -> anyhow::Result<()> {
        check_base_url("issuer", &self.issuer)?;
        self.limits.validate()?;
        if let Some(base) = &self.mtls_base_url {
            check_base_url("mtls_base_url", base)?;
        }
        let url = self.database_url();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            bail!("database_url must start with postgres:// or sqlite:// (got a different scheme)");
        }
        if url.starts_with("postgres") {
            Url::parse(&url).map_err(|e| anyhow::anyhow!("database_url is malformed: {e}"))?;
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(cert), Some(key)) => {
                read_cert_chain(cert)?;
                read_private_key(key)?;
            }
            (None, None) => {}
            _ => bail!("tls.cert_file and tls.key_file must be set together"),
        }
        for ca in &self.tls.client_ca_files {
            read_cert_chain(ca)?;
        }
        if self.tls.mode == TlsMode::Proxy && self.proxy.trusted.is_empty() {
            bail!("tls.mode = \"proxy\" needs proxy.trusted: the addresses of the TLS proxies");
        }
        if axum::http::HeaderName::from_bytes(self.proxy.client_cert_header.as_bytes()).is_err() {
            bail!("proxy.client_cert_header is not a valid header name");
        }
        if let Some(legacy) = &self.proxy.legacy_client_cert_header
            && axum::http::HeaderName::from_bytes(legacy.as_bytes()).is_err()
        {
            bail!("proxy.legacy_client_cert_header is not a valid header name");
        }
        self.signing_algs()?;
        self.rate_limits.validate()?;
        self.monitoring.validate()?;
        self.alerts.validate()?;
        if let Some(kek) = &self.keys.kek {
            crate::secret::Kek::from_base64(kek).context("keys.kek")?;
        }
        if self.keys.publish_ahead_secs < JWKS_MAX_AGE_SECS || self.keys.overlap_secs < 0 {
            bail!(
                "keys.publish_ahead_secs must be at least the JWKS cache lifetime ({JWKS_MAX_AGE_SECS} s) and keys.overlap_secs not negative"
            );
        }
        if self.keys.refresh_secs == 0 {
            bail!("keys.refresh_secs must be at least 1");
        }
        if self.http.body_limit_bytes == 0
            || self.http.request_timeout_secs == 0
            || self.http.header_read_timeout_secs == 0
            || self.http.handshake_timeout_secs == 0
            || self.http.idle_timeout_secs < self.http.request_timeout_secs
        {
            bail!(
                "http limits and timeouts must be greater than zero, and idle_timeout_secs at least request_timeout_secs"
            );
        }
        if portcullis_core::client::TokenFormat::parse(&self.tokens.access_token_format).is_none() {
            bail!("tokens.access_token_format must be \"opaque\" or \"jwt\"");
        }
        if self.tokens.access_token_lifetime_secs < 1
            || self.tokens.access_token_lifetime_secs > self.tokens.max_access_token_lifetime_secs
        {
            bail!(
                "tokens.access_token_lifetime_secs must be between 1 and tokens.max_access_token_lifetime_secs"
            );
        }
        let token_alg = self.token_signing_alg()?;
        if !self.signing_algs()?.contains(&token_alg) {
            bail!("tokens.signing_alg must be one of keys.algs");
        }
        let flow = &self.flow;
        if !(5..600).contains(&flow.request_uri_lifetime_secs) {
            bail!(
                "flow.request_uri_lifetime_secs must be at least 5 and under 600 (RFC 9126, FAPI 2.0)"
            );
        }
        if !(1..=60).contains(&flow.code_lifetime_secs) {
            bail!("flow.code_lifetime_secs must be between 1 and 60 (FAPI 2.0)");
        }
        if flow.interaction_lifetime_secs < flow.request_uri_lifetime_secs
            || flow.interaction_lifetime_secs > 3600
        {
            bail!(
                "flow.interaction_lifetime_secs must be between request_uri_lifetime_secs and 3600"
            );
        }
        if flow.id_token_lifetime_secs < 1
            || flow.refresh_token_idle_secs < 1
            || flow.refresh_token_absolute_secs < flow.refresh_token_idle_secs
            || flow.session_lifetime_secs < 60
        {
            bail!(
                "flow lifetimes must be positive, refresh_token_absolute_secs at least refresh_token_idle_secs, sessions at least 60 s"
            );
        }
        if let Some(ca) = &self.clients.jwks_uri_ca_file {
            read_cert_chain(ca)?;
        }
        if self.clients.jwks_uri_timeout_secs == 0 || self.clients.jwks_uri_max_bytes == 0 {
            bail!(
                "clients.jwks_uri_timeout_secs and clients.jwks_uri_max_bytes must be greater than zero"
            );
        }
        directories(&self.registration)?;
        if portcullis_core::scope::Scope::parse(&self.registration.default_scope).is_none() {
            bail!(
                "registration.default_scope must be scope tokens separated by spaces (printable ASCII without quotes or backslashes)"
            );
        }
        let admin = &self.admin;
        if !(60..=admin.session_lifetime_secs).contains(&admin.idle_timeout_secs)
            || admin.session_lifetime_secs > 7 * 24 * 3600
        {
            bail!(
                "admin.idle_timeout_secs must be at least 60 and at most admin.session_lifetime_secs, which must be at most 7 days"
            );
        }
        if admin.audit_retention_days < 0 {
            bail!("admin.audit_retention_days must not be negative (0 keeps events forever)");
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| anyhow::anyhow!("log.level is not a valid filter: {e}"))?;
        Ok(())
    }
}

/// R2: an https URL with a host, no query, no fragment, no trailing slash.
fn check_base_url(name: &str, value: &str) -> anyhow::Result<()> {
    let url = Url::parse(value).map_err(|e| anyhow::anyhow!("{name} is malformed: {e}"))?;
    if url.scheme() != "https" {
        bail!("{name} must be an https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("{name} must name a host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("{name} must not have a query or fragment");
    }
    if value.ends_with('/') {
        bail!("{name} must not end with a slash");
    }
    // The endpoints are served at the root: an issuer with a path would publish URLs (and an
    // RFC 8414 well-known location) that this server does not answer.
    if url.path() != "/" && !url.path().is_empty() {
        bail!("{name} must have no path (scheme, host and port only)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{JWKS_MAX_AGE_SECS, SoftwareStatementIssuer, TlsMode};

    #[test]
    fn defaults_are_valid_and_secure() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.issuer, "https://localhost:8443");
        assert_eq!(c.mtls_base_url(), "https://localhost:8444");
        assert_eq!(c.database_url(), "sqlite://data/portcullis.db");
        assert_eq!(c.tls.mode, TlsMode::Direct);
        assert!(c.keys.publish_ahead_secs >= JWKS_MAX_AGE_SECS);
    }

    #[test]
    fn r2_issuer_must_be_https_without_query_or_trailing_slash() {
        for bad in [
            "http://as.example",
            "https://as.example/",
            "https://as.example?x=1",
            "as",
        ] {
            let c = Config {
                issuer: bad.into(),
                ..Config::default()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
        let c = Config {
            issuer: "https://as.example/tenant".into(),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("no path"));
        let c = Config {
            issuer: "https://as.example:9443".into(),
            ..Config::default()
        };
        c.validate().unwrap();
        assert_eq!(c.mtls_base_url(), "https://as.example:8444");
    }

    #[test]
    fn proxy_mode_needs_trusted_addresses() {
        let mut c = Config::default();
        c.tls.mode = TlsMode::Proxy;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("proxy.trusted")
        );
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/portcullis.example.toml");
        let c = Config::load(Some(&path)).unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn software_statement_keys_must_be_readable_public_and_strong() {
        use portcullis_core::jose::{Alg, PrivateKey};
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(Alg::Es256, "d1").unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let public = write(
            "public.json",
            serde_json::json!({ "keys": [key.public_jwk().unwrap()] }).to_string(),
        );
        let private = write(
            "private.json",
            format!(
                r#"{{"keys": [{}]}}"#,
                String::from_utf8(key.to_json()).unwrap()
            ),
        );
        let empty = write("empty.json", r#"{"keys": []}"#.to_owned());
        let garbage = write("garbage.json", "not json".to_owned());
        let with = |issuer: &str, file: &Path| {
            let mut c = Config::default();
            c.registration.software_statement_issuers = vec![SoftwareStatementIssuer {
                issuer: issuer.to_owned(),
                jwks_file: file.to_path_buf(),
            }];
            c
        };
        with("https://directory.example", &public)
            .validate()
            .unwrap();
        for (file, needle) in [
            (private.as_path(), "private key"),
            (empty.as_path(), "no key"),
            (garbage.as_path(), "not JSON"),
            (Path::new("missing/jwks.json"), "missing/jwks.json"),
        ] {
            let e = with("https://directory.example", file)
                .validate()
                .unwrap_err();
            assert!(format!("{e:#}").contains(needle), "{e:#}");
        }
        assert!(with("", &public).validate().is_err());
        let mut twice = with("https://directory.example", &public);
        twice
            .registration
            .software_statement_issuers
            .push(twice.registration.software_statement_issuers[0].clone());
        assert!(twice.validate().is_err());
    }

    #[test]
    fn admin_sessions_time_out_within_sane_bounds() {
        let c = Config::default();
        assert_eq!(
            (c.admin.idle_timeout_secs, c.admin.session_lifetime_secs),
            (900, 28_800)
        );
        for (idle, lifetime) in [(59, 28_800), (3600, 1800), (900, 8 * 24 * 3600)] {
            let mut c = Config::default();
            c.admin.idle_timeout_secs = idle;
            c.admin.session_lifetime_secs = lifetime;
            assert!(c.validate().is_err(), "{idle} {lifetime}");
        }
        let mut c = Config::default();
        c.admin.audit_retention_days = -1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn publish_ahead_covers_the_jwks_cache_lifetime() {
        let mut c = Config::default();
        c.keys.publish_ahead_secs = JWKS_MAX_AGE_SECS - 1;
        assert!(c.validate().is_err());
    }
}

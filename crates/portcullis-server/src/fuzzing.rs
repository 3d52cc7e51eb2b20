//! Entry points for the fuzz targets in `fuzz/` (docs/FUZZING.md): the crate's own parsers of
//! hostile input that are not public API — the form parser behind `Params`, cookies, the
//! RFC 9440 client certificate headers of proxy mode, the introspection and revocation inputs
//! and the configuration file. Each runs the real code; none is used by the server itself.
//! Not a stable API.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};

use crate::config::{Config, TlsMode};
use crate::extract::Params;

/// Parses a form body as every endpoint does; the parameters kept, or `None` if refused.
/// Checks the parser's promises: no parameter twice, none with an empty value.
pub fn form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let params = Params::parse(body).ok()?;
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pairs.sort();
    assert!(pairs.windows(2).all(|w| w[0].0 != w[1].0), "R187");
    assert!(pairs.iter().all(|(_, v)| !v.is_empty()));
    for (k, v) in &pairs {
        assert_eq!(params.get(k), Some(v.as_str()));
    }
    Some(pairs)
}

/// A header map holding each of `values` as a `name` header (values that are not valid header
/// bytes are left out, as hyper would refuse them).
fn headers(name: &'static str, values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_static(name), value);
        }
    }
    map
}

/// Reads cookie `name` from `Cookie` headers holding `values`, as the pages and the admin UI
/// do, and sets a cookie to each value read (both Set-Cookie forms), checking the value comes
/// back unchanged.
pub fn cookies(values: &[&[u8]], name: &str) -> Option<String> {
    let map = headers("cookie", values);
    let value = crate::browser::session::cookie(&map, name)?.to_owned();
    for set in [
        crate::browser::session::set_cookie(name, &value, 60),
        crate::extract::admin::admin_cookie(name, &value, 60),
    ]
    .into_iter()
    .flatten()
    {
        let text = set.to_str().ok()?;
        assert!(text.contains("Secure; HttpOnly"));
        assert!(text.starts_with(&format!("{name}={value};")));
    }
    let _ = crate::browser::session::csrf_holds(Some(&value), Some(name));
    Some(value)
}

/// Parses the forwarded client certificate headers of proxy mode (RFC 9440 `Client-Cert` and
/// `Client-Cert-Chain`, and a legacy PEM header): `Ok(Some(x5t#S256))` for a certificate,
/// `Ok(None)` for none, `Err` for a refused (malformed) header.
pub fn client_cert_headers(
    cert: &[&[u8]],
    chain: &[&[u8]],
    legacy: &[&[u8]],
) -> Result<Option<String>, &'static str> {
    let mut config = Config::default();
    config.tls.mode = TlsMode::Proxy;
    config.proxy.legacy_client_cert_header = Some("x-ssl-client-cert".to_owned());
    let parser = crate::transport::peer::CertHeaders::from_config(&config)
        .map_err(|_| "the header names are invalid")?;
    let mut map = headers("client-cert", cert);
    for (name, values) in [("client-cert-chain", chain), ("x-ssl-client-cert", legacy)] {
        for (k, v) in headers(name, values).iter() {
            map.append(k.clone(), v.clone());
        }
    }
    let certificate = parser
        .parse(&map)
        .map_err(|()| "malformed client certificate header")?;
    Ok(certificate.map(|c| c.x5t_s256().to_owned()))
}

/// The introspection and revocation inputs besides client authentication: the form, the
/// `token` (its hash is the lookup key), `token_type_hint` and the `Accept` header choosing a
/// signed introspection response. `None` if the form is refused.
pub fn introspection_and_revocation(body: &[u8], accept: &[u8]) -> Option<(bool, bool)> {
    let params = Params::parse(body).ok()?;
    if let Some(token) = params.get("token")
        && token.len() <= crate::endpoints::introspect::MAX_TOKEN_LEN
    {
        let hash = portcullis_core::hash::TokenHash::of(token.as_bytes());
        assert_eq!(hash, portcullis_core::hash::TokenHash::of(token.as_bytes()));
    }
    let refresh_first = crate::endpoints::revoke::refresh_first(&params).ok()?;
    let wants_jwt = crate::endpoints::introspect::wants_jwt(&headers("accept", &[accept]));
    Some((refresh_first, wants_jwt))
}

/// Reads `text` as the configuration file (over the defaults, without the environment) and
/// validates it as `portcullis config check` does. Paths under /dev, /proc and /sys are not
/// followed (the fuzzer must not read a device). `Ok` if the configuration is accepted.
pub fn config(text: &str) -> Result<(), String> {
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return Err("a device path".to_owned());
    }
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    // What the server then derives from it must not fail on an accepted configuration.
    let _ = config.signing_algs();
    let _ = config.database_url();
    Ok(())
}

/// A JWK Set fetched from a client's `jwks_uri`: the body as the fetcher reads it and the
/// `Cache-Control` lifetime it honours (clamped). The keys kept, if the body is JSON.
pub fn fetched_jwks(
    body: &[u8],
    cache_control: &str,
) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
    let lifetime = crate::clients::jwks::cache_lifetime(cache_control);
    assert!(lifetime >= std::time::Duration::from_secs(60));
    assert!(lifetime <= std::time::Duration::from_secs(24 * 3600));
    let document: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(portcullis_core::client::usable_keys(&document))
}

//! Client authentication rules: `private_key_jwt` (RFC 7523, FAPI2-SP §5.3.2.1) and mutual TLS
//! (RFC 8705 §2). The same rules apply at every endpoint that authenticates clients.
//!
//! The server finds the client and its keys, then asks [`verify_assertion`] or the certificate
//! checks here; the single use of an assertion's `jti` (R94) is recorded by the server in the
//! store, atomically, with the expiry returned here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::client::{Client, SubjectMatch};
use crate::dn::DistinguishedName;
use crate::error::{ErrorCode, OAuthError};
use crate::jose::{Alg, Jws};
use crate::time::Timestamp;

/// R88: the only client assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// R93, R182: `iat`/`nbf` may be this far in the future (FAPI2-SP §5.3.2.1-13).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10;

/// R95: an assertion may not live longer than this, so the `jti` cache stays bounded.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;

/// R96: JWT kinds that are never client assertions.
const FOREIGN_TYPES: [&str; 6] = [
    "dpop+jwt",
    "oauth-authz-req+jwt",
    "at+jwt",
    "token-introspection+jwt",
    "logout+jwt",
    "secevent+jwt",
];

/// A verified assertion: what the server must record to make it single-use.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Assertion {
    /// The `jti`, to be recorded until `expires_at`.
    pub jti: String,
    /// The assertion's `exp`.
    pub expires_at: Timestamp,
}

/// Why an assertion failed.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AssertionError {
    /// No registered key matches the header: the server may refetch the client's `jwks_uri`
    /// once and try again.
    UnknownKey,
    /// Refused.
    Rejected(OAuthError),
}

fn invalid(description: &'static str) -> AssertionError {
    AssertionError::Rejected(OAuthError::new(ErrorCode::InvalidClient, description))
}

/// The client an assertion claims to come from (its `sub`, else `iss`), read without
/// verification, only to find the keys that will verify it.
pub fn assertion_client_id(token: &str) -> Option<String> {
    claimed_client(&Jws::decode(token).ok()?).map(str::to_owned)
}

/// [`assertion_client_id`] of an assertion decoded already.
pub fn claimed_client<'j>(assertion: &'j Jws<'_>) -> Option<&'j str> {
    let claims = &assertion.claims;
    claims
        .get("sub")
        .or_else(|| claims.get("iss"))
        .and_then(Value::as_str)
}

/// Checks a `private_key_jwt` assertion of `client` against its `keys` (R89–R97).
pub fn verify_assertion(
    token: &str,
    client: &Client,
    keys: &[Map<String, Value>],
    issuer: &str,
    now: Timestamp,
) -> Result<Assertion, AssertionError> {
    let assertion = Jws::decode(token).map_err(|_| invalid("client_assertion is not a JWS"))?;
    verify_decoded_assertion(&assertion, client, keys, issuer, now)
}

/// [`verify_assertion`] of an assertion decoded already (the server decodes it once, to find
/// the client and then to verify it, again after refetching the client's keys if need be).
pub fn verify_decoded_assertion(
    assertion: &Jws<'_>,
    client: &Client,
    keys: &[Map<String, Value>],
    issuer: &str,
    now: Timestamp,
) -> Result<Assertion, AssertionError> {
    let header = &assertion.header;
    // R89, R180: allowed algorithms only; never none, HMAC or RS256.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or_else(|| invalid("client_assertion alg is not allowed"))?;
    if client
        .token_endpoint_auth_signing_alg
        .is_some_and(|pinned| pinned != alg)
    {
        return Err(invalid("client_assertion alg is not the registered one"));
    }
    // R96: another kind of JWT is not an assertion.
    if let Some(typ) = header.get("typ").and_then(Value::as_str)
        && FOREIGN_TYPES.contains(&typ.to_ascii_lowercase().as_str())
    {
        return Err(invalid(
            "client_assertion has the type of another kind of JWT",
        ));
    }
    // R89: only registered keys, chosen by kid (or by key type); jku/x5u/jwk never followed.
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Map<String, Value>> = keys
        .iter()
        .filter(|k| match kid {
            Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
            None => key_fits(k, alg),
        })
        .collect();
    if candidates.is_empty() {
        return Err(AssertionError::UnknownKey);
    }
    if !candidates.iter().any(|key| assertion.verify(key).is_ok()) {
        return Err(invalid("client_assertion signature does not verify"));
    }
    let claims = &assertion.claims;

    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // R90: iss = sub = client_id.
    if text("iss") != Some(client.client_id.as_str())
        || text("sub") != Some(client.client_id.as_str())
    {
        return Err(invalid(
            "client_assertion iss and sub must be the client_id",
        ));
    }
    // R91: aud is exactly the issuer, as a string (FAPI2-SP §5.3.2.1-8).
    if text("aud") != Some(issuer) {
        return Err(invalid(
            "client_assertion aud must be the issuer identifier",
        ));
    }
    let number = |name: &str| claims.get(name).map(|v| v.as_i64().ok_or(()));
    // R92: exp required and not passed.
    let exp = match number("exp") {
        Some(Ok(exp)) => Timestamp::from_unix(exp),
        _ => return Err(invalid("client_assertion exp is missing")),
    };
    if now >= exp.plus(MAX_FUTURE_SKEW_SECS) {
        return Err(invalid("client_assertion has expired"));
    }
    // R95: bounded lifetime, and not minted long ago.
    if exp > now.plus(MAX_ASSERTION_LIFETIME_SECS + MAX_FUTURE_SKEW_SECS) {
        return Err(invalid("client_assertion lives too long"));
    }
    if let Some(Ok(iat)) = number("iat")
        && iat < now.plus(-MAX_ASSERTION_LIFETIME_SECS).unix()
    {
        return Err(invalid("client_assertion was issued too long ago"));
    }
    // R93, R182: iat and nbf at most 10 s in the future.
    for name in ["iat", "nbf"] {
        match number(name) {
            None => {}
            Some(Ok(t)) if t <= now.plus(MAX_FUTURE_SKEW_SECS).unix() => {}
            Some(_) => return Err(invalid("client_assertion iat or nbf is in the future")),
        }
    }
    // R94: jti required; single use is recorded by the caller.
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid("client_assertion jti is missing"))?;
    Ok(Assertion {
        jti: jti.to_owned(),
        expires_at: exp.max(now).plus(MAX_FUTURE_SKEW_SECS),
    })
}

/// How long an assertion made by [`assertion_claims`] lives, in seconds.
pub const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The claims of a `private_key_jwt` assertion that `client_id` sends to the authorization
/// server `issuer` (R90–R95): `iss` = `sub` = the client, `aud` = the issuer (also at its mTLS
/// aliases, R122), the fresh `jti` the caller chose, `iat` = `nbf` = `now`, `exp` one minute
/// later. Sign it with the client's registered key and type `JWT`.
pub fn assertion_claims(
    client_id: &str,
    issuer: &str,
    jti: &str,
    now: Timestamp,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(client_id));
    claims.insert("sub".into(), Value::from(client_id));
    claims.insert("aud".into(), Value::from(issuer));
    claims.insert("jti".into(), Value::from(jti));
    claims.insert("iat".into(), Value::from(now.unix()));
    claims.insert("nbf".into(), Value::from(now.unix()));
    claims.insert(
        "exp".into(),
        Value::from(now.plus(ASSERTION_LIFETIME_SECS).unix()),
    );
    claims
}

/// Whether a key without `kid` may verify `alg` (also used for request objects).
pub(crate) fn key_fits(key: &Map<String, Value>, alg: Alg) -> bool {
    if let Some(key_alg) = key.get("alg").and_then(Value::as_str) {
        return Alg::parse(key_alg) == Some(alg);
    }
    let kty = key.get("kty").and_then(Value::as_str);
    let crv = key.get("crv").and_then(Value::as_str);
    match alg {
        Alg::EdDsa => kty == Some("OKP") && crv == Some("Ed25519"),
        Alg::Es256 => kty == Some("EC") && crv == Some("P-256"),
        Alg::Ps256 => kty == Some("RSA"),
    }
}

/// R101: a self-signed certificate matches one registered in the client's JWKS (`x5c[0]`).
pub fn self_signed_certificate_matches(certificate: &[u8], keys: &[Map<String, Value>]) -> bool {
    keys.iter().any(|key| {
        key.get("x5c")
            .and_then(Value::as_array)
            .and_then(|chain| chain.first())
            .and_then(Value::as_str)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|der| der == certificate)
    })
}

/// R100: the certificate carries exactly the registered subject attribute. Chain validation
/// against the trust anchors is done by the caller.
pub fn subject_matches(certificate: &[u8], expected: &SubjectMatch) -> bool {
    if let SubjectMatch::Dn(dn) = expected {
        return DistinguishedName::of_certificate(certificate)
            .is_some_and(|subject| &subject == dn);
    }
    let Ok((_, cert)) = X509Certificate::from_der(certificate) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|name| match (name, expected) {
            (GeneralName::DNSName(dns), SubjectMatch::SanDns(want)) => {
                dns.eq_ignore_ascii_case(want)
            }
            (GeneralName::URI(uri), SubjectMatch::SanUri(want)) => uri == want,
            (GeneralName::RFC822Name(email), SubjectMatch::SanEmail(want)) => email == want,
            (GeneralName::IPAddress(bytes), SubjectMatch::SanIp(want)) => match want {
                std::net::IpAddr::V4(v4) => *bytes == v4.octets(),
                std::net::IpAddr::V6(v6) => *bytes == v6.octets(),
            },
            _ => false,
        })
}

#[cfg(test)]
#[path = "client_auth_tests.rs"]
mod tests;

//! Signed request objects (JAR, RFC 9101) as FAPI 2.0 Message Signing takes them at the pushed
//! authorization request endpoint (FAPI2-MS §5.3.1; R131–R138).
//!
//! The server finds the client's keys (its `jwks`, or its fetched `jwks_uri`), then asks
//! [`verify`]. The result is the authorization parameters the object carries, as a string map
//! for [`crate::authorize::validate`] with `signed = true`: only what is inside the object is
//! used (R138). Every refusal is `invalid_request_object` (R132); [`RequestObjectError::UnknownKey`]
//! lets the server refetch a `jwks_uri` once before giving up, as for client assertions.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::client::Client;
use crate::client_auth::{self, MAX_FUTURE_SKEW_SECS};
use crate::error::{ErrorCode, OAuthError};
use crate::jose::{self, Alg};
use crate::time::Timestamp;

/// The `typ` of a request object (RFC 9101 §4); its absence is tolerated (R138).
pub const TYP: &str = "oauth-authz-req+jwt";

/// R134: `nbf` may be at most this old, in seconds (FAPI2-MS §5.3.1-3).
pub const MAX_NBF_AGE_SECS: i64 = 3600;

/// R134: `exp - nbf` may be at most this, in seconds (FAPI2-MS §5.3.1-4).
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// JWT claims about the object itself, not authorization parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, description)
}

const NOT_JWS: OAuthError = invalid("request object is not a compact JWS");
const BAD_ALG: OAuthError = invalid("request object alg is not allowed");
const PINNED_ALG: OAuthError = invalid("request object alg is not the registered one");
const BAD_TYP: OAuthError = invalid("request object typ must be oauth-authz-req+jwt");
const UNKNOWN_KEY: OAuthError =
    invalid("no registered key of the client matches the request object");
const BAD_SIGNATURE: OAuthError = invalid("request object signature does not verify");
const REQUEST_URI: OAuthError = invalid("request object must not contain request_uri");
const NESTED: OAuthError = invalid("request object must not contain request");
const BAD_ISS: OAuthError = invalid("request object iss must be the client_id");
const BAD_AUD: OAuthError = invalid("request object aud must be or contain the issuer");
const BAD_CLIENT_ID: OAuthError = invalid("request object client_id must be the client");
const NO_EXP: OAuthError = invalid("request object exp is missing or not an integer");
const NO_NBF: OAuthError = invalid("request object nbf is missing or not an integer");
const EXPIRED: OAuthError = invalid("request object has expired");
const FUTURE_NBF: OAuthError = invalid("request object nbf is in the future");
const OLD_NBF: OAuthError = invalid("request object nbf is more than an hour old");
const TOO_LONG: OAuthError = invalid("request object lives longer than an hour");
const FUTURE_IAT: OAuthError = invalid("request object iat is in the future or not an integer");

/// Why a request object was refused.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum RequestObjectError {
    /// No registered key matches the header: the server may refetch the client's `jwks_uri`
    /// once and try again.
    UnknownKey,
    /// Refused; always `invalid_request_object`.
    Rejected(OAuthError),
}

impl RequestObjectError {
    /// The OAuth error to send once the server gives up (`invalid_request_object`).
    pub fn error(self) -> OAuthError {
        match self {
            Self::UnknownKey => UNKNOWN_KEY,
            Self::Rejected(e) => e,
        }
    }
}

impl From<OAuthError> for RequestObjectError {
    fn from(e: OAuthError) -> Self {
        Self::Rejected(e)
    }
}

/// Verifies the request object `jwt` of `client` against its `keys` and returns the
/// authorization parameters inside it (R131–R138).
///
/// Strings are returned as they are, numbers as their decimal text, booleans as `true` or
/// `false`, objects and arrays (`claims`, `authorization_details`) as compact JSON text; `null`
/// is dropped, and so are the JWT claims `iss`, `aud`, `exp`, `nbf`, `iat` and `jti`.
pub fn verify(
    jwt: &str,
    client: &Client,
    keys: &[Map<String, Value>],
    issuer: &str,
    now: Timestamp,
) -> Result<BTreeMap<String, String>, RequestObjectError> {
    let header = jose::peek_header(jwt).map_err(|_| NOT_JWS)?;
    // R132, R180: allowed algorithms only; never none, HMAC or RS256 (FAPI2-SP §5.4.1).
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or(BAD_ALG)?;
    // R132: the client's registered request_object_signing_alg, if any (RFC 9101 §10.5).
    if client
        .request_object_signing_alg
        .is_some_and(|pinned| pinned != alg)
    {
        return Err(PINNED_ALG.into());
    }
    // R138: typ is absent or oauth-authz-req+jwt, compared as a media type (RFC 9101 §4,
    // RFC 7515 §4.1.9: case-insensitive, "application/" optional); other JWTs are refused.
    if let Some(typ) = header.get("typ") {
        let is_request_object = typ.as_str().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t == TYP || t.strip_prefix("application/") == Some(TYP)
        });
        if !is_request_object {
            return Err(BAD_TYP.into());
        }
    }
    // R132: only the client's registered keys, chosen by kid (or by key type); jku, x5u and
    // jwk headers are never followed.
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Map<String, Value>> = keys
        .iter()
        .filter(|k| match kid {
            Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
            None => client_auth::key_fits(k, alg),
        })
        .collect();
    if candidates.is_empty() {
        return Err(RequestObjectError::UnknownKey);
    }
    // R132: the signature verifies with one of them (RFC 9101 §6.2).
    let claims = candidates
        .iter()
        .find_map(|key| jose::verify_jws(jwt, key).ok())
        .ok_or(BAD_SIGNATURE)?
        .claims;

    // R136: a request object never refers to another one (RFC 9126 §2.1; RFC 9101 §6.2).
    if claims.contains_key("request_uri") {
        return Err(REQUEST_URI.into());
    }
    // RFC 9101 §4: nor carries one.
    if claims.contains_key("request") {
        return Err(NESTED.into());
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // R135: iss is the client (RFC 9101 §6.2; FAPI2-MS §5.3.1).
    if text("iss") != Some(client.client_id.as_str()) {
        return Err(BAD_ISS.into());
    }
    // R133: aud is the issuer, or an array containing it (FAPI2-MS §5.3.1-2).
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == issuer,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !audience_ok {
        return Err(BAD_AUD.into());
    }
    // R135: the client_id claim names the authenticated client (RFC 9126 §3).
    if text("client_id") != Some(client.client_id.as_str()) {
        return Err(BAD_CLIENT_ID.into());
    }
    // R134: exp and nbf are required integers (FAPI2-MS §5.3.1-3/-4).
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(NO_EXP)?;
    let nbf = claims.get("nbf").and_then(Value::as_i64).ok_or(NO_NBF)?;
    // R134: not expired.
    if exp <= now.unix() {
        return Err(EXPIRED.into());
    }
    // R134, R182: nbf at most MAX_FUTURE_SKEW_SECS ahead (FAPI2-SP §5.3.2.1-13).
    if nbf > now.plus(MAX_FUTURE_SKEW_SECS).unix() {
        return Err(FUTURE_NBF.into());
    }
    // R134: nbf at most an hour old (FAPI2-MS §5.3.1-3). An unexpired object that breaks this
    // also breaks the lifetime rule below; both are kept, as the profile states both.
    if nbf < now.plus(-MAX_NBF_AGE_SECS).unix() {
        return Err(OLD_NBF.into());
    }
    // R134: lifetime at most an hour (FAPI2-MS §5.3.1-4).
    if exp.saturating_sub(nbf) > MAX_LIFETIME_SECS {
        return Err(TOO_LONG.into());
    }
    // R182: iat, when present, is an integer not in the future either.
    if let Some(iat) = claims.get("iat")
        && iat
            .as_i64()
            .is_none_or(|iat| iat > now.plus(MAX_FUTURE_SKEW_SECS).unix())
    {
        return Err(FUTURE_IAT.into());
    }

    // R138: the parameters are exactly those inside the object.
    let mut params = BTreeMap::new();
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other @ (Value::Array(_) | Value::Object(_)) => other.to_string(),
        };
        params.insert(name, text);
    }
    Ok(params)
}

#[cfg(test)]
#[path = "request_object_tests.rs"]
mod tests;

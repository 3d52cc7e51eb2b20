//! DPoP proof validation (RFC 9449) and stateless server nonces.
//!
//! [`validate`] runs the checks of RFC 9449 §4.3 on the `DPoP` header values of one request, in
//! order, and returns the verified [`Proof`] with the RFC 7638 thumbprint (`jkt`) that binds the
//! tokens issued to it. It refuses with [`DpopRejection::Invalid`] (`invalid_dpop_proof`, R111)
//! or, when the server requires nonces, [`DpopRejection::UseNonce`] (R112).
//!
//! Replay detection (R109) needs storage and so lives outside this crate: the caller records
//! [`replay_key`] until [`replay_expires_at`] and refuses a proof whose key is already recorded.
//!
//! Nonces ([`NonceKey`]) are stateless: a nonce names a time window and carries an HMAC of it,
//! so every server process holding the same key accepts the nonces of every other one.

use aws_lc_rs::constant_time;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, OAuthError};
use crate::jose::{self, Alg};
use crate::time::Timestamp;

mod nonce;

pub use nonce::{NONCE_WINDOW_SECS, NonceKey};

/// How far in the future a proof's `iat` may be, in seconds (R108, R182; FAPI2-SP §5.3.2.1-13).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10;

/// How old a proof's `iat` may be, in seconds: the proof lifetime for replay tracking (R108).
pub const MAX_AGE_SECS: i64 = 300;

/// Longest accepted `jti`, in characters, which bounds what the replay store keeps (R109).
pub const MAX_JTI_CHARS: usize = 256;

/// The `typ` header of a DPoP proof (RFC 9449 §4.2).
const TYP: &str = "dpop+jwt";

const HEADER_COUNT: OAuthError = invalid("exactly one DPoP header is required");
const NOT_JWS: OAuthError = invalid("DPoP proof is not a compact JWS");
const BAD_HEADER: OAuthError = invalid("DPoP proof header is not a JSON object");
const BAD_TYP: OAuthError = invalid("DPoP proof typ must be dpop+jwt");
const BAD_ALG: OAuthError = invalid("DPoP proof alg is not allowed");
const NO_JWK: OAuthError = invalid("DPoP proof jwk header is missing or not an object");
const PRIVATE_JWK: OAuthError = invalid("DPoP proof jwk must be a public key");
const BAD_SIGNATURE: OAuthError =
    invalid("DPoP proof does not verify with its jwk or is malformed");
const BAD_JTI: OAuthError = invalid("DPoP proof jti is missing or invalid");
const BAD_HTM: OAuthError = invalid("DPoP proof htm is missing or does not match the method");
const BAD_HTU: OAuthError = invalid("DPoP proof htu is missing or does not match the URL");
const BAD_IAT: OAuthError = invalid("DPoP proof iat is missing or not an integer");
const FUTURE_IAT: OAuthError = invalid("DPoP proof iat is in the future");
const OLD_IAT: OAuthError = invalid("DPoP proof is too old");
const BAD_ATH: OAuthError = invalid("DPoP proof ath is missing or does not match the token");
const NO_THUMBPRINT: OAuthError = invalid("DPoP proof jwk has no thumbprint");

/// What the server expects of a proof at this request.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The HTTP method of the request, e.g. `POST`; compared exactly with `htm`.
    pub method: &'a str,
    /// The request's absolute URL as the server sees it: scheme, host, optional port and path.
    /// A query or fragment is ignored.
    pub url: &'a str,
    /// The current time.
    pub now: Timestamp,
    /// The access token presented with the proof, at a resource server (userinfo): `ath` is then
    /// required and must hash it. `None` at the authorization server, where `ath` is ignored.
    pub access_token: Option<&'a str>,
    /// The nonce key, when the server requires nonces (R112).
    pub nonce: Option<&'a NonceKey>,
}

/// A validated proof.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's `jwk`: the `jkt` tokens are bound to (R113).
    pub jkt: String,
    /// The proof's unique identifier, for replay detection (R109).
    pub jti: String,
    /// When the client created the proof.
    pub iat: Timestamp,
    /// The public key from the proof's header.
    pub jwk: Map<String, Value>,
}

/// Why a proof was refused.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum DpopRejection {
    /// The proof is invalid: `invalid_dpop_proof` (R111).
    Invalid(OAuthError),
    /// The nonce is missing or no longer valid: the server must answer `use_dpop_nonce` with a
    /// fresh `DPoP-Nonce` header from [`NonceKey::issue`] (R112).
    UseNonce,
}

impl DpopRejection {
    /// The OAuth error to send: `invalid_dpop_proof` or `use_dpop_nonce`.
    pub fn error(self) -> OAuthError {
        match self {
            Self::Invalid(e) => e,
            Self::UseNonce => OAuthError::new(ErrorCode::UseDpopNonce, "a DPoP nonce is required"),
        }
    }
}

impl From<OAuthError> for DpopRejection {
    fn from(e: OAuthError) -> Self {
        Self::Invalid(e)
    }
}

/// Validates the `DPoP` header values of a request (RFC 9449 §4.3).
///
/// `headers` holds every `DPoP` header value received, so that a repeated header is refused.
/// Replay is not checked here: record [`replay_key`] as described there.
pub fn validate(headers: &[&str], expect: &Expect<'_>) -> Result<Proof, DpopRejection> {
    // R105: exactly one DPoP header, holding one compact JWS (RFC 9449 §4.3 items 1-2).
    let [token] = headers else {
        return Err(HEADER_COUNT.into());
    };
    if !is_compact_jws(token) {
        return Err(NOT_JWS.into());
    }
    let header = jose::peek_header(token).map_err(|_| BAD_HEADER)?;

    // R106: typ is dpop+jwt (RFC 9449 §4.3 item 4).
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(BAD_TYP.into());
    }
    // R106, R180: alg is asymmetric and on the allow-list; never none or HMAC (item 5).
    if header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .is_none()
    {
        return Err(BAD_ALG.into());
    }
    // R106: jwk is present and a public key (item 7).
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(NO_JWK.into());
    };
    if jose::is_private_jwk(jwk) {
        return Err(PRIVATE_JWK.into());
    }
    // R106: the signature verifies with that jwk (item 6); an unknown crit is refused (R181).
    let claims = jose::verify_jws(token, jwk)
        .map_err(|_| BAD_SIGNATURE)?
        .claims;

    // R107: jti, htm, htu and iat are required (RFC 9449 §4.2, §4.3 item 8).
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS => {
            jti.clone()
        }
        _ => return Err(BAD_JTI.into()),
    };
    let Some(htm) = claims.get("htm").and_then(Value::as_str) else {
        return Err(BAD_HTM.into());
    };
    let Some(htu) = claims.get("htu").and_then(Value::as_str) else {
        return Err(BAD_HTU.into());
    };
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return Err(BAD_IAT.into());
    };
    let iat = Timestamp::from_unix(iat);
    // R107: htm is the request method, compared exactly (item 8).
    if htm != expect.method {
        return Err(BAD_HTM.into());
    }
    // R107: htu is the request URL without query and fragment, after normalisation (item 9).
    match (normalize_url(htu), normalize_url(expect.url)) {
        (Some(got), Some(want)) if got == want => {}
        _ => return Err(BAD_HTU.into()),
    }

    // R108, R182: iat at most MAX_FUTURE_SKEW_SECS ahead and at most MAX_AGE_SECS old (item 11).
    if iat > expect.now.plus(MAX_FUTURE_SKEW_SECS) {
        return Err(FUTURE_IAT.into());
    }
    if iat < expect.now.plus(-MAX_AGE_SECS) {
        return Err(OLD_IAT.into());
    }

    // R110: every other header parameter and claim (nbf, exp, ...) is ignored.

    // R115: at a resource server, ath is the hash of the presented token (item 12, §7.1).
    if let Some(access_token) = expect.access_token {
        let want = jose::sha256_b64url(access_token.as_bytes());
        let matches = claims
            .get("ath")
            .and_then(Value::as_str)
            .is_some_and(|ath| {
                constant_time::verify_slices_are_equal(ath.as_bytes(), want.as_bytes()).is_ok()
            });
        if !matches {
            return Err(BAD_ATH.into());
        }
    }

    // R112: when nonces are required, a missing or stale nonce asks for a fresh one (item 10, §8).
    if let Some(key) = expect.nonce {
        let fresh = claims
            .get("nonce")
            .and_then(Value::as_str)
            .is_some_and(|nonce| key.verify(nonce, expect.now));
        if !fresh {
            return Err(DpopRejection::UseNonce);
        }
    }

    // R113: the thumbprint that issued tokens are bound to (RFC 9449 §6.1, RFC 7638).
    let jkt = jose::jwk_thumbprint(jwk).ok_or(NO_THUMBPRINT)?;
    Ok(Proof {
        jkt,
        jti,
        iat,
        jwk: jwk.clone(),
    })
}

/// The replay-cache key of a proof: unique per key (`jkt`) and `jti` (R109).
///
/// The caller must record it, for example as a [`TokenHash`](crate::hash::TokenHash), until
/// [`replay_expires_at`], atomically with the check that it was not recorded before (an insert
/// that fails on a duplicate), and refuse the proof as `invalid_dpop_proof` if it was.
pub fn replay_key(proof: &Proof) -> String {
    // A thumbprint is base64url and holds no ':', so the pair is unambiguous.
    format!("{}:{}", proof.jkt, proof.jti)
}

/// Until when the [`replay_key`] of a proof must be kept (R109).
///
/// [`validate`] accepts a proof while `now <= iat + MAX_AGE_SECS`; the extra
/// [`MAX_FUTURE_SKEW_SECS`] covers server processes whose clocks disagree slightly.
pub fn replay_expires_at(proof: &Proof) -> Timestamp {
    proof.iat.plus(MAX_AGE_SECS + MAX_FUTURE_SKEW_SECS)
}

/// An `invalid_dpop_proof` error with a fixed description.
const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// Three dot-separated base64url parts; the header and payload non-empty. An empty signature
/// (`alg: none`) passes here and is refused by the alg check.
fn is_compact_jws(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return false;
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !header.is_empty()
        && !payload.is_empty()
        && base64url(header)
        && base64url(payload)
        && base64url(signature)
}

/// Normalises an `http` or `https` URL for the `htu` comparison (R107, RFC 9449 §4.3 item 9,
/// RFC 3986 §6.2.2-6.2.3): scheme and host in lower case, the default port dropped, query and
/// fragment dropped, an empty path made `/`. Percent-encoding is left as it is. `None` for
/// anything else, including userinfo, a non-numeric port or a byte outside printable ASCII.
fn normalize_url(url: &str) -> Option<String> {
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return None;
    }
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port.filter(|p| *p != default_port) {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(if path.is_empty() { "/" } else { path });
    Some(out)
}

/// Splits `host[:port]`, with the host possibly an IPv6 literal in brackets. An empty port
/// (`host:`) counts as absent.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let (host, after) = authority.split_at(authority.find(']')? + 1);
        if after.is_empty() {
            (host, None)
        } else {
            (host, Some(after.strip_prefix(':')?))
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests;

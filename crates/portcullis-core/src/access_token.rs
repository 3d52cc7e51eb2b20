//! Access tokens as a resource server receives them: an RFC 9068 JWT checked on the spot, or the
//! RFC 7662 answer of introspection, plain or as an RFC 9701 signed JWT (R151, R154, R172, R173).
//!
//! Each check takes what was already verified (the JWS signature against the authorization
//! server's published key is checked by [`jose::verify_jws`](crate::jose::verify_jws) with the key
//! the caller chose by `kid`) and `now`, and returns a [`ValidToken`] or an `invalid_token`
//! error. How long a resource server may keep an introspection answer is [`cache_until`].

use serde_json::{Map, Value};

use crate::error::{ErrorCode, OAuthError};
use crate::jose::Verified;
use crate::scope::Scope;
use crate::time::Timestamp;
use crate::token::Confirmation;

/// R182: `iat` and `nbf` may be this far in the future (FAPI2-SP §5.3.2.1-13).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10;

/// How old a signed introspection response (its `iat`) may be when it arrives (RFC 9701 §5
/// leaves freshness to the resource server; a response is used at once).
pub const MAX_INTROSPECTION_AGE_SECS: i64 = 60;

/// The `typ` of a JWT access token (RFC 9068 §2.1), also accepted with its media type prefix.
const AT_TYP: &str = "at+jwt";

/// The `typ` of a signed introspection response (RFC 9701 §5).
const INTROSPECTION_TYP: &str = "token-introspection+jwt";

const BAD_TYP: OAuthError = invalid("the access token is not of type at+jwt");
const BAD_ISS: OAuthError = invalid("the access token is from another issuer");
const BAD_AUD: OAuthError = invalid("the access token is not for this resource");
const EXPIRED: OAuthError = invalid("the access token has expired");
const NOT_YET: OAuthError = invalid("the access token is not valid yet");
const MISSING: OAuthError = invalid("the access token lacks a required claim");
const BAD_SCOPE: OAuthError = invalid("the access token scope is malformed");
const BAD_CNF: OAuthError = invalid("the access token confirmation is malformed");
const INACTIVE: OAuthError = invalid("the access token is not active");
const BAD_RESPONSE: OAuthError = invalid("the introspection response is not valid");

/// What the resource server expects of every token it accepts.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The authorization server's issuer identifier, compared exactly with `iss`.
    pub issuer: &'a str,
    /// This resource server's identifier: `aud` must be it or an array holding it (RFC 9068
    /// §4, RFC 9700 §2.3, R174).
    pub resource: &'a str,
    /// The current time.
    pub now: Timestamp,
}

/// An access token that passed every check: what it grants and how it is bound.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidToken {
    /// The `sub` claim: the resource owner, or the client itself for `client_credentials`.
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The granted scope.
    pub scope: Scope,
    /// The token identifier (`jti`); required in a JWT, optional in introspection.
    pub jti: Option<String>,
    /// The token's expiry.
    pub expires_at: Timestamp,
    /// The sender constraint (`cnf`), if the token has one.
    pub confirmation: Option<Confirmation>,
    /// Every claim or member, for what the API reads beyond the above.
    pub claims: Map<String, Value>,
}

/// R172, R173: checks an RFC 9068 JWT access token whose signature was verified with a key of
/// the issuer: `typ` is `at+jwt`, `iss` the issuer, `aud` this resource, `exp` not reached,
/// `nbf`/`iat` not in the future, and `sub`, `client_id`, `iat`, `jti` present (RFC 9068 §2.2,
/// §4).
pub fn check_jwt(verified: &Verified, expect: &Expect<'_>) -> Result<ValidToken, OAuthError> {
    // R173: an ID token, DPoP proof or any other JWT is never an access token (RFC 9068 §4,
    // RFC 8725 §3.11).
    let typ = verified.header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| is_type(t, AT_TYP)) {
        return Err(BAD_TYP);
    }
    let claims = &verified.claims;
    if text(claims, "jti").is_none() || number(claims, "iat").is_none() {
        return Err(MISSING);
    }
    check_members(claims, expect)
}

/// R151: turns the members of an introspection response (RFC 7662 §2.2) into a [`ValidToken`]:
/// `active` must be `true`, and the same claims as a JWT are checked where present; `exp`,
/// `sub` and `client_id` are required, so that the answer can be cached no longer than the
/// token lives and the API knows who calls.
pub fn check_introspection(
    members: &Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<ValidToken, OAuthError> {
    if members.get("active") != Some(&Value::Bool(true)) {
        return Err(INACTIVE);
    }
    check_members(members, expect)
}

/// R154: checks the claims of an RFC 9701 signed introspection response whose signature was
/// verified with a key of the issuer, and returns the RFC 7662 members it carries: `typ` is
/// `token-introspection+jwt`, `iss` the issuer, `aud` the calling resource server's `client_id`,
/// `iat` recent.
pub fn check_signed_introspection(
    verified: &Verified,
    issuer: &str,
    caller: &str,
    now: Timestamp,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = &verified.claims;
    let typ = verified.header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|t| is_type(t, INTROSPECTION_TYP))
        || text(claims, "iss") != Some(issuer)
        || !audience_holds(claims.get("aud"), caller)
    {
        return Err(BAD_RESPONSE);
    }
    match number(claims, "iat") {
        Some(iat)
            if iat <= now.plus(MAX_FUTURE_SKEW_SECS).unix()
                && iat >= now.plus(-MAX_INTROSPECTION_AGE_SECS).unix() => {}
        _ => return Err(BAD_RESPONSE),
    }
    match claims.get("token_introspection") {
        Some(Value::Object(members)) => Ok(members.clone()),
        _ => Err(BAD_RESPONSE),
    }
}

/// Until when a resource server may reuse an introspection answer: `cache_secs` after `now`,
/// but never past the token's own expiry (a cached answer must not outlive the token). `None`
/// when it may not be cached at all (`cache_secs` zero or negative, or the token already
/// expired): revocation at the authorization server then takes effect at once.
pub fn cache_until(now: Timestamp, cache_secs: i64, expires_at: Timestamp) -> Option<Timestamp> {
    if cache_secs <= 0 {
        return None;
    }
    let until = now.plus(cache_secs).min(expires_at);
    (until > now).then_some(until)
}

impl Confirmation {
    /// Reads a `cnf` claim (RFC 8705 §3.1, RFC 9449 §6): `jkt` or `x5t#S256`, a base64url
    /// SHA-256 each. `Ok(None)` when there is no `cnf`; an error for a `cnf` that is not an
    /// object, holds both or neither, or a value of the wrong form.
    pub fn from_cnf(cnf: Option<&Value>) -> Result<Option<Self>, OAuthError> {
        let Some(cnf) = cnf else {
            return Ok(None);
        };
        let Value::Object(cnf) = cnf else {
            return Err(BAD_CNF);
        };
        let digest = |name: &str| match cnf.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if crate::jose::is_sha256_b64url(s) => Ok(Some(s.clone())),
            Some(_) => Err(BAD_CNF),
        };
        match (digest("jkt")?, digest("x5t#S256")?) {
            (Some(jkt), None) => Ok(Some(Self::Jkt(jkt))),
            (None, Some(x5t)) => Ok(Some(Self::X5tS256(x5t))),
            _ => Err(BAD_CNF),
        }
    }
}

/// The checks common to a JWT's claims and introspection members.
fn check_members(
    claims: &Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<ValidToken, OAuthError> {
    if text(claims, "iss") != Some(expect.issuer) {
        return Err(BAD_ISS);
    }
    if !audience_holds(claims.get("aud"), expect.resource) {
        return Err(BAD_AUD);
    }
    // RFC 9068 §4: the current time must be before `exp`; a missing `exp` is refused too.
    let expires_at = match number(claims, "exp") {
        Some(exp) => Timestamp::from_unix(exp),
        None => return Err(MISSING),
    };
    if expect.now >= expires_at {
        return Err(EXPIRED);
    }
    // R182: nbf and iat at most MAX_FUTURE_SKEW_SECS ahead; a claim of the wrong type is refused.
    for name in ["nbf", "iat"] {
        match claims.get(name) {
            None => {}
            Some(v) => match v.as_i64() {
                Some(t) if t <= expect.now.plus(MAX_FUTURE_SKEW_SECS).unix() => {}
                Some(_) => return Err(NOT_YET),
                None => return Err(MISSING),
            },
        }
    }
    let (Some(subject), Some(client_id)) = (text(claims, "sub"), text(claims, "client_id")) else {
        return Err(MISSING);
    };
    let scope = match claims.get("scope") {
        None => Scope::default(),
        Some(Value::String(s)) => Scope::parse(s).ok_or(BAD_SCOPE)?,
        Some(_) => return Err(BAD_SCOPE),
    };
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(j)) if !j.is_empty() => Some(j.clone()),
        Some(_) => return Err(MISSING),
    };
    Ok(ValidToken {
        subject: subject.to_owned(),
        client_id: client_id.to_owned(),
        scope,
        jti,
        expires_at,
        confirmation: Confirmation::from_cnf(claims.get("cnf"))?,
        claims: claims.clone(),
    })
}

/// Whether `aud` is `want` or an array holding it.
fn audience_holds(aud: Option<&Value>, want: &str) -> bool {
    match aud {
        Some(Value::String(aud)) => aud == want,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(want)),
        _ => false,
    }
}

/// Whether a `typ` header names `kind`, with or without the `application/` prefix, in any case
/// (RFC 7515 §4.1.9, RFC 9068 §2.1).
fn is_type(typ: &str, kind: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == kind || typ.strip_prefix("application/") == Some(kind)
}

fn text<'m>(claims: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    claims.get(name).and_then(Value::as_str)
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// An `invalid_token` error with a fixed description.
const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

#[cfg(test)]
#[path = "access_token_tests.rs"]
mod tests;

//! Is the token valid? An RFC 9068 JWT checked locally, or an RFC 7662 introspection answer,
//! cached no longer than the token lives (and not at all with a lifetime of zero).
//!
//! The rules are `portcullis-core`'s [`access_token`](portcullis_core::access_token) checks;
//! this module finds the key, asks the authorization server, and keeps the cache.

use std::sync::Arc;

use portcullis_core::access_token::{
    self, Expect, ValidToken, cache_until, check_introspection, check_signed_introspection,
};
use portcullis_core::hash::TokenHash;
use portcullis_core::jose;
use portcullis_core::{ErrorCode, OAuthError, Timestamp};
use serde_json::{Map, Value};

use crate::Stats;
use crate::authorize::Inner;
use crate::cache::Shards;

/// Tokens longer than this are refused before any work (Portcullis's JWTs are far shorter).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The media type of a signed introspection response (RFC 9701 §4).
const SIGNED_INTROSPECTION: &str = "application/token-introspection+jwt";

const TOO_LONG: OAuthError = invalid("the access token is too long");
const NOT_JWT: OAuthError = invalid("the access token is not a JWT of this issuer");
const UNKNOWN_KEY: OAuthError = invalid("the access token is signed with an unknown key");
const BAD_SIGNATURE: OAuthError = invalid("the access token signature does not verify");

/// JWTs verified before, by SHA-256, with the `kid` of the key that verified each.
pub(crate) type VerifiedJwts = Shards<[u8; 32], (Arc<ValidToken>, Arc<str>)>;

/// The outcome of checking a token.
#[derive(Clone, Debug)]
pub(crate) enum Checked {
    /// The token is valid.
    Valid(Arc<ValidToken>),
    /// The token is not: `invalid_token`.
    Invalid(OAuthError),
    /// The authorization server could not answer: `503`, fail closed.
    Unavailable,
}

/// The introspection side: endpoint, cache, response format.
#[derive(Debug)]
pub(crate) struct Introspector {
    pub(crate) endpoint: String,
    pub(crate) cache_secs: i64,
    pub(crate) signed: bool,
    pub(crate) cache: Shards<[u8; 32], Cached>,
}

/// A cached introspection answer.
#[derive(Clone, Debug)]
pub(crate) enum Cached {
    Active(Arc<ValidToken>),
    Inactive(OAuthError),
}

impl Inner {
    /// Checks `token` by the configured validation.
    pub(crate) async fn check_token(&self, token: &str, now: Timestamp, now_ms: i64) -> Checked {
        if token.len() > MAX_TOKEN_BYTES {
            return Checked::Invalid(TOO_LONG);
        }
        match &self.introspector {
            None => self.check_jwt(token, now, now_ms).await,
            Some(introspector) => self.introspect(introspector, token, now, now_ms).await,
        }
    }

    fn expect(&self, now: Timestamp) -> Expect<'_> {
        Expect {
            issuer: &self.settings.issuer,
            resource: &self.settings.resource,
            now,
        }
    }

    /// R172, R173: a JWT access token, verified with the issuer's key its `kid` names.
    ///
    /// A token verified before is found by its SHA-256 in `verified` and only its expiry is
    /// checked again, as long as the key that verified it is still in a fresh key set: a client
    /// sends one token many times, and the signature check is most of the cost.
    async fn check_jwt(&self, token: &str, now: Timestamp, now_ms: i64) -> Checked {
        let hash = *TokenHash::of(token.as_bytes()).as_bytes();
        if let Some((valid, kid)) = self.verified.as_ref().and_then(|c| c.get(&hash, now_ms))
            && valid.expires_at > now
            && self.keys.holds(&kid, now)
        {
            return Checked::Valid(valid);
        }
        let (verified, kid) = match self.verify_issuer_jws(token, now).await {
            Ok(verified) => verified,
            Err(e) => return Checked::Invalid(e),
        };
        match access_token::check_jwt(&verified, &self.expect(now)) {
            Ok(valid) => {
                let valid = Arc::new(valid);
                let until_ms = valid.expires_at.unix().saturating_mul(1000);
                // A full cache only means the next request verifies again.
                if let Some(cache) = &self.verified {
                    cache.insert(hash, (Arc::clone(&valid), kid), until_ms, now_ms);
                }
                Checked::Valid(valid)
            }
            Err(e) => Checked::Invalid(e),
        }
    }

    /// Verifies a JWS signed by the authorization server (a JWT access token, a signed
    /// introspection response); also returns the `kid` of the key that verified it.
    async fn verify_issuer_jws(
        &self,
        jws: &str,
        now: Timestamp,
    ) -> Result<(jose::Verified, Arc<str>), OAuthError> {
        let header = jose::peek_header(jws).map_err(|_| NOT_JWT)?;
        let kid = header.get("kid").and_then(Value::as_str).ok_or(NOT_JWT)?;
        let key = self
            .keys
            .key(kid, &self.http, now, &self.stats)
            .await
            .ok_or(UNKNOWN_KEY)?;
        let verified = jose::verify_jws(jws, &key).map_err(|_| BAD_SIGNATURE)?;
        Ok((verified, kid.into()))
    }

    /// R151, R154: introspection, through the cache.
    async fn introspect(
        &self,
        introspector: &Introspector,
        token: &str,
        now: Timestamp,
        now_ms: i64,
    ) -> Checked {
        let key = *TokenHash::of(token.as_bytes()).as_bytes();
        match introspector.cache.get(&key, now_ms) {
            Some(Cached::Active(valid)) if valid.expires_at > now => return Checked::Valid(valid),
            Some(Cached::Inactive(e)) => return Checked::Invalid(e),
            _ => {}
        }
        let members = match self.ask(introspector, token, now).await {
            Ok(members) => members,
            Err(e) => {
                tracing::warn!(error = %e, endpoint = %introspector.endpoint, "introspection failed");
                return Checked::Unavailable;
            }
        };
        let (checked, cached, until) = match check_introspection(&members, &self.expect(now)) {
            Ok(valid) => {
                let until = cache_until(now, introspector.cache_secs, valid.expires_at);
                let valid = Arc::new(valid);
                (
                    Checked::Valid(Arc::clone(&valid)),
                    Cached::Active(valid),
                    until,
                )
            }
            Err(e) => {
                let until =
                    (introspector.cache_secs > 0).then(|| now.plus(introspector.cache_secs));
                (Checked::Invalid(e.clone()), Cached::Inactive(e), until)
            }
        };
        if let Some(until) = until {
            // A full cache only means the next request asks again.
            introspector
                .cache
                .insert(key, cached, until.unix().saturating_mul(1000), now_ms);
        }
        checked
    }

    /// Sends one introspection request and returns the RFC 7662 members.
    async fn ask(
        &self,
        introspector: &Introspector,
        token: &str,
        now: Timestamp,
    ) -> Result<Map<String, Value>, String> {
        let auth = self
            .client
            .as_ref()
            .ok_or("introspection needs client credentials")?;
        let [(t1, v1), (t2, v2)] = auth.form(now)?;
        let form = [("token", token), (t1, v1.as_str()), (t2, v2.as_str())];
        let accept = if introspector.signed {
            SIGNED_INTROSPECTION
        } else {
            "application/json"
        };
        Stats::add(&self.stats.introspections, 1);
        let answer = self
            .http
            .post_form(&introspector.endpoint, &form, accept)
            .await
            .map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!("status {}", answer.status));
        }
        if introspector.signed {
            // R154: only a signed answer is believed when one was asked for.
            if !answer.content_type.starts_with(SIGNED_INTROSPECTION) {
                return Err("the answer is not a signed introspection response".into());
            }
            let jwt = std::str::from_utf8(&answer.body).map_err(|_| "the answer is not text")?;
            let (verified, _) = self
                .verify_issuer_jws(jwt.trim(), now)
                .await
                .map_err(|e| e.description().to_owned())?;
            return check_signed_introspection(
                &verified,
                &self.settings.issuer,
                &auth.client_id,
                now,
            )
            .map_err(|e| e.description().to_owned());
        }
        match serde_json::from_slice(&answer.body) {
            Ok(Value::Object(members)) => Ok(members),
            _ => Err("the answer is not a JSON object".into()),
        }
    }
}

/// An `invalid_token` error with a fixed description.
const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

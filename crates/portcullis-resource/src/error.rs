//! Every refusal of the layer and its HTTP shape, decided here and nowhere else.
//!
//! OAuth refusals follow RFC 6750 §3 and RFC 9449 §7.1: `401` (`400` for `invalid_request`,
//! `403` for `insufficient_scope`) with a `WWW-Authenticate` challenge and no body. The challenge
//! of the scheme the request used carries the error; the other scheme follows without one, so a
//! client learns what the API accepts (R117). A request without credentials gets both challenges
//! and no error code (RFC 6750 §3.1, R147). Budgets and the enumeration guard answer `429` with
//! `Retry-After` and an RFC 9457 problem document; an unreachable authorization server `503`.
//! Every refusal carries `Cache-Control: no-store`.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::jose::Alg;
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::json;

/// The `DPoP-Nonce` response header (RFC 9449 §8, §9).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The authorization scheme a request used.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750): certificate-bound tokens.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1): DPoP-bound tokens.
    Dpop,
}

/// Which limit a `429` comes from.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Limit {
    /// The client's request budget.
    ClientBudget,
    /// The enumeration guard: too many distinct identifiers.
    Enumeration,
    /// The token's request budget.
    TokenBudget,
}

impl Limit {
    /// The problem document's `limit` member.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientBudget => "client_budget",
            Self::Enumeration => "enumeration",
            Self::TokenBudget => "token_budget",
        }
    }
}

/// Why the layer refused a request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Refusal {
    /// No credentials at all: `401` with both challenges and no error code.
    NoToken,
    /// An OAuth error: `invalid_request` (400), `invalid_token` or `invalid_dpop_proof` (401).
    OAuth {
        /// The error.
        error: OAuthError,
        /// The scheme the request used, when it could be read.
        scheme: Option<Scheme>,
    },
    /// The token lacks a scope this route needs: `403` `insufficient_scope` with `scope`.
    InsufficientScope {
        /// The scopes the route needs, space separated.
        scope: String,
        /// The scheme the request used.
        scheme: Scheme,
    },
    /// The proof lacks a fresh nonce: `401` `use_dpop_nonce` with this nonce (RFC 9449 §9).
    UseDpopNonce(String),
    /// Over a budget or the enumeration threshold: `429`.
    TooManyRequests {
        /// Which limit.
        limit: Limit,
        /// Seconds until a retry may pass.
        retry_after_secs: u64,
    },
    /// The authorization server (or a cache at capacity) cannot decide now: `503`.
    Unavailable {
        /// Seconds until a retry may pass.
        retry_after_secs: u64,
    },
}

impl Refusal {
    /// An OAuth refusal for a request that used `scheme`.
    pub(crate) const fn oauth(error: OAuthError, scheme: Option<Scheme>) -> Self {
        Self::OAuth { error, scheme }
    }

    /// `invalid_token` with a fixed description.
    pub(crate) const fn invalid_token(description: &'static str, scheme: Scheme) -> Self {
        Self::oauth(
            OAuthError::new(ErrorCode::InvalidToken, description),
            Some(scheme),
        )
    }

    /// The OAuth error code, if the refusal has one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::OAuth { error, .. } => Some(error.code),
            Self::InsufficientScope { .. } => Some(ErrorCode::InsufficientScope),
            Self::UseDpopNonce(_) => Some(ErrorCode::UseDpopNonce),
            Self::NoToken | Self::TooManyRequests { .. } | Self::Unavailable { .. } => None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, challenge, nonce, problem) = match self {
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!("{}, Bearer", dpop_challenge(None))),
                None,
                None,
            ),
            Self::OAuth { error, scheme } => {
                let status = match error.code {
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let params = error_params(error, None);
                (status, Some(challenges(scheme, &params)), None, None)
            }
            Self::InsufficientScope { scope, scheme } => {
                let error = OAuthError::new(
                    ErrorCode::InsufficientScope,
                    "the access token lacks a scope this resource needs",
                );
                let params = error_params(error, Some(&scope));
                (
                    StatusCode::FORBIDDEN,
                    Some(challenges(Some(scheme), &params)),
                    None,
                    None,
                )
            }
            Self::UseDpopNonce(nonce) => {
                let error = OAuthError::new(
                    ErrorCode::UseDpopNonce,
                    "the resource server requires a nonce in the DPoP proof",
                );
                let params = error_params(error, None);
                (
                    StatusCode::UNAUTHORIZED,
                    Some(challenges(Some(Scheme::Dpop), &params)),
                    Some(nonce),
                    None,
                )
            }
            Self::TooManyRequests {
                limit,
                retry_after_secs,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                None,
                None,
                Some((
                    retry_after_secs.max(1),
                    json!({
                        "type": "about:blank",
                        "title": "Too Many Requests",
                        "status": 429,
                        "detail": match limit {
                            Limit::Enumeration =>
                                "too many distinct resources requested in a short time",
                            Limit::ClientBudget | Limit::TokenBudget =>
                                "the request budget is spent; retry later",
                        },
                        "limit": limit.as_str(),
                    }),
                )),
            ),
            Self::Unavailable { retry_after_secs } => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                None,
                Some((
                    retry_after_secs.max(1),
                    json!({
                        "type": "about:blank",
                        "title": "Service Unavailable",
                        "status": 503,
                        "detail": "the access token cannot be checked now; retry later",
                    }),
                )),
            ),
        };
        let mut response = match problem {
            Some((retry_after, body)) => {
                let mut response = (status, Body::from(body.to_string())).into_response();
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, value);
        }
        response
    }
}

/// `error="…", error_description="…"` and, for `insufficient_scope`, `scope="…"`. Descriptions
/// and scope tokens never hold a quote or a backslash (fixed text; NQCHAR, RFC 6749 §3.3).
fn error_params(error: OAuthError, scope: Option<&str>) -> String {
    let mut params = format!(
        "error=\"{}\", error_description=\"{}\"",
        error.code.as_str(),
        error.description()
    );
    if let Some(scope) = scope {
        params.push_str(&format!(", scope=\"{scope}\""));
    }
    params
}

/// Both challenges, the one of `scheme` first and carrying `params` (Bearer when the scheme is
/// unknown).
fn challenges(scheme: Option<Scheme>, params: &str) -> String {
    match scheme {
        Some(Scheme::Dpop) => format!("{}, Bearer", dpop_challenge(Some(params))),
        Some(Scheme::Bearer) | None => {
            format!("Bearer {params}, {}", dpop_challenge(None))
        }
    }
}

/// The DPoP challenge with the accepted proof algorithms (RFC 9449 §7.1, R117).
fn dpop_challenge(params: Option<&str>) -> String {
    let algs = Alg::ALL.map(Alg::as_str).join(" ");
    match params {
        Some(params) => format!("DPoP {params}, algs=\"{algs}\""),
        None => format!("DPoP algs=\"{algs}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(refusal: Refusal) -> (u16, String, String) {
        let response = refusal.into_response();
        let header = |name: &HeaderName| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header(&header::CACHE_CONTROL), "no-store");
        (
            response.status().as_u16(),
            header(&header::WWW_AUTHENTICATE),
            header(&DPOP_NONCE),
        )
    }

    const ALGS: &str = "algs=\"PS256 ES256 EdDSA\"";

    #[test]
    fn r147_no_token_gets_both_challenges_without_error() {
        let (status, challenge, _) = parts(Refusal::NoToken);
        assert_eq!(status, 401);
        assert_eq!(challenge, format!("DPoP {ALGS}, Bearer"));
    }

    #[test]
    fn r117_the_error_goes_to_the_challenge_of_the_scheme_used() {
        let error = OAuthError::new(ErrorCode::InvalidToken, "bad");
        let (status, challenge, _) = parts(Refusal::oauth(error.clone(), Some(Scheme::Dpop)));
        assert_eq!(status, 401);
        assert_eq!(
            challenge,
            format!("DPoP error=\"invalid_token\", error_description=\"bad\", {ALGS}, Bearer")
        );
        let (_, challenge, _) = parts(Refusal::oauth(error, Some(Scheme::Bearer)));
        assert_eq!(
            challenge,
            format!("Bearer error=\"invalid_token\", error_description=\"bad\", DPoP {ALGS}")
        );
        let request = OAuthError::new(ErrorCode::InvalidRequest, "two headers");
        assert_eq!(parts(Refusal::oauth(request, None)).0, 400);
        let proof = OAuthError::new(ErrorCode::InvalidDpopProof, "proof");
        let (status, challenge, _) = parts(Refusal::oauth(proof, Some(Scheme::Dpop)));
        assert_eq!(status, 401);
        assert!(challenge.starts_with("DPoP error=\"invalid_dpop_proof\""));
    }

    #[test]
    fn insufficient_scope_is_403_and_names_the_scope() {
        let (status, challenge, _) = parts(Refusal::InsufficientScope {
            scope: "accounts:read".into(),
            scheme: Scheme::Bearer,
        });
        assert_eq!(status, 403);
        assert!(
            challenge.starts_with(
                "Bearer error=\"insufficient_scope\", error_description=\"the access token lacks a scope this resource needs\", scope=\"accounts:read\""
            ),
            "{challenge}"
        );
    }

    #[test]
    fn r112_use_dpop_nonce_carries_the_nonce() {
        let (status, challenge, nonce) = parts(Refusal::UseDpopNonce("n-1".into()));
        assert_eq!(status, 401);
        assert!(challenge.starts_with("DPoP error=\"use_dpop_nonce\""));
        assert_eq!(nonce, "n-1");
    }

    #[test]
    fn limits_answer_429_with_retry_after_and_a_problem() {
        let response = Refusal::TooManyRequests {
            limit: Limit::Enumeration,
            retry_after_secs: 0,
        }
        .into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let response = Refusal::Unavailable {
            retry_after_secs: 5,
        }
        .into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}

//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) as FAPI 2.0 allows it.
//!
//! [`validate`] runs once, at the pushed authorization request endpoint (R30): it takes the PAR
//! form parameters (without the client authentication ones) or the claims of a verified request
//! object ([`crate::request_object::verify`], `signed = true`) and returns the
//! [`AuthorizationRequest`] that the server stores behind the `request_uri`. The authorization
//! endpoint then uses that stored value and nothing from the query (R45, R49).
//!
//! Every error here is answered as a token-endpoint-style JSON error of the PAR endpoint (R36):
//! nothing is ever redirected from here, whatever the `redirect_uri` says.
//!
//! Parameters sent without a value are treated as omitted (RFC 6749 §3.1), and parameters this
//! module does not know are ignored (R58).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::jose;
use crate::pkce;
use crate::scope::Scope;

/// R43: the longest `state` accepted, in characters (the suite sends 1000).
pub const MAX_STATE_CHARS: usize = 2048;

/// R43: the longest `nonce` accepted, in characters (at least 64 must work; never truncated).
pub const MAX_NONCE_CHARS: usize = 512;

/// R59: the `prompt` values understood (OIDC Core §3.1.2.1).
pub const PROMPTS: [&str; 3] = ["none", "login", "consent"];

const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, description)
}

const REQUEST_URI: OAuthError =
    invalid("request_uri is not accepted in a pushed authorization request");
const REQUEST_URI_IN_OBJECT: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequestObject,
    "request_uri is not accepted in a request object",
);
const UNSIGNED: OAuthError = invalid("this client must send a signed request object");
const GRANT: OAuthError = OAuthError::new(
    ErrorCode::UnauthorizedClient,
    "the client is not registered for the authorization_code grant",
);
const CLIENT_ID: OAuthError = invalid("client_id is not the authenticated client");
const NO_RESPONSE_TYPE: OAuthError = invalid("response_type is required");
const RESPONSE_TYPE: OAuthError = OAuthError::new(
    ErrorCode::UnsupportedResponseType,
    "response_type must be code",
);
const NO_REDIRECT_URI: OAuthError = invalid("redirect_uri is required");
const REDIRECT_URI: OAuthError = invalid("redirect_uri is not registered for this client");
const SCOPE: OAuthError = OAuthError::new(
    ErrorCode::InvalidScope,
    "scope is malformed: scope tokens are separated by spaces and use printable ASCII without quotes or backslashes",
);
const CODE_CHALLENGE: OAuthError =
    invalid("code_challenge is required and must be an S256 challenge");
const CODE_CHALLENGE_METHOD: OAuthError = invalid("code_challenge_method must be S256");
const DPOP_JKT: OAuthError = invalid("dpop_jkt must be a JWK SHA-256 thumbprint");
const DPOP_JKT_MISMATCH: OAuthError = invalid("dpop_jkt is not the key of the DPoP proof");
const STATE: OAuthError = invalid("state is too long");
const NONCE: OAuthError = invalid("nonce is too long");
const RESPONSE_MODE: OAuthError = invalid("response_mode must be query, jwt or query.jwt");
const PROMPT: OAuthError = invalid("prompt must be none alone, or login and consent");
const MAX_AGE: OAuthError = invalid("max_age must be a non-negative integer");
const CLAIMS: OAuthError = invalid("claims must be a JSON object");

/// R35: `invalid_scope` naming the first scope token the client did not register.
pub fn unregistered_scope(token: &str) -> OAuthError {
    OAuthError::naming(
        ErrorCode::InvalidScope,
        "scope ",
        token,
        " is not registered for this client",
        "a requested scope is not registered for this client",
    )
}

/// How the authorization response reaches the client.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    /// `code`, `state` and `iss` in the redirect URI's query (RFC 6749 §4.1.2, RFC 9207).
    Query,
    /// One `response` query parameter holding a signed JWT (JARM §2.3.1, R140).
    Jwt,
}

/// A validated authorization request: stored at PAR, used at the authorization endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client it was pushed by.
    pub client_id: String,
    /// One of the client's registered redirect URIs, byte for byte (R32).
    pub redirect_uri: String,
    /// The requested scope, normalized ([`Scope`]'s text form); may be empty.
    pub scope: String,
    /// Echoed byte-identically in the response, only if sent (R43, R50).
    pub state: Option<String>,
    /// Echoed byte-identically in the ID token, only if sent (R43, R126).
    pub nonce: Option<String>,
    /// The S256 PKCE challenge (R34).
    pub code_challenge: String,
    /// The DPoP key thumbprint the code is bound to, if any (R37, R78).
    pub dpop_jkt: Option<String>,
    /// Plain query or JARM (R140, R143).
    pub response_mode: ResponseMode,
    /// Distinct `prompt` values, a subset of [`PROMPTS`] (R59).
    pub prompt: Vec<String>,
    /// Maximum authentication age in seconds (R59, R127).
    pub max_age: Option<i64>,
    /// Requested authentication context classes, as sent.
    pub acr_values: Option<String>,
    /// The OIDC `claims` parameter as JSON text, a JSON object (R60).
    pub claims: Option<String>,
}

impl AuthorizationRequest {
    /// The requested scope as a set.
    pub fn scope(&self) -> Scope {
        // The stored text was produced by `Scope::to_string`, so it always parses.
        Scope::parse(&self.scope).unwrap_or_default()
    }

    /// Whether the request carries the `prompt` value `p` (`none`, `login` or `consent`).
    pub fn prompts(&self, p: &str) -> bool {
        self.prompt.iter().any(|v| v == p)
    }
}

/// Validates an authorization request of `client` (R29–R43, R58–R60, R131–R138, R143).
///
/// `params` are the pushed form parameters without the client authentication ones, or, when
/// `signed` is true, the claims of a request object already verified by
/// [`crate::request_object::verify`]. `dpop_header_jkt` is the thumbprint of a DPoP proof that
/// came with the pushed request, if any (R37).
pub fn validate(
    params: &BTreeMap<String, String>,
    client: &Client,
    dpop_header_jkt: Option<&str>,
    signed: bool,
) -> Result<AuthorizationRequest, OAuthError> {
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

    // R29, R136: a pushed request or a request object never refers to another request
    // (RFC 9126 §2.1; RFC 9101 §6.2).
    if params.contains_key("request_uri") {
        return Err(if signed {
            REQUEST_URI_IN_OBJECT
        } else {
            REQUEST_URI
        });
    }
    // R41: a client that must sign its requests may not send plain parameters (FAPI2-MS
    // §5.3.1-1; RFC 9101 §10.5).
    if client.require_signed_request_object && !signed {
        return Err(UNSIGNED);
    }
    // R30: the client must be registered for the code flow (RFC 6749 §4.1.2.1).
    if !client.allows_grant("authorization_code") {
        return Err(GRANT);
    }
    // R30, R135: a client_id, if sent, names the authenticated client (RFC 9126 §2.1).
    if get("client_id").is_some_and(|id| id != client.client_id) {
        return Err(CLIENT_ID);
    }
    // R33: only the code flow (FAPI2-SP §5.3.2.2-1).
    match get("response_type") {
        None => return Err(NO_RESPONSE_TYPE),
        Some("code") => {}
        Some(_) => return Err(RESPONSE_TYPE),
    }
    // R31, R137: redirect_uri is required, inside the request object when signed
    // (FAPI2-SP §5.3.2.2-6).
    let redirect_uri = get("redirect_uri").ok_or(NO_REDIRECT_URI)?;
    // R32: exact string match with a registered URI, query included (RFC 9700 §2.1).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(REDIRECT_URI);
    }
    // R35, R58: scope tokens are valid and registered for the client; order is irrelevant.
    // No scope means an empty scope: the registered scope is never implied.
    let scope = match get("scope") {
        None => Scope::default(),
        Some(text) => {
            let scope = Scope::parse(text).ok_or(SCOPE)?;
            if let Some(unregistered) = scope.iter().find(|s| !client.scope.contains(s)) {
                return Err(unregistered_scope(unregistered));
            }
            scope
        }
    };
    // R34: PKCE with S256 only (FAPI2-SP §5.3.2.2-5; RFC 7636 §4.3).
    let code_challenge = get("code_challenge")
        .filter(|c| pkce::challenge_is_valid(c))
        .ok_or(CODE_CHALLENGE)?;
    // R34: an absent method means plain (RFC 7636 §4.3), which is refused like plain itself.
    if get("code_challenge_method") != Some("S256") {
        return Err(CODE_CHALLENGE_METHOD);
    }
    let dpop_param = get("dpop_jkt");
    // R37: dpop_jkt is a JWK SHA-256 thumbprint (RFC 9449 §10).
    if dpop_param.is_some_and(|jkt| !jose::is_sha256_b64url(jkt)) {
        return Err(DPOP_JKT);
    }
    // R37: the parameter and the proof at PAR must name the same key (RFC 9449 §10.1).
    if let (Some(param), Some(header)) = (dpop_param, dpop_header_jkt)
        && param != header
    {
        return Err(DPOP_JKT_MISMATCH);
    }
    // R37: a proof at PAR binds the code as if its thumbprint had been sent as dpop_jkt.
    let dpop_jkt = dpop_param.or(dpop_header_jkt);
    // R43: long values are refused cleanly, never truncated (FAPI2-SP §5.3.2.2-14).
    let state = get("state");
    if state.is_some_and(|s| s.chars().count() > MAX_STATE_CHARS) {
        return Err(STATE);
    }
    let nonce = get("nonce");
    if nonce.is_some_and(|n| n.chars().count() > MAX_NONCE_CHARS) {
        return Err(NONCE);
    }
    // R140: query, or JARM with its default mode for code, query.jwt (JARM §2.3).
    let requested_mode = match get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("jwt" | "query.jwt") => ResponseMode::Jwt,
        Some(_) => return Err(RESPONSE_MODE),
    };
    // R143: a client registered for JARM always gets JARM (FAPI2-MS §5.4.1-1).
    let response_mode = if client.authorization_signed_response_alg.is_some() {
        ResponseMode::Jwt
    } else {
        requested_mode
    };
    // R59: known prompt values only; none excludes any other (OIDC Core §3.1.2.1).
    let mut prompt: Vec<String> = Vec::new();
    for value in get("prompt").unwrap_or_default().split(' ') {
        if value.is_empty() || prompt.iter().any(|p| p == value) {
            continue;
        }
        if !PROMPTS.contains(&value) {
            return Err(PROMPT);
        }
        prompt.push(value.to_owned());
    }
    if prompt.len() > 1 && prompt.iter().any(|p| p == "none") {
        return Err(PROMPT);
    }
    // R59: max_age is a non-negative number of seconds (OIDC Core §3.1.2.1).
    let max_age = get("max_age")
        .map(|text| parse_max_age(text).ok_or(MAX_AGE))
        .transpose()?;
    // R60: the claims parameter is a JSON object (OIDC Core §5.5), kept as sent.
    let claims = get("claims");
    if claims.is_some_and(|c| !matches!(serde_json::from_str(c), Ok(Value::Object(_)))) {
        return Err(CLAIMS);
    }
    // R59: offline_access is honoured only when consent is asked for (OIDC Core §11).
    let scope = if scope.contains("offline_access") && !prompt.iter().any(|p| p == "consent") {
        Scope::parse(
            &scope
                .iter()
                .filter(|s| *s != "offline_access")
                .collect::<Vec<_>>()
                .join(" "),
        )
        .unwrap_or_default()
    } else {
        scope
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_string(),
        state: state.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        dpop_jkt: dpop_jkt.map(str::to_owned),
        response_mode,
        prompt,
        max_age,
        acr_values: get("acr_values").map(str::to_owned),
        claims: claims.map(str::to_owned),
    })
}

/// Decimal digits only (no sign, no fraction, no exponent) that fit an `i64`.
fn parse_max_age(text: &str) -> Option<i64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;

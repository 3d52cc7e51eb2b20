//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): the rules
//! that belong to registration itself (R162–R171).
//!
//! The client metadata rules (R164, R165) are not here: [`Client::validate`] applies them to
//! every client, however it is registered. This module decides what reaches that validation and
//! what may be registered at all:
//!
//! - [`registration_request`] and [`update_request`]: the members a client may send to the
//!   registration endpoint and to its client configuration endpoint (R169, R171);
//! - [`verify_software_statement`]: a software statement (RFC 7591 §2.3) signed by a trusted
//!   directory; [`metadata`] lets its claims take precedence over the request's (R166);
//! - [`Policy`]: what the holder of an initial access token may register;
//! - [`client_information`]: the response to a registration, read or update (R163).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{Client, ClientMetadata, GRANT_TYPES};
use crate::client_auth::key_fits;
use crate::discovery::TOKEN_ENDPOINT_AUTH_METHODS;
use crate::error::{ErrorCode, OAuthError};
use crate::jose::{self, Alg};
use crate::scope::Scope;
use crate::time::Timestamp;

/// Clock skew tolerated on a software statement's `exp` and `iat`, in seconds.
pub const MAX_SKEW_SECS: i64 = 10;

/// Claims about a software statement itself, not metadata of the client.
const STATEMENT_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// Members the server assigns: never taken from a request or a statement (R163, R171).
const SERVER_MEMBERS: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// Members an update request must not carry (RFC 7592 §2.2); `client_secret` too, since no
/// client has one.
const NOT_IN_UPDATES: [&str; 5] = [
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

const fn bad(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidSoftwareStatement, description)
}

const fn unapproved(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::UnapprovedSoftwareStatement, description)
}

const NOT_AN_OBJECT: OAuthError = bad("the body must be a JSON object of client metadata");
const WRONG_TYPE: OAuthError = bad("a client metadata member has the wrong type");
const STATEMENT_NOT_STRING: OAuthError = invalid("software_statement must be a string");
const NOT_JWS: OAuthError = invalid("software_statement is not a compact JWS");
const BAD_ALG: OAuthError = invalid("software_statement alg is not allowed");
const NO_ISS: OAuthError = invalid("software_statement iss is missing");
const BAD_SIGNATURE: OAuthError = invalid("software_statement signature does not verify");
const NO_EXP: OAuthError = invalid("software_statement exp is missing or not an integer");
const EXPIRED: OAuthError = invalid("software_statement has expired");
const FUTURE: OAuthError = invalid("software_statement iat or nbf is in the future");
const UNTRUSTED_ISSUER: OAuthError = unapproved("software_statement issuer is not trusted");
const UNTRUSTED_KEY: OAuthError =
    unapproved("software_statement is not signed by a key of its directory");

/// A directory trusted to sign software statements: its issuer and its public keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Directory {
    /// The `iss` of its statements.
    pub issuer: String,
    /// Its public signing keys (JWKs).
    pub keys: Vec<Map<String, Value>>,
}

/// A verified software statement: the JWT as it was sent, and its claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The compact JWS, returned unmodified in client information (RFC 7591 §3.2.1).
    pub jwt: String,
    /// Its claims.
    pub claims: Map<String, Value>,
}

/// A request to the registration or client configuration endpoint, taken apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// The client metadata members, without those the server assigns.
    pub members: Map<String, Value>,
    /// The software statement, if one was sent (not yet verified).
    pub software_statement: Option<String>,
}

/// Parses a registration request body (RFC 7591 §3.1). Members the server assigns are dropped:
/// the server chooses the `client_id` (R171) and issues no secret (R163).
pub fn registration_request(body: &[u8]) -> Result<Request, OAuthError> {
    let mut request = parse(body)?;
    for member in SERVER_MEMBERS {
        request.members.remove(member);
    }
    Ok(request)
}

/// Parses an update request body for `client_id` (RFC 7592 §2.2, R169): a full metadata document
/// naming the client, without the members of the registration response.
pub fn update_request(body: &[u8], client_id: &str) -> Result<Request, OAuthError> {
    let mut request = parse(body)?;
    if request.members.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(bad("client_id must be the client's identifier"));
    }
    if NOT_IN_UPDATES
        .iter()
        .any(|m| request.members.contains_key(*m))
    {
        return Err(bad(
            "an update must not carry registration_access_token, registration_client_uri, client_id_issued_at, client_secret_expires_at or client_secret",
        ));
    }
    request.members.remove("client_id");
    Ok(request)
}

fn parse(body: &[u8]) -> Result<Request, OAuthError> {
    let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(body) else {
        return Err(NOT_AN_OBJECT);
    };
    let software_statement = match members.remove("software_statement") {
        None => None,
        Some(Value::String(jwt)) => Some(jwt),
        Some(_) => return Err(STATEMENT_NOT_STRING),
    };
    Ok(Request {
        members,
        software_statement,
    })
}

/// Verifies a software statement (RFC 7591 §2.3, R166) and returns its claims.
///
/// Its `iss` must be a configured directory and its signature verify with one of that
/// directory's keys (chosen by `kid`, or by key type without one); `exp` is required and not
/// passed, `iat` and `nbf` not in the future (each with [`MAX_SKEW_SECS`]). A statement from an
/// issuer or key that is not trusted is `unapproved_software_statement`; any other failure is
/// `invalid_software_statement`.
pub fn verify_software_statement(
    jwt: &str,
    directories: &[Directory],
    now: Timestamp,
) -> Result<Map<String, Value>, OAuthError> {
    let header = jose::peek_header(jwt).map_err(|_| NOT_JWS)?;
    // R180: allowed algorithms only; never none or HMAC.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or(BAD_ALG)?;
    // The unverified issuer only chooses the keys to verify with; the signature decides.
    let unverified = jose::peek_claims(jwt).map_err(|_| NOT_JWS)?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(NO_ISS)?;
    // R166: only configured directories are trusted.
    let directory = directories
        .iter()
        .find(|d| d.issuer == issuer)
        .ok_or(UNTRUSTED_ISSUER)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Map<String, Value>> = directory
        .keys
        .iter()
        .filter(|k| match kid {
            Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
            None => key_fits(k, alg),
        })
        .collect();
    if candidates.is_empty() {
        return Err(UNTRUSTED_KEY);
    }
    // R166: a bad signature is an invalid statement (RFC 7591 §3.2.2).
    let claims = candidates
        .iter()
        .find_map(|key| jose::verify_jws(jwt, key).ok())
        .ok_or(BAD_SIGNATURE)?
        .claims;
    let number = |name: &str| claims.get(name).map(|v| v.as_i64().ok_or(()));
    let exp = match number("exp") {
        Some(Ok(exp)) => Timestamp::from_unix(exp),
        _ => return Err(NO_EXP),
    };
    if now >= exp.plus(MAX_SKEW_SECS) {
        return Err(EXPIRED);
    }
    for name in ["iat", "nbf"] {
        match number(name) {
            None => {}
            Some(Ok(t)) if t <= now.plus(MAX_SKEW_SECS).unix() => {}
            Some(_) => return Err(FUTURE),
        }
    }
    Ok(claims)
}

/// The software statement that binds an updated registration, with its claims (R166, RFC 7592
/// §2.2). A statement sent with the update is verified, unless it is the one on record (echoed
/// back from a read, and perhaps expired since). Without one, the statement on record keeps
/// binding: leaving it out cannot drop the values a directory asserted.
pub fn update_statement(
    sent: Option<String>,
    on_record: Option<&str>,
    directories: &[Directory],
    now: Timestamp,
) -> Result<Option<Statement>, OAuthError> {
    match (sent, on_record) {
        (Some(jwt), Some(kept)) if jwt != kept => {
            let claims = verify_software_statement(&jwt, directories, now)?;
            Ok(Some(Statement { jwt, claims }))
        }
        (Some(jwt), None) => {
            let claims = verify_software_statement(&jwt, directories, now)?;
            Ok(Some(Statement { jwt, claims }))
        }
        (_, Some(kept)) => {
            // Verified when it was registered; the store is trusted with it since.
            let claims = jose::peek_claims(kept)
                .map_err(|_| OAuthError::new(ErrorCode::ServerError, "internal error"))?;
            Ok(Some(Statement {
                jwt: kept.to_owned(),
                claims,
            }))
        }
        (None, None) => Ok(None),
    }
}

/// The metadata to validate: the request's members with a software statement's claims over them
/// (R166: the statement's values take precedence, RFC 7591 §2.3). Claims about the statement
/// itself and members the server assigns are not copied; unknown members stay unknown and are
/// ignored by [`ClientMetadata`].
pub fn metadata(
    mut members: Map<String, Value>,
    statement: Option<&Map<String, Value>>,
) -> Result<ClientMetadata, OAuthError> {
    for (name, value) in statement.into_iter().flatten() {
        let name = name.as_str();
        if STATEMENT_CLAIMS.contains(&name)
            || SERVER_MEMBERS.contains(&name)
            || name == "software_statement"
        {
            continue;
        }
        members.insert(name.to_owned(), value.clone());
    }
    serde_json::from_value(Value::Object(members)).map_err(|_| WRONG_TYPE)
}

/// What the holder of an initial access token may register. The default (no policy) allows every
/// valid client except a `resource_server`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Space-separated scopes a client may register (its `scope` must be a subset); unset: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Grant types a client may register; empty: any the server supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    /// Client authentication methods a client may register; empty: any the server supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_methods: Vec<String>,
    /// Whether a client may register `resource_server: true` (introspect other clients' tokens).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_resource_server: bool,
}

impl Policy {
    /// Checks a policy an administrator wrote: a well-formed scope, and only grant types and
    /// authentication methods that a client could register at all.
    pub fn check(&self) -> Result<(), &'static str> {
        if self
            .scope
            .as_deref()
            .is_some_and(|s| Scope::parse(s).is_none())
        {
            return Err("scope is not a list of scope tokens");
        }
        if !self
            .grant_types
            .iter()
            .all(|g| GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(
                "grant types must be authorization_code, refresh_token or client_credentials",
            );
        }
        if !self
            .auth_methods
            .iter()
            .all(|m| TOKEN_ENDPOINT_AUTH_METHODS.contains(&m.as_str()))
        {
            return Err(
                "auth methods must be private_key_jwt, tls_client_auth or self_signed_tls_client_auth",
            );
        }
        Ok(())
    }

    /// The scopes a client may register under this policy; `None`: any.
    pub fn scope(&self) -> Option<Scope> {
        // A malformed policy scope (never written by `check`ed code) allows nothing.
        self.scope
            .as_deref()
            .map(|s| Scope::parse(s).unwrap_or_default())
    }

    /// Whether `client` (already validated) may be registered under this policy.
    pub fn permits(&self, client: &Client) -> Result<(), OAuthError> {
        if let Some(allowed) = self.scope()
            && !client.scope.is_subset(&allowed)
        {
            return Err(bad("scope is not allowed by the initial access token"));
        }
        if !self.grant_types.is_empty()
            && !client
                .grant_types
                .iter()
                .all(|g| self.grant_types.contains(g))
        {
            return Err(bad(
                "grant_types are not allowed by the initial access token",
            ));
        }
        if !self.auth_methods.is_empty()
            && !client
                .metadata
                .token_endpoint_auth_method
                .as_ref()
                .is_some_and(|m| self.auth_methods.contains(m))
        {
            return Err(bad(
                "token_endpoint_auth_method is not allowed by the initial access token",
            ));
        }
        if client.resource_server && !self.allow_resource_server {
            return Err(bad(
                "resource_server needs an initial access token that allows it",
            ));
        }
        Ok(())
    }
}

/// R163: the client information response (RFC 7591 §3.2.1, RFC 7592 §3): every effective
/// metadata value (defaults made explicit), `client_id` and `client_id_issued_at`, the
/// registration access token and client configuration URI, and the software statement
/// unmodified if one is on record. Never a `client_secret`: no client has one.
pub fn client_information(
    client: &Client,
    issued_at: Timestamp,
    registration_access_token: &str,
    registration_client_uri: &str,
    software_statement: Option<&str>,
) -> Result<Value, OAuthError> {
    let mut metadata = client.metadata.clone();
    metadata.client_id = Some(client.client_id.clone());
    metadata
        .grant_types
        .get_or_insert_with(|| client.grant_types.iter().cloned().collect());
    metadata.response_types.get_or_insert_with(|| {
        if client.allows_grant("authorization_code") {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    });
    metadata
        .id_token_signed_response_alg
        .get_or_insert_with(|| client.id_token_signed_response_alg.as_str().to_owned());
    let Ok(Value::Object(mut out)) = serde_json::to_value(metadata) else {
        return Err(OAuthError::new(ErrorCode::ServerError, "internal error"));
    };
    out.insert("client_id_issued_at".into(), Value::from(issued_at.unix()));
    out.insert(
        "registration_access_token".into(),
        Value::from(registration_access_token),
    );
    out.insert(
        "registration_client_uri".into(),
        Value::from(registration_client_uri),
    );
    if let Some(jwt) = software_statement {
        out.insert("software_statement".into(), Value::from(jwt));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;

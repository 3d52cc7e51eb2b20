//! Registered clients: RFC 7591 metadata, validated into a [`Client`] (R98, R164, R165).
//!
//! The same validation serves `portcullis client create`, dynamic registration and the admin UI:
//! shared-secret methods and `none` are refused, keys must be public and strong, URIs https,
//! grant and response types those FAPI allows. Unknown metadata is ignored (RFC 7591 §2).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::dn::DistinguishedName;
use crate::error::{ErrorCode, OAuthError};
use crate::jose::{self, Alg};
use crate::scope::Scope;

/// Client metadata as registered: RFC 7591 names plus Portcullis fields.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct ClientMetadata {
    /// The client identifier (kept when given at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Human-readable name shown on consent pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Where the client publishes its public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `tls_client_auth`: expected subject DN (RFC 4514).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// `tls_client_auth`: expected dNSName SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// `tls_client_auth`: expected uniformResourceIdentifier SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// `tls_client_auth`: expected iPAddress SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// `tls_client_auth`: expected rfc822Name SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// Grant types the client may use (RFC 7591 default: `authorization_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Response types (only `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Space-separated scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Registered redirect URIs (exact match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Require DPoP-bound access tokens (RFC 9449 §5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
    /// Require certificate-bound access tokens (RFC 8705 §3.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// ID token signing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// Client assertion signing algorithm, if the client wants it pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// Only signed request objects are accepted from this client (RFC 9101 §10.5; FAPI2-MS
    /// §5.3.1-1, R41).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_request_object: Option<bool>,
    /// The one algorithm the client's request objects are signed with (RFC 9101 §10.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// JARM signing algorithm; when set the client always gets JARM responses (JARM §3, R142,
    /// R143).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<String>,
    /// Signed userinfo responses with this algorithm (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    /// Logo shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Home page of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Portcullis: the rule set (`fapi2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Portcullis: `jwt` (RFC 9068) or `opaque` access tokens; default from configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<String>,
    /// Portcullis: access token lifetime in seconds; default from configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<i64>,
    /// Portcullis: the client may introspect tokens issued to other clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_server: Option<bool>,
}

/// How a client authenticates (R8; RFC 7523, RFC 8705).
#[derive(Clone, Debug, PartialEq)]
pub enum AuthMethod {
    /// A JWT signed by a key of the client's JWKS.
    PrivateKeyJwt,
    /// A self-signed certificate registered in the client's JWKS (`x5c`).
    SelfSignedTlsClientAuth,
    /// A certificate from a trusted CA with the one registered subject attribute.
    TlsClientAuth(SubjectMatch),
}

/// The one registered certificate attribute of a `tls_client_auth` client (RFC 8705 §2.1.2).
#[derive(Clone, Debug, PartialEq)]
pub enum SubjectMatch {
    /// Subject distinguished name.
    Dn(DistinguishedName),
    /// dNSName SAN.
    SanDns(String),
    /// rfc822Name SAN.
    SanEmail(String),
    /// iPAddress SAN.
    SanIp(IpAddr),
    /// uniformResourceIdentifier SAN.
    SanUri(String),
}

/// Where the client's public keys come from.
#[derive(Clone, Debug, PartialEq)]
pub enum KeySource {
    /// Signing keys registered by value (`use` absent or `sig`), shared.
    Jwks(Arc<Vec<Map<String, Value>>>),
    /// Fetched from the client's URI.
    JwksUri(String),
    /// No keys (possible for `tls_client_auth`).
    None,
}

/// Access token format.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum TokenFormat {
    /// RFC 9068 JWT signed by the server.
    Jwt,
    /// 256 random bits, meaningful only to this server.
    Opaque,
}

impl TokenFormat {
    /// Parses `jwt` or `opaque`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "jwt" => Some(Self::Jwt),
            "opaque" => Some(Self::Opaque),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }
}

/// Grant types a FAPI client may register (R164).
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "client_credentials", "refresh_token"];

/// A validated client.
#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    /// The client identifier.
    pub client_id: String,
    /// The metadata it was built from (normalized), for read-back.
    pub metadata: ClientMetadata,
    /// How it authenticates.
    pub auth_method: AuthMethod,
    /// Its keys.
    pub keys: KeySource,
    /// Allowed grant types.
    pub grant_types: BTreeSet<String>,
    /// Scopes it may request.
    pub scope: Scope,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// DPoP-bound tokens required.
    pub dpop_bound_access_tokens: bool,
    /// Certificate-bound tokens required.
    pub tls_client_certificate_bound_access_tokens: bool,
    /// Pinned assertion algorithm, if any.
    pub token_endpoint_auth_signing_alg: Option<Alg>,
    /// ID token algorithm.
    pub id_token_signed_response_alg: Alg,
    /// Only signed request objects are accepted (R41).
    pub require_signed_request_object: bool,
    /// Pinned request object algorithm, if any (R132).
    pub request_object_signing_alg: Option<Alg>,
    /// JARM algorithm; `Some` means every authorization response is a JARM JWT (R142, R143).
    pub authorization_signed_response_alg: Option<Alg>,
    /// Userinfo signing algorithm; `None` means plain JSON userinfo responses.
    pub userinfo_signed_response_alg: Option<Alg>,
    /// Access token format; `None` means the configured default.
    pub access_token_format: Option<TokenFormat>,
    /// Access token lifetime; `None` means the configured default.
    pub access_token_lifetime: Option<i64>,
    /// May introspect tokens of other clients.
    pub resource_server: bool,
}

/// Server limits the validation applies.
#[derive(Clone, Copy, Debug)]
pub struct ClientPolicy {
    /// Longest access token lifetime a client may ask for, seconds.
    pub max_access_token_lifetime: i64,
}

fn bad(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

fn https_uri(value: &str, description: &'static str) -> Result<Url, OAuthError> {
    let url = Url::parse(value).map_err(|_| bad(description))?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(bad(description));
    }
    Ok(url)
}

/// Whether a client_id is made of unreserved URL characters and not too long (R171: no user
/// `sub` is of this form because subjects carry a `user-` prefix chosen by the server).
pub fn client_id_is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with("user-")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl Client {
    /// Validates `metadata` for `client_id` (R164, R165, R98).
    pub fn validate(
        client_id: &str,
        mut metadata: ClientMetadata,
        policy: ClientPolicy,
    ) -> Result<Self, OAuthError> {
        if !client_id_is_valid(client_id) {
            return Err(bad("client_id must be 1-128 unreserved URL characters"));
        }
        metadata.client_id = Some(client_id.to_owned());
        // R165: keys by value or by reference, never both.
        let keys = match (&metadata.jwks, &metadata.jwks_uri) {
            (Some(_), Some(_)) => return Err(bad("jwks and jwks_uri are mutually exclusive")),
            // Kept as the signing keys only, shared: they verify assertions, request objects and
            // self-signed certificates on every request, and are not rebuilt for each.
            (Some(jwks), None) => {
                let signing = validate_jwks(jwks)?
                    .into_iter()
                    .filter(|k| {
                        k.get("use")
                            .and_then(Value::as_str)
                            .is_none_or(|u| u == "sig")
                    })
                    .collect();
                KeySource::Jwks(Arc::new(signing))
            }
            (None, Some(uri)) => {
                https_uri(uri, "jwks_uri must be an https URL")?;
                KeySource::JwksUri(uri.clone())
            }
            (None, None) => KeySource::None,
        };
        let auth_method = match metadata.token_endpoint_auth_method.as_deref() {
            // R8, R164: no shared secrets, no `none`.
            None => return Err(bad("token_endpoint_auth_method is required")),
            Some("private_key_jwt") => {
                if keys == KeySource::None {
                    return Err(bad("private_key_jwt needs jwks or jwks_uri"));
                }
                AuthMethod::PrivateKeyJwt
            }
            Some("self_signed_tls_client_auth") => {
                if let KeySource::Jwks(keys) = &keys
                    && !keys.iter().any(|k| k.contains_key("x5c"))
                {
                    return Err(bad(
                        "self_signed_tls_client_auth needs certificates (x5c) in jwks",
                    ));
                }
                if keys == KeySource::None {
                    return Err(bad("self_signed_tls_client_auth needs jwks or jwks_uri"));
                }
                AuthMethod::SelfSignedTlsClientAuth
            }
            Some("tls_client_auth") => AuthMethod::TlsClientAuth(subject_match(&metadata)?),
            Some(_) => {
                return Err(bad(
                    "token_endpoint_auth_method must be private_key_jwt, tls_client_auth or self_signed_tls_client_auth",
                ));
            }
        };
        if !matches!(auth_method, AuthMethod::TlsClientAuth(_)) && has_subject_attribute(&metadata)
        {
            return Err(bad(
                "tls_client_auth_* attributes are only for tls_client_auth",
            ));
        }
        let resource_server = metadata.resource_server.unwrap_or(false);
        // RFC 7591 §2: an omitted grant_types means authorization_code.
        let grant_types: BTreeSet<String> = metadata
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".to_owned()])
            .into_iter()
            .collect();
        if !grant_types
            .iter()
            .all(|g| GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(bad(
                "grant_types may only hold authorization_code, refresh_token, client_credentials",
            ));
        }
        // R164: an empty list (RFC 7591 allows it) suits only a resource server, which
        // authenticates to introspect and uses no grant; any other client could do nothing.
        if grant_types.is_empty() && !resource_server {
            return Err(bad(
                "grant_types is empty: only a resource_server may register no grant type",
            ));
        }
        if let Some(types) = &metadata.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(bad("response_types may only hold code"));
        }
        let redirect_uris = metadata.redirect_uris.clone().unwrap_or_default();
        for uri in &redirect_uris {
            validate_redirect_uri(uri)?;
        }
        if grant_types.contains("authorization_code") && redirect_uris.is_empty() {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "authorization_code clients need at least one redirect_uri",
            ));
        }
        let scope = match &metadata.scope {
            Some(text) => {
                Scope::parse(text).ok_or_else(|| bad("scope is not a list of scope tokens"))?
            }
            None => Scope::default(),
        };
        let alg = |value: &Option<String>| -> Result<Option<Alg>, OAuthError> {
            value
                .as_deref()
                .map(|a| {
                    Alg::parse(a)
                        .ok_or_else(|| bad("signing algorithms must be PS256, ES256 or EdDSA"))
                })
                .transpose()
        };
        let token_endpoint_auth_signing_alg = alg(&metadata.token_endpoint_auth_signing_alg)?;
        let id_token_signed_response_alg =
            alg(&metadata.id_token_signed_response_alg)?.unwrap_or(Alg::Ps256);
        // R132, R180: request objects are signed with an allowed algorithm only.
        let request_object_signing_alg = alg(&metadata.request_object_signing_alg)?;
        // R142: JARM's default RS256 is never used; only allowed algorithms.
        let authorization_signed_response_alg = alg(&metadata.authorization_signed_response_alg)?;
        // R180: signed userinfo with allowed algorithms only.
        let userinfo_signed_response_alg = alg(&metadata.userinfo_signed_response_alg)?;
        for (uri, what) in [
            (&metadata.logo_uri, "logo_uri must be an https URL"),
            (&metadata.client_uri, "client_uri must be an https URL"),
            (&metadata.policy_uri, "policy_uri must be an https URL"),
            (&metadata.tos_uri, "tos_uri must be an https URL"),
        ] {
            if let Some(uri) = uri {
                https_uri(uri, what)?;
            }
        }
        match metadata.profile.as_deref() {
            None | Some("fapi2") => {}
            Some(_) => return Err(bad("profile must be fapi2")),
        }
        let access_token_format = metadata
            .access_token_format
            .as_deref()
            .map(|f| {
                TokenFormat::parse(f)
                    .ok_or_else(|| bad("access_token_format must be jwt or opaque"))
            })
            .transpose()?;
        if let Some(lifetime) = metadata.access_token_lifetime
            && !(1..=policy.max_access_token_lifetime).contains(&lifetime)
        {
            return Err(bad("access_token_lifetime is outside the server's limits"));
        }
        let dpop = metadata.dpop_bound_access_tokens.unwrap_or(false);
        let mtls = metadata
            .tls_client_certificate_bound_access_tokens
            .unwrap_or(false);
        if dpop && mtls {
            return Err(bad(
                "choose dpop_bound_access_tokens or tls_client_certificate_bound_access_tokens",
            ));
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            auth_method,
            keys,
            grant_types,
            scope,
            redirect_uris,
            dpop_bound_access_tokens: dpop,
            tls_client_certificate_bound_access_tokens: mtls,
            token_endpoint_auth_signing_alg,
            id_token_signed_response_alg,
            require_signed_request_object: metadata.require_signed_request_object.unwrap_or(false),
            request_object_signing_alg,
            authorization_signed_response_alg,
            userinfo_signed_response_alg,
            access_token_format,
            access_token_lifetime: metadata.access_token_lifetime,
            resource_server,
            metadata,
        })
    }

    /// Whether the client registered `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.contains(grant_type)
    }
}

fn has_subject_attribute(m: &ClientMetadata) -> bool {
    [
        &m.tls_client_auth_subject_dn,
        &m.tls_client_auth_san_dns,
        &m.tls_client_auth_san_uri,
        &m.tls_client_auth_san_ip,
        &m.tls_client_auth_san_email,
    ]
    .iter()
    .any(|a| a.is_some())
}

/// R165: exactly one subject attribute for `tls_client_auth`.
fn subject_match(m: &ClientMetadata) -> Result<SubjectMatch, OAuthError> {
    let given = [
        &m.tls_client_auth_subject_dn,
        &m.tls_client_auth_san_dns,
        &m.tls_client_auth_san_uri,
        &m.tls_client_auth_san_ip,
        &m.tls_client_auth_san_email,
    ]
    .iter()
    .filter(|a| a.is_some())
    .count();
    if given != 1 {
        return Err(bad(
            "tls_client_auth needs exactly one tls_client_auth_subject_dn or tls_client_auth_san_*",
        ));
    }
    if let Some(dn) = &m.tls_client_auth_subject_dn {
        return DistinguishedName::parse(dn)
            .map(SubjectMatch::Dn)
            .ok_or_else(|| {
                bad("tls_client_auth_subject_dn is not an RFC 4514 distinguished name")
            });
    }
    if let Some(dns) = &m.tls_client_auth_san_dns {
        return Ok(SubjectMatch::SanDns(dns.to_ascii_lowercase()));
    }
    if let Some(uri) = &m.tls_client_auth_san_uri {
        return Ok(SubjectMatch::SanUri(uri.clone()));
    }
    if let Some(ip) = &m.tls_client_auth_san_ip {
        return ip
            .parse()
            .map(SubjectMatch::SanIp)
            .map_err(|_| bad("tls_client_auth_san_ip is not an IP address"));
    }
    if let Some(email) = &m.tls_client_auth_san_email {
        return Ok(SubjectMatch::SanEmail(email.clone()));
    }
    Err(bad("tls_client_auth needs a subject attribute"))
}

/// R164: absolute https redirect URIs without fragments.
fn validate_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris must be absolute https URLs without fragment",
        )
    };
    let url = Url::parse(uri).map_err(|_| invalid())?;
    if url.scheme() != "https"
        || url.fragment().is_some()
        || uri.contains('#')
        || url.host_str().is_none_or(str::is_empty)
    {
        return Err(invalid());
    }
    Ok(())
}

/// R98, R19: a JWK Set of public, strong signing keys with unique `kid`s.
fn validate_jwks(jwks: &Value) -> Result<Vec<Map<String, Value>>, OAuthError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("jwks must be a JWK Set with a keys array"))?;
    if keys.is_empty() {
        return Err(bad("jwks holds no key"));
    }
    let mut kids = BTreeSet::new();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key
            .as_object()
            .ok_or_else(|| bad("jwks keys must be objects"))?;
        if jose::is_private_jwk(key) {
            return Err(bad("jwks must hold public keys only"));
        }
        if !jose::is_strong_public_jwk(key) {
            return Err(bad(
                "jwks keys must be RSA of 2048 bits or more, EC P-256 or Ed25519",
            ));
        }
        if let Some(alg) = key.get("alg").and_then(Value::as_str)
            && Alg::parse(alg).is_none()
        {
            return Err(bad("jwks key alg must be PS256, ES256 or EdDSA"));
        }
        if let Some(kid) = key.get("kid") {
            let kid = kid.as_str().ok_or_else(|| bad("kid must be a string"))?;
            if !kids.insert(kid.to_owned()) {
                return Err(bad("jwks kids must be unique"));
            }
        }
        out.push(key.clone());
    }
    Ok(out)
}

/// Parses a fetched JWK Set, keeping only usable public signing keys (a client's published set
/// may hold encryption keys or other algorithms; those are skipped, not fatal).
pub fn usable_keys(jwks: &Value) -> Vec<Map<String, Value>> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_object)
                .filter(|k| !jose::is_private_jwk(k) && jose::is_strong_public_jwk(k))
                .filter(|k| {
                    k.get("use")
                        .and_then(Value::as_str)
                        .is_none_or(|u| u == "sig")
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;

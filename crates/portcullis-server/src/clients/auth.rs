//! Client authentication at every endpoint that needs it (PAR, token, introspection,
//! revocation): `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth`
//! (R64–R66, R88–R104). The rules are in `portcullis_core::client_auth`; this module finds the
//! client, its keys and its certificate, validates certificate chains, and spends assertion
//! `jti`s in the store so that a replay fails on every server process (R94).
//!
//! An `Authorization` header is refused (no client has a secret). An assertion names its client,
//! read unverified only to find it; the client's keys (by value, or from `jwks_uri`, fetched again
//! once on an unknown `kid`) verify it, and only then is its `jti` spent: at once
//! ([`Clients::authenticate`]), or by the endpoint together with its own statement
//! ([`Clients::authenticate_unspent`], decision 0019). Mutual TLS takes the `client_id`
//! parameter and the connection's certificate. Endpoints call these through
//! `endpoints::authenticate` and `endpoints::authenticate_unspent`.

use std::sync::Arc;

use portcullis_core::client::{AuthMethod, Client};
use portcullis_core::client_auth::{self, ASSERTION_TYPE, AssertionError};
use portcullis_core::hash::TokenHash;
use portcullis_core::jose::Jws;
use portcullis_core::{ErrorCode, OAuthError, Timestamp};
use portcullis_store::{JtiUse, Spend};

use super::registry::Clients;
use crate::error::{TokenError, store_failed};
use crate::transport::peer::PeerCertificate;

/// A client that proved who it is on this request.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    /// The client.
    pub client: Arc<Client>,
    /// The TLS client certificate of the request, if any (used to bind tokens).
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// What a request offers to prove who its client is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    /// The `client_assertion` parameter.
    pub assertion: Option<&'a str>,
    /// The `client_assertion_type` parameter.
    pub assertion_type: Option<&'a str>,
    /// The `client_id` parameter.
    pub client_id: Option<&'a str>,
    /// Whether the request carried an `Authorization` header.
    pub authorization_header: bool,
    /// The TLS client certificate the connection presented (or a trusted proxy forwarded).
    pub certificate: Option<&'a Arc<PeerCertificate>>,
}

/// The `method` label of a refused authentication (`portcullis_client_auth_failures_total`),
/// from what the request carried: the registered method is not known before the client is.
pub(crate) fn attempted_method(credentials: &Credentials<'_>) -> &'static str {
    if credentials.authorization_header {
        "client_secret_basic"
    } else if credentials.assertion.is_some() || credentials.assertion_type.is_some() {
        "private_key_jwt"
    } else if credentials.certificate.is_some() {
        "mtls"
    } else {
        "none"
    }
}

/// The `reason` label of a refused authentication: a fixed set, told apart by the fixed
/// descriptions of this module (an assertion the core refused is `invalid_assertion`).
pub(crate) fn failure_reason(error: &OAuthError) -> &'static str {
    if matches!(
        error.code,
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
    ) {
        return "unavailable";
    }
    match error.description() {
        "client_secret authentication is not supported" => "unsupported_method",
        "use one client authentication method"
        | "client_assertion_type must be jwt-bearer"
        | "client authentication is required"
        | "client_assertion names no client"
        | "client_id does not match the client_assertion" => "malformed",
        "unknown or disabled client" => "unknown_client",
        "the client is not registered for private_key_jwt"
        | "client_assertion is required for this client" => "wrong_method",
        "client_assertion is not signed by a registered key" => "unknown_key",
        "client_assertion has been used before" => "replayed",
        "a client certificate is required" => "no_certificate",
        "the client certificate is not issued by a trusted CA" => "untrusted_certificate",
        "the client certificate does not match the registration"
        | "the client certificate is not registered for this client" => "certificate_mismatch",
        _ => "invalid_assertion",
    }
}

fn invalid_client(description: &'static str) -> TokenError {
    TokenError::from(OAuthError::new(ErrorCode::InvalidClient, description))
}

/// The refusal of a replayed client assertion (R94).
pub(crate) fn replayed_assertion() -> TokenError {
    invalid_client("client_assertion has been used before")
}

impl Clients {
    /// Authenticates the client of a request by its registered method, spending its assertion's
    /// `jti` (R94).
    pub async fn authenticate(
        &self,
        credentials: Credentials<'_>,
        now: Timestamp,
    ) -> Result<AuthenticatedClient, TokenError> {
        let (client, assertion) = self.authenticate_unspent(credentials, now).await?;
        if let Some(assertion) = assertion {
            self.spend_assertion(&assertion).await?;
        }
        Ok(client)
    }

    /// Spends a verified assertion's `jti`: the store's insert decides, across every process.
    pub async fn spend_assertion(&self, assertion: &Spend) -> Result<(), TokenError> {
        match self
            .store
            .record_jti(&assertion.key, assertion.expires_at)
            .await
        {
            Ok(JtiUse::Fresh) => Ok(()),
            Ok(JtiUse::Replayed) => Err(replayed_assertion()),
            Err(e) => Err(store_failed("recording the assertion jti failed", &e).into()),
        }
    }

    /// [`Self::authenticate`] without spending the assertion's `jti`: the client and, for
    /// `private_key_jwt`, the verified assertion's single-use key. The caller must spend it
    /// before it answers (alone with [`Self::spend_assertion`], or in the same write as the
    /// token it issues) and refuse the request if it was used before.
    pub async fn authenticate_unspent(
        &self,
        credentials: Credentials<'_>,
        now: Timestamp,
    ) -> Result<(AuthenticatedClient, Option<Spend>), TokenError> {
        let Credentials {
            assertion,
            assertion_type,
            ..
        } = credentials;
        if credentials.authorization_header {
            // R65: one method per request. No client authenticates with the header (no secrets).
            if assertion.is_some() || assertion_type.is_some() {
                return Err(TokenError::from(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "use one client authentication method",
                )));
            }
            return Err(TokenError {
                error: OAuthError::new(
                    ErrorCode::InvalidClient,
                    "client_secret authentication is not supported",
                ),
                used_authorization_header: true,
                dpop_nonce: None,
                throttled: None,
            });
        }
        let (client, spend) = match (assertion, assertion_type) {
            (Some(assertion), Some(ASSERTION_TYPE)) => {
                let (client, spend) = self
                    .private_key_jwt(credentials.client_id, assertion, now)
                    .await?;
                (client, Some(spend))
            }
            // R88: the assertion type must be jwt-bearer, and both parameters come together.
            (Some(_), _) | (None, Some(_)) => {
                return Err(invalid_client("client_assertion_type must be jwt-bearer"));
            }
            (None, None) => (self.mutual_tls(&credentials, now).await?, None),
        };
        let client = AuthenticatedClient {
            client,
            certificate: credentials.certificate.cloned(),
        };
        Ok((client, spend))
    }

    async fn load(&self, client_id: &str) -> Result<Arc<Client>, TokenError> {
        match self.get(client_id).await {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(invalid_client("unknown or disabled client")),
            Err(e) => Err(store_failed("client lookup failed", &e).into()),
        }
    }

    async fn private_key_jwt(
        &self,
        client_id_param: Option<&str>,
        assertion: &str,
        now: Timestamp,
    ) -> Result<(Arc<Client>, Spend), TokenError> {
        // Decoded once: to find the client, then to verify it (twice if its keys are refetched).
        let names_no_client = || invalid_client("client_assertion names no client");
        let assertion = Jws::decode(assertion).map_err(|_| names_no_client())?;
        let client_id = client_auth::claimed_client(&assertion).ok_or_else(names_no_client)?;
        // R66: a client_id parameter must name the same client.
        if client_id_param.is_some_and(|id| id != client_id) {
            return Err(invalid_client(
                "client_id does not match the client_assertion",
            ));
        }
        let client = self.load(client_id).await?;
        if client.auth_method != AuthMethod::PrivateKeyJwt {
            return Err(invalid_client(
                "the client is not registered for private_key_jwt",
            ));
        }
        let issuer = &self.issuer;
        let keys = self.keys(&client, false).await?;
        let verified =
            match client_auth::verify_decoded_assertion(&assertion, &client, &keys, issuer, now) {
                // A key the client rotated in since the keys were fetched: refetch once (rate-limited).
                Err(AssertionError::UnknownKey) => {
                    let keys = self.keys(&client, true).await?;
                    client_auth::verify_decoded_assertion(&assertion, &client, &keys, issuer, now)
                }
                other => other,
            };
        let assertion = match verified {
            Ok(assertion) => assertion,
            Err(AssertionError::UnknownKey) => {
                return Err(invalid_client(
                    "client_assertion is not signed by a registered key",
                ));
            }
            Err(AssertionError::Rejected(e)) => return Err(e.into()),
        };
        // R94: single use across every server process: the store's insert decides, when the
        // caller spends this key.
        let key =
            TokenHash::of(format!("client_assertion\0{client_id}\0{}", assertion.jti).as_bytes());
        let spend = Spend {
            key,
            expires_at: assertion.expires_at,
        };
        Ok((client, spend))
    }

    async fn mutual_tls(
        &self,
        credentials: &Credentials<'_>,
        now: Timestamp,
    ) -> Result<Arc<Client>, TokenError> {
        // R64, R99: without an assertion, client_id and a certificate are required.
        let client_id = credentials
            .client_id
            .ok_or_else(|| invalid_client("client authentication is required"))?;
        let client = self.load(client_id).await?;
        // R102: mutual TLS needs a certificate.
        let certificate = credentials
            .certificate
            .ok_or_else(|| invalid_client("a client certificate is required"))?;
        match &client.auth_method {
            AuthMethod::PrivateKeyJwt => Err(invalid_client(
                "client_assertion is required for this client",
            )),
            AuthMethod::TlsClientAuth(expected) => {
                // R100: chain to a trusted CA, valid now, exactly the registered attribute.
                if !self.trust_anchors.accept(certificate, now) {
                    return Err(invalid_client(
                        "the client certificate is not issued by a trusted CA",
                    ));
                }
                if !client_auth::subject_matches(certificate.end_entity(), expected) {
                    return Err(invalid_client(
                        "the client certificate does not match the registration",
                    ));
                }
                Ok(client)
            }
            AuthMethod::SelfSignedTlsClientAuth => {
                // R101: the certificate is one the client registered in its JWKS.
                let keys = self.keys(&client, false).await?;
                if client_auth::self_signed_certificate_matches(certificate.end_entity(), &keys) {
                    return Ok(client);
                }
                let keys = self.keys(&client, true).await?;
                if client_auth::self_signed_certificate_matches(certificate.end_entity(), &keys) {
                    return Ok(client);
                }
                Err(invalid_client(
                    "the client certificate is not registered for this client",
                ))
            }
        }
    }
}

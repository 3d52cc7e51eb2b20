//! Client authentication at every endpoint that needs it (token, introspection, revocation, and
//! later PAR): `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth`
//! (R64–R66, R88–R104). The rules are in `portcullis_core::client_auth`; this module finds the
//! client, its keys and its certificate, validates certificate chains, and spends assertion
//! `jti`s in the store so that a replay fails on every server process (R94).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use portcullis_core::client::{AuthMethod, Client};
use portcullis_core::client_auth::{self, ASSERTION_TYPE, AssertionError};
use portcullis_core::hash::TokenHash;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::JtiUse;
use rustls::pki_types::UnixTime;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use crate::error::TokenError;
use crate::extract::Params;
use crate::peer::{Peer, PeerCertificate};
use crate::state::AppState;

/// A client that proved who it is on this request.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    /// The client.
    pub client: Arc<Client>,
    /// The TLS client certificate of the request, if any (used to bind tokens).
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// Validates client certificate chains for `tls_client_auth` against the configured CAs.
pub struct TrustAnchors(Option<Arc<dyn ClientCertVerifier>>);

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TrustAnchors")
            .field(&self.0.is_some())
            .finish()
    }
}

impl TrustAnchors {
    /// Loads `tls.client_ca_files`; with none configured, `tls_client_auth` never succeeds.
    pub fn load(config: &crate::config::Config) -> anyhow::Result<Self> {
        if config.tls.client_ca_files.is_empty() {
            return Ok(Self(None));
        }
        let mut roots = rustls::RootCertStore::empty();
        for file in &config.tls.client_ca_files {
            for cert in crate::tls::read_cert_chain(file)? {
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
                .build()
                .map_err(|e| anyhow::anyhow!("tls.client_ca_files: {e}"))?;
        Ok(Self(Some(verifier)))
    }

    /// R100: the chain leads to a configured CA and is valid at `now`.
    fn accept(&self, certificate: &PeerCertificate, now: portcullis_core::Timestamp) -> bool {
        let Some(verifier) = &self.0 else {
            return false;
        };
        let now =
            UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now.unix()).unwrap_or(0)));
        verifier
            .verify_client_cert(certificate.end_entity(), certificate.intermediates(), now)
            .is_ok()
    }
}

fn invalid_client(description: &'static str) -> TokenError {
    TokenError::from(OAuthError::new(ErrorCode::InvalidClient, description))
}

/// Authenticates the client of a request by its registered method.
pub async fn authenticate(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AuthenticatedClient, TokenError> {
    let assertion = params.get("client_assertion");
    let assertion_type = params.get("client_assertion_type");
    if headers.contains_key(header::AUTHORIZATION) {
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
        });
    }
    let authenticated = match (assertion, assertion_type) {
        (Some(assertion), Some(ASSERTION_TYPE)) => {
            private_key_jwt(state, params, assertion).await?
        }
        // R88: the assertion type must be jwt-bearer, and both parameters come together.
        (Some(_), _) | (None, Some(_)) => {
            return Err(invalid_client("client_assertion_type must be jwt-bearer"));
        }
        (None, None) => mutual_tls(state, peer, params).await?,
    };
    Ok(AuthenticatedClient {
        client: authenticated,
        certificate: peer.certificate.clone(),
    })
}

async fn load(state: &AppState, client_id: &str) -> Result<Arc<Client>, TokenError> {
    match state.clients.get(client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(invalid_client("unknown or disabled client")),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            Err(TokenError::from(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "try again later",
            )))
        }
    }
}

async fn private_key_jwt(
    state: &AppState,
    params: &Params,
    assertion: &str,
) -> Result<Arc<Client>, TokenError> {
    let client_id = client_auth::assertion_client_id(assertion)
        .ok_or_else(|| invalid_client("client_assertion names no client"))?;
    // R66: a client_id parameter must name the same client.
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid_client(
            "client_id does not match the client_assertion",
        ));
    }
    let client = load(state, &client_id).await?;
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(invalid_client(
            "the client is not registered for private_key_jwt",
        ));
    }
    let issuer = &state.config.issuer;
    let now = state.clock.now();
    let keys = state.clients.keys(&client, false).await?;
    let verified = match client_auth::verify_assertion(assertion, &client, &keys, issuer, now) {
        // A key the client rotated in since the keys were fetched: refetch once (rate-limited).
        Err(AssertionError::UnknownKey) => {
            let keys = state.clients.keys(&client, true).await?;
            client_auth::verify_assertion(assertion, &client, &keys, issuer, now)
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
    // R94: single use across every server process: the store's insert decides.
    let key = TokenHash::of(format!("client_assertion\0{client_id}\0{}", assertion.jti).as_bytes());
    match state.store.record_jti(&key, assertion.expires_at).await {
        Ok(JtiUse::Fresh) => Ok(client),
        Ok(JtiUse::Replayed) => Err(invalid_client("client_assertion has been used before")),
        Err(e) => {
            tracing::error!(error = %e, "recording the assertion jti failed");
            Err(TokenError::from(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "try again later",
            )))
        }
    }
}

async fn mutual_tls(
    state: &AppState,
    peer: &Peer,
    params: &Params,
) -> Result<Arc<Client>, TokenError> {
    // R64, R99: without an assertion, client_id and a certificate are required.
    let client_id = params
        .get("client_id")
        .ok_or_else(|| invalid_client("client authentication is required"))?;
    let client = load(state, client_id).await?;
    // R102: mutual TLS needs a certificate.
    let certificate = peer
        .certificate
        .as_ref()
        .ok_or_else(|| invalid_client("a client certificate is required"))?;
    match &client.auth_method {
        AuthMethod::PrivateKeyJwt => Err(invalid_client(
            "client_assertion is required for this client",
        )),
        AuthMethod::TlsClientAuth(expected) => {
            // R100: chain to a trusted CA, valid now, exactly the registered attribute.
            if !state.trust_anchors.accept(certificate, state.clock.now()) {
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
            let keys = state.clients.keys(&client, false).await?;
            if client_auth::self_signed_certificate_matches(certificate.end_entity(), &keys) {
                return Ok(client);
            }
            let keys = state.clients.keys(&client, true).await?;
            if client_auth::self_signed_certificate_matches(certificate.end_entity(), &keys) {
                return Ok(client);
            }
            Err(invalid_client(
                "the client certificate is not registered for this client",
            ))
        }
    }
}

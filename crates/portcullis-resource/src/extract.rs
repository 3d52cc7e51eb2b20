//! [`AccessToken`]: the axum extractor for the token [`RequireToken`](crate::RequireToken)
//! verified, with what it grants.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use portcullis_core::Timestamp;
use portcullis_core::access_token::ValidToken;
use portcullis_core::scope::Scope;
use serde_json::{Map, Value};

use crate::error::{Refusal, Scheme};

/// The verified access token of a request. Only [`RequireToken`](crate::RequireToken) makes
/// one, after every check passed; a handler on a route without the layer cannot take it (the
/// request is answered `500`, a setup mistake, never served unauthenticated).
#[derive(Clone, Debug)]
pub struct AccessToken {
    token: Arc<ValidToken>,
    scheme: Scheme,
}

impl AccessToken {
    pub(crate) fn new(token: Arc<ValidToken>, scheme: Scheme) -> Self {
        Self { token, scheme }
    }

    /// The resource owner (`sub`); for `client_credentials`, the client itself.
    pub fn subject(&self) -> &str {
        &self.token.subject
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.token.client_id
    }

    /// The granted scope.
    pub fn scope(&self) -> &Scope {
        &self.token.scope
    }

    /// The token identifier (`jti`), if the token has one.
    pub fn jti(&self) -> Option<&str> {
        self.token.jti.as_deref()
    }

    /// When the token expires.
    pub fn expires_at(&self) -> Timestamp {
        self.token.expires_at
    }

    /// Every claim of the JWT, or every member of the introspection answer.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.token.claims
    }

    /// The scheme the request used: `DPoP` for DPoP-bound tokens, `Bearer` for
    /// certificate-bound ones.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Refuses with `403` `insufficient_scope` unless the token holds every scope in `scope`
    /// (space separated), for decisions a handler takes itself.
    pub fn require_scope(&self, scope: &str) -> Result<(), Refusal> {
        match Scope::parse(scope) {
            Some(needed) if needed.is_subset(&self.token.scope) => Ok(()),
            _ => Err(Refusal::InsufficientScope {
                scope: scope.to_owned(),
                scheme: self.scheme,
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            tracing::error!("AccessToken taken on a route without RequireToken");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })
    }
}

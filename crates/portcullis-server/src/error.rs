//! OAuth errors to HTTP, in one place per endpoint family (STYLE convention 2).
//!
//! Handlers return [`OAuthError`] values; only this module decides status codes and headers.
//! The token-style family (token, PAR, introspection, revocation, registration and every JSON
//! endpoint) answers with a JSON body `{"error", "error_description"}`, `Cache-Control: no-store`,
//! and for `invalid_client` 401 with `WWW-Authenticate` when the client tried the `Authorization`
//! header (RFC 6749 §5.2).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::json;

/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// A token-style error response.
#[derive(Debug)]
pub struct TokenError {
    /// The protocol error.
    pub error: OAuthError,
    /// Whether the client authenticated with the `Authorization` header.
    pub used_authorization_header: bool,
    /// A fresh DPoP nonce to send with `use_dpop_nonce` (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            used_authorization_header: false,
            dpop_nonce: None,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let code = self.error.code;
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::AccessDenied | ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({ "error": code.as_str(), "error_description": self.error.description });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if code == ErrorCode::InvalidClient && self.used_authorization_header {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        response
    }
}

/// An error of the registration and client configuration endpoints (RFC 7591 §3.2.2, RFC 7592
/// §2): the token-style JSON body and statuses; `invalid_token` (a missing, unknown or spent
/// initial or registration access token) is 401 with a `Bearer` challenge (RFC 6750 §3, R162,
/// R168).
#[derive(Debug)]
pub struct RegistrationError(pub OAuthError);

impl From<OAuthError> for RegistrationError {
    fn from(error: OAuthError) -> Self {
        Self(error)
    }
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        let invalid_token = self.0.code == ErrorCode::InvalidToken;
        let mut response = TokenError::from(self.0).into_response();
        if invalid_token {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// The generic answer to an internal failure: no detail leaves the server.
pub fn server_error() -> Response {
    TokenError::from(OAuthError::new(ErrorCode::ServerError, "internal error")).into_response()
}

/// A protected-resource error (RFC 6750 §3, RFC 9449 §7.1): 401 (403 for `insufficient_scope`)
/// with a `WWW-Authenticate` challenge for both schemes, and no body detail (R117, R147).
#[derive(Debug)]
pub struct BearerError {
    /// The error, or `None` when the request carried no token (R147: no error code then).
    pub error: Option<OAuthError>,
    /// A fresh DPoP nonce for `use_dpop_nonce`.
    pub dpop_nonce: Option<String>,
}

impl From<OAuthError> for BearerError {
    fn from(error: OAuthError) -> Self {
        Self {
            error: Some(error),
            dpop_nonce: None,
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let algs = portcullis_core::jose::Alg::ALL
            .map(|a| a.as_str())
            .join(" ");
        let (status, challenge) = match self.error {
            None => (
                StatusCode::UNAUTHORIZED,
                format!("DPoP algs=\"{algs}\", Bearer"),
            ),
            Some(e) => {
                let status = match e.code {
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let code = e.code.as_str();
                let description = e.description;
                (
                    status,
                    format!(
                        "DPoP algs=\"{algs}\", error=\"{code}\", error_description=\"{description}\", Bearer error=\"{code}\", error_description=\"{description}\""
                    ),
                )
            }
        };
        let mut response = status.into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        response
    }
}

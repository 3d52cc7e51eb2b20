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

/// A token-style error response.
#[derive(Debug)]
pub struct TokenError {
    /// The protocol error.
    pub error: OAuthError,
    /// Whether the client authenticated with the `Authorization` header.
    pub used_authorization_header: bool,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            used_authorization_header: false,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let code = self.error.code;
        let status = match code {
            ErrorCode::InvalidClient if self.used_authorization_header => StatusCode::UNAUTHORIZED,
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
        response
    }
}

/// The generic answer to an internal failure: no detail leaves the server.
pub fn server_error() -> Response {
    TokenError::from(OAuthError::new(ErrorCode::ServerError, "internal error")).into_response()
}

//! The OAuth error vocabulary: only codes that the specifications define.
//!
//! An [`OAuthError`] carries a code and a fixed description. The description is a `&'static str`
//! so that no user input (and no CR/LF, R71) can ever reach a response. How an error becomes an
//! HTTP response depends on the endpoint family and is decided in one place in the server crate.

use std::fmt;

/// Error codes of RFC 6749, 6750, 7591, 9126, 9449 and OpenID Connect.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ErrorCode {
    AccessDenied,
    ConsentRequired,
    InsufficientScope,
    InteractionRequired,
    InvalidClient,
    InvalidClientMetadata,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidRequestObject,
    InvalidRequestUri,
    InvalidScope,
    InvalidSoftwareStatement,
    InvalidToken,
    LoginRequired,
    ServerError,
    TemporarilyUnavailable,
    UnapprovedSoftwareStatement,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::ConsentRequired => "consent_required",
            Self::InsufficientScope => "insufficient_scope",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidClient => "invalid_client",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::InvalidToken => "invalid_token",
            Self::LoginRequired => "login_required",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

/// A protocol error: a spec code and a fixed, printable-ASCII description.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct OAuthError {
    /// The spec's error code.
    pub code: ErrorCode,
    /// A fixed human-readable description, never built from input.
    pub description: &'static str,
}

impl OAuthError {
    /// Builds an error from a code and a fixed description.
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self { code, description }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

//! The OAuth error vocabulary: only codes that the specifications define.
//!
//! An [`OAuthError`] carries a code and a description. Almost every description is a fixed
//! `&'static str`; the few that name a value from the request (the scope a client did not
//! register) are built by [`OAuthError::naming`], which sends them only when every character is
//! one RFC 6749 allows in `error_description` (never CR/LF, a quote or a backslash: R71), and a
//! fixed text otherwise. How an error becomes an HTTP response depends on the endpoint family and
//! is decided in one place in the server crate.

use std::borrow::Cow;
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

/// A protocol error: a spec code and a printable-ASCII description.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OAuthError {
    /// The spec's error code.
    pub code: ErrorCode,
    /// A human-readable description: fixed, or checked by [`OAuthError::naming`].
    description: Cow<'static, str>,
}

/// RFC 6749 §5.2: `error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )`.
fn is_description_char(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

impl OAuthError {
    /// Builds an error from a code and a fixed description.
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self {
            code,
            description: Cow::Borrowed(description),
        }
    }

    /// Builds an error whose description names `value` from the request: `before`, the value,
    /// then `after`. If the value is empty, longer than [`MAX_NAMED_CHARS`] or holds any
    /// character that RFC 6749 does not allow in `error_description`, it is not echoed at all:
    /// the description is `fallback`.
    pub fn naming(
        code: ErrorCode,
        before: &'static str,
        value: &str,
        after: &'static str,
        fallback: &'static str,
    ) -> Self {
        if value.is_empty()
            || value.len() > MAX_NAMED_CHARS
            || !value.bytes().all(is_description_char)
        {
            return Self::new(code, fallback);
        }
        Self {
            code,
            description: Cow::Owned(format!("{before}{value}{after}")),
        }
    }

    /// The description, as sent in `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// The longest value [`OAuthError::naming`] echoes, in bytes.
pub const MAX_NAMED_CHARS: usize = 128;

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r71_a_named_value_is_echoed_only_in_description_characters() {
        let named = |value: &str| {
            OAuthError::naming(
                ErrorCode::InvalidScope,
                "scope ",
                value,
                " is not registered",
                "a scope is not registered",
            )
        };
        assert_eq!(
            named("payments:read").description(),
            "scope payments:read is not registered"
        );
        for hostile in [
            "a\"b",
            "a\\b",
            "line\r\nbreak",
            "nul\0",
            "caf\u{e9}",
            "",
            &"x".repeat(MAX_NAMED_CHARS + 1),
        ] {
            assert_eq!(
                named(hostile).description(),
                "a scope is not registered",
                "{hostile:?}"
            );
        }
        // Every description, fixed or named, is within the RFC 6749 characters.
        assert!(named("ok").description().bytes().all(is_description_char));
    }
}

//! `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.1, §3.2).
//!
//! A wrong content type or a malformed body is `invalid_request`; so is any parameter that
//! appears twice (R187). Parameters sent without a value are treated as omitted.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use portcullis_core::{ErrorCode, OAuthError};

use crate::error::TokenError;

/// The form parameters of a request, each present at most once. A list, not a map: a request
/// carries a handful, which a scan finds faster than a hash (and parsing allocates nothing for
/// the names not kept).
#[derive(Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// Names only: the values are codes, tokens, assertions and passwords, which never go to a log
/// (T86), even if someone logs a `Params` with `?params`.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        f.debug_tuple("Params").field(&names).finish()
    }
}

impl Params {
    /// The value of `name`, if sent with a value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in no particular order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parses a form body.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = Vec::new();
        // Every name, valued or not, borrowed from the body where it needs no decoding.
        let mut names = Vec::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if !value.is_empty() {
                params.push((name.clone().into_owned(), value.into_owned()));
            }
            names.push(name);
        }
        // R187: OAuth parameters must not repeat (sorted, so that a body of many names costs
        // n log n, not n²).
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "a parameter is repeated",
            ));
        }
        Ok(Self(params))
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            let e = OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            );
            return Err(TokenError::from(e).into_response());
        }
        // A body over the configured limit is answered 413 by the limit layer (R42).
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Self::parse(&body).map_err(|e| TokenError::from(e).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r187_repeated_parameters_are_refused_and_empty_ones_omitted() {
        assert_eq!(
            Params::parse(b"a=1&a=2").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            Params::parse(b"a=&a=2").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        // Apart, and one of them encoded.
        assert_eq!(
            Params::parse(b"scope=x&b=1&c=&%73cope=y").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn debug_output_names_the_parameters_but_never_their_values() {
        let p = Params::parse(b"grant_type=authorization_code&code=s3cr3t-c0de").unwrap();
        let text = format!("{p:?}");
        assert!(
            text.contains("code") && text.contains("grant_type"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t-c0de"), "{text}");
        assert!(!text.contains("authorization_code"), "{text}");
    }
}

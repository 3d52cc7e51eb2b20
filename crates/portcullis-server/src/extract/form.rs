//! `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.1, §3.2).
//!
//! A wrong content type or a malformed body is `invalid_request`; so is any parameter that
//! appears twice (R187). Parameters sent without a value are treated as omitted.

use std::borrow::Cow;

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
        for (name, value) in pairs(body) {
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

/// The name-value pairs of a form body, decoded as the URL standard's
/// `application/x-www-form-urlencoded` parser does (and `url::form_urlencoded::parse`): split on
/// `&`, empty pieces skipped, each split at its first `=` (none: an empty value). A part without
/// `%` or `+` (assertions, tokens and codes never have them) is borrowed as it is once it is
/// checked to be UTF-8, without the byte-by-byte decoding that cost about 5,000 instructions per
/// assertion.
fn pairs(body: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let mut rest = body;
    std::iter::from_fn(move || {
        // The scans use `memchr`'s vector search: a body is mostly one long assertion.
        let (piece, after) = match memchr::memchr(b'&', rest) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None if rest.is_empty() => return None,
            None => (rest, &[][..]),
        };
        rest = after;
        Some(piece)
    })
    .filter(|piece| !piece.is_empty())
    .map(|piece| match memchr::memchr(b'=', piece) {
        Some(at) => (decode(&piece[..at]), decode(&piece[at + 1..])),
        None => (decode(piece), Cow::Borrowed("")),
    })
}

/// One name or value: `+` is a space, then percent-decoding (`percent_encoding`, as the URL
/// standard's parser does); bytes that are not UTF-8 become U+FFFD.
fn decode(part: &[u8]) -> Cow<'_, str> {
    if memchr::memchr2(b'%', b'+', part).is_none() {
        return match std::str::from_utf8(part) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(part),
        };
    }
    let spaced: Cow<'_, [u8]> = match memchr::memchr(b'+', part) {
        None => Cow::Borrowed(part),
        Some(_) => part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect(),
    };
    Cow::Owned(
        percent_encoding::percent_decode(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
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
    fn bodies_decode_as_the_url_standard_says() {
        let bodies: [&[u8]; 14] = [
            b"a=1&b=2",
            b"&&a=1&&b&=c&",
            b"a==b=c&=x",
            b"x=a+b%20c%2B%3a%3A",
            b"bad=%zz%4%&tail=%",
            b"pct=%41%4a%4A%e2%82%ac",
            b"not_utf8=%ff%fe&raw=\xff\xfeok",
            b"n%61me+x=v",
            b"plain=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_",
            b"",
            b"=",
            b"%",
            b"a=%2",
            b"+=+",
        ];
        for body in bodies {
            let ours: Vec<(String, String)> = pairs(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(body));
        }
        // Parts that need no decoding are borrowed from the body.
        let body = b"client_assertion=eyJ.eyJ.c2ln&scope=a+b";
        let parsed: Vec<_> = pairs(body).collect();
        assert!(matches!(
            parsed[0],
            (Cow::Borrowed(_), Cow::Borrowed("eyJ.eyJ.c2ln"))
        ));
        assert!(matches!(&parsed[1].1, Cow::Owned(v) if v == "a b"));
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

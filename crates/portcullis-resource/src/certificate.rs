//! The client certificate of a request (RFC 8705 §3): the one the API's TLS listener saw, or the
//! one a trusted TLS-terminating proxy forwarded in the RFC 9440 `Client-Cert` header.
//!
//! The listener puts a [`ClientCertificate`] (and the peer's [`PeerAddr`]) into each request's
//! extensions; [`crate::tls::serve`] does, and any accept loop can. A forwarded header is believed
//! only from an address in `proxy.trusted`; from anywhere else it is refused with
//! `invalid_request`, since a client could otherwise name any certificate (R103).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::{ErrorCode, OAuthError};

use crate::error::Refusal;
use crate::settings::Proxy;

/// The client certificate presented on the request's TLS connection, as a request extension.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClientCertificate {
    x5t_s256: Arc<str>,
}

impl ClientCertificate {
    /// Wraps the end-entity certificate (DER) of a connection. The thumbprint is computed
    /// once, when the connection is accepted.
    pub fn from_der(der: &[u8]) -> Self {
        Self {
            x5t_s256: portcullis_core::jose::x5t_s256(der).into(),
        }
    }

    /// `x5t#S256`: base64url(SHA-256(DER)) (RFC 8705 §3.1).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }
}

/// The TCP peer of a request, as a request extension (axum's `ConnectInfo<SocketAddr>` is read
/// as well).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address of a request, from [`PeerAddr`] or axum's `ConnectInfo`.
pub(crate) fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<PeerAddr>().map(|p| p.0).or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
    })
}

const UNTRUSTED: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "client certificate header not accepted from this address",
);
const MALFORMED: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "malformed client certificate header",
);

/// The `x5t#S256` of the request's client certificate, if it has one.
pub(crate) fn thumbprint(parts: &Parts, proxy: &Proxy) -> Result<Option<Arc<str>>, Refusal> {
    let forwarded = forwarded(&parts.headers, &proxy.client_cert_header);
    if forwarded.is_none() {
        return Ok(parts
            .extensions
            .get::<ClientCertificate>()
            .map(|c| Arc::clone(&c.x5t_s256)));
    }
    // R103: a forwarded certificate counts only from a trusted proxy.
    let trusted = peer_addr(parts)
        .is_some_and(|addr| proxy.trusted.iter().any(|net| net.contains(&addr.ip())));
    if !trusted {
        return Err(Refusal::oauth(UNTRUSTED, None));
    }
    match forwarded {
        Some(Ok(der)) => Ok(Some(ClientCertificate::from_der(&der).x5t_s256)),
        _ => Err(Refusal::oauth(MALFORMED, None)),
    }
}

/// The forwarded certificate (DER), if the header is present: one value, an RFC 8941 byte
/// sequence `:base64:` holding a parseable certificate.
fn forwarded(headers: &HeaderMap, name: &str) -> Option<Result<Vec<u8>, ()>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    Some((|| {
        let text = first.to_str().map_err(|_| ())?.trim();
        let b64 = text
            .strip_prefix(':')
            .and_then(|s| s.strip_suffix(':'))
            .ok_or(())?;
        let der = STANDARD.decode(b64).map_err(|_| ())?;
        x509_parser::parse_x509_certificate(&der).map_err(|_| ())?;
        Ok(der)
    })())
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(header: Option<&str>, from: &str, tls: Option<&[u8]>) -> Parts {
        let mut builder = Request::builder();
        if let Some(value) = header {
            builder = builder.header("client-cert", value);
        }
        let mut request = builder.body(()).unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr(from.parse().unwrap()));
        if let Some(der) = tls {
            request
                .extensions_mut()
                .insert(ClientCertificate::from_der(der));
        }
        request.into_parts().0
    }

    fn proxy() -> Proxy {
        Proxy {
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
            ..Proxy::default()
        }
    }

    /// A real certificate's DER (x509-parser must accept it).
    fn der() -> Vec<u8> {
        let pem = include_str!("../testdata/cert.pem");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(b64).unwrap()
    }

    #[test]
    fn the_listener_certificate_is_used_without_a_header() {
        let got = thumbprint(&parts(None, "192.0.2.1:1", Some(b"der")), &proxy()).unwrap();
        assert_eq!(
            got.as_deref(),
            Some(portcullis_core::jose::x5t_s256(b"der").as_str())
        );
        assert_eq!(
            thumbprint(&parts(None, "192.0.2.1:1", None), &proxy()).unwrap(),
            None
        );
    }

    #[test]
    fn r103_a_forwarded_certificate_counts_only_from_a_trusted_proxy() {
        let der = der();
        let value = format!(":{}:", STANDARD.encode(&der));
        let got = thumbprint(&parts(Some(&value), "10.1.2.3:1", None), &proxy()).unwrap();
        assert_eq!(
            got.as_deref(),
            Some(portcullis_core::jose::x5t_s256(&der).as_str())
        );
        let refused = thumbprint(&parts(Some(&value), "192.0.2.1:1", Some(b"x")), &proxy());
        assert_eq!(refused, Err(Refusal::oauth(UNTRUSTED, None)));
        for bad in [":bm90IGEgY2VydA==:", "no colons", "::"] {
            assert_eq!(
                thumbprint(&parts(Some(bad), "10.1.2.3:1", None), &proxy()),
                Err(Refusal::oauth(MALFORMED, None)),
                "{bad}"
            );
        }
    }
}

//! Who is on the other end of a request: address, listener and client certificate.
//!
//! The accept loops attach a [`Peer`] to every request. In direct TLS mode the certificate comes
//! from the TLS handshake only. In proxy mode it comes from the RFC 9440 `Client-Cert` header (or
//! a configured legacy header), and only when the request comes from a configured proxy address;
//! a request from anywhere else that carries such a header is refused (R103, RFC 8705 §6.5).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::jose::x5t_s256;
use portcullis_core::{ErrorCode, OAuthError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::config::{Config, TlsMode};
use crate::error::TokenError;

/// The listener a request arrived on.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Listener {
    /// Requests client certificates.
    Mtls,
    /// Never requests client certificates.
    Public,
}

/// A client certificate presented by the peer, with its thumbprint.
#[derive(Debug)]
pub struct PeerCertificate {
    chain: Vec<CertificateDer<'static>>,
    x5t_s256: String,
}

impl PeerCertificate {
    /// Wraps a chain, end-entity first; `None` for an empty chain.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Option<Self> {
        let x5t_s256 = x5t_s256(chain.first()?);
        Some(Self { chain, x5t_s256 })
    }

    /// The end-entity certificate (DER).
    pub fn end_entity(&self) -> &CertificateDer<'static> {
        // `new` refuses empty chains.
        &self.chain[0]
    }

    /// Intermediates sent with the end-entity certificate.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.chain[1..]
    }

    /// `x5t#S256` of the end-entity certificate (RFC 8705 §3.1).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }
}

/// The peer of a request, as request extension.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Socket address of the TCP peer (a proxy, in proxy mode).
    pub remote: SocketAddr,
    /// The client's address: `remote`'s, or behind a trusted proxy the forwarded one
    /// (`ratelimit::address`). Sign-in throttling, rate limits and the audit trail use it.
    pub address: IpAddr,
    /// The listener the request came through.
    pub listener: Listener,
    /// The client certificate, if one was presented.
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// Header settings for the middleware, resolved from [`Config`] once.
#[derive(Clone, Debug)]
pub struct CertHeaders {
    mode: TlsMode,
    trusted: Vec<ipnet::IpNet>,
    client_cert: HeaderName,
    client_cert_chain: HeaderName,
    legacy: Option<HeaderName>,
}

impl CertHeaders {
    /// Resolves the configured header names (validated at start).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let name = |s: &str| {
            HeaderName::from_bytes(s.to_ascii_lowercase().as_bytes())
                .map_err(|_| anyhow::anyhow!("invalid header name {s:?}"))
        };
        Ok(Self {
            mode: config.tls.mode,
            trusted: config.proxy.trusted.clone(),
            client_cert: name(&config.proxy.client_cert_header)?,
            client_cert_chain: name(&format!("{}-chain", config.proxy.client_cert_header))?,
            legacy: config
                .proxy
                .legacy_client_cert_header
                .as_deref()
                .map(name)
                .transpose()?,
        })
    }

    fn carries_certificate(&self, headers: &HeaderMap) -> bool {
        headers.contains_key(&self.client_cert)
            || headers.contains_key(&self.client_cert_chain)
            || self
                .legacy
                .as_ref()
                .is_some_and(|h| headers.contains_key(h))
    }

    fn trusts(&self, peer: &Peer) -> bool {
        self.mode == TlsMode::Proxy
            && self
                .trusted
                .iter()
                .any(|net| net.contains(&peer.remote.ip()))
    }

    /// Parses the forwarded certificate: RFC 9440 first, then the legacy header.
    pub(crate) fn parse(&self, headers: &HeaderMap) -> Result<Option<PeerCertificate>, ()> {
        if let Some(value) = single(headers, &self.client_cert)? {
            let mut chain = vec![sf_binary(value)?];
            if let Some(rest) = single(headers, &self.client_cert_chain)? {
                for item in rest.split(',') {
                    chain.push(sf_binary(item.trim())?);
                }
            }
            return Ok(PeerCertificate::new(chain));
        }
        if let Some(legacy) = &self.legacy
            && let Some(value) = single(headers, legacy)?
        {
            let pem = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| ())?;
            let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| ())?;
            x509_parser::parse_x509_certificate(&der).map_err(|_| ())?;
            return Ok(PeerCertificate::new(vec![der]));
        }
        Ok(None)
    }
}

/// The value of a header that must appear at most once.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    first.to_str().map(Some).map_err(|_| ())
}

/// An RFC 8941 byte sequence `:base64:` holding a DER certificate.
fn sf_binary(item: &str) -> Result<CertificateDer<'static>, ()> {
    let b64 = item
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .ok_or(())?;
    let der = STANDARD.decode(b64).map_err(|_| ())?;
    x509_parser::parse_x509_certificate(&der).map_err(|_| ())?;
    Ok(CertificateDer::from(der))
}

/// Middleware ([`crate::around`]): accepts forwarded client certificates from trusted proxies
/// only.
#[derive(Clone)]
pub struct ForwardedCertificate(pub Arc<CertHeaders>);

impl crate::around::Around for ForwardedCertificate {
    type Guard = ();

    fn before(&self, request: &mut Request) -> Result<(), Response> {
        let headers = &self.0;
        if !headers.carries_certificate(request.headers()) {
            return Ok(());
        }
        let Some(peer) = request.extensions().get::<Peer>().cloned() else {
            return Err(crate::error::server_error());
        };
        if !headers.trusts(&peer) {
            tracing::warn!(remote = %peer.remote.ip(), "client certificate header from an untrusted address refused");
            return Err(refuse(
                "client certificate header not accepted from this address",
            ));
        }
        match headers.parse(request.headers()) {
            Ok(certificate) => {
                let peer = Peer {
                    certificate: certificate.map(Arc::new),
                    ..peer
                };
                request.extensions_mut().insert(peer);
                Ok(())
            }
            Err(()) => Err(refuse("malformed client certificate header")),
        }
    }
}

fn refuse(description: &'static str) -> Response {
    TokenError::from(OAuthError::new(ErrorCode::InvalidRequest, description)).into_response()
}

//! rustls configuration for the two listeners (R177, R178; RFC 8705 §2).
//!
//! - Protocols: TLS 1.3, and TLS 1.2 with ECDHE + AES-GCM suites only (no CBC, no ChaCha20 on
//!   1.2, no RSA key exchange, no DHE), all from the aws-lc-rs provider.
//! - The public listener never sends a CertificateRequest.
//! - The mTLS listener requests a client certificate but does not require one, and accepts any
//!   well-formed certificate, self-signed included. rustls still verifies the handshake
//!   signature, so the client proves it holds the certificate's private key; which certificate a
//!   client may use is decided per client when it authenticates (`clients::auth`, with the
//!   [`TrustAnchors`] of `tls.client_ca_files` for `tls_client_auth`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::config::{Config, read_cert_chain, read_private_key};
use crate::transport::peer::PeerCertificate;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CipherSuite, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

/// TLS 1.2 suites allowed by FAPI2-SP §5.2.2-1 / BCP 195 for non-browser endpoints.
const TLS12_SUITES: [CipherSuite; 4] = [
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// The aws-lc-rs provider restricted to the allowed suites (R178).
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| match s {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(_) => TLS12_SUITES.contains(&s.suite()),
    });
    Arc::new(provider)
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
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        if config.tls.client_ca_files.is_empty() {
            return Ok(Self(None));
        }
        let mut roots = rustls::RootCertStore::empty();
        for file in &config.tls.client_ca_files {
            for cert in read_cert_chain(file)? {
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| anyhow::anyhow!("tls.client_ca_files: {e}"))?;
        Ok(Self(Some(verifier)))
    }

    /// R100: the chain leads to a configured CA and is valid at `now`.
    pub(crate) fn accept(
        &self,
        certificate: &PeerCertificate,
        now: portcullis_core::Timestamp,
    ) -> bool {
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

/// Which client-certificate behaviour a listener has.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ClientCerts {
    /// Never request one (the public, browser-facing listener).
    Never,
    /// Request one, accept any, require none (the mTLS listener).
    Requested,
}

/// A rustls server configuration for one listener.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_certs: ClientCerts,
) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = read_cert_chain(cert)?;
    let key = read_private_key(key)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?;
    let builder = match client_certs {
        ClientCerts::Never => builder.with_no_client_auth(),
        ClientCerts::Requested => {
            builder.with_client_cert_verifier(Arc::new(AcceptAnyClientCert {
                algs: provider.signature_verification_algorithms,
            }))
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        anyhow!(
            "TLS certificate {} and its key do not work together: {e}",
            cert.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Requests any client certificate and checks only that it parses and that the client holds its
/// private key (the handshake signature). Identity is checked per client later (RFC 8705 §2.1,
/// §2.2).
#[derive(Debug)]
struct AcceptAnyClientCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No CA hint: the client may send any certificate, self-signed included.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r178_tls12_suites_are_ecdhe_aes_gcm_only() {
        let p = provider();
        let tls12: Vec<CipherSuite> = p
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect();
        assert!(!tls12.is_empty());
        for suite in &tls12 {
            assert!(TLS12_SUITES.contains(suite), "{suite:?}");
        }
        assert!(
            p.cipher_suites
                .iter()
                .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        );
    }
}

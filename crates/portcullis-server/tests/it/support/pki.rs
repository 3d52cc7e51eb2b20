//! Client certificates made on the spot with rcgen.

use portcullis_core::jose::x5t_s256;
use rcgen::{CertificateParams, DnType, KeyPair};

/// A self-signed client certificate with its key.
pub(crate) struct ClientCert {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) der: Vec<u8>,
}

impl ClientCert {
    /// A fresh self-signed P-256 certificate with subject `CN=<cn>`.
    pub(crate) fn self_signed(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Its `x5t#S256` thumbprint, computed independently of the server's code path.
    pub(crate) fn x5t_s256(&self) -> String {
        x5t_s256(&self.der)
    }

    /// A reqwest identity presenting this certificate.
    pub(crate) fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .unwrap()
    }
}

/// A certificate authority for `tls_client_auth` tests.
pub(crate) struct TestCa {
    pub(crate) pem: String,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl TestCa {
    pub(crate) fn new(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A client certificate with subject `CN=<cn>,O=<o>` and a dNSName SAN.
    pub(crate) fn issue(&self, cn: &str, o: &str, dns: &str) -> ClientCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![dns.to_owned()]).unwrap();
        // Conventional order, most significant first: O, then CN (RFC 4514 string "CN=..,O=..").
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, o);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub(crate) fn server(&self) -> ClientCert {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

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

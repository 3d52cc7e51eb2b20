//! The files configuration names, read and checked: PEM certificates and private keys, and the
//! JWK Sets of the directories trusted to sign software statements.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use portcullis_core::jose::{self, Alg};
use portcullis_core::registration::Directory;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::Registration;

/// Reads a PEM certificate chain, failing with the file name when it is missing or empty.
pub fn read_cert_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow!("certificate file {} cannot be read: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("certificate file {} is not valid PEM: {e}", path.display()))?;
    if chain.is_empty() {
        bail!("certificate file {} holds no certificate", path.display());
    }
    for cert in &chain {
        x509_parser::parse_x509_certificate(cert).map_err(|_| {
            anyhow!(
                "certificate file {} holds an unreadable certificate",
                path.display()
            )
        })?;
    }
    Ok(chain)
}

/// Reads a PEM private key.
pub fn read_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| anyhow!("private key file {} cannot be read: {e}", path.display()))
}

/// Reads the configured directories' JWK Sets: readable JSON, at least one key, public keys of
/// an allowed type and strength only, unique issuers.
pub fn directories(config: &Registration) -> anyhow::Result<Vec<Directory>> {
    let mut issuers = BTreeSet::new();
    let mut out = Vec::with_capacity(config.software_statement_issuers.len());
    for entry in &config.software_statement_issuers {
        if entry.issuer.is_empty() {
            bail!("registration.software_statement_issuers: an issuer is empty");
        }
        if !issuers.insert(entry.issuer.as_str()) {
            bail!(
                "registration.software_statement_issuers: issuer {:?} is listed twice",
                entry.issuer
            );
        }
        let file = entry.jwks_file.display();
        let text = std::fs::read_to_string(&entry.jwks_file)
            .with_context(|| format!("software statement keys {file} cannot be read"))?;
        let jwks: Value = serde_json::from_str(&text)
            .with_context(|| format!("software statement keys {file} are not JSON"))?;
        let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
            bail!("software statement keys {file}: not a JWK Set (no keys array)");
        };
        if keys.is_empty() {
            bail!("software statement keys {file}: the JWK Set holds no key");
        }
        let mut public = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(key) = key.as_object() else {
                bail!("software statement keys {file}: a key is not a JSON object");
            };
            if jose::is_private_jwk(key) {
                bail!(
                    "software statement keys {file}: holds a private key; publish public keys only"
                );
            }
            if !jose::is_strong_public_jwk(key) {
                bail!(
                    "software statement keys {file}: keys must be RSA of 2048 bits or more, EC P-256 or Ed25519"
                );
            }
            if let Some(alg) = key.get("alg").and_then(Value::as_str)
                && Alg::parse(alg).is_none()
            {
                bail!(
                    "software statement keys {file}: key alg {alg:?} is not PS256, ES256 or EdDSA"
                );
            }
            public.push(key.clone());
        }
        out.push(Directory {
            issuer: entry.issuer.clone(),
            keys: public,
        });
    }
    Ok(out)
}

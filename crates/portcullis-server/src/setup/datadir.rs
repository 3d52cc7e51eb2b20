//! First-run files under `data_dir`: the key-encryption key and the development PKI.
//!
//! With no configuration at all, `portcullis serve` creates what it needs here and announces each
//! file in one log line. Production deployments set `tls.cert_file`/`tls.key_file` and
//! `keys.kek` (or `keys.kek_file`), and nothing is created.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

use crate::config::{Config, TlsMode};
use crate::secret::Kek;

/// Where the server's TLS certificate and key are read from.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// The development CA that issued `cert`, when Portcullis made it.
    pub dev_ca: Option<PathBuf>,
}

/// The first-run material, found or created.
#[derive(Debug)]
pub struct Prepared {
    /// The key-encryption key.
    pub kek: Kek,
    /// TLS files (direct TLS mode only).
    pub tls: Option<TlsFiles>,
}

/// Finds or creates the KEK, the development PKI and the SQLite directory, as configured.
pub fn prepare(config: &Config, now: i64) -> anyhow::Result<Prepared> {
    ensure_sqlite_dir(config)?;
    let kek = load_kek(config)?;
    let tls = match config.tls.mode {
        TlsMode::Proxy => None,
        TlsMode::Direct => Some(match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                dev_ca: None,
            },
            _ => dev_pki(config, &config.data_dir, now)?,
        }),
    };
    Ok(Prepared { kek, tls })
}

/// Creates the directory of an SQLite database file, so that the store can create the file.
pub fn ensure_sqlite_dir(config: &Config) -> anyhow::Result<()> {
    let url = config.database_url();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = Path::new(path.split('?').next().unwrap_or(path));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if !path.exists() && path.as_os_str() != ":memory:" {
            tracing::info!(path = %path.display(), "creating SQLite database");
        }
    }
    Ok(())
}

/// What `config check` can verify without creating anything: the key-encryption key (when one
/// is configured or already exists) and that the configured TLS certificate and key belong
/// together.
pub fn check(config: &Config) -> anyhow::Result<()> {
    let default_kek = config.data_dir.join("kek.key");
    if config.keys.kek.is_some() || config.keys.kek_file.is_some() || default_kek.exists() {
        load_kek(config)?;
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        crate::transport::tls::server_config(cert, key, crate::transport::tls::ClientCerts::Never)?;
    }
    Ok(())
}

fn load_kek(config: &Config) -> anyhow::Result<Kek> {
    if let Some(kek) = &config.keys.kek {
        return Kek::from_base64(kek).context("keys.kek");
    }
    if let Some(path) = &config.keys.kek_file {
        let text = fs::read_to_string(path)
            .with_context(|| format!("keys.kek_file {} cannot be read", path.display()))?;
        return Kek::from_base64(&text)
            .with_context(|| format!("keys.kek_file {}", path.display()));
    }
    let path = config.data_dir.join("kek.key");
    if !path.exists() {
        write_secret(&path, &Kek::generate_base64()?)?;
        tracing::info!(path = %path.display(), "created key-encryption key");
    }
    let text =
        fs::read_to_string(&path).with_context(|| format!("{} cannot be read", path.display()))?;
    Kek::from_base64(&text).with_context(|| path.display().to_string())
}

/// Writes a file only the owner can read, refusing to overwrite.
fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn write_public(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// The development CA and a server certificate for localhost and the configured hosts.
fn dev_pki(config: &Config, dir: &Path, now: i64) -> anyhow::Result<TlsFiles> {
    let ca_cert = dir.join("dev-ca.pem");
    let ca_key = dir.join("dev-ca-key.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server-key.pem");
    let now = OffsetDateTime::from_unix_timestamp(now).map_err(|e| anyhow!("clock: {e}"))?;
    let rcgen = |e: rcgen::Error| anyhow!("development PKI: {e}");

    if !ca_cert.exists() || !ca_key.exists() {
        let key_pair = KeyPair::generate().map_err(rcgen)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let ca = params.self_signed(&key_pair).map_err(rcgen)?;
        let _ = fs::remove_file(&ca_key);
        write_secret(&ca_key, &key_pair.serialize_pem())?;
        write_public(&ca_cert, &ca.pem())?;
        let _ = fs::remove_file(&cert);
        tracing::info!(path = %ca_cert.display(), "created development CA (trust it to call the server)");
    }
    if !cert.exists() || !key.exists() {
        let ca_key_pair = KeyPair::from_pem(&fs::read_to_string(&ca_key)?).map_err(rcgen)?;
        let issuer =
            Issuer::from_ca_cert_pem(&fs::read_to_string(&ca_cert)?, ca_key_pair).map_err(rcgen)?;
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        for base in [config.issuer.clone(), config.mtls_base_url()] {
            if let Some(host) = url::Url::parse(&base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
            {
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                if !names.contains(&host) {
                    names.push(host);
                }
            }
        }
        let key_pair = KeyPair::generate().map_err(rcgen)?;
        let mut params = CertificateParams::new(names).map_err(rcgen)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis development server");
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(397);
        let server = params.signed_by(&key_pair, &issuer).map_err(rcgen)?;
        let _ = fs::remove_file(&key);
        write_secret(&key, &key_pair.serialize_pem())?;
        write_public(&cert, &server.pem())?;
        tracing::info!(path = %cert.display(), "created development server certificate");
    }
    Ok(TlsFiles {
        cert,
        key,
        dev_ca: Some(ca_cert),
    })
}

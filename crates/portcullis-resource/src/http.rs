//! Requests to the authorization server: discovery, the JWK Set, introspection and reports.
//!
//! One HTTPS client with the configured trust anchors, a timeout, and the API's client
//! certificate for the mTLS listener; answers are read up to a size limit. Client
//! authentication is `private_key_jwt` (RFC 7523): a fresh assertion per request, signed with
//! the API's registered key, its claims made by `portcullis-core`.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::Timestamp;
use portcullis_core::client_auth::{ASSERTION_TYPE, assertion_claims};
use portcullis_core::jose::PrivateKey;
use serde_json::Value;

use crate::ConnectError;
use crate::settings::{ClientCredentials, Settings};

/// The largest answer read from the authorization server.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// An answer: status, content type and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

/// Why a request to the authorization server failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("answer larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("status {0}")]
    Status(u16),
    #[error("answer is not a JSON object")]
    NotJson,
}

/// The HTTPS client to the authorization server.
#[derive(Debug)]
pub(crate) struct AsClient {
    http: reqwest::Client,
}

impl AsClient {
    /// Builds the client: the configured CAs (or the system's), the API's certificate if it
    /// has client credentials.
    pub(crate) fn new(settings: &Settings) -> Result<Self, ConnectError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.http_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(settings.http_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none());
        if !settings.ca_files.is_empty() {
            let mut roots = Vec::new();
            for file in &settings.ca_files {
                let pem = read(file)?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| ConnectError::new(format!("ca_files {}: {e}", file.display())))?;
                roots.extend(certs);
            }
            builder = builder.tls_certs_only(roots);
        }
        if let Some(client) = &settings.client {
            let mut pem = read(&client.certificate_file)?;
            pem.push(b'\n');
            pem.extend(read(&client.certificate_key_file)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ConnectError::new(format!(
                    "client.certificate_file / certificate_key_file: {e}"
                ))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| ConnectError::new(format!("HTTPS client: {e}")))?;
        Ok(Self { http })
    }

    /// GETs `url` and parses a JSON object.
    pub(crate) async fn get_json(&self, url: &str) -> Result<Value, FetchError> {
        let answer = read_answer(self.http.get(url).send().await?).await?;
        if answer.status != 200 {
            return Err(FetchError::Status(answer.status));
        }
        match serde_json::from_slice(&answer.body) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            _ => Err(FetchError::NotJson),
        }
    }

    /// POSTs a form to `url`, asking for `accept`.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        accept: &str,
    ) -> Result<Answer, FetchError> {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, accept)
            .form(form)
            .send()
            .await?;
        read_answer(response).await
    }
}

/// Reads an answer whole, refusing one larger than [`MAX_BODY_BYTES`].
async fn read_answer(mut response: reqwest::Response) -> Result<Answer, FetchError> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// The API's identity at the authorization server: its `client_id` and assertion key.
#[derive(Debug)]
pub(crate) struct ClientAuth {
    pub(crate) client_id: String,
    key: PrivateKey,
    issuer: String,
}

impl ClientAuth {
    /// Loads the assertion key of `credentials`.
    pub(crate) fn load(
        credentials: &ClientCredentials,
        issuer: &str,
    ) -> Result<Self, ConnectError> {
        let json = read(&credentials.key_file)?;
        let key = PrivateKey::from_json(&json).map_err(|e| {
            ConnectError::new(format!(
                "client.key_file {}: {e}",
                credentials.key_file.display()
            ))
        })?;
        Ok(Self {
            client_id: credentials.client_id.clone(),
            key,
            issuer: issuer.to_owned(),
        })
    }

    /// The form parameters authenticating one request at `now` (RFC 7521 §4.2): a fresh
    /// assertion whose `aud` is the issuer, also at the mTLS aliases (R122).
    pub(crate) fn form(&self, now: Timestamp) -> Result<[(&'static str, String); 2], String> {
        let jti = random_b64url(18)?;
        let claims = assertion_claims(&self.client_id, &self.issuer, &jti, now);
        let assertion = self
            .key
            .sign("JWT", claims)
            .map_err(|e| format!("signing the client assertion: {e}"))?;
        Ok([
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion),
        ])
    }
}

/// `bytes` random bytes from the system's generator, base64url without padding.
pub(crate) fn random_b64url(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the system random generator failed".to_owned())?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Reads a configured file.
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|e| ConnectError::new(format!("{}: {e}", path.display())))
}

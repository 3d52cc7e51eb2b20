//! The clients the benchmark registers, their keys and certificate, and the requests they send:
//! every request carries its own client assertion (and DPoP proof), signed before the timed
//! window.

use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use portcullis_core::client_auth::ASSERTION_TYPE;
use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_server::setup::clock::{Clock as _, SystemClock};
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Map, Value, json};

use crate::driver::{Expect, Job};
use crate::server::Server;

/// Lifetime of the pre-generated client assertions, seconds.
const ASSERTION_LIFETIME_SECS: i64 = 120;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The benchmark scenarios, in the order they run.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Scenario {
    /// `GET /healthz` on the mTLS listener: the transport ceiling (TLS, HTTP, load generator).
    Healthz,
    /// client_credentials, private_key_jwt, certificate-bound token.
    CcPkjwtMtls,
    /// client_credentials, self_signed_tls_client_auth, certificate-bound token.
    CcSelfsignedMtls,
    /// client_credentials, private_key_jwt, DPoP-bound token (a fresh proof per request).
    CcPkjwtDpop,
    /// A resource server (private_key_jwt) introspects an active token.
    Introspect,
    /// The owning client (private_key_jwt) revokes a fresh token.
    Revoke,
}

impl Scenario {
    pub(crate) const ALL: [Self; 6] = [
        Self::Healthz,
        Self::CcPkjwtMtls,
        Self::CcSelfsignedMtls,
        Self::CcPkjwtDpop,
        Self::Introspect,
        Self::Revoke,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Healthz => "healthz",
            Self::CcPkjwtMtls => "cc-pkjwt-mtls",
            Self::CcSelfsignedMtls => "cc-selfsigned-mtls",
            Self::CcPkjwtDpop => "cc-pkjwt-dpop",
            Self::Introspect => "introspect",
            Self::Revoke => "revoke",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What a good response contains: the right token type, or an active token.
    pub(crate) fn expect(self) -> Expect {
        let needle: Option<&'static [u8]> = match self {
            Self::Healthz | Self::Revoke => None,
            Self::CcPkjwtMtls | Self::CcSelfsignedMtls => Some(br#""token_type":"Bearer""#),
            Self::CcPkjwtDpop => Some(br#""token_type":"DPoP""#),
            Self::Introspect => Some(br#""active":true"#),
        };
        Expect { needle }
    }

    /// Whether each request needs an access token from a pool (and whether it uses it up).
    pub(crate) fn tokens(self) -> Tokens {
        match self {
            Self::Introspect => Tokens::Reused,
            Self::Revoke => Tokens::Consumed,
            _ => Tokens::None,
        }
    }
}

/// How a scenario uses pre-issued access tokens.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Tokens {
    None,
    /// Each request names a token of a fixed pool, round robin.
    Reused,
    /// Each request names a token nobody used before.
    Consumed,
}

/// A client that signs its own assertions.
pub(crate) struct JwtClient {
    pub(crate) id: String,
    key: PrivateKey,
}

impl JwtClient {
    pub(crate) fn new(id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            id: id.to_owned(),
            key: PrivateKey::generate(Alg::Es256, &format!("{id}-key"))?,
        })
    }

    pub(crate) fn metadata(&self, extra: &Value) -> anyhow::Result<Value> {
        let mut metadata = json!({
            "client_id": self.id,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [self.key.public_jwk()?] },
            "grant_types": ["client_credentials"],
            "scope": "a b",
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            metadata[k] = v.clone();
        }
        Ok(metadata)
    }

    /// A fresh assertion: unique `jti`, `exp` two minutes ahead.
    pub(crate) fn assertion(&self, issuer: &str, now: i64) -> anyhow::Result<String> {
        let claims = object(json!({
            "iss": self.id, "sub": self.id, "aud": issuer,
            "jti": unique("jti"), "iat": now, "exp": now + ASSERTION_LIFETIME_SECS,
        }))?;
        Ok(self.key.sign("JWT", claims)?)
    }
}

/// The TLS client certificate every connection presents (self-signed, P-256).
pub(crate) struct ClientCert {
    pub(crate) der: CertificateDer<'static>,
    key: KeyPair,
}

impl ClientCert {
    pub(crate) fn generate() -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["bench-client.example".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "portcullis-bench");
        let cert = params.self_signed(&key)?;
        Ok(Self {
            der: cert.der().clone(),
            key,
        })
    }

    pub(crate) fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }

    /// The certificate's public key as a JWK carrying the certificate in `x5c`.
    fn x5c_jwk(&self) -> anyhow::Result<Value> {
        // An uncompressed P-256 point: 0x04, x, y.
        let point = self.key.public_key_raw();
        if point.len() != 65 || point[0] != 4 {
            return Err(anyhow!(
                "the certificate key is not an uncompressed P-256 point"
            ));
        }
        Ok(json!({
            "kty": "EC", "crv": "P-256", "kid": "bench-x5c", "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            "x5c": [STANDARD.encode(&self.der)],
        }))
    }
}

/// Everything the benchmark registered, and how to build its requests.
pub(crate) struct Fixture {
    pub(crate) cert: ClientCert,
    mtls_client: JwtClient,
    dpop_client: JwtClient,
    dpop_key: PrivateKey,
    resource_server: JwtClient,
    selfsigned_id: String,
    issuer: String,
    token_url: String,
}

impl Fixture {
    /// Makes the keys and certificate and registers the clients with the CLI.
    pub(crate) async fn register(server: &Server) -> anyhow::Result<Self> {
        let cert = ClientCert::generate()?;
        let mtls_client = JwtClient::new("bench-pkjwt-mtls")?;
        let dpop_client = JwtClient::new("bench-pkjwt-dpop")?;
        let resource_server = JwtClient::new("bench-resource-server")?;
        let selfsigned_id = "bench-selfsigned".to_owned();
        server
            .register(
                &mtls_client
                    .metadata(&json!({"tls_client_certificate_bound_access_tokens": true}))?,
            )
            .await?;
        server
            .register(&dpop_client.metadata(&json!({"dpop_bound_access_tokens": true}))?)
            .await?;
        server
            .register(&resource_server.metadata(&json!({"resource_server": true}))?)
            .await?;
        server
            .register(&json!({
                "client_id": selfsigned_id,
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "jwks": { "keys": [cert.x5c_jwk()?] },
                "grant_types": ["client_credentials"],
                "scope": "a b",
                "tls_client_certificate_bound_access_tokens": true,
            }))
            .await?;
        Ok(Self {
            cert,
            mtls_client,
            dpop_client,
            dpop_key: PrivateKey::generate(Alg::Es256, "bench-dpop")?,
            resource_server,
            selfsigned_id,
            issuer: server.issuer.clone(),
            token_url: format!("https://localhost:{}/token", server.mtls.port()),
        })
    }

    /// `count` requests of `scenario`; `tokens` supplies the access tokens it names (round
    /// robin). Signing runs on every core; it happens before the timed window.
    pub(crate) fn jobs(
        &self,
        scenario: Scenario,
        count: usize,
        tokens: &[String],
    ) -> anyhow::Result<Vec<Job>> {
        if scenario.tokens() != Tokens::None && tokens.is_empty() {
            return Err(anyhow!("{} needs access tokens", scenario.name()));
        }
        let now = SystemClock.now().unix();
        let threads = std::thread::available_parallelism().map_or(1, NonZero::get);
        let chunk = count.div_ceil(threads).max(1);
        tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..count)
                    .step_by(chunk)
                    .map(|start| {
                        scope.spawn(move || {
                            (start..(start + chunk).min(count))
                                .map(|i| {
                                    self.job(scenario, now, tokens.get(i % tokens.len().max(1)))
                                })
                                .collect::<anyhow::Result<Vec<_>>>()
                        })
                    })
                    .collect();
                let mut jobs = Vec::with_capacity(count);
                for handle in handles {
                    let part = handle
                        .join()
                        .map_err(|_| anyhow!("a signing thread panicked"))??;
                    jobs.extend(part);
                }
                Ok(jobs)
            })
        })
    }

    fn job(&self, scenario: Scenario, now: i64, token: Option<&String>) -> anyhow::Result<Job> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let mut dpop = None;
        let path = match scenario {
            Scenario::Healthz => {
                return Ok(Job {
                    method: Method::GET,
                    path: "/healthz",
                    body: Bytes::new(),
                    dpop: None,
                });
            }
            Scenario::CcPkjwtMtls => {
                client_credentials(&mut form);
                authenticate(&mut form, &self.mtls_client, &self.issuer, now)?;
                "/token"
            }
            Scenario::CcSelfsignedMtls => {
                client_credentials(&mut form);
                form.append_pair("client_id", &self.selfsigned_id);
                "/token"
            }
            Scenario::CcPkjwtDpop => {
                client_credentials(&mut form);
                authenticate(&mut form, &self.dpop_client, &self.issuer, now)?;
                let claims = object(json!({
                    "jti": unique("dpop"), "htm": "POST", "htu": self.token_url, "iat": now,
                }))?;
                let proof = self.dpop_key.sign_with_jwk("dpop+jwt", claims)?;
                dpop = Some(HeaderValue::from_str(&proof)?);
                "/token"
            }
            Scenario::Introspect => {
                form.append_pair("token", token.context("no token")?);
                authenticate(&mut form, &self.resource_server, &self.issuer, now)?;
                "/introspect"
            }
            Scenario::Revoke => {
                form.append_pair("token", token.context("no token")?);
                form.append_pair("token_type_hint", "access_token");
                authenticate(&mut form, &self.mtls_client, &self.issuer, now)?;
                "/revoke"
            }
        };
        Ok(Job {
            method: Method::POST,
            path,
            body: Bytes::from(form.finish()),
            dpop,
        })
    }
}

fn client_credentials(form: &mut url::form_urlencoded::Serializer<'_, String>) {
    form.append_pair("grant_type", "client_credentials");
    form.append_pair("scope", "a b");
}

fn authenticate(
    form: &mut url::form_urlencoded::Serializer<'_, String>,
    client: &JwtClient,
    issuer: &str,
    now: i64,
) -> anyhow::Result<()> {
    form.append_pair("client_assertion_type", ASSERTION_TYPE);
    form.append_pair("client_assertion", &client.assertion(issuer, now)?);
    Ok(())
}

/// A value unique in this process and across benchmark runs.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn object(value: Value) -> anyhow::Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(anyhow!("claims are not an object")),
    }
}

//! The benchmark's fixture: Portcullis in this process, its clients, their certificates and
//! tokens, and a DPoP key that signs proofs quickly.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use portcullis_core::client::ClientMetadata;
use portcullis_core::client_auth::{ASSERTION_TYPE, assertion_claims};
use portcullis_core::jose::{Alg, PrivateKey, sha256_b64url};
use portcullis_server::Listeners;
use portcullis_server::config::Config;
use portcullis_server::setup::clock::{Clock as _, SystemClock};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::{RESOURCE, SCOPE};

/// A client certificate and its key, PEM.
pub(crate) struct Cert {
    pub(crate) pem: String,
    pub(crate) key_pem: String,
    pub(crate) der: Vec<u8>,
}

impl Cert {
    pub(crate) fn new(cn: &str) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        })
    }

    pub(crate) fn identity(&self) -> anyhow::Result<reqwest::Identity> {
        Ok(reqwest::Identity::from_pem(
            format!("{}{}", self.pem, self.key_pem).as_bytes(),
        )?)
    }
}

/// A DPoP key that signs proofs with aws-lc directly (tens of µs each), so the proofs of a round
/// are signed just before it, fresh (a proof is accepted for 5 minutes).
pub(crate) struct ProofSigner {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    header: String,
}

impl ProofSigner {
    pub(crate) fn new() -> anyhow::Result<Self> {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        use base64::Engine as _;
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| anyhow!("P-256 key generation failed"))?;
        let point = key.public_key().as_ref().to_vec();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        Ok(Self {
            key,
            header: b64(header.to_string().as_bytes()),
        })
    }

    /// A proof for `method` `url`, now, with a fresh `jti` and `ath` if a token is given.
    pub(crate) fn sign(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
    ) -> anyhow::Result<String> {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut claims =
            json!({"jti": random(), "htm": method, "htu": url, "iat": SystemClock.now().unix()});
        if let Some(token) = token {
            claims["ath"] = json!(sha256_b64url(token.as_bytes()));
        }
        let input = format!("{}.{}", self.header, b64(claims.to_string().as_bytes()));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, input.as_bytes())
            .map_err(|_| anyhow!("signing a proof failed"))?;
        Ok(format!("{input}.{}", b64(signature.as_ref())))
    }
}

/// The authorization server in this process and what the benchmark registered there.
pub(crate) struct Fixture {
    pub(crate) running: portcullis_server::Running,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) issuer: String,
    pub(crate) mtls_base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cert: Cert,
}

impl Fixture {
    pub(crate) async fn start(token_alg: &str) -> anyhow::Result<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir()?;
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.log.level = "error".into();
        config.database_url = Some(format!("sqlite://{}/portcullis.db", dir.path().display()));
        config.tokens.audience = Some(RESOURCE.to_owned());
        config.tokens.signing_alg = token_alg.to_owned();
        // Long enough for the whole run.
        config.tokens.access_token_lifetime_secs = 3_600;
        let public = TcpListener::bind("127.0.0.1:0").await?;
        let mtls = TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("https://localhost:{}", public.local_addr()?.port());
        let mtls_base = format!("https://localhost:{}", mtls.local_addr()?.port());
        config.issuer = issuer.clone();
        config.mtls_base_url = Some(mtls_base.clone());
        config.listen.public = public.local_addr()?;
        config.listen.mtls = mtls.local_addr()?;
        let running = portcullis_server::start_on(
            config,
            Arc::new(SystemClock),
            |router| router,
            Listeners { public, mtls },
        )
        .await?;
        let ca = std::fs::read(dir.path().join("dev-ca.pem"))?;
        let cert = Cert::new("bench-caller")?;
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca)?])
            .identity(cert.identity()?)
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            running,
            dir,
            issuer,
            mtls_base,
            http,
            cert,
        })
    }

    /// Registers a `private_key_jwt` client with `extra` metadata; returns its id and key.
    pub(crate) async fn register(&self, id: &str, extra: Value) -> anyhow::Result<PrivateKey> {
        let key = PrivateKey::generate(Alg::Es256, &format!("{id}-key"))?;
        let mut metadata = json!({
            "client_id": id,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [key.public_jwk()?] },
            "grant_types": ["client_credentials"],
            "scope": SCOPE,
        });
        for (k, v) in extra.as_object().context("extra metadata")? {
            metadata[k] = v.clone();
        }
        let metadata: ClientMetadata = serde_json::from_value(metadata)?;
        let state = &self.running.state;
        portcullis_server::clients::registry::register(
            state.store.as_ref(),
            &state.config,
            metadata,
            SystemClock.now(),
        )
        .await?;
        Ok(key)
    }

    /// A `client_credentials` token over the mTLS listener (certificate-bound), or with a
    /// DPoP proof of `dpop` (DPoP-bound).
    pub(crate) async fn token(
        &self,
        id: &str,
        key: &PrivateKey,
        dpop: Option<&ProofSigner>,
    ) -> anyhow::Result<String> {
        let now = SystemClock.now();
        let assertion = key.sign("JWT", assertion_claims(id, &self.issuer, &random(), now))?;
        let url = format!(
            "{}/token",
            if dpop.is_some() {
                &self.issuer
            } else {
                &self.mtls_base
            }
        );
        let mut request = self.http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ]);
        if let Some(dpop) = dpop {
            request = request.header("DPoP", dpop.sign("POST", &url, None)?);
        }
        let body: Value = request.send().await?.json().await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token: {body}"))
    }
}

/// 128 random bits, base64url.
pub(crate) fn random() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    sha256_b64url(&bytes)
}

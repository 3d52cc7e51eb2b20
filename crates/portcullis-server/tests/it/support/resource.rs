//! The example accounts API (`examples/accounts`) beside a running Portcullis, protected by
//! `portcullis-resource`, and the clients that call it: DPoP-bound and certificate-bound.
//!
//! The API registers itself at Portcullis as a `resource_server` client with `private_key_jwt`
//! and a TLS client certificate (for introspection and reports), trusts Portcullis's development
//! CA, serves its own TLS certificate from a test CA, and reads the time from the server's
//! clock, so that a test moves both together. Its reports go to Portcullis's
//! `POST /resource-events`, which stores them as security events ([`wait_for_reports`]).

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::jose::sha256_b64url;
use portcullis_resource::settings::ClientCredentials;
use portcullis_resource::{Settings, StatsSnapshot};
use portcullis_server::setup::clock::{Clock as _, FixedClock};
use portcullis_store::security::{EventFilter, SecurityEventRecord};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;

use super::client::{DpopKey, JwtClient};
use super::http::Answer;
use super::pki::{ClientCert, TestCa};
use super::server::TestServer;

/// The accounts API's resource identifier: the `aud` Portcullis puts in its tokens.
pub(crate) const RESOURCE: &str = "https://accounts.example";

/// A Portcullis issuing tokens for [`RESOURCE`], as JWTs (`jwt`) or opaque (`opaque`).
pub(crate) async fn authorization_server(format: &'static str) -> TestServer {
    TestServer::builder()
        .configure(move |c| {
            c.tokens.audience = Some(RESOURCE.to_owned());
            c.tokens.access_token_format = format.to_owned();
        })
        .start()
        .await
}

/// The API's clock: the authorization server's.
#[derive(Debug)]
struct ServerClock(Arc<FixedClock>);

impl portcullis_resource::Clock for ServerClock {
    fn now(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.0.now().unix()).unwrap())
    }
}

/// A running accounts API.
pub(crate) struct Api {
    running: Option<accounts_example::Running>,
    pub(crate) base_url: String,
    /// The API's own registration at Portcullis.
    pub(crate) registration: JwtClient,
    ca_pem: String,
    _dir: TempDir,
}

/// The API's own registration at Portcullis and the certificate it presents there.
pub(crate) struct ApiIdentity {
    pub(crate) registration: JwtClient,
    pub(crate) certificate: ClientCert,
}

impl ApiIdentity {
    /// Registers the API as a `resource_server` client with `private_key_jwt`.
    pub(crate) async fn register(server: &TestServer) -> Self {
        Self {
            registration: JwtClient::register(server, json!({"resource_server": true})).await,
            certificate: ClientCert::self_signed("accounts-api"),
        }
    }
}

impl Api {
    /// Starts the API against `server` with default settings changed by `configure`.
    pub(crate) async fn start(server: &TestServer, configure: impl FnOnce(&mut Settings)) -> Self {
        let identity = ApiIdentity::register(server).await;
        Self::start_as(server, identity, configure).await
    }

    /// Starts the API with reports going to the authorization server's `resource-events`
    /// endpoint, found in its metadata (sent every 50 ms).
    pub(crate) async fn reporting(
        server: &TestServer,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::start(server, move |s| {
            s.reporting.enabled = true;
            s.reporting.flush_millis = 50;
            configure(s);
        })
        .await
    }

    /// Starts the API as `identity`.
    pub(crate) async fn start_as(
        server: &TestServer,
        identity: ApiIdentity,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let ApiIdentity {
            registration,
            certificate,
        } = identity;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        };
        let credentials = ClientCredentials {
            client_id: registration.id.clone(),
            key_file: file("key.json", &registration.key.to_json()),
            certificate_file: file("cert.pem", certificate.cert_pem.as_bytes()),
            certificate_key_file: file("cert-key.pem", certificate.key_pem.as_bytes()),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let mut settings = Settings::new(&server.config.issuer, RESOURCE, &base_url);
        settings.ca_files = vec![server.dir.path().join("dev-ca.pem")];
        settings.client = Some(credentials);
        configure(&mut settings);
        let ca = TestCa::new("accounts API CA");
        let tls = ca.server();
        let clock = Arc::new(ServerClock(Arc::clone(&server.clock)));
        let running = accounts_example::start(
            settings,
            listener,
            tls.cert_pem.as_bytes(),
            tls.key_pem.as_bytes(),
            clock,
        )
        .await
        .unwrap();
        Self {
            running: Some(running),
            base_url,
            registration,
            ca_pem: ca.pem,
            _dir: dir,
        }
    }

    /// The layer's counters.
    pub(crate) fn stats(&self) -> StatsSnapshot {
        self.running.as_ref().unwrap().resource.stats()
    }

    /// `GET path` on the API, not sent yet.
    pub(crate) fn get<'a>(&'a self, server: &'a TestServer, path: &str) -> ApiCall<'a> {
        ApiCall {
            api: self,
            server,
            url: format!("{}{path}", self.base_url),
            identity: None,
            headers: Vec::new(),
        }
    }

    /// `GET path` as `caller` would send it: its token with its proof or over its certificate.
    pub(crate) async fn call(&self, server: &TestServer, caller: &Caller, path: &str) -> Answer {
        self.get(server, path).presented_by(caller).send().await
    }

    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// A request to the API, built up before it is sent.
pub(crate) struct ApiCall<'a> {
    api: &'a Api,
    server: &'a TestServer,
    url: String,
    identity: Option<reqwest::Identity>,
    headers: Vec<(&'static str, String)>,
}

impl ApiCall<'_> {
    /// `Authorization: <scheme> <token>`.
    pub(crate) fn authorization(mut self, scheme: &str, token: &str) -> Self {
        self.headers
            .push(("Authorization", format!("{scheme} {token}")));
        self
    }

    /// A DPoP proof of `key` for this request and `token` (`ath`), with claims changed by
    /// `changes` (`null` removes).
    pub(crate) fn proof_with(mut self, key: &DpopKey, token: &str, changes: Value) -> Self {
        let mut claims = json!({ "ath": sha256_b64url(token.as_bytes()) });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let proof = key.proof_with(self.server, "GET", &self.url, claims);
        self.headers.push(("DPoP", proof));
        self
    }

    /// A valid DPoP proof of `key` for this request and `token`.
    pub(crate) fn proof(self, key: &DpopKey, token: &str) -> Self {
        self.proof_with(key, token, json!({}))
    }

    /// Presents `certificate` in the TLS handshake.
    pub(crate) fn certificate(mut self, certificate: &ClientCert) -> Self {
        self.identity = Some(certificate.identity());
        self
    }

    /// The caller's token with its binding.
    pub(crate) fn presented_by(self, caller: &Caller) -> Self {
        match &caller.binding {
            Binding::Dpop(key) => self
                .authorization("DPoP", &caller.token)
                .proof(key, &caller.token),
            Binding::Certificate(certificate) => self
                .authorization("Bearer", &caller.token)
                .certificate(certificate),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) async fn send(self) -> Answer {
        let ca = reqwest::Certificate::from_pem(self.api.ca_pem.as_bytes()).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(10));
        if let Some(identity) = self.identity {
            builder = builder.identity(identity);
        }
        let mut request = builder.build().unwrap().get(&self.url);
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        Answer::read(request.send().await.unwrap()).await
    }
}

/// How a caller's token is bound.
pub(crate) enum Binding {
    Dpop(DpopKey),
    Certificate(ClientCert),
}

/// A client of the API with a token.
pub(crate) struct Caller {
    pub(crate) client: JwtClient,
    pub(crate) token: String,
    pub(crate) binding: Binding,
}

impl Caller {
    /// A client with `scope` registered and a DPoP-bound token for it.
    pub(crate) async fn dpop(server: &TestServer, scope: &str) -> Self {
        let client = JwtClient::register(server, json!({ "scope": scope })).await;
        let key = DpopKey::new();
        let mut caller = Self {
            client,
            token: String::new(),
            binding: Binding::Dpop(key),
        };
        caller.token = caller.new_token(server, scope).await;
        caller
    }

    /// A client with `scope` registered and a token bound to its TLS certificate.
    pub(crate) async fn mtls(server: &TestServer, scope: &str) -> Self {
        let client = JwtClient::register(server, json!({ "scope": scope })).await;
        let certificate = ClientCert::self_signed("accounts-caller");
        let mut caller = Self {
            client,
            token: String::new(),
            binding: Binding::Certificate(certificate),
        };
        caller.token = caller.new_token(server, scope).await;
        caller
    }

    /// Another token for this client and binding (`client_credentials`).
    pub(crate) async fn new_token(&self, server: &TestServer, scope: &str) -> String {
        let params = [("grant_type", "client_credentials"), ("scope", scope)];
        let body = match &self.binding {
            Binding::Dpop(key) => {
                let answer = server
                    .post("/token")
                    .params(&params)
                    .auth(&self.client)
                    .dpop(key);
                answer.send().await.assert_ok()
            }
            Binding::Certificate(certificate) => {
                let answer = server.post_mtls("/token", Some(certificate.identity()));
                answer
                    .params(&params)
                    .auth(&self.client)
                    .send()
                    .await
                    .assert_ok()
            }
        };
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// The resource-server reports `server` stored as security events, oldest first.
pub(crate) async fn reports(server: &TestServer) -> Vec<SecurityEventRecord> {
    let filter = EventFilter {
        kind: Some("resource_server_report".to_owned()),
        ..EventFilter::default()
    };
    let store = &server.running().state.store;
    let mut events = store.security_events(&filter, 1000, 0).await.unwrap();
    events.reverse();
    events
}

/// Waits (up to 10 s) until `server` stored at least `n` resource-server reports, then returns
/// them, oldest first.
pub(crate) async fn wait_for_reports(server: &TestServer, n: usize) -> Vec<SecurityEventRecord> {
    for _ in 0..200 {
        let events = reports(server).await;
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} reports, got {:?}", reports(server).await);
}

/// The evidence of a stored event, as JSON.
pub(crate) fn evidence(event: &SecurityEventRecord) -> Value {
    serde_json::from_str(&event.evidence).unwrap()
}

/// Asserts an RFC 6750 / RFC 9449 refusal: `status`, `error="<code>"` in the challenge of
/// `scheme` (which comes first), and `Cache-Control: no-store`.
#[track_caller]
pub(crate) fn assert_refused(answer: &Answer, status: u16, scheme: &str, code: &str) {
    let challenge = answer.header("www-authenticate");
    assert_eq!(answer.status, status, "{challenge} {:?}", answer.body);
    assert!(
        challenge.starts_with(&format!("{scheme} error=\"{code}\"")),
        "{challenge}"
    );
    assert_eq!(answer.header("cache-control"), "no-store");
}

//! A stand-in for the authorization server's `POST /resource-events` endpoint, until it exists:
//! an HTTPS server (real TLS, client certificates requested) that authenticates the resource
//! server exactly as introspection does, `private_key_jwt` over mTLS, and keeps what it got.
//!
//! A report is accepted (`202`) only when the connection presented the API's certificate, the
//! client assertion passes `portcullis-core`'s `private_key_jwt` checks with the API's registered
//! key (signature, `iss`/`sub`, `aud` = issuer, lifetime), its `jti` is new, and the report
//! parses. Anything else is `401` or `400`, and counted.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Form, Router};
use portcullis_core::client::{Client, ClientMetadata, ClientPolicy};
use portcullis_core::client_auth::{ASSERTION_TYPE, verify_assertion};
use portcullis_core::resource_events::{Report, parse_report};
use portcullis_resource::ClientCertificate;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::client::JwtClient;
use super::pki::{ClientCert, TestCa};
use super::server::TestServer;

/// What the receiver saw.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Reports accepted, in order.
    pub(crate) reports: Vec<Report>,
    /// Requests refused (wrong certificate, bad assertion, replayed `jti`, bad report).
    pub(crate) refused: u32,
    jtis: HashSet<String>,
}

struct Expected {
    client: Client,
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
    x5t_s256: String,
    issuer: String,
    server_clock: Arc<portcullis_server::setup::clock::FixedClock>,
    received: Arc<Mutex<Received>>,
}

/// A running receiver.
pub(crate) struct EventsReceiver {
    pub(crate) url: String,
    /// PEM file of the CA of the receiver's TLS certificate.
    pub(crate) ca_file: tempfile::NamedTempFile,
    received: Arc<Mutex<Received>>,
    _stop: oneshot::Sender<()>,
}

impl EventsReceiver {
    /// Starts a receiver that accepts reports from `api` (its registration and certificate) at
    /// `server`'s issuer.
    pub(crate) async fn start(
        server: &TestServer,
        api: &JwtClient,
        certificate: &ClientCert,
    ) -> Self {
        let metadata: ClientMetadata = serde_json::from_value(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [api.key.public_jwk().unwrap()] },
            "grant_types": ["client_credentials"],
        }))
        .unwrap();
        let policy = ClientPolicy {
            max_access_token_lifetime: 600,
        };
        let client = Client::validate(&api.id, metadata, policy).unwrap();
        let received = Arc::new(Mutex::new(Received::default()));
        let expected = Arc::new(Expected {
            keys: vec![api.key.public_jwk().unwrap()],
            client,
            x5t_s256: certificate.x5t_s256(),
            issuer: server.config.issuer.clone(),
            server_clock: Arc::clone(&server.clock),
            received: Arc::clone(&received),
        });
        let ca = TestCa::new("events receiver CA");
        let tls = ca.server();
        let config = portcullis_resource::tls::server_config(
            tls.cert_pem.as_bytes(),
            tls.key_pem.as_bytes(),
        )
        .unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), &ca.pem).unwrap();
        let app = Router::new()
            .route("/resource-events", post(receive))
            .with_state(expected);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(portcullis_resource::tls::serve(
            listener,
            config,
            app,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url: format!("https://localhost:{}/resource-events", addr.port()),
            ca_file,
            received,
            _stop: stop,
        }
    }

    /// Waits (up to 10 s) until `n` events have arrived, then returns every report.
    pub(crate) async fn wait_for_events(&self, n: usize) -> Vec<Report> {
        for _ in 0..200 {
            let count: usize = self.reports().iter().map(|r| r.events.len()).sum();
            if count >= n {
                return self.reports();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} events, got {:?}", self.reports());
    }

    pub(crate) fn reports(&self) -> Vec<Report> {
        self.received.lock().unwrap().reports.clone()
    }

    pub(crate) fn refused(&self) -> u32 {
        self.received.lock().unwrap().refused
    }
}

async fn receive(
    State(expected): State<Arc<Expected>>,
    certificate: Option<Extension<ClientCertificate>>,
    Form(form): Form<Vec<(String, String)>>,
) -> StatusCode {
    let status = check(&expected, certificate.map(|c| c.0), &form);
    if status != StatusCode::ACCEPTED {
        expected.received.lock().unwrap().refused += 1;
    }
    status
}

fn check(
    expected: &Expected,
    certificate: Option<ClientCertificate>,
    form: &[(String, String)],
) -> StatusCode {
    use portcullis_server::setup::clock::Clock as _;
    let param = |name: &str| {
        let mut values = form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(v), None) => Some(v),
            _ => None,
        }
    };
    // mTLS: the API's own certificate.
    if certificate.as_ref().map(ClientCertificate::x5t_s256) != Some(expected.x5t_s256.as_str()) {
        return StatusCode::UNAUTHORIZED;
    }
    // private_key_jwt, as at introspection (R88-R95).
    if param("client_assertion_type") != Some(ASSERTION_TYPE) {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(assertion) = param("client_assertion") else {
        return StatusCode::UNAUTHORIZED;
    };
    let now = expected.server_clock.now();
    let Ok(verified) = verify_assertion(
        assertion,
        &expected.client,
        &expected.keys,
        &expected.issuer,
        now,
    ) else {
        return StatusCode::UNAUTHORIZED;
    };
    let mut received = expected.received.lock().unwrap();
    if !received.jtis.insert(verified.jti) {
        return StatusCode::UNAUTHORIZED;
    }
    match param("report").map(parse_report) {
        Some(Ok(report)) => {
            received.reports.push(report);
            StatusCode::ACCEPTED
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

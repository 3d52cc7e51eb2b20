//! A webhook receiver over real TLS (its own test CA), as an operator's alerting endpoint would
//! be: it keeps every delivery (the `Portcullis-Signature` and `webhook-id` headers and the raw
//! body) and answers with the statuses it is told to, then 200.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use portcullis_server::config::{Config, Webhook};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::pki::TestCa;

/// One delivery as received.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) signature: String,
    pub(crate) webhook_id: String,
    pub(crate) body: Bytes,
}

impl Delivery {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    /// Statuses to answer before answering 200.
    script: VecDeque<u16>,
}

/// A running receiver.
pub(crate) struct WebhookReceiver {
    /// `https://localhost:<port>/hook`.
    pub(crate) url: String,
    /// PEM file of the receiver's CA (for `alerts.ca_file`).
    pub(crate) ca_file: tempfile::NamedTempFile,
    inner: Arc<Mutex<Inner>>,
    _stop: oneshot::Sender<()>,
}

impl WebhookReceiver {
    /// Starts a receiver that answers `script`'s statuses first, then 200.
    pub(crate) async fn start(script: &[u16]) -> Self {
        let ca = TestCa::new("webhook receiver CA");
        let tls = ca.server();
        let config = portcullis_resource::tls::server_config(
            tls.cert_pem.as_bytes(),
            tls.key_pem.as_bytes(),
        )
        .unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), &ca.pem).unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            deliveries: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&inner));
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
            url: format!("https://localhost:{}/hook", addr.port()),
            ca_file,
            inner,
            _stop: stop,
        }
    }

    /// A configuration change sending this receiver the events at or above `min_severity` of
    /// `kinds` (empty: every kind), signed with `secret`, trusting its CA.
    pub(crate) fn configure(
        &self,
        secret: &str,
        min_severity: &str,
        kinds: &[&str],
    ) -> impl FnOnce(&mut Config) + 'static {
        let hook = Webhook {
            url: self.url.clone(),
            secret: secret.to_owned(),
            min_severity: min_severity.to_owned(),
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        };
        let ca = self.ca_file.path().to_path_buf();
        move |c| {
            c.alerts.webhooks = vec![hook];
            c.alerts.ca_file = Some(ca);
        }
    }

    /// Every delivery so far.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    /// Waits (up to 15 s) until at least `n` deliveries arrived, then returns them all.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        for _ in 0..300 {
            let got = self.deliveries();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.deliveries());
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut inner = inner.lock().unwrap();
    inner.deliveries.push(Delivery {
        signature: header("portcullis-signature"),
        webhook_id: header("webhook-id"),
        body,
    });
    inner
        .script
        .pop_front()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK)
}

//! The transport: what each listener asks for, what handlers receive, which handshakes are
//! refused (R100–R102 groundwork, R177, R178).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SignatureScheme};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::TestServer;
use crate::support::http::fetch_json;
use crate::support::pki::ClientCert;

#[tokio::test]
async fn mtls_listener_hands_the_handler_the_self_signed_certificate_thumbprint() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("client-one");
    let url = format!("{}/test/peer", server.mtls_url());
    let body = fetch_json(server.client(Some(cert.identity())).get(&url)).await;
    assert_eq!(body["listener"], "mtls");
    assert_eq!(body["x5t#S256"], cert.x5t_s256());

    // Without a certificate the mTLS listener still serves, and the handler sees none.
    let body = fetch_json(server.client(None).get(&url)).await;
    assert_eq!(body["x5t#S256"], Value::Null);
    server.stop().await;
}

/// A client-certificate resolver that records whether the server asked for a certificate.
#[derive(Debug)]
struct Recording {
    asked: AtomicBool,
    key: Arc<CertifiedKey>,
}

impl Recording {
    /// A resolver presenting `cert` with its handshake signed by the key in `key_pem`.
    fn new(cert: &ClientCert, key_pem: &str) -> Arc<Self> {
        Arc::new(Self {
            asked: AtomicBool::new(false),
            key: certified_key(cert, key_pem),
        })
    }
}

impl ResolvesClientCert for Recording {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        Some(Arc::clone(&self.key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(cert: &ClientCert, key_pem: &str) -> Arc<CertifiedKey> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let signing = provider.key_provider.load_private_key(key).unwrap();
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.der.clone())],
        signing,
    ))
}

/// A raw rustls client configuration trusting `server`'s development CA.
pub(crate) fn client_config(
    server: &TestServer,
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&server.ca_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
}

/// Connects with a raw rustls client using `resolver`, sends `GET path`, returns the response
/// text or the error.
async fn raw_get(
    server: &TestServer,
    port: u16,
    resolver: Arc<Recording>,
    path: &str,
) -> Result<String, String> {
    let config = client_config(server).with_client_cert_resolver(resolver);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    // TLS 1.3 reports a refused client certificate on the first read, not at connect.
    tls.read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response)
}

#[tokio::test]
async fn public_listener_never_requests_a_client_certificate() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("curious");
    let public = Recording::new(&cert, &cert.key_pem);
    let response = raw_get(
        &server,
        server.running().public_addr.port(),
        Arc::clone(&public),
        "/test/peer",
    )
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""x5t#S256":null"#), "{response}");
    assert!(
        !public.asked.load(Ordering::SeqCst),
        "the public listener sent a CertificateRequest"
    );

    // Control: the same client on the mTLS listener is asked, and its certificate arrives.
    let mtls = Recording::new(&cert, &cert.key_pem);
    let response = raw_get(
        &server,
        server.running().mtls_addr.port(),
        Arc::clone(&mtls),
        "/test/peer",
    )
    .await
    .unwrap();
    assert!(mtls.asked.load(Ordering::SeqCst));
    assert!(response.contains(&cert.x5t_s256()), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn mtls_listener_refuses_a_certificate_whose_key_the_client_does_not_hold() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("victim");
    let impostor = ClientCert::self_signed("impostor");
    // Certificate of `victim`, handshake signed with the impostor's key.
    let resolver = Recording::new(&cert, &impostor.key_pem);
    let outcome = raw_get(
        &server,
        server.running().mtls_addr.port(),
        resolver,
        "/test/peer",
    )
    .await;
    assert!(
        outcome.is_err(),
        "served a client that cannot sign for its certificate: {outcome:?}"
    );
    server.stop().await;
}

// Hand-made ClientHellos: rustls clients cannot offer TLS 1.1 or CBC suites, so the probes are
// written byte by byte (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2).

const TLS11: [u8; 2] = [0x03, 0x02];
const TLS12: [u8; 2] = [0x03, 0x03];
const ECDHE_GCM: [u16; 4] = [0xc02b, 0xc02f, 0xc02c, 0xc030];
const ECDHE_CBC: [u16; 6] = [0xc009, 0xc00a, 0xc013, 0xc014, 0xc023, 0xc027];
const ECDHE_CHACHA20: [u16; 2] = [0xcca8, 0xcca9];

fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    fn ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut extensions = Vec::new();
    let host = b"localhost";
    let mut sni = Vec::new();
    sni.extend_from_slice(&((host.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(host.len() as u16).to_be_bytes());
    sni.extend_from_slice(host);
    ext(&mut extensions, 0x0000, &sni);
    ext(
        &mut extensions,
        0x000a,
        &[0x00, 0x04, 0x00, 0x17, 0x00, 0x1d],
    ); // P-256, X25519
    ext(&mut extensions, 0x000b, &[0x01, 0x00]); // uncompressed points
    ext(
        &mut extensions,
        0x000d,
        &[0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01],
    ); // ecdsa/pss/rsa sha256
    ext(&mut extensions, 0x0017, &[]); // extended master secret

    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);

    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// What the server answers to a ClientHello.
#[derive(Debug, PartialEq)]
enum Answer {
    /// A ServerHello choosing this protocol version and suite.
    ServerHello { version: [u8; 2], suite: u16 },
    /// An alert record or a closed connection.
    Refused,
}

async fn probe(port: u16, hello: &[u8]) -> Answer {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) => 0,
        Err(_) => panic!("server neither answered nor closed"),
    };
    // Record type 22 (handshake) carrying message type 2 (ServerHello).
    if n >= 44 && buf[0] == 0x16 && buf[5] == 0x02 {
        let version = [buf[9], buf[10]];
        let session_len = buf[43] as usize;
        let at = 44 + session_len;
        return Answer::ServerHello {
            version,
            suite: u16::from_be_bytes([buf[at], buf[at + 1]]),
        };
    }
    Answer::Refused
}

#[tokio::test]
async fn r177_r178_tls11_cbc_and_chacha_on_tls12_are_refused_while_ecdhe_gcm_is_accepted() {
    let server = TestServer::start().await;
    for port in [
        server.running().public_addr.port(),
        server.running().mtls_addr.port(),
    ] {
        // Control: the hand-made TLS 1.2 hello with ECDHE + AES-GCM is accepted, so the refusals
        // below come from the version or suite, not from the probe.
        match probe(port, &client_hello(TLS12, &ECDHE_GCM)).await {
            Answer::ServerHello { version, suite } => {
                assert_eq!(version, TLS12);
                assert!(ECDHE_GCM.contains(&suite), "suite {suite:#06x}");
            }
            Answer::Refused => panic!("TLS 1.2 with ECDHE-AES-GCM refused on port {port}"),
        }
        let all: Vec<u16> = ECDHE_GCM.iter().chain(&ECDHE_CBC).copied().collect();
        assert_eq!(
            probe(port, &client_hello(TLS11, &all)).await,
            Answer::Refused,
            "R177: TLS 1.1 on {port}"
        );
        assert_eq!(
            probe(port, &client_hello(TLS12, &ECDHE_CBC)).await,
            Answer::Refused,
            "R178: CBC on {port}"
        );
        assert_eq!(
            probe(port, &client_hello(TLS12, &ECDHE_CHACHA20)).await,
            Answer::Refused,
            "R178: ChaCha20 on TLS 1.2 on {port}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn r177_tls13_is_negotiated_when_offered() {
    let server = TestServer::start().await;
    let response = server
        .client(None)
        .get(format!("{}/healthz", server.public_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // reqwest offers TLS 1.3 and 1.2; the server must pick 1.3. Check with a raw rustls client.
    let config = client_config(&server).with_no_client_auth();
    let tcp = TcpStream::connect(server.running().mtls_addr)
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    server.stop().await;
}

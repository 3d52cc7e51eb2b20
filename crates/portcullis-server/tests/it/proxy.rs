//! Proxy mode: client certificates forwarded by a trusted TLS-terminating proxy (RFC 9440), and
//! refused from anywhere else (R103).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::support::TestServer;
use crate::support::http::{Answer, fetch_json};
use crate::support::pki::ClientCert;

/// A server behind a proxy at `trusted`, which also takes the legacy certificate header.
async fn proxy_server(trusted: &str) -> TestServer {
    TestServer::builder()
        .behind_proxy(trusted)
        .configure(|c| c.proxy.legacy_client_cert_header = Some("X-SSL-Client-Cert".into()))
        .start()
        .await
}

/// `path` on the plain-HTTP mTLS listener.
fn url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.running().mtls_addr)
}

#[tokio::test]
async fn r103_trusted_proxy_forwards_the_certificate_in_client_cert() {
    let server = proxy_server("127.0.0.1/32").await;
    let cert = ClientCert::self_signed("behind-proxy");
    let client = reqwest::Client::new();
    let header = format!(":{}:", STANDARD.encode(&cert.der));
    let peer = client.get(url(&server, "/test/peer"));
    let body = fetch_json(peer.header("Client-Cert", header)).await;
    assert_eq!(body["x5t#S256"], cert.x5t_s256());

    // The legacy header carries a percent-encoded PEM (nginx `$ssl_client_escaped_cert`).
    let legacy =
        percent_encoding::utf8_percent_encode(&cert.cert_pem, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let peer = client.get(url(&server, "/test/peer"));
    let body = fetch_json(peer.header("X-SSL-Client-Cert", legacy)).await;
    assert_eq!(body["x5t#S256"], cert.x5t_s256());

    // No header: no certificate.
    let body = fetch_json(client.get(url(&server, "/test/peer"))).await;
    assert_eq!(body["x5t#S256"], Value::Null);

    // A malformed header from the trusted proxy is refused, not ignored.
    let response = client
        .get(url(&server, "/test/peer"))
        .header("Client-Cert", ":bm90IGEgY2VydA==:")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn r103_certificate_header_from_an_untrusted_address_is_refused() {
    // Only a documentation-range address is trusted; the test client on 127.0.0.1 is not.
    let server = proxy_server("192.0.2.1/32").await;
    let cert = ClientCert::self_signed("forger");
    let response = reqwest::Client::new()
        .get(url(&server, "/test/peer"))
        .header("Client-Cert", format!(":{}:", STANDARD.encode(&cert.der)))
        .send()
        .await
        .unwrap();
    Answer::read(response)
        .await
        .assert_error(400, "invalid_request");

    // The same request without the header is served.
    let response = reqwest::Client::new()
        .get(url(&server, "/test/peer"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn r103_certificate_header_is_refused_when_tls_is_terminated_by_the_server() {
    let server = TestServer::start().await;
    let cert = ClientCert::self_signed("forger");
    let response = server
        .client(None)
        .get(format!("{}/test/peer", server.mtls_url()))
        .header("Client-Cert", format!(":{}:", STANDARD.encode(&cert.der)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

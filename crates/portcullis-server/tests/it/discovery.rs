//! Discovery and JWKS over real TLS on both listeners (R1–R3, R8, R12, R17–R19, R23, R186).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Backend, TestServer};

const WELL_KNOWN: [&str; 2] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

async fn get_json(client: &reqwest::Client, url: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

#[tokio::test]
async fn r1_r2_metadata_is_served_on_both_listeners_with_the_issuer_it_was_fetched_from() {
    let server = TestServer::start().await;
    let client = server.client(None);
    for base in [server.public_url(), server.mtls_url()] {
        for path in WELL_KNOWN {
            let (headers, doc) = get_json(&client, &format!("{base}{path}")).await;
            assert_eq!(headers["content-type"], "application/json");
            assert!(headers.contains_key("date"), "R186: Date header");
            // R2: the issuer is the public base URL, byte for byte.
            assert_eq!(doc["issuer"], server.public_url());
            assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.public_url()));
            assert_eq!(
                doc["token_endpoint_auth_methods_supported"],
                serde_json::json!([
                    "private_key_jwt",
                    "tls_client_auth",
                    "self_signed_tls_client_auth"
                ])
            );
            let aliases = doc["mtls_endpoint_aliases"]
                .as_object()
                .expect("R12: an object");
            assert!(!aliases.contains_key("authorization_endpoint"));
            for url in aliases.values() {
                assert!(
                    url.as_str().unwrap().starts_with(&server.mtls_url()),
                    "R12: {url}"
                );
            }
            for member in [
                "id_token_signing_alg_values_supported",
                "dpop_signing_alg_values_supported",
            ] {
                for alg in doc[member].as_array().unwrap() {
                    assert!(["PS256", "ES256", "EdDSA"].contains(&alg.as_str().unwrap()));
                }
            }
            assert_eq!(
                headers["access-control-allow-origin"], "*",
                "R23: CORS allowed on metadata"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn r17_to_r19_jwks_holds_public_keys_with_unique_kids_and_cache_headers() {
    let server = TestServer::start().await;
    let client = server.client(None);
    let (headers, jwks) = get_json(&client, &format!("{}/jwks", server.public_url())).await;
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "one key per configured alg");
    let kids: BTreeSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 3, "R18: unique kids");
    let algs: BTreeSet<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, BTreeSet::from(["EdDSA", "ES256", "PS256"]));
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "R19: {private} published");
        }
        if key["kty"] == "RSA" {
            // R20: 2048-bit modulus = 256 bytes = 342 base64url characters.
            assert!(key["n"].as_str().unwrap().len() >= 342);
        }
    }
    server.stop().await;
}

async fn kids(server: &TestServer) -> BTreeSet<String> {
    let (_, jwks) = get_json(&server.client(None), &format!("{}/jwks", server.mtls_url())).await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn restart_serves_the_same_keys(backend: Backend) {
    let server = TestServer::builder().backend(backend).start().await;
    let before = kids(&server).await;
    let server = server.restart().await;
    assert_eq!(kids(&server).await, before);
    server.stop().await;
}

#[tokio::test]
async fn restart_serves_the_same_kids_on_postgres() {
    restart_serves_the_same_keys(Backend::Postgres).await;
}

#[tokio::test]
async fn restart_serves_the_same_kids_on_sqlite() {
    restart_serves_the_same_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest() {
    let server = TestServer::builder().backend(Backend::Sqlite).start().await;
    let url = server.config.database_url();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT public_jwk, private_jwk_enc FROM signing_keys")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3);
    for (public, sealed) in rows {
        assert!(
            !public.contains("\"d\""),
            "public column holds a private member"
        );
        let text = String::from_utf8_lossy(&sealed);
        assert!(
            !text.contains("\"d\"") && !text.contains("\"kty\""),
            "private JWK stored in clear"
        );
    }
    server.stop().await;
}

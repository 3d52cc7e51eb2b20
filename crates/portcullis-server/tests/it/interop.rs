//! Interoperability with panva's `oauth4webapi` (OpenID-certified FAPI 2.0 client library, from
//! npm): `conformance/interop/flow.mjs` runs the whole flow against this server, with
//! private_key_jwt + DPoP, and with private_key_jwt + mTLS-bound tokens over the mTLS aliases.
//! Runs when `conformance/interop/node_modules` is installed (`.ci/run` does it and sets
//! `TEST_REQUIRE_INTEROP=1`).

use std::path::PathBuf;
use std::process::Command;

use portcullis_core::jose::{Alg, PrivateKey};
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::client::{PASSWORD, add_user, register, unique};
use crate::support::pki::ClientCert;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/interop")
}

fn available() -> bool {
    let present = interop_dir().join("node_modules/oauth4webapi").exists();
    if !present && std::env::var("TEST_REQUIRE_INTEROP").is_ok() {
        panic!(
            "TEST_REQUIRE_INTEROP is set but conformance/interop/node_modules is missing (npm ci there)"
        );
    }
    if !present {
        eprintln!("interop test skipped: run `npm ci` in conformance/interop (.ci/run does)");
    }
    present
}

async fn run(variant: &str) {
    if !available() {
        return;
    }
    let server = TestServer::start().await;
    let redirect = "https://client.example/callback".to_owned();
    let key = PrivateKey::generate(Alg::Es256, &unique("interop")).unwrap();
    let id = unique("oauth4webapi");
    let mut metadata = json!({
        "client_name": "oauth4webapi",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [redirect],
        "scope": "openid profile",
    });
    if variant == "dpop" {
        metadata["dpop_bound_access_tokens"] = json!(true);
    } else {
        metadata["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    register(&server, &id, metadata).await;
    let username = add_user(&server).await;

    let cert = ClientCert::self_signed("interop-client");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &cert.key_pem).unwrap();
    // The library reads the real clock; the server's test clock started at the real time too.
    let output = tokio::task::spawn_blocking({
        let (issuer, ca) = (
            server.config.issuer.clone(),
            server.dir.path().join("dev-ca.pem"),
        );
        let jwk = String::from_utf8(key.to_json()).unwrap();
        let dir = dir.path().to_path_buf();
        let variant = variant.to_owned();
        move || {
            Command::new("node")
                .arg("flow.mjs")
                .current_dir(interop_dir())
                .env("VARIANT", variant)
                .env("ISSUER", issuer)
                .env("CA_FILE", ca)
                .env("CLIENT_ID", id)
                .env("CLIENT_JWK", jwk)
                .env("CLIENT_CERT", dir.join("cert.pem"))
                .env("CLIENT_KEY", dir.join("key.pem"))
                .env("REDIRECT_URI", redirect)
                .env("USERNAME", username)
                .env("PASSWORD", PASSWORD)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "oauth4webapi {variant} flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["ok"], true);
    let expected = if variant == "dpop" { "dpop" } else { "bearer" };
    assert_eq!(
        result["token_type"].as_str().unwrap().to_ascii_lowercase(),
        expected,
        "{result}"
    );
    assert_eq!(
        result["refreshed_token_type"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase(),
        expected
    );
    assert_eq!(result["sub"], result["userinfo_sub"]);
    server.stop().await;
}

#[tokio::test]
async fn oauth4webapi_private_key_jwt_with_dpop() {
    run("dpop").await;
}

#[tokio::test]
async fn oauth4webapi_private_key_jwt_with_mtls_bound_tokens() {
    run("mtls").await;
}

//! Software statements (R166): a trusted directory's statement registers a client with its
//! claims; untrusted, expired or badly signed statements are refused.

use portcullis_core::jose::{Alg, PrivateKey};
use portcullis_core::registration::Policy;
use serde_json::json;

use super::{client_credentials, new_key};
use crate::support::TestServer;
use crate::support::client::JwtClient;
use crate::support::flow::REDIRECT;
use crate::support::registration::{Directory, initial_access_token, register, sign_statement};

#[tokio::test]
async fn r166_a_software_statement_registers_a_client_with_its_claims() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    let statement = directory.statement(&server, &key, json!({}));
    // The request says otherwise; the statement wins. No initial access token is needed.
    let body = json!({
        "software_statement": statement,
        "client_name": "Something Else",
        "redirect_uris": ["https://attacker.example/cb"],
        "logo_uri": "https://planner.example/logo.png",
    });
    let response = register(&server, None, &body).await.assert_status(201);
    assert_eq!(response["client_name"], "Budget Planner (directory)");
    assert_eq!(response["redirect_uris"], json!([REDIRECT]));
    assert_eq!(response["logo_uri"], "https://planner.example/logo.png");
    assert_eq!(
        response["software_statement"], statement,
        "returned unmodified"
    );
    let client = JwtClient {
        id: response["client_id"].as_str().unwrap().to_owned(),
        key,
    };
    assert_eq!(client_credentials(&server, &client).await.status, 200);
    // A statement alone never registers a resource server (that needs an initial access token).
    let other = new_key();
    let rs = directory.statement(&server, &other, json!({ "resource_server": true }));
    register(&server, None, &json!({ "software_statement": rs }))
        .await
        .assert_error(400, "invalid_client_metadata");
    server.stop().await;
}

#[tokio::test]
async fn r166_software_statements_of_untrusted_keys_or_issuers_are_unapproved() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    // The directory's name, signed by a key the directory does not hold.
    let rogue = PrivateKey::generate(Alg::Ps256, "rogue").unwrap();
    let forged = sign_statement(&rogue, &directory.issuer, &server, &key, json!({}));
    let body = json!({ "software_statement": forged });
    register(&server, None, &body)
        .await
        .assert_error(400, "unapproved_software_statement");
    // Another directory's statement, even with an initial access token.
    let other = directory.statement(&server, &key, json!({ "iss": "https://rogue.example" }));
    let token = initial_access_token(&server, Policy::default(), Some(1)).await;
    let body = json!({ "software_statement": other });
    register(&server, Some(&token), &body)
        .await
        .assert_error(400, "unapproved_software_statement");
    // A server trusting no directory approves none.
    let plain = TestServer::start().await;
    let body = json!({ "software_statement": directory.statement(&plain, &key, json!({})) });
    register(&plain, None, &body)
        .await
        .assert_error(400, "unapproved_software_statement");
    plain.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn r166_expired_or_badly_signed_software_statements_are_invalid() {
    let directory = Directory::new();
    let server = directory.server().await;
    let key = new_key();
    let now = server.now().unix();
    let expired = directory.statement(&server, &key, json!({ "exp": now - 60, "iat": now - 360 }));
    register(&server, None, &json!({ "software_statement": expired }))
        .await
        .assert_error(400, "invalid_software_statement");
    let no_exp = directory.statement(&server, &key, json!({ "exp": null }));
    register(&server, None, &json!({ "software_statement": no_exp }))
        .await
        .assert_error(400, "invalid_software_statement");
    // A valid statement with its signature damaged.
    let good = directory.statement(&server, &key, json!({}));
    let (head, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let damaged = format!("{head}.{flipped}{}", &signature[1..]);
    register(&server, None, &json!({ "software_statement": damaged }))
        .await
        .assert_error(400, "invalid_software_statement");
    register(&server, None, &json!({ "software_statement": "not-a-jwt" }))
        .await
        .assert_error(400, "invalid_software_statement");
    server.stop().await;
}

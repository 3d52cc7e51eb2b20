use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::client::ClientPolicy;
use crate::jose::PrivateKey;

const NOW: Timestamp = Timestamp::from_unix(1_700_000_000);
const DIRECTORY: &str = "https://directory.example";

fn directory_key(kid: &str) -> PrivateKey {
    PrivateKey::generate(Alg::Es256, kid).unwrap()
}

fn directories(key: &PrivateKey) -> Vec<Directory> {
    vec![Directory {
        issuer: DIRECTORY.to_owned(),
        keys: vec![key.public_jwk().unwrap()],
    }]
}

fn statement(key: &PrivateKey, changes: Value) -> String {
    let mut claims = json!({
        "iss": DIRECTORY,
        "iat": NOW.unix(),
        "exp": NOW.unix() + 300,
        "jti": "ssa-1",
        "software_id": "budget-planner",
        "redirect_uris": ["https://planner.example/cb"],
        "client_id": "chosen-by-directory",
    })
    .as_object()
    .unwrap()
    .clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    // Signed as they are, so that tests can give claims of the wrong type.
    let header = json!({ "typ": "JWT", "kid": key.kid() });
    key.sign_with_header(header.as_object().unwrap(), claims)
        .unwrap()
}

fn code(result: Result<Map<String, Value>, OAuthError>) -> ErrorCode {
    result.unwrap_err().code
}

#[test]
fn r166_a_statement_of_a_trusted_directory_verifies_and_its_claims_take_precedence() {
    let key = directory_key("dir-1");
    let jwt = statement(&key, json!({}));
    let claims = verify_software_statement(&jwt, &directories(&key), NOW).unwrap();
    assert_eq!(claims["software_id"], "budget-planner");
    let request = registration_request(
        json!({
            "redirect_uris": ["https://attacker.example/cb"],
            "client_name": "Planner",
            "software_statement": jwt,
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(request.software_statement.as_deref(), Some(jwt.as_str()));
    let metadata = metadata(request.members, Some(&claims)).unwrap();
    assert_eq!(
        metadata.redirect_uris.unwrap(),
        ["https://planner.example/cb"]
    );
    assert_eq!(metadata.client_name.as_deref(), Some("Planner"));
    // R171: not even a directory chooses the client_id.
    assert_eq!(metadata.client_id, None);
}

#[test]
fn r166_untrusted_software_statement_is_unapproved() {
    let key = directory_key("dir-1");
    let trusted = directories(&key);
    // Another issuer.
    let other = statement(&key, json!({ "iss": "https://rogue.example" }));
    assert_eq!(
        code(verify_software_statement(&other, &trusted, NOW)),
        ErrorCode::UnapprovedSoftwareStatement
    );
    // The directory's name, signed by a key the directory does not have.
    let rogue = directory_key("rogue");
    assert_eq!(
        code(verify_software_statement(
            &statement(&rogue, json!({})),
            &trusted,
            NOW
        )),
        ErrorCode::UnapprovedSoftwareStatement
    );
    // No directory configured at all.
    assert_eq!(
        code(verify_software_statement(
            &statement(&key, json!({})),
            &[],
            NOW
        )),
        ErrorCode::UnapprovedSoftwareStatement
    );
}

#[test]
fn r166_a_bad_signature_is_an_invalid_software_statement() {
    let key = directory_key("dir-1");
    let jwt = statement(&key, json!({}));
    // Same header and kid, another payload: the signature no longer matches.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] =
        URL_SAFE_NO_PAD.encode(json!({ "iss": DIRECTORY, "exp": NOW.unix() + 60 }).to_string());
    let forged = parts.join(".");
    assert_eq!(
        code(verify_software_statement(&forged, &directories(&key), NOW)),
        ErrorCode::InvalidSoftwareStatement
    );
    // A key of the directory's with the kid of the real one, signing: the real key refuses it.
    let impostor = directory_key("dir-1");
    assert_eq!(
        code(verify_software_statement(
            &statement(&impostor, json!({})),
            &directories(&key),
            NOW
        )),
        ErrorCode::InvalidSoftwareStatement
    );
}

#[test]
fn r166_r180_malformed_statements_and_disallowed_algorithms_are_invalid() {
    let key = directory_key("dir-1");
    let trusted = directories(&key);
    for jwt in ["", "a.b", "not.a.jws", "a.b.c.d"] {
        assert_eq!(
            code(verify_software_statement(jwt, &trusted, NOW)),
            ErrorCode::InvalidSoftwareStatement,
            "{jwt:?}"
        );
    }
    let payload =
        URL_SAFE_NO_PAD.encode(json!({ "iss": DIRECTORY, "exp": NOW.unix() + 60 }).to_string());
    for alg in ["none", "HS256", "RS256"] {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "kid": "dir-1" }).to_string());
        let jwt = format!("{header}.{payload}.c2ln");
        assert_eq!(
            code(verify_software_statement(&jwt, &trusted, NOW)),
            ErrorCode::InvalidSoftwareStatement,
            "{alg}"
        );
    }
    assert_eq!(
        code(verify_software_statement(
            &statement(&key, json!({ "iss": null })),
            &trusted,
            NOW
        )),
        ErrorCode::InvalidSoftwareStatement
    );
}

#[test]
fn r166_exp_is_required_and_iat_may_not_be_in_the_future() {
    let key = directory_key("dir-1");
    let trusted = directories(&key);
    let verify =
        |changes: Value| verify_software_statement(&statement(&key, changes), &trusted, NOW);
    for changes in [
        json!({ "exp": null }),
        json!({ "exp": "tomorrow" }),
        json!({ "exp": NOW.unix() - MAX_SKEW_SECS }),
        json!({ "iat": NOW.unix() + MAX_SKEW_SECS + 1 }),
        json!({ "nbf": NOW.unix() + MAX_SKEW_SECS + 1 }),
        json!({ "iat": "now" }),
    ] {
        assert_eq!(
            code(verify(changes.clone())),
            ErrorCode::InvalidSoftwareStatement,
            "{changes}"
        );
    }
    // Within the skew, and without iat.
    verify(json!({ "exp": NOW.unix() - MAX_SKEW_SECS + 1 })).unwrap();
    verify(json!({ "iat": NOW.unix() + MAX_SKEW_SECS })).unwrap();
    verify(json!({ "iat": null })).unwrap();
}

#[test]
fn r166_a_statement_without_kid_verifies_with_a_key_of_its_type() {
    let key = directory_key("dir-1");
    let mut header = Map::new();
    header.insert("typ".into(), json!("JWT"));
    let claims = json!({ "iss": DIRECTORY, "exp": NOW.unix() + 60 })
        .as_object()
        .unwrap()
        .clone();
    let jwt = key.sign_with_header(&header, claims).unwrap();
    verify_software_statement(&jwt, &directories(&key), NOW).unwrap();
}

#[test]
fn r171_a_registration_request_cannot_choose_its_identifier_or_a_secret() {
    let request = registration_request(
        json!({
            "client_id": "user-1",
            "client_secret": "s3cret",
            "registration_access_token": "x",
            "client_name": "Planner",
            "unknown_member": true,
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    for member in ["client_id", "client_secret", "registration_access_token"] {
        assert!(!request.members.contains_key(member), "{member}");
    }
    // Unknown metadata is ignored (RFC 7591 §2).
    let metadata = metadata(request.members, None).unwrap();
    assert_eq!(metadata.client_name.as_deref(), Some("Planner"));
    assert_eq!(metadata.client_id, None);
}

#[test]
fn r167_malformed_bodies_and_members_are_invalid_client_metadata() {
    for body in [&b"[]"[..], b"not json", b"\"text\"", b""] {
        assert_eq!(
            registration_request(body).unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
    }
    assert_eq!(
        registration_request(br#"{"software_statement": 7}"#)
            .unwrap_err()
            .code,
        ErrorCode::InvalidSoftwareStatement
    );
    let request = registration_request(br#"{"redirect_uris": "https://a.example/cb"}"#).unwrap();
    assert_eq!(
        metadata(request.members, None).unwrap_err().code,
        ErrorCode::InvalidClientMetadata
    );
}

#[test]
fn r169_an_update_names_the_client_and_carries_no_response_members() {
    let ok = update_request(br#"{"client_id": "c1", "client_name": "New"}"#, "c1").unwrap();
    assert!(!ok.members.contains_key("client_id"));
    assert_eq!(ok.members["client_name"], "New");
    for body in [
        json!({ "client_name": "New" }),
        json!({ "client_id": "c2" }),
        json!({ "client_id": "c1", "registration_access_token": "t" }),
        json!({ "client_id": "c1", "registration_client_uri": "https://as/register/c1" }),
        json!({ "client_id": "c1", "client_id_issued_at": 1 }),
        json!({ "client_id": "c1", "client_secret_expires_at": 0 }),
        json!({ "client_id": "c1", "client_secret": "s" }),
    ] {
        assert_eq!(
            update_request(body.to_string().as_bytes(), "c1")
                .unwrap_err()
                .code,
            ErrorCode::InvalidClientMetadata,
            "{body}"
        );
    }
}

#[test]
fn r166_an_update_keeps_the_statement_on_record_unless_a_new_one_verifies() {
    let key = directory_key("dir-1");
    let trusted = directories(&key);
    let kept = statement(&key, json!({}));
    // Echoed back after it expired: still the one on record, not verified again.
    let late = NOW.plus(3600);
    let echoed = update_statement(Some(kept.clone()), Some(&kept), &trusted, late)
        .unwrap()
        .unwrap();
    assert_eq!(echoed.jwt, kept);
    assert_eq!(echoed.claims["software_id"], "budget-planner");
    // Left out: it still binds.
    let omitted = update_statement(None, Some(&kept), &trusted, late)
        .unwrap()
        .unwrap();
    assert_eq!(omitted, echoed);
    // A new one must verify.
    let expired = statement(&key, json!({ "exp": NOW.unix() - 60 }));
    assert_eq!(
        update_statement(Some(expired), Some(&kept), &trusted, NOW)
            .unwrap_err()
            .code,
        ErrorCode::InvalidSoftwareStatement
    );
    assert_eq!(update_statement(None, None, &trusted, NOW).unwrap(), None);
}

fn client(changes: Value) -> Client {
    let key = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    let mut members = json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["client_credentials"],
        "scope": "accounts",
    });
    for (k, v) in changes.as_object().unwrap() {
        members[k] = v.clone();
    }
    let metadata = serde_json::from_value(members).unwrap();
    Client::validate(
        "c1",
        metadata,
        ClientPolicy {
            max_access_token_lifetime: 600,
        },
    )
    .unwrap()
}

#[test]
fn no_policy_allows_every_valid_client_but_a_resource_server() {
    let none = Policy::default();
    none.permits(&client(json!({}))).unwrap();
    assert_eq!(
        none.permits(&client(json!({ "resource_server": true })))
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientMetadata
    );
    let allowing = Policy {
        allow_resource_server: true,
        ..Policy::default()
    };
    allowing
        .permits(&client(json!({ "resource_server": true })))
        .unwrap();
}

#[test]
fn a_policy_restricts_scope_grant_types_and_auth_methods() {
    let policy = Policy {
        scope: Some("accounts payments".into()),
        grant_types: vec!["client_credentials".into()],
        auth_methods: vec!["private_key_jwt".into()],
        allow_resource_server: false,
    };
    policy.permits(&client(json!({}))).unwrap();
    policy.permits(&client(json!({ "scope": null }))).unwrap();
    for changes in [
        json!({ "scope": "accounts admin" }),
        json!({ "grant_types": ["client_credentials", "authorization_code"], "redirect_uris": ["https://c.example/cb"] }),
    ] {
        assert_eq!(
            policy.permits(&client(changes.clone())).unwrap_err().code,
            ErrorCode::InvalidClientMetadata,
            "{changes}"
        );
    }
    let mtls_only = Policy {
        auth_methods: vec!["tls_client_auth".into()],
        ..Policy::default()
    };
    assert!(mtls_only.permits(&client(json!({}))).is_err());
    let no_scope = Policy {
        scope: Some(String::new()),
        ..Policy::default()
    };
    assert!(no_scope.permits(&client(json!({}))).is_err());
    no_scope.permits(&client(json!({ "scope": null }))).unwrap();
}

#[test]
fn a_policy_round_trips_as_json_and_checks_its_values() {
    assert_eq!(serde_json::to_string(&Policy::default()).unwrap(), "{}");
    let policy = Policy {
        scope: Some("a b".into()),
        grant_types: vec!["client_credentials".into()],
        auth_methods: vec!["tls_client_auth".into()],
        allow_resource_server: true,
    };
    policy.check().unwrap();
    let text = serde_json::to_string(&policy).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), policy);
    assert!(serde_json::from_str::<Policy>(r#"{"scopes": "a"}"#).is_err());
    for bad in [
        Policy {
            scope: Some("a\"b".into()),
            ..Policy::default()
        },
        Policy {
            grant_types: vec!["password".into()],
            ..Policy::default()
        },
        Policy {
            auth_methods: vec!["client_secret_basic".into()],
            ..Policy::default()
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

#[test]
fn r163_client_information_holds_the_effective_metadata_and_no_secret() {
    let c = client(json!({ "client_name": "Planner" }));
    let info = client_information(
        &c,
        NOW,
        "rat",
        "https://as.example/register/c1",
        Some("a.b.c"),
    )
    .unwrap();
    assert_eq!(info["client_id"], "c1");
    assert_eq!(info["client_id_issued_at"], NOW.unix());
    assert_eq!(info["registration_access_token"], "rat");
    assert_eq!(
        info["registration_client_uri"],
        "https://as.example/register/c1"
    );
    assert_eq!(info["software_statement"], "a.b.c");
    assert_eq!(info["grant_types"], json!(["client_credentials"]));
    assert_eq!(info["response_types"], json!([]));
    assert_eq!(info["id_token_signed_response_alg"], "PS256");
    assert_eq!(info["token_endpoint_auth_method"], "private_key_jwt");
    assert!(info.get("client_secret").is_none());
    let code_client = client(json!({
        "grant_types": null,
        "redirect_uris": ["https://c.example/cb"],
    }));
    let info = client_information(&code_client, NOW, "rat", "u", None).unwrap();
    assert_eq!(info["grant_types"], json!(["authorization_code"]));
    assert_eq!(info["response_types"], json!(["code"]));
    assert!(info.get("software_statement").is_none());
}

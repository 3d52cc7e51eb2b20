use serde_json::json;

use super::*;
use crate::jose::PrivateKey;

const POLICY: ClientPolicy = ClientPolicy {
    max_access_token_lifetime: 600,
};

fn jwks() -> Value {
    json!({ "keys": [PrivateKey::generate(Alg::Es256, "k1").unwrap().public_jwk().unwrap()] })
}

fn pkjwt() -> ClientMetadata {
    ClientMetadata {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks()),
        grant_types: Some(vec!["client_credentials".into()]),
        scope: Some("accounts payments".into()),
        ..ClientMetadata::default()
    }
}

fn code(metadata: &ClientMetadata) -> OAuthError {
    Client::validate("c1", metadata.clone(), POLICY).unwrap_err()
}

#[test]
fn a_private_key_jwt_client_validates() {
    let client = Client::validate("c1", pkjwt(), POLICY).unwrap();
    assert_eq!(client.auth_method, AuthMethod::PrivateKeyJwt);
    assert!(client.allows_grant("client_credentials"));
    assert!(!client.allows_grant("authorization_code"));
    assert_eq!(client.scope.to_string(), "accounts payments");
    assert_eq!(client.metadata.client_id.as_deref(), Some("c1"));
}

#[test]
fn r8_r164_shared_secret_and_none_methods_are_refused() {
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "none",
    ] {
        let m = ClientMetadata {
            token_endpoint_auth_method: Some(method.into()),
            ..pkjwt()
        };
        assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata, "{method}");
    }
}

#[test]
fn r165_jwks_and_jwks_uri_are_exclusive() {
    let m = ClientMetadata {
        jwks_uri: Some("https://c.example/jwks".into()),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        jwks: None,
        jwks_uri: Some("http://c.example/jwks".into()),
        ..pkjwt()
    };
    assert_eq!(
        code(&m).code,
        ErrorCode::InvalidClientMetadata,
        "http jwks_uri"
    );
    let m = ClientMetadata {
        jwks: None,
        ..pkjwt()
    };
    assert_eq!(
        code(&m).code,
        ErrorCode::InvalidClientMetadata,
        "no keys at all"
    );
}

#[test]
fn r98_r19_jwks_must_be_public_and_strong() {
    let private: Value =
        serde_json::from_slice(&PrivateKey::generate(Alg::Es256, "k").unwrap().to_json()).unwrap();
    let m = ClientMetadata {
        jwks: Some(json!({ "keys": [private] })),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let weak = josekit::jwk::Jwk::generate_rsa_key(1024)
        .unwrap()
        .to_public_key()
        .unwrap();
    let weak: Map<String, Value> = weak.into();
    let m = ClientMetadata {
        jwks: Some(json!({ "keys": [weak] })),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let key = PrivateKey::generate(Alg::Es256, "same")
        .unwrap()
        .public_jwk()
        .unwrap();
    let m = ClientMetadata {
        jwks: Some(json!({ "keys": [key.clone(), key] })),
        ..pkjwt()
    };
    assert_eq!(
        code(&m).code,
        ErrorCode::InvalidClientMetadata,
        "duplicate kid"
    );
}

#[test]
fn r165_tls_client_auth_needs_exactly_one_subject_attribute() {
    let base = ClientMetadata {
        token_endpoint_auth_method: Some("tls_client_auth".into()),
        grant_types: Some(vec!["client_credentials".into()]),
        ..ClientMetadata::default()
    };
    assert_eq!(code(&base).code, ErrorCode::InvalidClientMetadata);
    let two = ClientMetadata {
        tls_client_auth_subject_dn: Some("CN=a".into()),
        tls_client_auth_san_dns: Some("a.example".into()),
        ..base.clone()
    };
    assert_eq!(code(&two).code, ErrorCode::InvalidClientMetadata);
    let one = ClientMetadata {
        tls_client_auth_subject_dn: Some("CN=a,O=b".into()),
        ..base
    };
    let client = Client::validate("c1", one, POLICY).unwrap();
    assert!(matches!(
        client.auth_method,
        AuthMethod::TlsClientAuth(SubjectMatch::Dn(_))
    ));
}

#[test]
fn r164_redirect_uris_are_https_without_fragment() {
    for uri in [
        "http://c.example/cb",
        "https://c.example/cb#x",
        "/cb",
        "https://",
    ] {
        let m = ClientMetadata {
            grant_types: Some(vec!["authorization_code".into()]),
            redirect_uris: Some(vec![uri.into()]),
            ..pkjwt()
        };
        assert_eq!(code(&m).code, ErrorCode::InvalidRedirectUri, "{uri}");
    }
    let m = ClientMetadata {
        grant_types: Some(vec!["authorization_code".into()]),
        ..pkjwt()
    };
    assert_eq!(
        code(&m).code,
        ErrorCode::InvalidRedirectUri,
        "code flow without redirect_uris"
    );
}

#[test]
fn r164_only_a_resource_server_may_register_no_grant_type() {
    // RFC 7591 allows an empty list: a bearer-only resource server introspects and uses no
    // grant.
    let rs = ClientMetadata {
        grant_types: Some(Vec::new()),
        resource_server: Some(true),
        ..pkjwt()
    };
    let client = Client::validate("rs1", rs, POLICY).unwrap();
    assert!(client.grant_types.is_empty() && client.resource_server);
    for grant in GRANT_TYPES {
        assert!(!client.allows_grant(grant), "{grant}");
    }
    // Any other client with no grant type is refused, saying why.
    let none = ClientMetadata {
        grant_types: Some(Vec::new()),
        ..pkjwt()
    };
    let e = code(&none);
    assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
    assert!(e.description().contains("resource_server"), "{e}");
}

#[test]
fn r164_grant_and_response_types_and_algs_are_fapi_ones() {
    let m = ClientMetadata {
        grant_types: Some(vec!["password".into()]),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        grant_types: Some(vec!["implicit".into()]),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        response_types: Some(vec!["code id_token".into()]),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        id_token_signed_response_alg: Some("RS256".into()),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        access_token_lifetime: Some(601),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
    let m = ClientMetadata {
        access_token_format: Some("paseto".into()),
        ..pkjwt()
    };
    assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata);
}

#[test]
fn r171_client_ids_are_unreserved_characters_and_never_look_like_users() {
    assert!(client_id_is_valid("partner-1.prod_x~"));
    for bad in ["", "a b", "a/b", "user-42", &"x".repeat(129)] {
        assert!(!client_id_is_valid(bad), "{bad:?}");
    }
}

#[test]
fn unknown_metadata_is_ignored() {
    let mut value = serde_json::to_value(pkjwt()).unwrap();
    value["software_version"] = json!("1.2");
    let metadata: ClientMetadata = serde_json::from_value(value).unwrap();
    assert!(Client::validate("c1", metadata, POLICY).is_ok());
}

#[test]
fn r41_r132_r142_signing_metadata_is_typed_and_defaults_to_off() {
    let client = Client::validate("c1", pkjwt(), POLICY).unwrap();
    assert!(!client.require_signed_request_object);
    assert_eq!(client.request_object_signing_alg, None);
    assert_eq!(client.authorization_signed_response_alg, None);
    assert_eq!(client.userinfo_signed_response_alg, None);
    let m = ClientMetadata {
        require_signed_request_object: Some(true),
        request_object_signing_alg: Some("PS256".into()),
        authorization_signed_response_alg: Some("ES256".into()),
        userinfo_signed_response_alg: Some("EdDSA".into()),
        ..pkjwt()
    };
    let client = Client::validate("c1", m, POLICY).unwrap();
    assert!(client.require_signed_request_object);
    assert_eq!(client.request_object_signing_alg, Some(Alg::Ps256));
    assert_eq!(client.authorization_signed_response_alg, Some(Alg::Es256));
    assert_eq!(client.userinfo_signed_response_alg, Some(Alg::EdDsa));
    // The metadata reads back with the new names.
    let value = serde_json::to_value(&client.metadata).unwrap();
    assert_eq!(value["require_signed_request_object"], true);
    assert_eq!(value["authorization_signed_response_alg"], "ES256");
}

#[test]
fn r132_r142_r180_request_object_jarm_and_userinfo_algs_are_on_the_allow_list() {
    for bad in ["RS256", "none", "HS256", "ES384", ""] {
        let cases = [
            ClientMetadata {
                request_object_signing_alg: Some(bad.into()),
                ..pkjwt()
            },
            ClientMetadata {
                authorization_signed_response_alg: Some(bad.into()),
                ..pkjwt()
            },
            ClientMetadata {
                userinfo_signed_response_alg: Some(bad.into()),
                ..pkjwt()
            },
        ];
        for m in cases {
            assert_eq!(code(&m).code, ErrorCode::InvalidClientMetadata, "{bad:?}");
        }
    }
}

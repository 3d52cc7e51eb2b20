use serde_json::json;

use super::*;
use crate::client::{ClientMetadata, ClientPolicy};
use crate::jose::{Alg, PrivateKey};

const CB: &str = "https://c.example/cb";
const CB_QUERY: &str = "https://c.example/cb2?dummy1=lorem&dummy2=ipsum";
/// RFC 7636 Appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// RFC 7638 §3.1.
const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
const OTHER_JKT: &str = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";

fn metadata() -> ClientMetadata {
    ClientMetadata {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(
            json!({ "keys": [PrivateKey::generate(Alg::Es256, "k1").unwrap().public_jwk().unwrap()] }),
        ),
        grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        redirect_uris: Some(vec![CB.into(), CB_QUERY.into()]),
        scope: Some("openid accounts payments".into()),
        ..ClientMetadata::default()
    }
}

fn client_from(metadata: ClientMetadata) -> Client {
    Client::validate(
        "c1",
        metadata,
        ClientPolicy {
            max_access_token_lifetime: 600,
        },
    )
    .unwrap()
}

fn client() -> Client {
    client_from(metadata())
}

fn params() -> BTreeMap<String, String> {
    [
        ("client_id", "c1"),
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid accounts"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("nonce", "no"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The base parameters with some changed (`Some`) or removed (`None`).
fn with(changes: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    let mut p = params();
    for (name, value) in changes {
        match value {
            Some(v) => p.insert((*name).to_owned(), (*v).to_owned()),
            None => p.remove(*name),
        };
    }
    p
}

fn ok(p: &BTreeMap<String, String>) -> AuthorizationRequest {
    validate(p, &client(), None, false).unwrap()
}

fn code(p: &BTreeMap<String, String>) -> ErrorCode {
    validate(p, &client(), None, false).unwrap_err().code
}

#[test]
fn r30_a_valid_pushed_request_is_kept_whole() {
    let r = ok(&params());
    assert_eq!(r.client_id, "c1");
    assert_eq!(r.redirect_uri, CB);
    assert_eq!(r.scope, "accounts openid");
    assert_eq!(r.state.as_deref(), Some("st"));
    assert_eq!(r.nonce.as_deref(), Some("no"));
    assert_eq!(r.code_challenge, CHALLENGE);
    assert_eq!(r.dpop_jkt, None);
    assert_eq!(r.response_mode, ResponseMode::Query);
    assert!(r.prompt.is_empty());
    assert_eq!(r.max_age, None);
    assert_eq!(r.acr_values, None);
    assert_eq!(r.claims, None);
    assert!(r.scope().contains("openid"));
    // Stored as JSON and read back unchanged; response_mode is lowercase.
    let stored = serde_json::to_value(&r).unwrap();
    assert_eq!(stored["response_mode"], "query");
    assert_eq!(
        serde_json::from_value::<AuthorizationRequest>(stored).unwrap(),
        r
    );
}

#[test]
fn r29_request_uri_in_a_pushed_request_is_refused() {
    let p = with(&[("request_uri", Some("urn:ietf:params:oauth:request_uri:x"))]);
    assert_eq!(code(&p), ErrorCode::InvalidRequest);
}

#[test]
fn r136_request_uri_in_a_request_object_is_refused() {
    let p = with(&[("request_uri", Some("urn:ietf:params:oauth:request_uri:x"))]);
    assert_eq!(
        validate(&p, &client(), None, true).unwrap_err().code,
        ErrorCode::InvalidRequestObject
    );
}

#[test]
fn r41_a_client_that_must_sign_cannot_send_plain_parameters() {
    let c = client_from(ClientMetadata {
        require_signed_request_object: Some(true),
        ..metadata()
    });
    assert_eq!(
        validate(&params(), &c, None, false).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
    assert!(validate(&params(), &c, None, true).is_ok());
    // Clients that need not sign may do either.
    assert!(validate(&params(), &client(), None, true).is_ok());
}

#[test]
fn r30_a_client_without_the_code_grant_is_unauthorized_before_anything_else() {
    let c = client_from(ClientMetadata {
        grant_types: Some(vec!["client_credentials".into()]),
        ..metadata()
    });
    assert_eq!(
        validate(&params(), &c, None, false).unwrap_err().code,
        ErrorCode::UnauthorizedClient
    );
    let bad = with(&[("response_type", Some("token")), ("redirect_uri", None)]);
    assert_eq!(
        validate(&bad, &c, None, false).unwrap_err().code,
        ErrorCode::UnauthorizedClient
    );
}

#[test]
fn r30_client_id_must_be_the_authenticated_client() {
    assert_eq!(
        code(&with(&[("client_id", Some("c2"))])),
        ErrorCode::InvalidRequest
    );
    assert_eq!(ok(&with(&[("client_id", None)])).client_id, "c1");
}

#[test]
fn r33_response_type_must_be_code() {
    for bad in ["token", "code id_token", "id_token", "Code", "code "] {
        assert_eq!(
            code(&with(&[("response_type", Some(bad))])),
            ErrorCode::UnsupportedResponseType,
            "{bad:?}"
        );
    }
    assert_eq!(
        code(&with(&[("response_type", None)])),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn r31_r137_redirect_uri_is_required_even_in_a_request_object() {
    let p = with(&[("redirect_uri", None)]);
    assert_eq!(code(&p), ErrorCode::InvalidRequest);
    assert_eq!(
        validate(&p, &client(), None, true).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn r32_redirect_uri_must_match_a_registered_one_byte_for_byte() {
    for bad in [
        "https://c.example/cb/extra",
        "https://c.example/cb/",
        "https://c.example/cb?x=1",
        "HTTPS://c.example/cb",
        "https://C.example/cb",
        "https://c.example:443/cb",
        "https://c.example/cb2?dummy2=ipsum&dummy1=lorem",
        "https://c.example/cb2",
        "https://attacker.example/cb",
    ] {
        assert_eq!(
            code(&with(&[("redirect_uri", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
    assert_eq!(
        ok(&with(&[("redirect_uri", Some(CB_QUERY))])).redirect_uri,
        CB_QUERY
    );
}

#[test]
fn r35_scope_must_be_valid_and_registered() {
    for bad in ["admin", "openid admin", "a\"b", "accounts\\x"] {
        assert_eq!(
            code(&with(&[("scope", Some(bad))])),
            ErrorCode::InvalidScope,
            "{bad}"
        );
    }
}

#[test]
fn r35_a_malformed_scope_and_an_unregistered_one_are_told_apart() {
    let refusal = |scope: &str| {
        let e = validate(&with(&[("scope", Some(scope))]), &client(), None, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope, "{scope}");
        e.description().to_owned()
    };
    // A scope the client did not register is named.
    assert_eq!(
        refusal("openid admin"),
        "scope admin is not registered for this client"
    );
    // A malformed one is called malformed, and nothing of it is echoed.
    let malformed = refusal("accounts a\"b");
    assert!(malformed.starts_with("scope is malformed"), "{malformed}");
    assert!(!malformed.contains("a\""), "{malformed}");
}

#[test]
fn r58_scope_order_is_irrelevant_and_no_scope_means_none() {
    assert_eq!(
        ok(&with(&[("scope", Some("payments  openid accounts"))])).scope,
        "accounts openid payments"
    );
    let r = ok(&with(&[("scope", None)]));
    assert_eq!(r.scope, "");
    assert!(!r.scope().contains("openid"));
}

#[test]
fn r34_code_challenge_is_required_and_an_s256_output() {
    for bad in [
        None,
        Some(&CHALLENGE[..42]),
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
        Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-plain-verifier"),
    ] {
        assert_eq!(
            code(&with(&[("code_challenge", bad)])),
            ErrorCode::InvalidRequest,
            "{bad:?}"
        );
    }
}

#[test]
fn r34_code_challenge_method_must_be_s256() {
    for bad in [None, Some("plain"), Some("s256"), Some("S512")] {
        assert_eq!(
            code(&with(&[("code_challenge_method", bad)])),
            ErrorCode::InvalidRequest,
            "{bad:?}"
        );
    }
}

#[test]
fn r37_dpop_jkt_must_be_a_thumbprint() {
    for bad in [
        "abc",
        &JKT[..42],
        "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
    ] {
        assert_eq!(
            code(&with(&[("dpop_jkt", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn r37_dpop_jkt_and_the_proof_at_par_must_agree() {
    let p = with(&[("dpop_jkt", Some(JKT))]);
    assert_eq!(
        validate(&p, &client(), Some(OTHER_JKT), false)
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    let same = validate(&p, &client(), Some(JKT), false).unwrap();
    assert_eq!(same.dpop_jkt.as_deref(), Some(JKT));
}

#[test]
fn r37_the_code_is_bound_to_the_parameter_or_the_proof() {
    assert_eq!(
        ok(&with(&[("dpop_jkt", Some(JKT))])).dpop_jkt.as_deref(),
        Some(JKT)
    );
    let header_only = validate(&params(), &client(), Some(OTHER_JKT), false).unwrap();
    assert_eq!(header_only.dpop_jkt.as_deref(), Some(OTHER_JKT));
}

#[test]
fn r43_state_up_to_2048_characters_is_kept_byte_identical() {
    let long = "s".repeat(MAX_STATE_CHARS);
    assert_eq!(ok(&with(&[("state", Some(&long))])).state, Some(long));
    let odd = "a b+c%20d/é\"<>&=?";
    assert_eq!(
        ok(&with(&[("state", Some(odd))])).state.as_deref(),
        Some(odd)
    );
    let too_long = "s".repeat(MAX_STATE_CHARS + 1);
    assert_eq!(
        code(&with(&[("state", Some(&too_long))])),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn r43_nonce_up_to_512_characters_is_kept_whole() {
    for len in [64, 384, MAX_NONCE_CHARS] {
        let nonce: String = "n0-_.~".chars().cycle().take(len).collect();
        assert_eq!(ok(&with(&[("nonce", Some(&nonce))])).nonce, Some(nonce));
    }
    let too_long = "n".repeat(MAX_NONCE_CHARS + 1);
    assert_eq!(
        code(&with(&[("nonce", Some(&too_long))])),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn r140_response_mode_is_query_or_jwt() {
    for (mode, want) in [
        (None, ResponseMode::Query),
        (Some("query"), ResponseMode::Query),
        (Some("jwt"), ResponseMode::Jwt),
        (Some("query.jwt"), ResponseMode::Jwt),
    ] {
        assert_eq!(
            ok(&with(&[("response_mode", mode)])).response_mode,
            want,
            "{mode:?}"
        );
    }
    for bad in [
        "fragment",
        "form_post",
        "fragment.jwt",
        "form_post.jwt",
        "JWT",
    ] {
        assert_eq!(
            code(&with(&[("response_mode", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
    let stored = serde_json::to_value(ok(&with(&[("response_mode", Some("jwt"))]))).unwrap();
    assert_eq!(stored["response_mode"], "jwt");
}

#[test]
fn r143_a_jarm_client_always_gets_jarm() {
    let c = client_from(ClientMetadata {
        authorization_signed_response_alg: Some("PS256".into()),
        ..metadata()
    });
    for mode in [None, Some("query")] {
        let r = validate(&with(&[("response_mode", mode)]), &c, None, false).unwrap();
        assert_eq!(r.response_mode, ResponseMode::Jwt, "{mode:?}");
    }
}

#[test]
fn r59_prompt_values_are_known_and_none_stands_alone() {
    let r = ok(&with(&[("prompt", Some("login consent login"))]));
    assert_eq!(r.prompt, ["login", "consent"]);
    assert!(r.prompts("login") && r.prompts("consent") && !r.prompts("none"));
    assert!(ok(&with(&[("prompt", Some("none"))])).prompts("none"));
    for bad in [
        "none login",
        "consent none",
        "select_account",
        "login bogus",
        "NONE",
    ] {
        assert_eq!(
            code(&with(&[("prompt", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn r59_max_age_is_a_non_negative_integer() {
    assert_eq!(ok(&with(&[("max_age", Some("0"))])).max_age, Some(0));
    assert_eq!(ok(&with(&[("max_age", Some("3600"))])).max_age, Some(3600));
    for bad in [
        "-1",
        "1.5",
        "+5",
        "1e3",
        "abc",
        " 5",
        "99999999999999999999",
    ] {
        assert_eq!(
            code(&with(&[("max_age", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn r60_claims_parameter_is_a_json_object_kept_as_sent() {
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}"#;
    let r = ok(&with(&[
        ("claims", Some(claims)),
        ("acr_values", Some("urn:x urn:y")),
    ]));
    assert_eq!(r.claims.as_deref(), Some(claims));
    assert_eq!(r.acr_values.as_deref(), Some("urn:x urn:y"));
    for bad in ["[1]", "\"x\"", "{", "not json"] {
        assert_eq!(
            code(&with(&[("claims", Some(bad))])),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
}

#[test]
fn r58_unknown_parameters_are_ignored() {
    let r = ok(&with(&[
        ("foo", Some("bar")),
        ("ui_locales", Some("de")),
        ("authorization_details", Some("[]")),
    ]));
    assert_eq!(r, ok(&params()));
}

#[test]
fn rfc6749_3_1_parameters_without_a_value_are_omitted() {
    let r = ok(&with(&[
        ("state", Some("")),
        ("nonce", Some("")),
        ("response_mode", Some("")),
        ("max_age", Some("")),
        ("dpop_jkt", Some("")),
        ("client_id", Some("")),
    ]));
    assert_eq!(r.state, None);
    assert_eq!(r.nonce, None);
    assert_eq!(r.response_mode, ResponseMode::Query);
    assert_eq!(r.max_age, None);
    assert_eq!(r.dpop_jkt, None);
    assert_eq!(
        code(&with(&[("redirect_uri", Some(""))])),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn r59_offline_access_only_with_prompt_consent() {
    let c = client_from(ClientMetadata {
        scope: Some("openid offline_access".into()),
        ..metadata()
    });
    let dropped = validate(
        &with(&[("scope", Some("openid offline_access"))]),
        &c,
        None,
        false,
    )
    .unwrap();
    assert_eq!(dropped.scope, "openid");
    let kept = validate(
        &with(&[
            ("scope", Some("openid offline_access")),
            ("prompt", Some("consent")),
        ]),
        &c,
        None,
        false,
    )
    .unwrap();
    assert_eq!(kept.scope, "offline_access openid");
}

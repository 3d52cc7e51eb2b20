use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::client::{ClientMetadata, ClientPolicy};
use crate::jose::PrivateKey;

const ISSUER: &str = "https://as.example";
const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

struct Fixture {
    key: PrivateKey,
    client: Client,
    keys: Vec<Map<String, Value>>,
}

fn fixture() -> Fixture {
    let key = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    let public = key.public_jwk().unwrap();
    let metadata = ClientMetadata {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(json!({ "keys": [public.clone()] })),
        grant_types: Some(vec!["client_credentials".into()]),
        ..ClientMetadata::default()
    };
    let client = Client::validate(
        "c1",
        metadata,
        ClientPolicy {
            max_access_token_lifetime: 600,
        },
    )
    .unwrap();
    Fixture {
        key,
        client,
        keys: vec![public],
    }
}

fn claims() -> Map<String, Value> {
    let value = json!({
        "iss": "c1", "sub": "c1", "aud": ISSUER, "jti": "j-1",
        "iat": NOW.unix(), "nbf": NOW.unix(), "exp": NOW.unix() + 60,
    });
    value.as_object().unwrap().clone()
}

fn with(changes: Value) -> Map<String, Value> {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.remove(k);
        } else {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn check(f: &Fixture, token: &str) -> Result<Assertion, AssertionError> {
    verify_assertion(token, &f.client, &f.keys, ISSUER, NOW)
}

fn rejected(f: &Fixture, token: &str) {
    match check(f, token) {
        Err(AssertionError::Rejected(e)) => assert_eq!(e.code, ErrorCode::InvalidClient),
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn r88_r94_a_valid_assertion_yields_its_jti() {
    let f = fixture();
    let out = check(&f, &f.key.sign("JWT", claims()).unwrap()).unwrap();
    assert_eq!(out.jti, "j-1");
    assert!(out.expires_at >= NOW.plus(60));
    assert_eq!(
        assertion_client_id(&f.key.sign("JWT", claims()).unwrap()).as_deref(),
        Some("c1")
    );
}

#[test]
fn r89_alg_none_is_refused() {
    let f = fixture();
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k1"})),
        b64(&Value::Object(claims()))
    );
    rejected(&f, &token);
}

#[test]
fn r89_hs256_signed_with_the_public_key_as_secret_is_refused() {
    let f = fixture();
    let secret = serde_json::to_vec(&f.keys[0]).unwrap();
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": "k1"})),
        b64(&Value::Object(claims()))
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    rejected(&f, &format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag)));
}

#[test]
fn r89_rs256_is_refused() {
    let f = fixture();
    let token = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "kid": "k1"})),
        b64(&Value::Object(claims()))
    );
    rejected(&f, &token);
}

#[test]
fn r89_a_key_not_in_the_jwks_is_unknown_and_a_wrong_signature_is_refused() {
    let f = fixture();
    let stranger = PrivateKey::generate(Alg::Es256, "other").unwrap();
    assert_eq!(
        check(&f, &stranger.sign("JWT", claims()).unwrap()),
        Err(AssertionError::UnknownKey)
    );
    // Same kid as the registered key, signed by another key.
    let impostor = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    rejected(&f, &impostor.sign("JWT", claims()).unwrap());
}

#[test]
fn r90_iss_and_sub_must_be_the_client() {
    let f = fixture();
    rejected(&f, &f.key.sign("JWT", with(json!({"sub": null}))).unwrap());
    rejected(&f, &f.key.sign("JWT", with(json!({"iss": "c2"}))).unwrap());
    rejected(&f, &f.key.sign("JWT", with(json!({"sub": "c2"}))).unwrap());
}

#[test]
fn r91_aud_must_be_exactly_the_issuer_string() {
    let f = fixture();
    for aud in [
        json!("https://other.example"),
        json!([ISSUER]),
        json!([ISSUER, "x"]),
        json!(format!("{ISSUER}/token")),
        json!(format!("{ISSUER}/par")),
    ] {
        rejected(&f, &f.key.sign("JWT", with(json!({ "aud": aud }))).unwrap());
    }
}

#[test]
fn r92_r95_exp_is_required_unexpired_and_bounded() {
    let f = fixture();
    rejected(&f, &f.key.sign("JWT", with(json!({"exp": null}))).unwrap());
    rejected(
        &f,
        &f.key
            .sign("JWT", with(json!({"exp": NOW.unix() - 300})))
            .unwrap(),
    );
    rejected(
        &f,
        &f.key
            .sign("JWT", with(json!({"exp": NOW.unix() + 86_400})))
            .unwrap(),
    );
}

#[test]
fn r93_iat_and_nbf_up_to_10_seconds_ahead_accepted_more_refused() {
    let f = fixture();
    let ahead = |s: i64| {
        with(json!({"iat": NOW.unix() + s, "nbf": NOW.unix() + s, "exp": NOW.unix() + s + 60}))
    };
    assert!(check(&f, &f.key.sign("JWT", ahead(8)).unwrap()).is_ok());
    assert!(check(&f, &f.key.sign("JWT", ahead(10)).unwrap()).is_ok());
    rejected(&f, &f.key.sign("JWT", ahead(70)).unwrap());
    rejected(&f, &f.key.sign("JWT", ahead(90)).unwrap());
}

#[test]
fn r94_jti_is_required() {
    let f = fixture();
    rejected(&f, &f.key.sign("JWT", with(json!({"jti": null}))).unwrap());
    rejected(&f, &f.key.sign("JWT", with(json!({"jti": ""}))).unwrap());
}

#[test]
fn r96_other_kinds_of_jwt_are_not_assertions() {
    let f = fixture();
    for typ in ["dpop+jwt", "at+jwt", "oauth-authz-req+jwt"] {
        rejected(&f, &f.key.sign(typ, claims()).unwrap());
    }
}

#[test]
fn r101_self_signed_certificate_must_be_in_the_jwks() {
    let der = b"certificate bytes".to_vec();
    let keys = vec![
        json!({"kty": "EC", "x5c": [STANDARD.encode(&der)]})
            .as_object()
            .unwrap()
            .clone(),
    ];
    assert!(self_signed_certificate_matches(&der, &keys));
    assert!(!self_signed_certificate_matches(
        b"another certificate",
        &keys
    ));
}

#[test]
fn r89_an_assertion_without_kid_is_verified_by_a_registered_key_of_its_type() {
    let f = fixture();
    let header = json!({"typ": "JWT"}).as_object().unwrap().clone();
    let token = f.key.sign_with_header(&header, claims()).unwrap();
    assert_eq!(check(&f, &token).unwrap().jti, "j-1");
    // No registered key of the signature's type: unknown.
    let ed = PrivateKey::generate(Alg::EdDsa, "k1").unwrap();
    let token = ed.sign_with_header(&header, claims()).unwrap();
    assert_eq!(check(&f, &token), Err(AssertionError::UnknownKey));
}

#[test]
fn r90_r95_assertions_made_by_assertion_claims_pass_the_check() {
    let f = fixture();
    let token = f
        .key
        .sign("JWT", assertion_claims("c1", ISSUER, "j-made", NOW))
        .unwrap();
    assert_eq!(
        check(&f, &token),
        Ok(Assertion {
            jti: "j-made".into(),
            expires_at: NOW.plus(ASSERTION_LIFETIME_SECS + MAX_FUTURE_SKEW_SECS),
        })
    );
    // Still valid at the end of its lifetime's skew, and not after.
    let later = NOW.plus(ASSERTION_LIFETIME_SECS + MAX_FUTURE_SKEW_SECS);
    assert!(verify_assertion(&token, &f.client, &f.keys, ISSUER, later).is_err());
    let other = f
        .key
        .sign(
            "JWT",
            assertion_claims("c1", "https://other.example", "j", NOW),
        )
        .unwrap();
    rejected(&f, &other);
}

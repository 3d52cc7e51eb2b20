use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::authorize::{self, ResponseMode};
use crate::client::{ClientMetadata, ClientPolicy};
use crate::jose::PrivateKey;

const ISSUER: &str = "https://as.example";
const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
const CB: &str = "https://c.example/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fixture {
    key: PrivateKey,
    client: Client,
    keys: Vec<Map<String, Value>>,
}

fn fixture_with(metadata: impl FnOnce(ClientMetadata) -> ClientMetadata) -> Fixture {
    let key = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    let public = key.public_jwk().unwrap();
    let base = ClientMetadata {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(json!({ "keys": [public.clone()] })),
        grant_types: Some(vec!["authorization_code".into()]),
        redirect_uris: Some(vec![CB.into()]),
        scope: Some("openid accounts".into()),
        ..ClientMetadata::default()
    };
    let client = Client::validate(
        "c1",
        metadata(base),
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

fn fixture() -> Fixture {
    fixture_with(|m| m)
}

fn claims() -> Map<String, Value> {
    let value = json!({
        "iss": "c1", "aud": ISSUER, "client_id": "c1", "jti": "r-1",
        "iat": NOW.unix(), "nbf": NOW.unix(), "exp": NOW.unix() + 300,
        "response_type": "code", "redirect_uri": CB, "scope": "openid accounts",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        "state": "st", "nonce": "no",
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

/// Signs the claims as they are, even with claims of the wrong JWT type.
fn sign(f: &Fixture, claims: Map<String, Value>) -> String {
    f.key
        .sign_with_header(&header(json!({"kid": "k1", "typ": TYP})), claims)
        .unwrap()
}

fn check(f: &Fixture, token: &str) -> Result<BTreeMap<String, String>, RequestObjectError> {
    verify(token, &f.client, &f.keys, ISSUER, NOW)
}

fn rejected(f: &Fixture, token: &str) {
    match check(f, token) {
        Err(RequestObjectError::Rejected(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidRequestObject);
        }
        other => panic!("expected invalid_request_object, got {other:?}"),
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn header(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn r131_a_valid_request_object_yields_its_parameters_as_text() {
    let f = fixture();
    let token = sign(
        &f,
        with(json!({
            "max_age": 300,
            "claims": {"id_token": {"acr": {"essential": true}}},
            "authorization_details": [{"type": "payment", "amount": 1.5}],
            "flag": true,
            "nothing": null,
        })),
    );
    let params = check(&f, &token).unwrap();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["redirect_uri"], CB);
    assert_eq!(params["client_id"], "c1");
    assert_eq!(params["max_age"], "300");
    assert_eq!(
        params["claims"],
        r#"{"id_token":{"acr":{"essential":true}}}"#
    );
    assert_eq!(
        params["authorization_details"],
        r#"[{"type":"payment","amount":1.5}]"#
    );
    assert_eq!(params["flag"], "true");
    for dropped in ["iss", "aud", "exp", "nbf", "iat", "jti", "nothing"] {
        assert!(!params.contains_key(dropped), "{dropped}");
    }
    // R131, R138: the parameters feed the authorization request checks as a signed request.
    let request = authorize::validate(&params, &f.client, None, true).unwrap();
    assert_eq!(request.max_age, Some(300));
    assert_eq!(request.nonce.as_deref(), Some("no"));
    assert_eq!(request.response_mode, ResponseMode::Query);
}

#[test]
fn r132_alg_none_is_refused() {
    let f = fixture();
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k1", "typ": TYP})),
        b64(&Value::Object(claims()))
    );
    rejected(&f, &token);
}

#[test]
fn r132_rs256_is_refused() {
    let f = fixture();
    let token = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "kid": "k1"})),
        b64(&Value::Object(claims()))
    );
    rejected(&f, &token);
}

#[test]
fn r132_hs256_signed_with_the_public_key_as_secret_is_refused() {
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
fn r132_a_bad_signature_or_another_clients_key_is_refused() {
    let f = fixture();
    // Same kid as the registered key, signed by another key.
    let impostor = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    rejected(&f, &impostor.sign(TYP, claims()).unwrap());
    // Tampered payload.
    let token = sign(&f, claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let tampered = b64(&Value::Object(with(json!({"scope": "openid admin"}))));
    parts[1] = &tampered;
    rejected(&f, &parts.join("."));
    // Not a JWS at all.
    rejected(&f, "not-a-jwt");
}

#[test]
fn r132_a_key_not_registered_for_the_client_is_unknown() {
    let f = fixture();
    let stranger = PrivateKey::generate(Alg::Es256, "other").unwrap();
    assert_eq!(
        check(&f, &stranger.sign(TYP, claims()).unwrap()),
        Err(RequestObjectError::UnknownKey)
    );
    assert_eq!(
        RequestObjectError::UnknownKey.error().code,
        ErrorCode::InvalidRequestObject
    );
    // Without kid, a key is chosen by type: an Ed25519 signature finds no P-256 key.
    let ed = PrivateKey::generate(Alg::EdDsa, "k1").unwrap();
    let token = ed
        .sign_with_header(&header(json!({"typ": TYP})), claims())
        .unwrap();
    assert_eq!(check(&f, &token), Err(RequestObjectError::UnknownKey));
    // Without kid, the registered key of the right type is used.
    let token = f
        .key
        .sign_with_header(&header(json!({"typ": TYP})), claims())
        .unwrap();
    assert!(check(&f, &token).is_ok());
}

#[test]
fn r132_the_registered_request_object_alg_is_enforced() {
    let f = fixture_with(|m| ClientMetadata {
        request_object_signing_alg: Some("PS256".into()),
        ..m
    });
    rejected(&f, &sign(&f, claims()));
    let f = fixture_with(|m| ClientMetadata {
        request_object_signing_alg: Some("ES256".into()),
        ..m
    });
    assert!(check(&f, &sign(&f, claims())).is_ok());
}

#[test]
fn r138_typ_is_absent_or_oauth_authz_req_jwt() {
    let f = fixture();
    for typ in [
        "oauth-authz-req+jwt",
        "OAUTH-AUTHZ-REQ+JWT",
        "application/oauth-authz-req+jwt",
    ] {
        assert!(
            check(&f, &f.key.sign(typ, claims()).unwrap()).is_ok(),
            "{typ}"
        );
    }
    let untyped = f
        .key
        .sign_with_header(&header(json!({"kid": "k1"})), claims())
        .unwrap();
    assert!(check(&f, &untyped).is_ok());
    for typ in ["JWT", "dpop+jwt", "at+jwt", "application/jwt", ""] {
        rejected(&f, &f.key.sign(typ, claims()).unwrap());
    }
}

#[test]
fn r135_iss_must_be_the_client() {
    let f = fixture();
    rejected(&f, &sign(&f, with(json!({"iss": "c2"}))));
    rejected(&f, &sign(&f, with(json!({"iss": null}))));
}

#[test]
fn r133_aud_is_the_issuer_or_an_array_containing_it() {
    let f = fixture();
    for aud in [json!(ISSUER), json!([ISSUER]), json!([ISSUER, "x"])] {
        assert!(
            check(&f, &sign(&f, with(json!({ "aud": aud })))).is_ok(),
            "{aud}"
        );
    }
    for aud in [
        json!("https://other.example"),
        json!(["x"]),
        json!([]),
        json!(format!("{ISSUER}/par")),
        json!(null),
        json!(1),
    ] {
        rejected(&f, &sign(&f, with(json!({ "aud": aud }))));
    }
}

#[test]
fn r135_client_id_claim_must_be_the_client() {
    let f = fixture();
    rejected(&f, &sign(&f, with(json!({"client_id": "c2"}))));
    rejected(&f, &sign(&f, with(json!({"client_id": null}))));
}

#[test]
fn r134_exp_and_nbf_are_required_integers() {
    let f = fixture();
    rejected(&f, &sign(&f, with(json!({"exp": null}))));
    rejected(&f, &sign(&f, with(json!({"nbf": null}))));
    rejected(
        &f,
        &sign(&f, with(json!({"exp": (NOW.unix() + 300).to_string()}))),
    );
    rejected(&f, &sign(&f, with(json!({"nbf": NOW.unix() as f64 + 0.5}))));
}

#[test]
fn r134_an_expired_request_object_is_refused() {
    let f = fixture();
    rejected(&f, &sign(&f, with(json!({"exp": NOW.unix()}))));
    rejected(
        &f,
        &sign(
            &f,
            with(json!({"nbf": NOW.unix() - 600, "exp": NOW.unix() - 1})),
        ),
    );
    assert!(check(&f, &sign(&f, with(json!({"exp": NOW.unix() + 1})))).is_ok());
}

#[test]
fn r134_nbf_up_to_10_seconds_ahead_accepted_more_refused() {
    let f = fixture();
    let ahead = |s: i64| with(json!({"nbf": NOW.unix() + s, "iat": NOW.unix() + s}));
    assert!(check(&f, &sign(&f, ahead(8))).is_ok());
    assert!(check(&f, &sign(&f, ahead(10))).is_ok());
    // iat stays at now, so only the nbf rule can refuse.
    for s in [11, 61, 90] {
        let token = sign(&f, with(json!({ "nbf": NOW.unix() + s })));
        assert_eq!(check(&f, &token), Err(FUTURE_NBF.into()), "{s}");
    }
}

#[test]
fn r134_nbf_at_most_an_hour_old() {
    let f = fixture();
    assert!(check(&f, &sign(&f, with(json!({"nbf": NOW.unix() - 3000})))).is_ok());
    // An unexpired object with such an old nbf also lives too long; the nbf rule speaks first.
    let token = sign(&f, with(json!({"nbf": NOW.unix() - 3601})));
    assert_eq!(check(&f, &token), Err(OLD_NBF.into()));
}

#[test]
fn r134_exp_minus_nbf_at_most_an_hour() {
    let f = fixture();
    assert!(
        check(
            &f,
            &sign(
                &f,
                with(json!({"nbf": NOW.unix(), "exp": NOW.unix() + 3600}))
            )
        )
        .is_ok()
    );
    let token = sign(
        &f,
        with(json!({"nbf": NOW.unix(), "exp": NOW.unix() + 3601})),
    );
    assert_eq!(check(&f, &token), Err(TOO_LONG.into()));
}

#[test]
fn r182_iat_in_the_future_is_refused() {
    let f = fixture();
    rejected(&f, &sign(&f, with(json!({"iat": NOW.unix() + 61}))));
    rejected(&f, &sign(&f, with(json!({"iat": "now"}))));
    assert!(check(&f, &sign(&f, with(json!({"iat": null})))).is_ok());
}

#[test]
fn r136_request_uri_claim_is_refused() {
    let f = fixture();
    rejected(
        &f,
        &sign(
            &f,
            with(json!({"request_uri": "urn:ietf:params:oauth:request_uri:x"})),
        ),
    );
}

#[test]
fn rfc9101_a_nested_request_claim_is_refused() {
    let f = fixture();
    let inner = sign(&f, claims());
    rejected(&f, &sign(&f, with(json!({ "request": inner }))));
}

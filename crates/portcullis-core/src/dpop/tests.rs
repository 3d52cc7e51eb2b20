use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::*;
use crate::jose::{PrivateKey, jwk_thumbprint, sha256_b64url};

const NOW: Timestamp = Timestamp::from_unix(1_700_000_000);
const URL: &str = "https://as.example.com/token";

fn expect() -> Expect<'static> {
    Expect {
        method: "POST",
        url: URL,
        now: NOW,
        access_token: None,
        nonce: None,
    }
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn claims() -> Map<String, Value> {
    obj(json!({ "jti": "jti-1", "htm": "POST", "htu": URL, "iat": NOW.unix() }))
}

fn claims_with(name: &str, value: Value) -> Map<String, Value> {
    let mut claims = claims();
    claims.insert(name.into(), value);
    claims
}

fn claims_without(name: &str) -> Map<String, Value> {
    let mut claims = claims();
    claims.remove(name);
    claims
}

fn es256() -> PrivateKey {
    PrivateKey::generate(Alg::Es256, "k").unwrap()
}

fn proof(key: &PrivateKey, claims: Map<String, Value>) -> String {
    key.sign_with_jwk(TYP, claims).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header).base64url(claims)`: the JWS signing input.
fn signing_input(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    format!(
        "{}.{}",
        b64(serde_json::to_vec(header).unwrap()),
        b64(serde_json::to_vec(claims).unwrap())
    )
}

/// An Ed25519 key that signs any header, to build proofs `PrivateKey` would not produce.
struct RawKey(Ed25519KeyPair);

impl RawKey {
    fn new() -> Self {
        Self(Ed25519KeyPair::generate().unwrap())
    }

    fn jwk(&self) -> Map<String, Value> {
        obj(json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(self.0.public_key()) }))
    }

    fn header(&self) -> Map<String, Value> {
        obj(json!({ "typ": TYP, "alg": "EdDSA", "jwk": self.jwk() }))
    }

    fn sign(&self, header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
        let input = signing_input(header, claims);
        let signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", b64(signature))
    }
}

fn header_with(key: &RawKey, name: &str, value: Value) -> Map<String, Value> {
    let mut header = key.header();
    header.insert(name.into(), value);
    header
}

fn accepted(token: &str, expect: &Expect<'_>) -> Proof {
    match validate(&[token], expect) {
        Ok(proof) => proof,
        Err(e) => panic!("refused: {e:?}"),
    }
}

fn refused(token: &str, expect: &Expect<'_>, want: OAuthError) {
    match validate(&[token], expect) {
        Err(DpopRejection::Invalid(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidDpopProof);
            assert_eq!(e, want);
        }
        other => panic!("expected {want}, got {other:?}"),
    }
}

/// Replaces one character in the middle of the signature part.
fn flip_signature(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 10;
    let mut chars: Vec<char> = token.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn r106_every_allowed_alg_is_accepted() {
    for alg in Alg::ALL {
        let key = PrivateKey::generate(alg, "k").unwrap();
        let got = accepted(&proof(&key, claims()), &expect());
        let public = key.public_jwk().unwrap();
        assert_eq!(got.jkt, jwk_thumbprint(&public).unwrap(), "{alg}");
        assert_eq!(got.jti, "jti-1");
        assert_eq!(got.iat, NOW);
        assert_eq!(got.jwk["kty"], public["kty"]);
    }
    let raw = RawKey::new();
    accepted(&raw.sign(&raw.header(), &claims()), &expect());
}

#[test]
fn r113_jkt_is_the_rfc7638_thumbprint_of_the_header_jwk() {
    let raw = RawKey::new();
    let got = accepted(&raw.sign(&raw.header(), &claims()), &expect());
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        b64(raw.0.public_key())
    );
    assert_eq!(got.jkt, sha256_b64url(canonical.as_bytes()));
    assert_eq!(got.jkt, jwk_thumbprint(&raw.jwk()).unwrap());
    assert_eq!(got.jwk, raw.jwk());
}

#[test]
fn r105_exactly_one_header_is_required() {
    let token = proof(&es256(), claims());
    assert_eq!(
        validate(&[], &expect()),
        Err(DpopRejection::Invalid(HEADER_COUNT))
    );
    assert_eq!(
        validate(&[&token, &token], &expect()),
        Err(DpopRejection::Invalid(HEADER_COUNT))
    );
    assert_eq!(HEADER_COUNT.code, ErrorCode::InvalidDpopProof);
}

#[test]
fn r105_not_a_compact_jws_is_refused() {
    let token = proof(&es256(), claims());
    let bad = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        ".b.c".into(),
        "a..c".into(),
        "a.b.c=".into(),
        format!("{token}.x"),
        format!(" {token}"),
        token.replace('.', ".."),
    ];
    for token in bad {
        refused(&token, &expect(), NOT_JWS);
    }
    let array = format!("{}.{}.", b64("[1]"), b64("{}"));
    refused(&array, &expect(), BAD_HEADER);
}

#[test]
fn r106_wrong_typ_is_refused() {
    let key = es256();
    for typ in ["JWT", "jwt", "at+jwt", "DPoP+JWT", "dpop+jwt "] {
        refused(
            &key.sign_with_jwk(typ, claims()).unwrap(),
            &expect(),
            BAD_TYP,
        );
    }
    let raw = RawKey::new();
    let header = header_with(&raw, "typ", json!(1));
    refused(&raw.sign(&header, &claims()), &expect(), BAD_TYP);
}

#[test]
fn r106_missing_typ_is_refused() {
    let raw = RawKey::new();
    let mut header = raw.header();
    header.remove("typ");
    refused(&raw.sign(&header, &claims()), &expect(), BAD_TYP);
}

#[test]
fn r106_alg_none_is_refused() {
    let raw = RawKey::new();
    let header = header_with(&raw, "alg", json!("none"));
    let token = format!("{}.", signing_input(&header, &claims()));
    refused(&token, &expect(), BAD_ALG);
    let mut header = raw.header();
    header.remove("alg");
    refused(&raw.sign(&header, &claims()), &expect(), BAD_ALG);
}

#[test]
fn r106_hs256_with_the_public_jwk_as_secret_is_refused() {
    let public = es256().public_jwk().unwrap();
    let secret = serde_json::to_vec(&public).unwrap();
    let header = obj(json!({ "typ": TYP, "alg": "HS256", "jwk": public }));
    let input = signing_input(&header, &claims());
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    refused(&format!("{input}.{}", b64(tag)), &expect(), BAD_ALG);
}

#[test]
fn r106_rs256_is_refused() {
    let mut public = PrivateKey::generate(Alg::Ps256, "k")
        .unwrap()
        .public_jwk()
        .unwrap();
    public.remove("alg");
    let header = obj(json!({ "typ": TYP, "alg": "RS256", "jwk": public }));
    let token = format!("{}.{}", signing_input(&header, &claims()), b64([7u8; 256]));
    refused(&token, &expect(), BAD_ALG);
}

#[test]
fn r106_missing_or_malformed_jwk_is_refused() {
    // PrivateKey::sign puts a kid in the header, not a jwk.
    refused(&es256().sign(TYP, claims()).unwrap(), &expect(), NO_JWK);
    let raw = RawKey::new();
    let as_text = Value::from(serde_json::to_string(&raw.jwk()).unwrap());
    for jwk in [as_text, json!(null), json!([raw.jwk()])] {
        let header = header_with(&raw, "jwk", jwk);
        refused(&raw.sign(&header, &claims()), &expect(), NO_JWK);
    }
}

#[test]
fn r106_private_jwk_is_refused() {
    let raw = RawKey::new();
    let mut jwk = raw.jwk();
    jwk.insert("d".into(), json!(b64([1u8; 32])));
    let header = header_with(&raw, "jwk", Value::Object(jwk));
    refused(&raw.sign(&header, &claims()), &expect(), PRIVATE_JWK);
    let oct = json!({ "kty": "oct", "k": b64([1u8; 32]) });
    let header = header_with(&raw, "jwk", oct);
    refused(&raw.sign(&header, &claims()), &expect(), PRIVATE_JWK);
}

#[test]
fn r106_bad_signature_is_refused() {
    for alg in Alg::ALL {
        let key = PrivateKey::generate(alg, "k").unwrap();
        let token = flip_signature(&proof(&key, claims()));
        refused(&token, &expect(), BAD_SIGNATURE);
    }
    // Signed by another key than the one in the header.
    let (raw, other) = (RawKey::new(), RawKey::new());
    refused(
        &other.sign(&raw.header(), &claims()),
        &expect(),
        BAD_SIGNATURE,
    );
}

#[test]
fn r181_crit_header_is_refused() {
    let raw = RawKey::new();
    let mut header = header_with(&raw, "crit", json!(["exp"]));
    header.insert("exp".into(), json!(1));
    refused(&raw.sign(&header, &claims()), &expect(), BAD_SIGNATURE);
}

mod claims;

use serde_json::json;

use super::*;
use crate::jose::{self, Alg, PrivateKey};
use crate::token::{Confirmation, Grant};

const ISSUER: &str = "https://as.example";
const RESOURCE: &str = "https://api.example";
const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

fn expect() -> Expect<'static> {
    Expect {
        issuer: ISSUER,
        resource: RESOURCE,
        now: NOW,
    }
}

/// The claims the authorization server puts in a JWT access token (core's own minting).
fn minted() -> Map<String, Value> {
    Grant {
        jti: "jti-1".into(),
        client_id: "c1".into(),
        subject: "alice".into(),
        scope: Scope::parse("accounts:read openid").unwrap(),
        audience: RESOURCE.into(),
        confirmation: Confirmation::Jkt(JKT.into()),
        issued_at: NOW.plus(-10),
        expires_at: NOW.plus(290),
    }
    .jwt_claims(ISSUER)
}

fn with(changes: Value) -> Map<String, Value> {
    let mut claims = minted();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// Signs `claims` with `typ` and returns them verified, as the resource server has them after
/// the signature check.
fn verified(typ: Option<&str>, claims: Map<String, Value>) -> Verified {
    let key = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    let mut header = Map::new();
    if let Some(typ) = typ {
        header.insert("typ".into(), json!(typ));
    }
    header.insert("kid".into(), json!("k1"));
    let token = key.sign_with_header(&header, claims).unwrap();
    jose::verify_jws(&token, &key.public_jwk().unwrap()).unwrap()
}

fn jwt(claims: Map<String, Value>) -> Result<ValidToken, OAuthError> {
    check_jwt(&verified(Some("at+jwt"), claims), &expect())
}

#[test]
fn r172_minted_token_passes_with_its_grant() {
    let token = jwt(minted()).unwrap();
    assert_eq!(token.subject, "alice");
    assert_eq!(token.client_id, "c1");
    assert_eq!(token.jti.as_deref(), Some("jti-1"));
    assert_eq!(token.expires_at, NOW.plus(290));
    assert!(token.scope.contains("accounts:read"));
    assert_eq!(token.confirmation, Some(Confirmation::Jkt(JKT.into())));
}

#[test]
fn r173_only_at_jwt_is_an_access_token() {
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        assert!(
            check_jwt(&verified(Some(typ), minted()), &expect()).is_ok(),
            "{typ}"
        );
    }
    for typ in [
        None,
        Some("JWT"),
        Some("dpop+jwt"),
        Some("token-introspection+jwt"),
    ] {
        let e = check_jwt(&verified(typ, minted()), &expect()).unwrap_err();
        assert_eq!(e, BAD_TYP, "{typ:?}");
        assert_eq!(e.code, ErrorCode::InvalidToken);
    }
}

#[test]
fn r172_issuer_and_audience_must_match() {
    assert_eq!(
        jwt(with(json!({"iss": "https://other.example"}))),
        Err(BAD_ISS)
    );
    assert_eq!(
        jwt(with(json!({"aud": "https://other.example"}))),
        Err(BAD_AUD)
    );
    assert_eq!(jwt(with(json!({"aud": null}))), Err(BAD_AUD));
    assert_eq!(jwt(with(json!({"aud": [ISSUER]}))), Err(BAD_AUD));
    assert!(jwt(with(json!({"aud": [ISSUER, RESOURCE]}))).is_ok());
}

#[test]
fn r172_expiry_and_future_claims() {
    assert_eq!(jwt(with(json!({"exp": NOW.unix()}))), Err(EXPIRED));
    assert!(jwt(with(json!({"exp": NOW.unix() + 1}))).is_ok());
    // R182: up to 10 s in the future passes, more does not.
    assert!(
        jwt(with(
            json!({"nbf": NOW.unix() + 10, "iat": NOW.unix() + 10})
        ))
        .is_ok()
    );
    assert_eq!(jwt(with(json!({"nbf": NOW.unix() + 11}))), Err(NOT_YET));
    assert_eq!(jwt(with(json!({"iat": NOW.unix() + 11}))), Err(NOT_YET));
    assert_eq!(jwt(with(json!({"nbf": "soon"}))), Err(MISSING));
}

#[test]
fn r172_required_claims() {
    for name in ["exp", "sub", "client_id", "iat", "jti"] {
        let mut changes = Map::new();
        changes.insert(name.into(), Value::Null);
        assert_eq!(jwt(with(Value::Object(changes))), Err(MISSING), "{name}");
    }
    assert_eq!(jwt(with(json!({"scope": ["a"]}))), Err(BAD_SCOPE));
    assert_eq!(jwt(with(json!({"scope": "a\"b"}))), Err(BAD_SCOPE));
    assert!(jwt(with(json!({"scope": null}))).unwrap().scope.is_empty());
}

#[test]
fn r113_r118_cnf_is_read_strictly() {
    let x5t = jose::x5t_s256(b"certificate");
    assert_eq!(
        jwt(with(json!({"cnf": {"x5t#S256": x5t}})))
            .unwrap()
            .confirmation,
        Some(Confirmation::X5tS256(x5t.clone()))
    );
    assert_eq!(jwt(with(json!({"cnf": null}))).unwrap().confirmation, None);
    for cnf in [
        json!("jkt"),
        json!({}),
        json!({"jkt": JKT, "x5t#S256": x5t}),
        json!({"jkt": "short"}),
        json!({"x5t#S256": 7}),
    ] {
        assert_eq!(jwt(with(json!({ "cnf": cnf }))), Err(BAD_CNF), "{cnf}");
    }
}

#[test]
fn r151_introspection_members_are_checked_like_claims() {
    let grant = Grant {
        jti: "jti-1".into(),
        client_id: "c1".into(),
        subject: "c1".into(),
        scope: Scope::parse("accounts:read").unwrap(),
        audience: RESOURCE.into(),
        confirmation: Confirmation::Jkt(JKT.into()),
        issued_at: NOW,
        expires_at: NOW.plus(300),
    };
    let members = grant.introspection(ISSUER);
    let token = check_introspection(&members, &expect()).unwrap();
    assert_eq!(token.client_id, "c1");
    assert_eq!(token.confirmation, Some(Confirmation::Jkt(JKT.into())));

    let mut inactive = Map::new();
    inactive.insert("active".into(), json!(false));
    assert_eq!(check_introspection(&inactive, &expect()), Err(INACTIVE));
    let mut other = members.clone();
    other.insert("active".into(), json!("true"));
    assert_eq!(check_introspection(&other, &expect()), Err(INACTIVE));
    let mut other = members.clone();
    other.insert("aud".into(), json!("https://other.example"));
    assert_eq!(check_introspection(&other, &expect()), Err(BAD_AUD));
    let mut other = members.clone();
    other.remove("exp");
    assert_eq!(check_introspection(&other, &expect()), Err(MISSING));
    // jti is optional in introspection (RFC 7662 §2.2), required in a JWT (RFC 9068 §2.2).
    let mut other = members;
    other.remove("jti");
    assert_eq!(check_introspection(&other, &expect()).unwrap().jti, None);
}

fn signed_introspection_claims(changes: Value) -> Map<String, Value> {
    let mut members = Map::new();
    members.insert("active".into(), json!(false));
    let mut claims = crate::token::signed_introspection(ISSUER, "rs1", NOW.plus(-5), members);
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    claims
}

#[test]
fn r154_signed_introspection_is_checked() {
    let ok = verified(
        Some("token-introspection+jwt"),
        signed_introspection_claims(json!({})),
    );
    assert_eq!(
        Value::Object(check_signed_introspection(&ok, ISSUER, "rs1", NOW).unwrap()),
        json!({"active": false})
    );
    let cases = [
        (Some("JWT"), json!({})),
        (Some("at+jwt"), json!({})),
        (
            Some("token-introspection+jwt"),
            json!({"iss": "https://other.example"}),
        ),
        (Some("token-introspection+jwt"), json!({"aud": "rs2"})),
        (Some("token-introspection+jwt"), json!({"iat": null})),
        (
            Some("token-introspection+jwt"),
            json!({"iat": NOW.unix() - 61}),
        ),
        (
            Some("token-introspection+jwt"),
            json!({"iat": NOW.unix() + 11}),
        ),
        (
            Some("token-introspection+jwt"),
            json!({"token_introspection": null}),
        ),
        (
            Some("token-introspection+jwt"),
            json!({"token_introspection": "x"}),
        ),
    ];
    for (typ, changes) in cases {
        let v = verified(typ, signed_introspection_claims(changes.clone()));
        assert_eq!(
            check_signed_introspection(&v, ISSUER, "rs1", NOW),
            Err(BAD_RESPONSE),
            "{typ:?} {changes}"
        );
    }
}

#[test]
fn cached_answers_never_outlive_the_token() {
    let exp = NOW.plus(100);
    assert_eq!(cache_until(NOW, 30, exp), Some(NOW.plus(30)));
    assert_eq!(cache_until(NOW, 300, exp), Some(exp));
    assert_eq!(
        cache_until(NOW, 0, exp),
        None,
        "lifetime zero: never cached"
    );
    assert_eq!(cache_until(NOW, -5, exp), None);
    assert_eq!(
        cache_until(NOW, 30, NOW),
        None,
        "an expired token is not cached"
    );
}

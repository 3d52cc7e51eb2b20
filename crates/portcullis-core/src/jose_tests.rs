//! Tests of the JOSE module.

use serde_json::json;

use super::*;

#[test]
fn r180_every_allowed_alg_signs_and_verifies() {
    for alg in Alg::ALL {
        let key = PrivateKey::generate(alg, "k1").unwrap();
        let public = key.public_jwk().unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let token = key.sign("JWT", claims).unwrap();
        let out = verify(&token, &public).unwrap();
        assert_eq!(out["sub"], "alice", "{alg}");
        let reloaded = PrivateKey::from_json(&key.to_json()).unwrap();
        assert_eq!(reloaded.kid(), "k1");
        assert_eq!(reloaded.alg(), alg);
    }
}

#[test]
fn r19_public_jwk_has_no_private_members() {
    for alg in Alg::ALL {
        let public = PrivateKey::generate(alg, "k")
            .unwrap()
            .public_jwk()
            .unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(!public.contains_key(private), "{alg} leaks {private}");
        }
        assert_eq!(public["kid"], "k");
        assert_eq!(public["alg"], alg.as_str());
    }
}

#[test]
fn r180_alg_allow_list() {
    for bad in ["none", "HS256", "RS256", "ES384", "PS512", ""] {
        assert_eq!(Alg::parse(bad), None, "{bad}");
    }
    assert_eq!(Alg::parse("Ed25519"), Some(Alg::EdDsa));
}

#[test]
fn r180_verify_refuses_hmac_with_public_key_as_secret() {
    let key = PrivateKey::generate(Alg::Es256, "k").unwrap();
    let public = key.public_jwk().unwrap();
    let secret = serde_json::to_vec(&public).unwrap();
    let signer = jws::HS256.signer_from_bytes(&secret).unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("k");
    let token = jwt::encode_with_signer(&JwtPayload::new(), &header, &signer).unwrap();
    assert!(verify(&token, &public).is_err());
}

#[test]
fn jwk_thumbprint_matches_rfc7638_vector() {
    // RFC 7638 §3.1 example RSA key.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let t = jwk_thumbprint(jwk.as_object().unwrap()).unwrap();
    assert_eq!(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn r181_crit_header_is_refused() {
    let key = PrivateKey::generate(Alg::Es256, "k").unwrap();
    let public = key.public_jwk().unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("k");
    header.set_critical(&vec!["exp"]);
    header.set_claim("exp", Some(json!(1))).unwrap();
    let token = jwt::encode_with_signer(&JwtPayload::new(), &header, key.signer.as_ref()).unwrap();
    assert!(verify_jws(&token, &public).is_err());
}

#[test]
fn verification_refuses_a_private_jwk_and_a_key_registered_for_another_alg() {
    let key = PrivateKey::generate(Alg::Es256, "k").unwrap();
    let token = key.sign("JWT", Map::new()).unwrap();
    let private: Map<String, Value> = serde_json::from_slice(&key.to_json()).unwrap();
    assert!(verify_jws(&token, &private).is_err());
    let mut public = key.public_jwk().unwrap();
    assert!(verify_jws(&token, &public).is_ok());
    public.insert("alg".into(), json!("PS256"));
    assert!(verify_jws(&token, &public).is_err());
}

#[test]
fn r98_key_strength() {
    for alg in Alg::ALL {
        assert!(is_strong_public_jwk(
            &PrivateKey::generate(alg, "k")
                .unwrap()
                .public_jwk()
                .unwrap()
        ));
    }
    let weak = Jwk::generate_rsa_key(1024)
        .unwrap()
        .to_public_key()
        .unwrap();
    assert!(!is_strong_public_jwk(weak.as_ref()));
    let p384 = Jwk::generate_ec_key(EcCurve::P384)
        .unwrap()
        .to_public_key()
        .unwrap();
    assert!(!is_strong_public_jwk(p384.as_ref()));
    assert!(is_private_jwk(
        &serde_json::from_slice(&PrivateKey::generate(Alg::EdDsa, "k").unwrap().to_json()).unwrap()
    ));
}

#[test]
fn a_token_without_kid_verifies_with_a_key_that_has_one() {
    for alg in Alg::ALL {
        let key = PrivateKey::generate(alg, "k1").unwrap();
        let public = key.public_jwk().unwrap();
        assert_eq!(public["kid"], "k1");
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let token = key.sign_with_header(&Map::new(), claims).unwrap();
        let header = peek_header(&token).unwrap();
        assert!(!header.contains_key("kid") && !header.contains_key("typ"));
        assert_eq!(verify_jws(&token, &public).unwrap().claims["sub"], "alice");
    }
}

#[test]
fn peek_header_needs_three_parts() {
    assert!(peek_header("a.b").is_err());
    assert!(peek_header("a.b.c.d").is_err());
    let key = PrivateKey::generate(Alg::Es256, "k").unwrap();
    let header = peek_header(&key.sign("dpop+jwt", Map::new()).unwrap()).unwrap();
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["kid"], "k");
}

#[test]
fn is_sha256_b64url_needs_43_canonical_base64url_characters() {
    assert!(is_sha256_b64url(&sha256_b64url(b"abc")));
    assert!(is_sha256_b64url(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    for bad in [
        "",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
        // Non-zero trailing bits: not the encoding of any 32 bytes.
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN",
    ] {
        assert!(!is_sha256_b64url(bad), "{bad:?}");
    }
}

#[test]
fn x5t_s256_is_base64url_sha256() {
    assert_eq!(
        x5t_s256(b"abc"),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
}

#[test]
fn sign_with_jwk_embeds_the_public_key_only() {
    for alg in Alg::ALL {
        let key = PrivateKey::generate(alg, "k").unwrap();
        let token = key.sign_with_jwk("dpop+jwt", Map::new()).unwrap();
        let header = peek_header(&token).unwrap();
        assert_eq!(header["typ"], "dpop+jwt");
        assert!(!header.contains_key("kid"), "{alg}");
        let jwk = header["jwk"].as_object().unwrap();
        assert!(!is_private_jwk(jwk), "{alg}");
        assert_eq!(
            jwk_thumbprint(jwk),
            jwk_thumbprint(&key.public_jwk().unwrap())
        );
        assert!(verify_jws(&token, jwk).is_ok(), "{alg}");
    }
}

/// `token` with one signature byte changed (a character well inside the signature's base64url).
fn tampered(token: &str) -> String {
    let at = token.len() - 10;
    let swap = if &token[at..=at] == "A" { "B" } else { "A" };
    format!("{}{swap}{}", &token[..at], &token[at + 1..])
}

#[test]
fn parsed_p256_keys_are_kept_per_key_and_the_store_stays_bounded() {
    let (a, b) = (
        PrivateKey::generate(Alg::Es256, "a").unwrap(),
        PrivateKey::generate(Alg::Es256, "b").unwrap(),
    );
    let (public_a, public_b) = (a.public_jwk().unwrap(), b.public_jwk().unwrap());
    let token = a.sign("JWT", Map::new()).unwrap();
    // Twice with the right key (the second from the store), never with the other one.
    assert!(verify(&token, &public_a).is_ok());
    assert!(verify(&token, &public_a).is_ok());
    assert!(verify(&token, &public_b).is_err());
    assert!(verify(&token, &public_b).is_err());
    assert!(verify(&tampered(&token), &public_a).is_err());
    // Past the bound the store starts over instead of growing.
    for i in 0..=P256_KEYS_MAX {
        let key = PrivateKey::generate(Alg::Es256, &i.to_string()).unwrap();
        let public = key.public_jwk().unwrap();
        assert!(verify(&key.sign("JWT", Map::new()).unwrap(), &public).is_ok());
        assert!(P256_KEYS.read().unwrap().len() <= P256_KEYS_MAX);
    }
    assert!(verify(&token, &public_a).is_ok());
}

#[test]
fn a_key_used_often_verifies_with_its_own_table_and_tables_stay_bounded() {
    let (a, b) = (
        PrivateKey::generate(Alg::Es256, "a").unwrap(),
        PrivateKey::generate(Alg::Es256, "b").unwrap(),
    );
    let (public_a, public_b) = (a.public_jwk().unwrap(), b.public_jwk().unwrap());
    let token = a.sign("JWT", Map::new()).unwrap();
    let tampered = tampered(&token);
    let entry = |jwk: &Map<String, Value>| {
        let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        let mut point = [4; 65];
        point[1..33].copy_from_slice(&coordinate("x"));
        point[33..].copy_from_slice(&coordinate("y"));
        p256_key(point).unwrap()
    };
    let key = entry(&public_a);
    for _ in 0..TABLE_AFTER {
        assert!(key.table.get().is_none() || cfg!(not(target_arch = "x86_64")));
        assert!(verify(&token, &public_a).is_ok());
    }
    // From the TABLE_AFTER-th signature on, the key's table answers, and answers the same.
    #[cfg(target_arch = "x86_64")]
    assert!(
        matches!(key.table.get(), Some(Some(_))),
        "no table after {TABLE_AFTER} uses"
    );
    for _ in 0..3 {
        assert!(verify(&token, &public_a).is_ok());
        assert!(verify(&tampered, &public_a).is_err());
        assert!(verify(&token, &public_b).is_err());
    }
    // With TABLES_MAX tables alive, another key gets none and keeps aws-lc's verification.
    TABLES.fetch_add(TABLES_MAX, Ordering::Relaxed);
    let other = entry(&public_b);
    let other_token = b.sign("JWT", Map::new()).unwrap();
    for _ in 0..=TABLE_AFTER {
        assert!(verify(&other_token, &public_b).is_ok());
    }
    assert!(
        matches!(other.table.get(), Some(None)),
        "a table past the bound"
    );
    TABLES.fetch_sub(TABLES_MAX, Ordering::Relaxed);
    assert!(verify(&other_token, &public_a).is_err());
}

#[test]
fn a_jws_decoded_once_verifies_against_each_candidate_key_and_refuses_bad_shapes() {
    let key = PrivateKey::generate(Alg::Es256, "k1").unwrap();
    let other = PrivateKey::generate(Alg::Es256, "k2").unwrap();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("alice"));
    let token = key.sign("JWT", claims).unwrap();
    let jws = Jws::decode(&token).unwrap();
    assert_eq!(jws.claims["sub"], "alice");
    assert_eq!(jws.header["kid"], "k1");
    // The same decoded token, against a wrong key and then the right one.
    assert!(jws.verify(&other.public_jwk().unwrap()).is_err());
    assert_eq!(jws.verify(&key.public_jwk().unwrap()).unwrap(), Alg::Es256);
    // Another payload under the same header and signature does not verify.
    let (head, rest) = token.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    let forged = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(b"{\"sub\":\"mallory\"}")
    );
    let forged = Jws::decode(&forged).unwrap();
    assert_eq!(forged.claims["sub"], "mallory");
    assert!(forged.verify(&key.public_jwk().unwrap()).is_err());
    // Not three parts, or a header or payload that is not a JSON object: not decoded.
    let array = URL_SAFE_NO_PAD.encode(b"[1]");
    for bad in [
        format!("{token}.x"),
        head.to_owned(),
        format!("{head}.{array}.{signature}"),
        format!("{array}.{array}.{signature}"),
        format!("{head}.!!.{signature}"),
    ] {
        assert!(Jws::decode(&bad).is_err(), "{bad}");
    }
}

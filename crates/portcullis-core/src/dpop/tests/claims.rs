//! DPoP proof claims: required members, `htm`/`htu`, time, `ath`, nonces and replay keys
//! (R107–R112, R115).

use super::*;

#[test]
fn r107_required_claims_are_refused_when_missing() {
    let key = es256();
    for (name, want) in [
        ("jti", BAD_JTI),
        ("htm", BAD_HTM),
        ("htu", BAD_HTU),
        ("iat", BAD_IAT),
    ] {
        refused(&proof(&key, claims_without(name)), &expect(), want);
    }
}

#[test]
fn r107_jti_must_be_a_short_non_empty_string() {
    let key = es256();
    for jti in ["", &"a".repeat(MAX_JTI_CHARS + 1)] {
        refused(
            &proof(&key, claims_with("jti", json!(jti))),
            &expect(),
            BAD_JTI,
        );
    }
    for jti in ["a".repeat(MAX_JTI_CHARS), "\u{e9}".repeat(MAX_JTI_CHARS)] {
        let got = accepted(&proof(&key, claims_with("jti", json!(jti))), &expect());
        assert_eq!(got.jti, jti);
    }
    // A jti that is not a string is refused too, by the same check.
    let raw = RawKey::new();
    for jti in [json!(1), json!(null)] {
        let token = raw.sign(&raw.header(), &claims_with("jti", jti));
        refused(&token, &expect(), BAD_JTI);
    }
}

#[test]
fn r107_iat_must_be_an_integer() {
    let key = es256();
    let fractional = json!(NOW.unix() as f64 + 0.5);
    refused(
        &proof(&key, claims_with("iat", fractional)),
        &expect(),
        BAD_IAT,
    );
    // An iat that is not a number is refused by the same check.
    let raw = RawKey::new();
    for iat in [json!(NOW.unix().to_string()), json!(null)] {
        let token = raw.sign(&raw.header(), &claims_with("iat", iat));
        refused(&token, &expect(), BAD_IAT);
    }
}

#[test]
fn r107_htm_must_match_the_method_exactly() {
    let key = es256();
    for htm in [json!("GET"), json!("post"), json!("POST "), json!(1)] {
        refused(&proof(&key, claims_with("htm", htm)), &expect(), BAD_HTM);
    }
    let get = Expect {
        method: "GET",
        ..expect()
    };
    accepted(&proof(&key, claims_with("htm", json!("GET"))), &get);
}

#[test]
fn r107_htu_must_match_the_url() {
    let key = es256();
    for htu in [
        "https://as.example.com/token2",
        "https://as.example.com/Token",
        "https://as.example.com/token/",
        "https://as.example.com/",
        "https://as.example.com",
        "https://other.example.com/token",
        "https://as.example.com.evil/token",
        "http://as.example.com/token",
        "https://as.example.com:8443/token",
        "https://user@as.example.com/token",
        "as.example.com/token",
        "/token",
        "",
    ] {
        refused(
            &proof(&key, claims_with("htu", json!(htu))),
            &expect(),
            BAD_HTU,
        );
    }
    refused(
        &proof(&key, claims_with("htu", json!(1))),
        &expect(),
        BAD_HTU,
    );
}

#[test]
fn r107_htu_query_and_fragment_are_ignored() {
    let key = es256();
    for htu in [
        "https://as.example.com/token?a=b#frag",
        "https://as.example.com/token#frag",
        "https://as.example.com/token?",
    ] {
        accepted(&proof(&key, claims_with("htu", json!(htu))), &expect());
    }
    let with_query = Expect {
        url: "https://as.example.com/token?x=1",
        ..expect()
    };
    accepted(&proof(&key, claims()), &with_query);
}

#[test]
fn r107_htu_scheme_host_case_and_default_port_are_normalised() {
    let key = es256();
    for htu in [
        "HTTPS://AS.EXAMPLE.COM/token",
        "https://As.Example.Com/token",
        "https://as.example.com:443/token",
        "HTTPS://AS.EXAMPLE.COM:443/token?x#y",
    ] {
        accepted(&proof(&key, claims_with("htu", json!(htu))), &expect());
    }
    let other_port = Expect {
        url: "https://as.example.com:8443/token",
        ..expect()
    };
    let htu = claims_with("htu", json!("https://AS.example.com:8443/token"));
    accepted(&proof(&key, htu), &other_port);
}

#[test]
fn r107_url_normalisation() {
    for (url, want) in [
        ("https://a.example", Some("https://a.example/")),
        ("https://a.example?q", Some("https://a.example/")),
        ("HTTP://A.Example:80/x?y#z", Some("http://a.example/x")),
        ("http://a.example:443/", Some("http://a.example:443/")),
        ("https://a.example:/p", Some("https://a.example/p")),
        ("https://a.example:0443/p", Some("https://a.example/p")),
        ("https://[::1]:443/p", Some("https://[::1]/p")),
        ("https://[::1]:8443/p", Some("https://[::1]:8443/p")),
        ("https://a.example/%7E/P", Some("https://a.example/%7E/P")),
        ("ftp://a.example/", None),
        ("https://", None),
        ("https:///p", None),
        ("https://u@a.example/", None),
        ("https://a.example:x/", None),
        ("https://a.example:+443/", None),
        ("https://a.example:99999/", None),
        ("https://a.example:1:2/", None),
        ("https://[::1/p", None),
        ("https://[::1]x/p", None),
        ("https://a b/", None),
        ("https://a.example/\u{e9}", None),
        ("a.example/p", None),
    ] {
        assert_eq!(normalize_url(url).as_deref(), want, "{url}");
    }
}

#[test]
fn r108_iat_up_to_ten_seconds_ahead_is_accepted() {
    let key = es256();
    let at = |secs: i64| claims_with("iat", json!(NOW.plus(secs).unix()));
    accepted(&proof(&key, at(MAX_FUTURE_SKEW_SECS)), &expect());
    refused(
        &proof(&key, at(MAX_FUTURE_SKEW_SECS + 1)),
        &expect(),
        FUTURE_IAT,
    );
    refused(&proof(&key, at(3600)), &expect(), FUTURE_IAT);
    assert_eq!(MAX_FUTURE_SKEW_SECS, 10);
}

#[test]
fn r108_proof_older_than_max_age_is_refused() {
    let key = es256();
    let at = |secs: i64| claims_with("iat", json!(NOW.plus(secs).unix()));
    accepted(&proof(&key, at(-MAX_AGE_SECS)), &expect());
    refused(&proof(&key, at(-MAX_AGE_SECS - 1)), &expect(), OLD_IAT);
    refused(&proof(&key, at(-3600)), &expect(), OLD_IAT);
    assert_eq!(MAX_AGE_SECS, 300);
}

#[test]
fn r110_extra_claims_and_header_parameters_are_ignored() {
    let key = es256();
    let mut extra = claims();
    extra.insert("nbf".into(), json!(NOW.plus(1000).unix()));
    extra.insert("exp".into(), json!(NOW.plus(-1000).unix()));
    extra.insert("nonce".into(), json!("not required here"));
    extra.insert("x-custom".into(), json!({ "a": [1, 2] }));
    accepted(&proof(&key, extra.clone()), &expect());
    let raw = RawKey::new();
    let mut header = header_with(&raw, "kid", json!("k"));
    header.insert("x-custom".into(), json!(true));
    accepted(&raw.sign(&header, &extra), &expect());
}

#[test]
fn r115_ath_is_required_with_an_access_token() {
    let key = es256();
    let rs = Expect {
        method: "GET",
        url: "https://as.example.com/userinfo",
        access_token: Some("token-value"),
        ..expect()
    };
    let base = obj(json!({
        "jti": "j", "htm": "GET", "htu": "https://as.example.com/userinfo", "iat": NOW.unix()
    }));
    let with_ath = |ath: Value| {
        let mut claims = base.clone();
        claims.insert("ath".into(), ath);
        claims
    };
    refused(&proof(&key, base.clone()), &rs, BAD_ATH);
    let other = sha256_b64url(b"other-token");
    for ath in [json!(other), json!(""), json!(1), json!("token-value")] {
        refused(&proof(&key, with_ath(ath)), &rs, BAD_ATH);
    }
    let good = json!(sha256_b64url(b"token-value"));
    accepted(&proof(&key, with_ath(good)), &rs);
}

#[test]
fn r115_ath_is_ignored_without_an_access_token() {
    let key = es256();
    accepted(
        &proof(&key, claims_with("ath", json!("anything"))),
        &expect(),
    );
}

fn nonce_key() -> NonceKey {
    NonceKey::new([7u8; 32])
}

#[test]
fn r112_missing_nonce_asks_for_one() {
    let nonces = nonce_key();
    let expect = Expect {
        nonce: Some(&nonces),
        ..expect()
    };
    let got = validate(&[&proof(&es256(), claims())], &expect);
    assert_eq!(got, Err(DpopRejection::UseNonce));
    assert_eq!(
        DpopRejection::UseNonce.error().code,
        ErrorCode::UseDpopNonce
    );
}

#[test]
fn r112_stale_wrong_or_malformed_nonce_asks_for_a_fresh_one() {
    let nonces = nonce_key();
    let expect = Expect {
        nonce: Some(&nonces),
        ..expect()
    };
    let stale = nonces.issue(NOW.plus(-2 * NONCE_WINDOW_SECS));
    let foreign = NonceKey::new([8u8; 32]).issue(NOW);
    for nonce in [json!(stale), json!(foreign), json!(1), json!("")] {
        let token = proof(&es256(), claims_with("nonce", nonce));
        assert_eq!(validate(&[&token], &expect), Err(DpopRejection::UseNonce));
    }
}

#[test]
fn r112_valid_nonce_is_accepted() {
    let nonces = nonce_key();
    let expect = Expect {
        nonce: Some(&nonces),
        ..expect()
    };
    for issued in [NOW, NOW.plus(-NONCE_WINDOW_SECS)] {
        let nonce = json!(nonces.issue(issued));
        accepted(&proof(&es256(), claims_with("nonce", nonce)), &expect);
    }
}

#[test]
fn r109_replay_key_is_unique_per_key_and_jti() {
    let (a, b) = (es256(), es256());
    let first = accepted(&proof(&a, claims()), &expect());
    let again = accepted(&proof(&a, claims()), &expect());
    let other_jti = accepted(&proof(&a, claims_with("jti", json!("jti-2"))), &expect());
    let other_key = accepted(&proof(&b, claims()), &expect());
    assert_eq!(replay_key(&first), replay_key(&again));
    assert_ne!(replay_key(&first), replay_key(&other_jti));
    assert_ne!(replay_key(&first), replay_key(&other_key));
}

#[test]
fn r109_replay_record_outlives_the_acceptance_window() {
    let key = es256();
    let token = proof(&key, claims());
    let last = Expect {
        now: NOW.plus(MAX_AGE_SECS),
        ..expect()
    };
    let got = accepted(&token, &last);
    assert_eq!(
        replay_expires_at(&got),
        NOW.plus(MAX_AGE_SECS + MAX_FUTURE_SKEW_SECS)
    );
    assert!(replay_expires_at(&got) > last.now);
    let after = Expect {
        now: NOW.plus(MAX_AGE_SECS + 1),
        ..expect()
    };
    refused(&token, &after, OLD_IAT);
}

#[test]
fn r111_rejection_maps_to_the_oauth_error() {
    assert_eq!(DpopRejection::Invalid(BAD_HTM).error(), BAD_HTM);
    assert_eq!(
        DpopRejection::UseNonce.error().code,
        ErrorCode::UseDpopNonce
    );
    assert_eq!(BAD_HTM.code, ErrorCode::InvalidDpopProof);
}

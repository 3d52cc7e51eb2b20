//! ID token claims (OIDC Core §2, §3.1.3.6; R124–R128).
//!
//! [`claims`] builds the payload; the server signs it with the client's
//! `id_token_signed_response_alg` and a published `kid` (R124) and returns it from the token
//! endpoint only (R123).

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::jose::Alg;
use crate::time::Timestamp;

/// What an ID token says.
#[derive(Clone, Debug)]
pub struct IdToken<'a> {
    /// The issuer identifier (`iss`).
    pub issuer: &'a str,
    /// The stable subject identifier (`sub`, R125, R130).
    pub subject: &'a str,
    /// The client it is issued to (`aud` and `azp`).
    pub client_id: &'a str,
    /// The nonce of the authorization request, if one was sent (R126).
    pub nonce: Option<&'a str>,
    /// When the user authenticated (`auth_time`, R127).
    pub auth_time: Timestamp,
    /// The authentication context class satisfied, if any (R127).
    pub acr: Option<&'a str>,
    /// The access token issued with it, for `at_hash` (R128).
    pub access_token: Option<&'a str>,
    /// The algorithm the token will be signed with: `at_hash` uses its hash (OIDC Core
    /// §3.1.3.6).
    pub alg: Alg,
    /// Issue time (`iat`).
    pub now: Timestamp,
    /// Lifetime in seconds: `exp = now + lifetime_secs`.
    pub lifetime_secs: i64,
    /// Further claims (userinfo claims requested for the ID token); they never replace the
    /// claims above.
    pub extra: Map<String, Value>,
}

/// The claims of an ID token (R125–R128): `iss`, `sub`, `aud` (the client_id as a string),
/// `azp`, `exp`, `iat`, `auth_time`, `nonce` only when sent, `acr` only when non-empty,
/// `at_hash` only with an access token, then `extra`.
pub fn claims(t: &IdToken<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    // R125: iss, sub, aud, exp, iat (OIDC Core §2); azp names the client too.
    claims.insert("iss".into(), json!(t.issuer));
    claims.insert("sub".into(), json!(t.subject));
    claims.insert("aud".into(), json!(t.client_id));
    claims.insert("azp".into(), json!(t.client_id));
    claims.insert("exp".into(), json!(t.now.plus(t.lifetime_secs).unix()));
    claims.insert("iat".into(), json!(t.now.unix()));
    // R127: auth_time is always given, so max_age and essential auth_time are satisfied.
    claims.insert("auth_time".into(), json!(t.auth_time.unix()));
    // R126: the nonce is echoed byte-identically, and only when one was sent.
    if let Some(nonce) = t.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    // R127: acr is never empty when present.
    if let Some(acr) = t.acr.filter(|a| !a.is_empty()) {
        claims.insert("acr".into(), json!(acr));
    }
    // R128: at_hash is correct when present (OIDC Core §3.1.3.6).
    if let Some(access_token) = t.access_token {
        claims.insert("at_hash".into(), json!(at_hash(access_token, t.alg)));
    }
    for (name, value) in &t.extra {
        if !claims.contains_key(name) && !REGISTERED.contains(&name.as_str()) {
            claims.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// The JWT claims RFC 7519 §4.1 registers: an extra claim (or a JARM parameter) never sets one (a
/// mistyped `nbf` would make the token unsignable, a `jti` or `nbf` of the user's data would
/// change its meaning).
pub(crate) const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// `at_hash` (OIDC Core §3.1.3.6): base64url of the left half of the hash of the access token's
/// ASCII text, with the hash of the ID token's `alg`: SHA-256 for PS256 and ES256, SHA-512 for
/// EdDSA over Ed25519 (the hash of RFC 8032; OpenID Connect working group consensus).
pub fn at_hash(access_token: &str, alg: Alg) -> String {
    let algorithm = match alg {
        Alg::Ps256 | Alg::Es256 => &digest::SHA256,
        Alg::EdDsa => &digest::SHA512,
    };
    let hash = digest::digest(algorithm, access_token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn token<'a>() -> IdToken<'a> {
        IdToken {
            issuer: "https://as.example",
            subject: "user-42",
            client_id: "c1",
            nonce: None,
            auth_time: NOW.plus(-30),
            acr: None,
            access_token: None,
            alg: Alg::Ps256,
            now: NOW,
            lifetime_secs: 300,
            extra: Map::new(),
        }
    }

    #[test]
    fn r125_iss_sub_aud_azp_exp_iat() {
        let c = claims(&token());
        assert_eq!(c["iss"], "https://as.example");
        assert_eq!(c["sub"], "user-42");
        assert_eq!(c["aud"], json!("c1"));
        assert_eq!(c["azp"], "c1");
        assert_eq!(c["iat"], NOW.unix());
        assert_eq!(c["exp"], NOW.unix() + 300);
        assert_eq!(c["auth_time"], NOW.unix() - 30);
        for absent in ["nonce", "acr", "at_hash"] {
            assert!(!c.contains_key(absent), "{absent}");
        }
    }

    #[test]
    fn r126_nonce_is_echoed_byte_identically_only_when_sent() {
        let nonce: String = "aZ09-._~ +/=é\"".chars().cycle().take(384).collect();
        let c = claims(&IdToken {
            nonce: Some(&nonce),
            ..token()
        });
        assert_eq!(c["nonce"].as_str(), Some(nonce.as_str()));
        assert!(!claims(&token()).contains_key("nonce"));
    }

    #[test]
    fn r127_acr_only_when_non_empty() {
        let c = claims(&IdToken {
            acr: Some("urn:mace:incommon:iap:silver"),
            ..token()
        });
        assert_eq!(c["acr"], "urn:mace:incommon:iap:silver");
        let c = claims(&IdToken {
            acr: Some(""),
            ..token()
        });
        assert!(!c.contains_key("acr"));
    }

    #[test]
    fn r128_at_hash_is_the_left_half_of_sha256_for_ps256_and_es256() {
        // OIDC Core §A.3/A.4 example access token and at_hash.
        let at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(at_hash(at, Alg::Ps256), "77QmUPtjPfzWtF2AnpK9RQ");
        // Computed independently for another token.
        let other = "an-access-token";
        let full = digest::digest(&digest::SHA256, other.as_bytes());
        let want = URL_SAFE_NO_PAD.encode(&full.as_ref()[..16]);
        for alg in [Alg::Ps256, Alg::Es256] {
            let c = claims(&IdToken {
                access_token: Some(other),
                alg,
                ..token()
            });
            assert_eq!(c["at_hash"].as_str(), Some(want.as_str()), "{alg}");
        }
    }

    #[test]
    fn r128_at_hash_uses_sha512_for_eddsa() {
        let at = "an-access-token";
        let full = digest::digest(&digest::SHA512, at.as_bytes());
        let want = URL_SAFE_NO_PAD.encode(&full.as_ref()[..32]);
        let c = claims(&IdToken {
            access_token: Some(at),
            alg: Alg::EdDsa,
            ..token()
        });
        assert_eq!(c["at_hash"].as_str(), Some(want.as_str()));
    }

    #[test]
    fn extra_claims_never_set_a_registered_jwt_claim() {
        // Found by the jarm_id_token fuzz target: a string `nbf` among the extra claims made
        // the ID token unsignable (josekit: "The JWT nbf header claim must be a number").
        let mut extra = Map::new();
        extra.insert("nbf".into(), json!("urn:x"));
        extra.insert("jti".into(), json!(5));
        extra.insert("name".into(), json!("A"));
        let c = claims(&IdToken { extra, ..token() });
        assert!(!c.contains_key("nbf") && !c.contains_key("jti"), "{c:?}");
        assert_eq!(c["name"], "A");
    }

    #[test]
    fn r129_extra_claims_are_added_but_never_replace_the_protocol_ones() {
        let mut extra = Map::new();
        extra.insert("email".into(), json!("a@example.com"));
        extra.insert("email_verified".into(), json!(true));
        extra.insert("sub".into(), json!("someone-else"));
        extra.insert("iss".into(), json!("https://evil.example"));
        let c = claims(&IdToken { extra, ..token() });
        assert_eq!(c["email"], "a@example.com");
        assert_eq!(c["email_verified"], true);
        assert_eq!(c["sub"], "user-42");
        assert_eq!(c["iss"], "https://as.example");
    }
}

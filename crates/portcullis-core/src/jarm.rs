//! JWT Secured Authorization Response Mode (JARM §2.1, §2.3; FAPI2-MS §5.4; R140–R142).
//!
//! [`claims`] builds the payload of the `response` JWT. The server signs it with the client's
//! `authorization_signed_response_alg` (never JARM's default RS256, R142) and a published `kid`,
//! and sends it as the only query parameter of the redirect (`query.jwt`, R140); `iss` then
//! travels inside the JWT (R141).

use serde_json::{Map, Value, json};

use crate::time::Timestamp;

/// R141, R183: a JARM response lives 10 minutes at most (JARM §2.1 recommends it).
pub const JARM_LIFETIME_SECS: i64 = 600;

/// The claims of a JARM response (R141): `iss`, `aud` (the client_id), `exp` ([`JARM_LIFETIME_SECS`]
/// after `now`), `iat`, then each response parameter: `code` and `state`, or `error`,
/// `error_description` and `state`. A parameter never replaces one of the first four, nor sets
/// another registered JWT claim.
pub fn claims(
    issuer: &str,
    client_id: &str,
    now: Timestamp,
    params: &[(&str, &str)],
) -> Map<String, Value> {
    let mut claims = Map::new();
    // R141: iss and aud inside the JWT (JARM §2.1; FAPI2-MS §5.4.1).
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(client_id));
    // R141, R183: short-lived.
    claims.insert("exp".into(), json!(now.plus(JARM_LIFETIME_SECS).unix()));
    claims.insert("iat".into(), json!(now.unix()));
    // R141: the authorization response parameters, as they would have been in the query.
    // A parameter never sets a registered JWT claim either (an `nbf` string would make the
    // response unsignable); the server's own parameters never have those names.
    for (name, value) in params {
        if !claims.contains_key(*name) && !crate::id_token::REGISTERED.contains(name) {
            claims.insert((*name).to_owned(), json!(value));
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    #[test]
    fn r141_success_response_claims() {
        let c = claims(
            "https://as.example",
            "c1",
            NOW,
            &[("code", "abc"), ("state", "s t")],
        );
        assert_eq!(c["iss"], "https://as.example");
        assert_eq!(c["aud"], json!("c1"));
        assert_eq!(c["exp"], NOW.unix() + 600);
        assert_eq!(c["iat"], NOW.unix());
        assert_eq!(c["code"], "abc");
        assert_eq!(c["state"], "s t");
        assert_eq!(c.len(), 6);
    }

    #[test]
    fn r141_error_response_claims() {
        let c = claims(
            "https://as.example",
            "c1",
            NOW,
            &[
                ("error", "access_denied"),
                ("error_description", "the user refused"),
                ("state", "s"),
            ],
        );
        assert_eq!(c["error"], "access_denied");
        assert_eq!(c["error_description"], "the user refused");
        assert_eq!(c["state"], "s");
        assert!(!c.contains_key("code"));
    }

    #[test]
    fn parameters_never_set_a_registered_jwt_claim() {
        // Found by the jarm_id_token fuzz target (the one-hour run of 2026-12-03): a parameter
        // named `nbf` with a string value made the response unsignable (josekit: "The JWT nbf
        // header claim must be a number").
        let c = claims(
            "https://as.example",
            "c1",
            NOW,
            &[
                ("nbf", "dboaecabc"),
                ("jti", "j"),
                ("sub", "s"),
                ("code", "x"),
            ],
        );
        assert!(
            !c.contains_key("nbf") && !c.contains_key("jti") && !c.contains_key("sub"),
            "{c:?}"
        );
        assert_eq!(c["code"], "x");
    }

    #[test]
    fn r141_r183_lifetime_is_at_most_ten_minutes() {
        let c = claims("https://as.example", "c1", NOW, &[]);
        let exp = c["exp"].as_i64().unwrap();
        assert!(exp > NOW.unix() && exp - NOW.unix() <= 600);
    }

    #[test]
    fn r141_parameters_never_replace_iss_aud_or_exp() {
        let c = claims(
            "https://as.example",
            "c1",
            NOW,
            &[
                ("iss", "https://evil.example"),
                ("aud", "c2"),
                ("exp", "9"),
                ("code", "x"),
            ],
        );
        assert_eq!(c["iss"], "https://as.example");
        assert_eq!(c["aud"], "c1");
        assert_eq!(c["exp"], NOW.unix() + 600);
        assert_eq!(c["code"], "x");
    }
}

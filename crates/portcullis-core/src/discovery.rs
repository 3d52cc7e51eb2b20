//! The authorization server metadata document (RFC 8414, OpenID Connect Discovery 1.0).
//!
//! One document serves both well-known paths (R1). Capability members state server policy (R4–R11,
//! R13); endpoint members are listed only for endpoints that exist, and every endpoint a client
//! calls directly is also listed under `mtls_endpoint_aliases` at the mTLS listener (R12), which
//! never holds `authorization_endpoint`.

use serde_json::{Map, Value, json};

use crate::jose::Alg;

/// Client authentication methods: no shared secrets, no `none` (R8, FAPI2-SP §5.3.2.1-3/-6).
pub const TOKEN_ENDPOINT_AUTH_METHODS: [&str; 3] = [
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
];

/// An endpoint of the authorization server, with its metadata member and path.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Endpoint {
    Authorization,
    Introspection,
    PushedAuthorization,
    Registration,
    /// Reports of resource servers (`docs/RESOURCE_SERVERS.md`); not an RFC 8414 member.
    ResourceEvents,
    Revocation,
    Token,
    Userinfo,
}

impl Endpoint {
    /// The metadata member naming this endpoint's URL.
    pub const fn member(self) -> &'static str {
        match self {
            Self::Authorization => "authorization_endpoint",
            Self::Introspection => "introspection_endpoint",
            Self::PushedAuthorization => "pushed_authorization_request_endpoint",
            Self::Registration => "registration_endpoint",
            Self::ResourceEvents => "resource_events_endpoint",
            Self::Revocation => "revocation_endpoint",
            Self::Token => "token_endpoint",
            Self::Userinfo => "userinfo_endpoint",
        }
    }

    /// The path of this endpoint below the issuer.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Authorization => "/authorize",
            Self::Introspection => "/introspect",
            Self::PushedAuthorization => "/par",
            Self::Registration => "/register",
            Self::ResourceEvents => "/resource-events",
            Self::Revocation => "/revoke",
            Self::Token => "/token",
            Self::Userinfo => "/userinfo",
        }
    }

    /// Whether clients call it directly, so that it gets an mTLS alias. The authorization
    /// endpoint is visited by browsers and must not be aliased (R12).
    pub const fn has_mtls_alias(self) -> bool {
        !matches!(self, Self::Authorization)
    }
}

/// Builds the metadata document.
///
/// `issuer` and `mtls_base` carry no trailing slash; `endpoints` lists the endpoints this server
/// serves, `grant_types` the grants its token endpoint accepts and `signing_algs` the algorithms
/// it holds keys for (what it signs with). Clients may use every allowed algorithm.
pub fn document(
    issuer: &str,
    mtls_base: &str,
    endpoints: &[Endpoint],
    grant_types: &[&str],
    signing_algs: &[Alg],
) -> Value {
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
    let server_algs: Vec<&str> = Alg::ALL
        .iter()
        .filter(|a| signing_algs.contains(a))
        .map(|a| a.as_str())
        .collect();
    let mut doc = Map::new();
    let mut put = |k: &str, v: Value| {
        doc.insert(k.to_owned(), v);
    };
    put("issuer", json!(issuer));
    put("jwks_uri", json!(format!("{issuer}/jwks")));
    put("scopes_supported", json!(["openid", "profile"]));
    put("response_types_supported", json!(["code"]));
    put("response_modes_supported", json!(["query"]));
    put("subject_types_supported", json!(["public"]));
    put("id_token_signing_alg_values_supported", json!(server_algs));
    put(
        "token_endpoint_auth_methods_supported",
        json!(TOKEN_ENDPOINT_AUTH_METHODS),
    );
    put(
        "token_endpoint_auth_signing_alg_values_supported",
        json!(algs),
    );
    put("require_pushed_authorization_requests", json!(true));
    put("code_challenge_methods_supported", json!(["S256"]));
    put(
        "authorization_response_iss_parameter_supported",
        json!(true),
    );
    put("tls_client_certificate_bound_access_tokens", json!(true));
    put("dpop_signing_alg_values_supported", json!(algs));

    if endpoints.contains(&Endpoint::Token) {
        put("grant_types_supported", json!(grant_types));
    }
    if endpoints.contains(&Endpoint::Authorization) {
        // R15: JARM (FAPI2-MS §5.4); R13: request objects (FAPI2-MS §5.3).
        put(
            "response_modes_supported",
            json!(["query", "jwt", "query.jwt"]),
        );
        put(
            "authorization_signing_alg_values_supported",
            json!(server_algs),
        );
        put("request_object_signing_alg_values_supported", json!(algs));
        put("request_parameter_supported", json!(true));
        put("request_uri_parameter_supported", json!(false));
        put("require_signed_request_object", json!(false));
        put(
            "prompt_values_supported",
            json!(["none", "login", "consent"]),
        );
        put("claims_parameter_supported", json!(false));
        put(
            "claims_supported",
            json!([
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "at_hash",
                "preferred_username",
                "name"
            ]),
        );
    }
    if endpoints.contains(&Endpoint::Userinfo) {
        put("userinfo_signing_alg_values_supported", json!(server_algs));
    }
    for (endpoint, prefix) in [
        (Endpoint::Introspection, "introspection"),
        (Endpoint::Revocation, "revocation"),
    ] {
        if endpoints.contains(&endpoint) {
            put(
                &format!("{prefix}_endpoint_auth_methods_supported"),
                json!(TOKEN_ENDPOINT_AUTH_METHODS),
            );
            put(
                &format!("{prefix}_endpoint_auth_signing_alg_values_supported"),
                json!(algs),
            );
        }
    }
    if endpoints.contains(&Endpoint::Introspection) {
        // RFC 9701 §7: JWT introspection responses.
        put(
            "introspection_signing_alg_values_supported",
            json!(server_algs),
        );
    }
    let mut aliases = Map::new();
    for endpoint in endpoints {
        put(
            endpoint.member(),
            json!(format!("{issuer}{}", endpoint.path())),
        );
        if endpoint.has_mtls_alias() {
            aliases.insert(
                endpoint.member().to_owned(),
                json!(format!("{mtls_base}{}", endpoint.path())),
            );
        }
    }
    put("mtls_endpoint_aliases", Value::Object(aliases));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://as.example";
    const MTLS: &str = "https://mtls.as.example";

    fn doc(endpoints: &[Endpoint]) -> Value {
        document(ISSUER, MTLS, endpoints, &["client_credentials"], &Alg::ALL)
    }

    #[test]
    fn r2_r3_issuer_and_jwks_uri() {
        let d = doc(&[]);
        assert_eq!(d["issuer"], ISSUER);
        assert_eq!(d["jwks_uri"], "https://as.example/jwks");
    }

    #[test]
    fn r8_auth_methods_are_exactly_the_fapi_ones() {
        assert_eq!(
            doc(&[])["token_endpoint_auth_methods_supported"],
            json!([
                "private_key_jwt",
                "tls_client_auth",
                "self_signed_tls_client_auth"
            ])
        );
    }

    #[test]
    fn r9_r10_r13_alg_lists_hold_only_allowed_algs() {
        let d = doc(&[]);
        for member in [
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_signing_alg_values_supported",
            "dpop_signing_alg_values_supported",
        ] {
            assert_eq!(d[member], json!(["PS256", "ES256", "EdDSA"]), "{member}");
        }
    }

    #[test]
    fn r13_server_signing_lists_follow_the_keys_it_holds() {
        let d = document(ISSUER, MTLS, &[Endpoint::Introspection], &[], &[Alg::Es256]);
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256"]));
        assert_eq!(
            d["introspection_signing_alg_values_supported"],
            json!(["ES256"])
        );
        // What clients sign with is not limited by the server's own keys.
        assert_eq!(
            d["token_endpoint_auth_signing_alg_values_supported"],
            json!(["PS256", "ES256", "EdDSA"])
        );
    }

    #[test]
    fn r4_to_r7_r11_policy_members() {
        let d = doc(&[]);
        assert_eq!(d["response_types_supported"], json!(["code"]));
        assert_eq!(d["require_pushed_authorization_requests"], json!(true));
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            d["authorization_response_iss_parameter_supported"],
            json!(true)
        );
        assert_eq!(d["tls_client_certificate_bound_access_tokens"], json!(true));
    }

    #[test]
    fn r12_aliases_point_at_mtls_listener_and_never_include_authorization() {
        let d = doc(&[
            Endpoint::Authorization,
            Endpoint::Token,
            Endpoint::PushedAuthorization,
        ]);
        let aliases = d["mtls_endpoint_aliases"].as_object().unwrap();
        assert_eq!(aliases["token_endpoint"], "https://mtls.as.example/token");
        assert_eq!(
            aliases["pushed_authorization_request_endpoint"],
            "https://mtls.as.example/par"
        );
        assert!(!aliases.contains_key("authorization_endpoint"));
        assert_eq!(d["authorization_endpoint"], "https://as.example/authorize");
    }

    #[test]
    fn the_resource_events_endpoint_is_advertised_with_its_mtls_alias() {
        let d = doc(&[Endpoint::ResourceEvents]);
        assert_eq!(
            d["resource_events_endpoint"],
            "https://as.example/resource-events"
        );
        assert_eq!(
            d["mtls_endpoint_aliases"]["resource_events_endpoint"],
            "https://mtls.as.example/resource-events"
        );
    }

    #[test]
    fn r14_r16_grant_types_and_endpoint_auth_methods_follow_the_endpoints() {
        let d = doc(&[
            Endpoint::Token,
            Endpoint::Introspection,
            Endpoint::Revocation,
        ]);
        assert_eq!(d["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            d["introspection_endpoint_auth_methods_supported"],
            d["token_endpoint_auth_methods_supported"]
        );
        assert_eq!(
            d["revocation_endpoint_auth_methods_supported"],
            d["token_endpoint_auth_methods_supported"]
        );
        assert_eq!(
            d["introspection_signing_alg_values_supported"],
            json!(["PS256", "ES256", "EdDSA"])
        );
        assert!(doc(&[]).get("grant_types_supported").is_none());
    }

    #[test]
    fn r13_r15_authorization_metadata_follows_the_endpoint() {
        let d = document(
            ISSUER,
            MTLS,
            &[Endpoint::Authorization, Endpoint::Userinfo],
            &[],
            &[Alg::Ps256],
        );
        assert_eq!(
            d["response_modes_supported"],
            json!(["query", "jwt", "query.jwt"])
        );
        assert_eq!(
            d["authorization_signing_alg_values_supported"],
            json!(["PS256"])
        );
        assert_eq!(d["userinfo_signing_alg_values_supported"], json!(["PS256"]));
        assert_eq!(
            d["request_object_signing_alg_values_supported"],
            json!(["PS256", "ES256", "EdDSA"])
        );
        let plain = doc(&[]);
        assert_eq!(plain["response_modes_supported"], json!(["query"]));
        assert!(
            plain
                .get("authorization_signing_alg_values_supported")
                .is_none()
        );
    }

    #[test]
    fn endpoints_not_built_are_not_advertised() {
        let d = doc(&[]);
        for e in [Endpoint::Token, Endpoint::Userinfo, Endpoint::Registration] {
            assert!(d.get(e.member()).is_none(), "{}", e.member());
        }
        assert_eq!(d["mtls_endpoint_aliases"], json!({}));
    }
}

//! Access tokens: sender constraint, RFC 9068 claims, the token response (R68, R69, R113, R118,
//! R172).

use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scope;
use crate::time::Timestamp;

/// How an access token is bound to its holder (RFC 8705 §3, RFC 9449 §6).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Confirmation {
    /// `cnf.jkt`: the RFC 7638 thumbprint of the DPoP key.
    Jkt(String),
    /// `cnf.x5t#S256`: the thumbprint of the client certificate.
    X5tS256(String),
}

impl Confirmation {
    /// The `cnf` claim value.
    pub fn cnf(&self) -> Value {
        match self {
            Self::Jkt(jkt) => json!({ "jkt": jkt }),
            Self::X5tS256(x5t) => json!({ "x5t#S256": x5t }),
        }
    }

    /// `DPoP` for DPoP-bound tokens, `Bearer` for certificate-bound ones (RFC 9449 §5).
    pub fn token_type(&self) -> &'static str {
        match self {
            Self::Jkt(_) => "DPoP",
            Self::X5tS256(_) => "Bearer",
        }
    }
}

/// Chooses how a new access token is bound (R68, R113, R114, R118): to the DPoP key when a proof
/// came, else to the client certificate; a client that registered one binding gets only that
/// one; with neither, no token is issued (FAPI2-SP §5.3.2.1-4).
pub fn sender_constraint(
    dpop_jkt: Option<&str>,
    certificate_x5t: Option<&str>,
    client: &Client,
) -> Result<Confirmation, OAuthError> {
    if client.tls_client_certificate_bound_access_tokens {
        return certificate_x5t
            .map(|x5t| Confirmation::X5tS256(x5t.to_owned()))
            .ok_or(OAuthError::new(
                ErrorCode::InvalidRequest,
                "this client's tokens are bound to its TLS certificate",
            ));
    }
    if let Some(jkt) = dpop_jkt {
        return Ok(Confirmation::Jkt(jkt.to_owned()));
    }
    // R114: dpop_bound_access_tokens clients must send a proof.
    if client.dpop_bound_access_tokens {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "a DPoP proof is required",
        ));
    }
    certificate_x5t
        .map(|x5t| Confirmation::X5tS256(x5t.to_owned()))
        .ok_or(OAuthError::new(
            ErrorCode::InvalidRequest,
            "a DPoP proof or a client certificate is required to bind the token",
        ))
}

/// R115, R116, R119: a presented token is honoured only with its binding: a DPoP-bound token
/// with the `DPoP` scheme and a proof by its key, a certificate-bound token over TLS with its
/// certificate.
pub fn binding_holds(
    confirmation: &Confirmation,
    dpop_scheme: bool,
    proof_jkt: Option<&str>,
    certificate_x5t: Option<&str>,
) -> bool {
    match confirmation {
        Confirmation::Jkt(jkt) => dpop_scheme && proof_jkt == Some(jkt.as_str()),
        Confirmation::X5tS256(x5t) => !dpop_scheme && certificate_x5t == Some(x5t.as_str()),
    }
}

/// What an access token grants, as minted and as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Grant {
    /// Unique token identifier.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner, or the client itself for client_credentials.
    pub subject: String,
    /// Granted scope.
    pub scope: Scope,
    /// Intended audience.
    pub audience: String,
    /// Sender constraint.
    pub confirmation: Confirmation,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl Grant {
    /// RFC 9068 §2.2 claims of a JWT access token (signed with `typ: at+jwt`, R172).
    pub fn jwt_claims(&self, issuer: &str) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("sub".into(), json!(self.subject));
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("client_id".into(), json!(self.client_id));
        claims.insert("jti".into(), json!(self.jti));
        claims.insert("iat".into(), json!(self.issued_at.unix()));
        claims.insert("exp".into(), json!(self.expires_at.unix()));
        if !self.scope.is_empty() {
            claims.insert("scope".into(), json!(self.scope.to_string()));
        }
        claims.insert("cnf".into(), self.confirmation.cnf());
        claims
    }

    /// The RFC 7662 introspection members of an active token (R151).
    pub fn introspection(&self, issuer: &str) -> Map<String, Value> {
        let mut members = self.jwt_claims(issuer);
        members.insert("active".into(), json!(true));
        members.insert("token_type".into(), json!(self.confirmation.token_type()));
        members
    }

    /// The token response body (RFC 6749 §5.1, R69).
    pub fn response(&self, access_token: &str, now: Timestamp) -> Value {
        let mut body = json!({
            "access_token": access_token,
            "token_type": self.confirmation.token_type(),
            "expires_in": (self.expires_at.unix() - now.unix()).max(0),
        });
        if !self.scope.is_empty() {
            body["scope"] = json!(self.scope.to_string());
        }
        body
    }
}

/// R154: the claims of a signed introspection response (RFC 9701 §5): the issuer, the
/// calling resource server as audience, the time, and the members of an active or inactive
/// token under `token_introspection`.
pub fn signed_introspection(
    issuer: &str,
    audience: &str,
    now: Timestamp,
    members: Map<String, Value>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(audience));
    claims.insert("iat".into(), json!(now.unix()));
    claims.insert("token_introspection".into(), Value::Object(members));
    claims
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client::{ClientMetadata, ClientPolicy};
    use crate::jose::{Alg, PrivateKey};

    fn client(dpop: Option<bool>, mtls: Option<bool>) -> Client {
        let metadata = ClientMetadata {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(
                json!({ "keys": [PrivateKey::generate(Alg::Es256, "k").unwrap().public_jwk().unwrap()] }),
            ),
            grant_types: Some(vec!["client_credentials".into()]),
            dpop_bound_access_tokens: dpop,
            tls_client_certificate_bound_access_tokens: mtls,
            ..ClientMetadata::default()
        };
        Client::validate(
            "c1",
            metadata,
            ClientPolicy {
                max_access_token_lifetime: 600,
            },
        )
        .unwrap()
    }

    #[test]
    fn r154_signed_introspection_names_issuer_audience_and_time() {
        let mut members = Map::new();
        members.insert("active".into(), json!(false));
        let claims = signed_introspection(
            "https://as.example",
            "rs1",
            Timestamp::from_unix(1_800_000_000),
            members,
        );
        assert_eq!(
            Value::Object(claims),
            json!({
                "iss": "https://as.example",
                "aud": "rs1",
                "iat": 1_800_000_000,
                "token_introspection": { "active": false },
            })
        );
    }

    #[test]
    fn r68_no_proof_of_possession_no_token() {
        let e = sender_constraint(None, None, &client(None, None)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn r113_r118_dpop_wins_over_the_certificate_unless_the_client_registered_mtls() {
        let c = client(None, None);
        assert_eq!(
            sender_constraint(Some("j"), Some("x"), &c).unwrap(),
            Confirmation::Jkt("j".into())
        );
        assert_eq!(
            sender_constraint(None, Some("x"), &c).unwrap(),
            Confirmation::X5tS256("x".into())
        );
        let mtls = client(None, Some(true));
        assert_eq!(
            sender_constraint(Some("j"), Some("x"), &mtls).unwrap(),
            Confirmation::X5tS256("x".into())
        );
        assert_eq!(
            sender_constraint(Some("j"), None, &mtls).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn r115_r116_r119_binding_holds_only_with_the_right_key_and_scheme() {
        let dpop = Confirmation::Jkt("k1".into());
        assert!(binding_holds(&dpop, true, Some("k1"), None));
        assert!(
            !binding_holds(&dpop, true, Some("k2"), None),
            "another DPoP key"
        );
        assert!(
            !binding_holds(&dpop, false, Some("k1"), None),
            "downgraded to Bearer"
        );
        assert!(!binding_holds(&dpop, true, None, Some("k1")), "no proof");
        let mtls = Confirmation::X5tS256("c1".into());
        assert!(binding_holds(&mtls, false, None, Some("c1")));
        assert!(
            !binding_holds(&mtls, false, None, Some("c2")),
            "another certificate"
        );
        assert!(!binding_holds(&mtls, false, None, None), "no certificate");
        assert!(
            !binding_holds(&mtls, true, Some("c1"), Some("c1")),
            "DPoP scheme for a certificate-bound token"
        );
    }

    #[test]
    fn r114_dpop_bound_clients_must_send_a_proof() {
        let c = client(Some(true), None);
        assert_eq!(
            sender_constraint(None, Some("x"), &c).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert!(sender_constraint(Some("j"), Some("x"), &c).is_ok());
    }

    fn grant(confirmation: Confirmation) -> Grant {
        Grant {
            jti: "j".into(),
            client_id: "c1".into(),
            subject: "c1".into(),
            scope: Scope::parse("b a").unwrap(),
            audience: "https://as.example".into(),
            confirmation,
            issued_at: Timestamp::from_unix(100),
            expires_at: Timestamp::from_unix(400),
        }
    }

    #[test]
    fn r113_r118_token_type_and_cnf_follow_the_binding() {
        let dpop = grant(Confirmation::Jkt("thumb".into()));
        assert_eq!(
            dpop.response("t", Timestamp::from_unix(100))["token_type"],
            "DPoP"
        );
        assert_eq!(dpop.jwt_claims("i")["cnf"], json!({"jkt": "thumb"}));
        let mtls = grant(Confirmation::X5tS256("x5t".into()));
        assert_eq!(
            mtls.response("t", Timestamp::from_unix(100))["token_type"],
            "Bearer"
        );
        assert_eq!(mtls.introspection("i")["cnf"], json!({"x5t#S256": "x5t"}));
    }

    #[test]
    fn r172_jwt_claims_are_complete() {
        let c = grant(Confirmation::Jkt("t".into())).jwt_claims("https://as.example");
        for name in [
            "iss",
            "sub",
            "aud",
            "client_id",
            "jti",
            "iat",
            "exp",
            "scope",
            "cnf",
        ] {
            assert!(c.contains_key(name), "{name}");
        }
        assert_eq!(c["scope"], "a b");
    }

    #[test]
    fn r69_response_has_expires_in() {
        let body = grant(Confirmation::Jkt("t".into())).response("tok", Timestamp::from_unix(100));
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["access_token"], "tok");
        assert!(body.get("refresh_token").is_none());
    }
}

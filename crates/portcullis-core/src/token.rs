//! Access tokens: sender constraint, RFC 9068 claims, the token response (R68, R69, R113, R118,
//! R172).

use serde_json::{Map, Value, json};

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

#[cfg(test)]
mod tests {
    use super::*;

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

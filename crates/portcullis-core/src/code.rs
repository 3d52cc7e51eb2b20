//! Redeeming an authorization code at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6,
//! RFC 9449 §10; R72, R75–R78).
//!
//! The store spends the code once (R73, R74); [`redeem`] then decides whether the spent code
//! yields tokens for this request. A code presented by another client also ends its grant, since
//! it has leaked (R72). A refused redemption leaves the code spent, whatever the reason: a code
//! gets one attempt, so its verifier, key or redirect URI cannot be guessed at (RFC 6749 does not
//! say a failed redemption keeps the code usable).

use crate::error::{ErrorCode, OAuthError};
use crate::pkce;

/// What a code was issued for, as stored.
#[derive(Clone, Copy, Debug)]
pub struct IssuedCode<'a> {
    /// The client it was issued to.
    pub client_id: &'a str,
    /// The redirect URI of the authorization request.
    pub redirect_uri: &'a str,
    /// The S256 PKCE challenge of the authorization request.
    pub code_challenge: &'a str,
    /// The DPoP key the code is bound to, if any.
    pub dpop_jkt: Option<&'a str>,
    /// Whether the grant behind the code has been revoked meanwhile.
    pub grant_revoked: bool,
}

/// What a token request presents with the code.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// The authenticated client.
    pub client_id: &'a str,
    /// The `redirect_uri` parameter, if sent (it is required: R75).
    pub redirect_uri: Option<&'a str>,
    /// The `code_verifier` parameter, if sent.
    pub code_verifier: Option<&'a str>,
    /// The thumbprint of the request's DPoP proof key, if any.
    pub proof_jkt: Option<&'a str>,
}

/// Why a spent code yields nothing.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Refusal {
    /// R72: presented by another client; the grant must be revoked too.
    OtherClient,
    /// Any other rule: the error to answer.
    Invalid(OAuthError),
}

impl Refusal {
    /// The `invalid_grant` error to answer.
    pub fn error(self) -> OAuthError {
        match self {
            Self::OtherClient => invalid_grant("the code was issued to another client"),
            Self::Invalid(e) => e,
        }
    }

    /// Whether the grant behind the code must be revoked.
    pub fn revokes_grant(&self) -> bool {
        *self == Self::OtherClient
    }
}

const fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// Whether the spent `code` yields tokens for `presented`.
pub fn redeem(code: &IssuedCode<'_>, presented: &Presented<'_>) -> Result<(), Refusal> {
    // R72: issued to this client.
    if code.client_id != presented.client_id {
        return Err(Refusal::OtherClient);
    }
    // R75: the redirect URI of the authorization request, byte for byte. Every pushed request
    // carries one (R31), so the token request must too (RFC 6749 §4.1.3).
    match presented.redirect_uri {
        None => {
            return Err(Refusal::Invalid(OAuthError::new(
                ErrorCode::InvalidRequest,
                "redirect_uri is required: send the one of the authorization request",
            )));
        }
        Some(uri) if uri != code.redirect_uri => {
            return Err(Refusal::Invalid(invalid_grant(
                "redirect_uri does not match the authorization request",
            )));
        }
        Some(_) => {}
    }
    // R76, R77: the PKCE verifier for the recorded S256 challenge.
    match presented.code_verifier {
        Some(verifier) if pkce::verify(verifier, code.code_challenge) => {}
        _ => {
            return Err(Refusal::Invalid(invalid_grant(
                "code_verifier is missing or wrong",
            )));
        }
    }
    // R78: a code bound to a DPoP key is redeemed with that key only.
    if let Some(bound) = code.dpop_jkt
        && presented.proof_jkt != Some(bound)
    {
        return Err(Refusal::Invalid(invalid_grant(
            "the code is bound to another DPoP key",
        )));
    }
    if code.grant_revoked {
        return Err(Refusal::Invalid(invalid_grant(
            "the authorization has been revoked",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn code(dpop_jkt: Option<&str>, grant_revoked: bool) -> IssuedCode<'_> {
        IssuedCode {
            client_id: "c1",
            redirect_uri: "https://rp.example/cb",
            code_challenge: CHALLENGE,
            dpop_jkt,
            grant_revoked,
        }
    }

    fn presented<'a>() -> Presented<'a> {
        Presented {
            client_id: "c1",
            redirect_uri: Some("https://rp.example/cb"),
            code_verifier: Some(VERIFIER),
            proof_jkt: None,
        }
    }

    fn refused(code: &IssuedCode<'_>, p: &Presented<'_>) -> String {
        let e = redeem(code, p).unwrap_err().error();
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        e.description().to_owned()
    }

    #[test]
    fn a_matching_request_redeems_the_code() {
        assert_eq!(redeem(&code(None, false), &presented()), Ok(()));
    }

    #[test]
    fn r75_the_redirect_uri_is_required() {
        let no_uri = Presented {
            redirect_uri: None,
            ..presented()
        };
        let e = redeem(&code(None, false), &no_uri).unwrap_err();
        assert!(!e.revokes_grant());
        let e = e.error();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description().contains("redirect_uri"), "{e}");
    }

    #[test]
    fn r72_another_client_is_refused_and_the_grant_revoked() {
        let p = Presented {
            client_id: "c2",
            ..presented()
        };
        let e = redeem(&code(None, false), &p).unwrap_err();
        assert!(e.revokes_grant());
        assert_eq!(e.error().code, ErrorCode::InvalidGrant);
    }

    #[test]
    fn r75_a_different_redirect_uri_is_refused() {
        let p = Presented {
            redirect_uri: Some("https://rp.example/other"),
            ..presented()
        };
        assert!(refused(&code(None, false), &p).contains("redirect_uri"));
        assert!(!redeem(&code(None, false), &p).unwrap_err().revokes_grant());
    }

    #[test]
    fn r76_r77_the_pkce_verifier_is_required_and_checked() {
        for verifier in [None, Some("wrong-verifier-wrong-verifier-wrong-verifier")] {
            let p = Presented {
                code_verifier: verifier,
                ..presented()
            };
            assert!(refused(&code(None, false), &p).contains("code_verifier"));
        }
    }

    #[test]
    fn r78_a_dpop_bound_code_needs_its_key() {
        let bound = code(Some("jkt-1"), false);
        for proof in [None, Some("jkt-2")] {
            let p = Presented {
                proof_jkt: proof,
                ..presented()
            };
            assert!(refused(&bound, &p).contains("DPoP"));
        }
        let p = Presented {
            proof_jkt: Some("jkt-1"),
            ..presented()
        };
        assert_eq!(redeem(&bound, &p), Ok(()));
    }

    #[test]
    fn a_revoked_grant_yields_nothing() {
        assert!(refused(&code(None, true), &presented()).contains("revoked"));
    }
}

//! The authorization endpoint after the pushed request (RFC 9126 §4, OIDC Core §3.1.2.3): is
//! the `request_uri` still usable by this client (R46–R48), and what comes next for the person
//! in the browser: signing in, consenting, or the code (R59).
//!
//! The server loads the pushed request, the session and the remembered consent, and asks
//! [`pushed_request_usable`] and [`next_step`]; it never decides these rules itself.

use crate::authorize::AuthorizationRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scope;
use crate::time::Timestamp;

/// What the authorization endpoint does next.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Step {
    /// Ask for consent (the consent page).
    Consent,
    /// Issue the code and redirect to the client.
    Issue,
    /// Ask the person to sign in (the sign-in page).
    Login,
}

/// The signed-in person, as far as the rules care.
#[derive(Clone, Copy, Debug)]
pub struct SignedIn {
    /// When they last authenticated.
    pub auth_time: Timestamp,
    /// Whether they signed in on this very request (which satisfies `prompt=login` and
    /// `max_age`).
    pub fresh: bool,
}

/// R59: a session as the rules see it on a request whose interaction started at `started` (when
/// the browser first reached the authorization endpoint with it; `None` if it never did). A
/// sign-in at or after that moment was made for this request, so it satisfies `prompt=login` and
/// `max_age` on every later step (the consent page, its form, a reload); an older one does not.
pub fn signed_in(auth_time: Timestamp, started: Option<Timestamp>) -> SignedIn {
    SignedIn {
        auth_time,
        fresh: started.is_some_and(|started| auth_time >= started),
    }
}

/// R46–R48: a pushed request is used only by the client that pushed it, before it expires (an
/// unknown or already used `request_uri` is never found, so it fails the same way).
pub fn pushed_request_usable(
    pushed_by: &str,
    expires_at: Timestamp,
    client_id: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    if pushed_by == client_id && now < expires_at {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::InvalidRequestUri,
        "the request_uri is unknown, expired, used or not this client's",
    ))
}

/// R59: the next step for `request`, given who is signed in and the scope they consented to
/// this client before (`None`: never). `prompt=none` turns a needed sign-in into
/// `login_required` and a needed consent into `consent_required`, both redirected to the client.
pub fn next_step(
    request: &AuthorizationRequest,
    signed_in: Option<SignedIn>,
    remembered: Option<&Scope>,
    now: Timestamp,
) -> Result<Step, OAuthError> {
    // R59: prompt=login and max_age force a new sign-in.
    let needs_login = match signed_in {
        None => true,
        Some(s) => {
            !s.fresh
                && (request.prompts("login")
                    || request
                        .max_age
                        .is_some_and(|max| now.unix() - s.auth_time.unix() > max))
        }
    };
    let step = if needs_login {
        Step::Login
    } else if request.prompts("consent")
        || !remembered.is_some_and(|granted| request.scope().is_subset(granted))
    {
        Step::Consent
    } else {
        Step::Issue
    };
    if request.prompts("none") {
        match step {
            Step::Login => {
                return Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user is not signed in",
                ));
            }
            Step::Consent => {
                return Err(OAuthError::new(
                    ErrorCode::ConsentRequired,
                    "the user has not consented",
                ));
            }
            Step::Issue => {}
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::ResponseMode;

    const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn request(scope: &str, prompt: &[&str], max_age: Option<i64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c1".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: scope.into(),
            state: None,
            nonce: None,
            code_challenge: "x".repeat(43),
            dpop_jkt: None,
            response_mode: ResponseMode::Query,
            prompt: prompt.iter().map(|p| (*p).to_owned()).collect(),
            max_age,
            acr_values: None,
            claims: None,
        }
    }

    fn session(age: i64, fresh: bool) -> Option<SignedIn> {
        Some(SignedIn {
            auth_time: NOW.plus(-age),
            fresh,
        })
    }

    #[test]
    fn r46_r47_a_pushed_request_is_for_its_client_until_it_expires() {
        let expires = NOW.plus(10);
        assert!(pushed_request_usable("c1", expires, "c1", NOW).is_ok());
        for (by, at) in [("c2", NOW), ("c1", expires), ("c1", expires.plus(1))] {
            let e = pushed_request_usable(by, expires, "c1", at).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequestUri, "{by} {at:?}");
        }
    }

    #[test]
    fn r59_nobody_signed_in_must_sign_in() {
        let r = request("openid", &[], None);
        assert_eq!(next_step(&r, None, None, NOW), Ok(Step::Login));
    }

    #[test]
    fn r59_prompt_login_and_max_age_need_a_fresh_sign_in() {
        let granted = Scope::parse("openid").unwrap();
        let login = request("openid", &["login"], None);
        assert_eq!(
            next_step(&login, session(5, false), Some(&granted), NOW),
            Ok(Step::Login)
        );
        assert_eq!(
            next_step(&login, session(0, true), Some(&granted), NOW),
            Ok(Step::Issue)
        );
        let max_age = request("openid", &[], Some(60));
        assert_eq!(
            next_step(&max_age, session(61, false), Some(&granted), NOW),
            Ok(Step::Login)
        );
        assert_eq!(
            next_step(&max_age, session(60, false), Some(&granted), NOW),
            Ok(Step::Issue)
        );
    }

    #[test]
    fn r59_a_sign_in_counts_as_fresh_only_after_the_interaction_started() {
        let started = NOW.plus(-30);
        assert!(signed_in(NOW.plus(-10), Some(started)).fresh);
        assert!(signed_in(started, Some(started)).fresh);
        assert!(!signed_in(NOW.plus(-31), Some(started)).fresh);
        assert!(!signed_in(NOW, None).fresh, "no interaction, nothing fresh");
        // The consent form of a prompt=login request, posted by a session older than the
        // request, needs a new sign-in; one made for the request does not.
        let login = request("openid", &["login"], None);
        let old = signed_in(NOW.plus(-3600), Some(started));
        assert_eq!(next_step(&login, Some(old), None, NOW), Ok(Step::Login));
        let new = signed_in(NOW.plus(-5), Some(started));
        assert_eq!(next_step(&login, Some(new), None, NOW), Ok(Step::Consent));
    }

    #[test]
    fn r59_consent_is_asked_unless_remembered_and_covering_the_scope() {
        let r = request("openid profile", &[], None);
        let s = session(5, false);
        assert_eq!(next_step(&r, s, None, NOW), Ok(Step::Consent));
        let narrow = Scope::parse("openid").unwrap();
        assert_eq!(next_step(&r, s, Some(&narrow), NOW), Ok(Step::Consent));
        let wide = Scope::parse("openid profile email").unwrap();
        assert_eq!(next_step(&r, s, Some(&wide), NOW), Ok(Step::Issue));
        let again = request("openid profile", &["consent"], None);
        assert_eq!(next_step(&again, s, Some(&wide), NOW), Ok(Step::Consent));
    }

    #[test]
    fn r59_prompt_none_turns_interaction_into_an_error() {
        let granted = Scope::parse("openid").unwrap();
        let r = request("openid", &["none"], None);
        assert_eq!(
            next_step(&r, None, None, NOW).unwrap_err().code,
            ErrorCode::LoginRequired
        );
        assert_eq!(
            next_step(&r, session(5, false), None, NOW)
                .unwrap_err()
                .code,
            ErrorCode::ConsentRequired
        );
        assert_eq!(
            next_step(&r, session(5, false), Some(&granted), NOW),
            Ok(Step::Issue)
        );
    }
}

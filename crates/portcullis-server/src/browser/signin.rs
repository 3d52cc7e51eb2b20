//! Password checks with throttling, shared by the sign-in page (`/login`), the admin sign-in page
//! (`/admin/login`) and the admin UI's re-authentication before destructive actions.
//!
//! Failures count per account and per address and are forgotten after
//! `portcullis_core::login::FAILURE_MEMORY_SECS`; `portcullis_core::login::allowed` decides whether the next attempt
//! may be checked at all, which slows guessing without locking anyone out for good. A password
//! is verified with argon2id on the blocking pool, and an unknown or disabled account costs the
//! same time as a known one (no username enumeration).

use portcullis_core::login;
use portcullis_store::flow::UserRecord;

use crate::browser::users;
use crate::state::AppState;

/// Why a password check did not sign anybody in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// Too many recent failures for the account or the address: the password was not checked.
    Throttled,
    /// The database failed.
    Unavailable,
    /// Unknown user, disabled user or wrong password (deliberately not told apart).
    Wrong,
}

/// A refused check, with the account it named if that exists (for the audit trail).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) refusal: Refusal,
    pub(crate) known: Option<UserRecord>,
}

/// Checks `password` for the user named `username`, coming from `address`.
pub(crate) async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    // No user has a name that breaks the username rules (a NUL byte, 10,000 characters): it is
    // an unknown user, found without a database look-up (Postgres refuses a NUL in text).
    if !users::username_is_valid(username) {
        return check(state, None, password, address).await;
    }
    let user = match state.store.user_by_username(username).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return Err(Failure {
                refusal: Refusal::Unavailable,
                known: None,
            });
        }
    };
    check(state, user, password, address).await
}

/// Checks `password` for the user with id `user_id` (re-authentication of a signed-in user).
pub(crate) async fn reauthenticate(
    state: &AppState,
    user_id: &str,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    let user = match state.store.user(user_id).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return Err(Failure {
                refusal: Refusal::Unavailable,
                known: None,
            });
        }
    };
    check(state, user, password, address).await
}

async fn check(
    state: &AppState,
    user: Option<UserRecord>,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    let now = state.clock.now();
    // Throttling: by account and by address, with failures forgotten after a while.
    let (account_failures, account_last) = user.as_ref().map_or((0, now), |u| {
        login::recent(u.failed_logins, u.last_failed_at, now)
    });
    let (address_failures, address_last) = match state.store.address_failures(address).await {
        Ok(Some((count, last))) => login::recent(count, Some(last), now),
        _ => (0, now),
    };
    if !login::allowed(account_failures, account_last, now)
        || !login::allowed(address_failures, address_last, now)
    {
        tracing::warn!(%address, "sign-in throttled");
        return Err(Failure {
            refusal: Refusal::Throttled,
            known: user,
        });
    }
    let hash = user
        .as_ref()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified =
        tokio::task::spawn_blocking(move || users::verify_password(&candidate, hash.as_deref()))
            .await
            .unwrap_or(false);
    if !verified {
        let forget_before = now.plus(-login::FAILURE_MEMORY_SECS);
        let known = user;
        if let Err(e) = state
            .store
            .record_login_failure(
                known.as_ref().map(|u| u.user_id.as_str()),
                address,
                now,
                forget_before,
            )
            .await
        {
            tracing::error!(error = %e, "recording a failed sign-in failed");
        }
        tracing::info!(%address, "sign-in failed");
        return Err(Failure {
            refusal: Refusal::Wrong,
            known,
        });
    }
    // Verified implies a known, enabled user: the dummy hash never verifies.
    let Some(user) = user else {
        return Err(Failure {
            refusal: Refusal::Wrong,
            known: None,
        });
    };
    if let Err(e) = state
        .store
        .clear_login_failures(&user.user_id, address)
        .await
    {
        tracing::error!(error = %e, "clearing sign-in failures failed");
    }
    Ok(user)
}

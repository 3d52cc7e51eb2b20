//! Password checks with throttling, shared by the sign-in page (`/login`), the admin sign-in page
//! (`/admin/login`) and the admin UI's re-authentication before destructive actions.
//!
//! Failures count per account and per address and are forgotten after
//! `portcullis_core::login::FAILURE_MEMORY_SECS`; `portcullis_core::login::allowed` decides whether the next attempt
//! may be checked at all, which slows guessing without locking anyone out for good. Each attempt
//! is recorded as a failure *before* its password is checked, by a compare-and-set on the
//! counters as read (so parallel guesses cannot all pass one check), and cleared on success;
//! counters that cannot be read or written refuse the sign-in (503, fail closed). A password is
//! verified with argon2id on the blocking pool under `bounds::HashGate` (at most
//! `limits.password_hashes` at once, 503 when full), and an unknown or disabled account costs
//! the same hash, under the same gate, as a known one (no username enumeration).

use portcullis_core::login;
use portcullis_store::flow::{LoginAttempt, UserRecord};

use crate::bounds::{self, HashPermit};
use crate::browser::users;
use crate::state::AppState;

/// Why a password check did not sign anybody in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// Too many recent failures for the account or the address: the password was not checked.
    Throttled,
    /// The database failed, or the failure counters could not be read or written: refused
    /// (fail closed), `503`.
    Unavailable,
    /// Every password-hash permit is taken (`limits.password_hashes`): `503`, not queued.
    Busy,
    /// Unknown user, disabled user or wrong password (deliberately not told apart).
    Wrong,
}

/// A refused check, with the account it named if that exists (for the audit trail).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) refusal: Refusal,
    pub(crate) known: Option<UserRecord>,
}

impl Refusal {
    /// The `reason` label of `portcullis_signin_failures_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Wrong => "wrong",
        }
    }
}

impl Failure {
    fn new(refusal: Refusal, known: Option<UserRecord>) -> Self {
        Self { refusal, known }
    }
}

/// Checks `password` for the user named `username`, coming from `address`; a refusal is
/// counted (`portcullis_signin_failures_total`).
pub(crate) async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    let result = check_sign_in(state, username, password, address).await;
    if let Err(failure) = &result {
        state.metrics.signin_failure(failure.refusal.label());
        // Wrong passwords (not refusals for load) feed the failure-burst detectors.
        if failure.refusal.label() == "wrong" {
            use crate::security::detect;
            state.monitor.count(detect::AUTH_FAILURES, "");
            state.monitor.count(detect::FAIL_ACCOUNT, username);
            state.monitor.count(detect::FAIL_ADDRESS, address);
        }
    }
    result
}

async fn check_sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    // Memory: at most `limits.password_hashes` checks at once; past that the answer is 503 at
    // once, before any database work, never a queue (a started hash cannot be cancelled).
    let Some(permit) = enter(state) else {
        return Err(Failure::new(Refusal::Busy, None));
    };
    // No user has a name that breaks the username rules (a NUL byte, 10,000 characters): it is
    // an unknown user, found without a database look-up (Postgres refuses a NUL in text).
    if !users::username_is_valid(username) {
        return check(state, permit, None, password, address).await;
    }
    let user = match state.store.user_by_username(username).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return Err(Failure::new(Refusal::Unavailable, None));
        }
    };
    check(state, permit, user, password, address).await
}

/// Checks `password` for the user with id `user_id` (re-authentication of a signed-in user).
pub(crate) async fn reauthenticate(
    state: &AppState,
    user_id: &str,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    let Some(permit) = enter(state) else {
        return Err(Failure::new(Refusal::Busy, None));
    };
    let user = match state.store.user(user_id).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return Err(Failure::new(Refusal::Unavailable, None));
        }
    };
    check(state, permit, user, password, address).await
}

/// Records the attempt as a failure before its password is checked, if the throttle allows it:
/// a compare-and-set on the counters as read. A lost race (another attempt moved the counters)
/// re-reads them and decides again, so parallel sign-ins are counted one by one and throttled
/// exactly as sequential ones would be: only holders of a hash permit get here, and each round
/// of a race has a winner, so `limits.password_hashes` rounds let every contender through unless
/// the throttle says otherwise. Counters that cannot be read or written refuse the
/// attempt (fail closed), never count as zero.
async fn claim(
    state: &AppState,
    user: &mut Option<UserRecord>,
    address: &str,
) -> Result<(), Refusal> {
    let now = state.clock.now();
    for _ in 0..state.config.limits.password_hashes {
        let address_seen = state.store.address_failures(address).await.map_err(|e| {
            tracing::error!(error = %e, "reading sign-in failures failed; sign-in refused");
            Refusal::Unavailable
        })?;
        // Throttling: by account and by address, with failures forgotten after a while.
        let (account_failures, account_last) = user.as_ref().map_or((0, now), |u| {
            login::recent(u.failed_logins, u.last_failed_at, now)
        });
        let (address_failures, address_last) = match address_seen {
            Some((count, last)) => login::recent(count, Some(last), now),
            None => (0, now),
        };
        if !login::allowed(account_failures, account_last, now)
            || !login::allowed(address_failures, address_last, now)
        {
            break;
        }
        let attempt = LoginAttempt {
            account: user
                .as_ref()
                .map(|u| (u.user_id.as_str(), u.failed_logins, u.last_failed_at)),
            address,
            address_seen,
            now,
            forget_before: now.plus(-login::FAILURE_MEMORY_SECS),
        };
        let claimed = state
            .store
            .claim_login_attempt(&attempt)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "recording a sign-in attempt failed; sign-in refused");
                Refusal::Unavailable
            })?;
        if claimed {
            return Ok(());
        }
        // Lost a race: read the account's counters again (the address's are read above).
        if let Some(known) = user.as_ref() {
            *user = state.store.user(&known.user_id).await.map_err(|e| {
                tracing::error!(error = %e, "reading sign-in failures failed; sign-in refused");
                Refusal::Unavailable
            })?;
        }
    }
    state
        .bounds
        .refusals
        .count(bounds::Refusal::SignInThrottled);
    tracing::debug!(%address, "sign-in throttled");
    Err(Refusal::Throttled)
}

/// A password-hash permit, or `None` (counted as a busy refusal).
fn enter(state: &AppState) -> Option<HashPermit> {
    let permit = state.bounds.hashes.try_enter();
    if permit.is_none() {
        state.bounds.refusals.count(bounds::Refusal::SignInBusy);
    }
    permit
}

async fn check(
    state: &AppState,
    permit: HashPermit,
    user: Option<UserRecord>,
    password: &str,
    address: &str,
) -> Result<UserRecord, Failure> {
    let mut user = user;
    if let Err(refusal) = claim(state, &mut user, address).await {
        return Err(Failure::new(refusal, user));
    }
    let hash = user
        .as_ref()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    // The permit moves into the blocking task: it is released when the hash ends, even if this
    // request has been dropped (timeout, closed connection) meanwhile.
    let verified = tokio::task::spawn_blocking(move || {
        permit.run(|| users::verify_password(&candidate, hash.as_deref()))
    })
    .await
    .unwrap_or(false);
    if !verified {
        tracing::info!(%address, "sign-in failed");
        return Err(Failure::new(Refusal::Wrong, user));
    }
    // Verified implies a known, enabled user: the dummy hash never verifies.
    let Some(user) = user else {
        return Err(Failure::new(Refusal::Wrong, None));
    };
    // Fail closed here too: a count that cannot be cleared refuses the sign-in.
    if let Err(e) = state
        .store
        .clear_login_failures(&user.user_id, address)
        .await
    {
        tracing::error!(error = %e, "clearing sign-in failures failed; sign-in refused");
        return Err(Failure::new(Refusal::Unavailable, Some(user)));
    }
    Ok(user)
}

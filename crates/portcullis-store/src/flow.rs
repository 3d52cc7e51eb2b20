//! Storage for the authorization code flow: users, sessions, pushed requests, grants, codes,
//! refresh tokens and consents. Every single-use or all-or-nothing rule is one statement or one
//! transaction in the backend (`sql/flow/`), never composed by callers.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;

use crate::{Revocation, StoreError};

/// A local user (resource owner).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct UserRecord {
    /// Stable subject identifier (`user-…`).
    pub user_id: String,
    /// Login name, unique.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May use the admin UI.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Set when disabled: the user cannot sign in.
    pub disabled_at: Option<Timestamp>,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Time of the last failed login.
    pub last_failed_at: Option<Timestamp>,
}

/// A signed-in browser session.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user_id: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: Timestamp,
    /// The session's CSRF token for form posts.
    pub csrf_token: String,
    /// End of the session.
    pub expires_at: Timestamp,
}

/// A pushed authorization request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushedRequest {
    /// The client that pushed it.
    pub client_id: String,
    /// The validated request, JSON.
    pub request: String,
    /// Expiry of the request_uri.
    pub expires_at: Timestamp,
    /// When the browser first reached the authorization endpoint with it and its lifetime was
    /// extended (once); `None` before that. Set only by
    /// [`FlowStore::extend_pushed_request`] (an insert ignores it).
    pub extended_at: Option<Timestamp>,
}

/// A user's authorization of a client.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GrantRecord {
    /// Identifier.
    pub grant_id: String,
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// Authentication context class, if any.
    pub acr: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Set when revoked.
    pub revoked_at: Option<Timestamp>,
}

/// An authorization code and what it is bound to (R53).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub code_hash: TokenHash,
    /// The grant it belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was issued for.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// DPoP key thumbprint the code is bound to, if any.
    pub dpop_jkt: Option<String>,
    /// OIDC nonce to put in the ID token.
    pub nonce: Option<String>,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// The outcome of redeeming a code.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Redemption {
    /// First redemption: the code is now spent.
    Fresh {
        /// The code.
        code: Box<CodeRecord>,
        /// Its grant.
        grant: Box<GrantRecord>,
    },
    /// The code was redeemed before: a replay (R74).
    Replayed {
        /// The grant to revoke.
        grant_id: String,
    },
    /// Unknown or expired.
    Unknown,
}

/// A refresh token as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// Its grant.
    pub grant_id: String,
    /// The client it is bound to.
    pub client_id: String,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Last use (idle expiry counts from here).
    pub last_used_at: Timestamp,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Set when revoked.
    pub revoked_at: Option<Timestamp>,
}

/// A remembered consent.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConsentRecord {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Consented scope.
    pub scope: String,
    /// When.
    pub granted_at: Timestamp,
}

/// A sign-in attempt about to be checked, with the failure counters as read before it.
#[derive(Clone, Copy, Debug)]
pub struct LoginAttempt<'a> {
    /// The account named, if it exists, with its count and last failure as read.
    pub account: Option<(&'a str, u32, Option<Timestamp>)>,
    /// The source address.
    pub address: &'a str,
    /// The address's count and last failure as read (`None`: no row).
    pub address_seen: Option<(u32, Timestamp)>,
    /// The time of the attempt.
    pub now: Timestamp,
    /// A count whose last failure is before this starts again at one.
    pub forget_before: Timestamp,
}

impl LoginAttempt<'_> {
    /// The count after this attempt, from `count` failures the last at `last`.
    pub fn next_count(&self, count: u32, last: Option<Timestamp>) -> u32 {
        match last {
            Some(last) if last >= self.forget_before => count.saturating_add(1),
            _ => 1,
        }
    }
}

/// Storage operations of the authorization code flow.
#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] if the username is taken.
    async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// The user with this username.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this id.
    async fn user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by username.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Sets a user's password hash. `false` if no such user.
    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool, StoreError>;
    /// Disables a user. `false` if no such user.
    async fn disable_user(&self, user_id: &str, now: Timestamp) -> Result<bool, StoreError>;
    /// Counts a failed login against the account (if known) and the address; a count whose last
    /// failure is before `forget_before` starts again at one.
    async fn record_login_failure(
        &self,
        user_id: Option<&str>,
        address: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records a sign-in attempt as a failure *before* its password is checked, provided the
    /// counters are still as the caller read them (compare-and-set): `false` when another
    /// attempt changed them meanwhile (so N parallel guesses pass one check at most once).
    /// A successful check then clears them ([`Self::clear_login_failures`]).
    async fn claim_login_attempt(&self, attempt: &LoginAttempt<'_>) -> Result<bool, StoreError>;
    /// Failures from an address: count and time of the last.
    async fn address_failures(&self, address: &str)
    -> Result<Option<(u32, Timestamp)>, StoreError>;
    /// Clears the failure counts after a successful login.
    async fn clear_login_failures(&self, user_id: &str, address: &str) -> Result<(), StoreError>;

    /// Stores a session under the hash of its id.
    async fn insert_session(
        &self,
        hash: &TokenHash,
        session: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// The session with this id hash.
    async fn session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session.
    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError>;

    /// Stores a pushed request under the hash of its request_uri.
    async fn insert_pushed_request(
        &self,
        hash: &TokenHash,
        request: &PushedRequest,
    ) -> Result<(), StoreError>;
    /// Reads a pushed request without using it up (the authorization page may load twice, R48).
    async fn pushed_request(&self, hash: &TokenHash) -> Result<Option<PushedRequest>, StoreError>;
    /// Uses up a pushed request of `client_id` that has not expired: of concurrent calls, one
    /// gets it.
    async fn take_pushed_request(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> Result<Option<PushedRequest>, StoreError>;

    /// Gives an unexpired pushed request until `until` to complete, once: the user has reached
    /// the authorization endpoint in time and now signs in and consents at a person's pace. Only a
    /// request never extended before is (its `extended_at` becomes `now`), and a lifetime is never
    /// shortened. Returns whether it was extended.
    async fn extend_pushed_request(
        &self,
        hash: &TokenHash,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records an authorization in one transaction: the grant, its code, and the consent.
    async fn issue_code(
        &self,
        grant: &GrantRecord,
        code: &CodeRecord,
        consent: &ConsentRecord,
    ) -> Result<(), StoreError>;
    /// Redeems a code: exactly one of concurrent redemptions gets [`Redemption::Fresh`].
    async fn redeem_code(&self, hash: &TokenHash, now: Timestamp)
    -> Result<Redemption, StoreError>;
    /// The grant with this id.
    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// Revokes a grant and every access and refresh token issued from it, in one transaction.
    async fn revoke_grant(&self, grant_id: &str, now: Timestamp) -> Result<(), StoreError>;

    /// Stores a refresh token (by hash).
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError>;
    /// The refresh token with this hash.
    async fn refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Records a use of a refresh token (idle expiry restarts).
    async fn touch_refresh_token(&self, hash: &TokenHash, now: Timestamp)
    -> Result<(), StoreError>;
    /// Revokes a refresh token of `client_id`, and with it its grant (R159).
    async fn revoke_refresh_token(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> Result<Revocation, StoreError>;

    /// The user's remembered consent for a client.
    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// Every consent of a user, by client.
    async fn consents(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Forgets a consent and revokes every grant of the user to the client, with their tokens,
    /// in one transaction. `false` if there was no consent.
    async fn revoke_consent(
        &self,
        user_id: &str,
        client_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

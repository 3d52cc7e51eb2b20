//! Storage for the admin UI: administrators' sessions, the audit trail, and the queries and
//! bulk operations its pages need (a page of clients, a client's activity, revoking everything
//! issued to a client). Keeping a session alive and revoking a client's tokens are each one
//! statement or one transaction in the backend (`sql/admin.rs`), never composed by callers.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;

use crate::flow::GrantRecord;
use crate::registration::RegistrationRecord;
use crate::{ClientRecord, StoreError};

/// A signed-in administrator's session of the admin UI.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AdminSessionRecord {
    /// The administrator.
    pub user_id: String,
    /// When they signed in.
    pub auth_time: Timestamp,
    /// Their last request (the idle timeout counts from here).
    pub last_seen_at: Timestamp,
    /// The session's CSRF token for the admin forms.
    pub csrf_token: String,
    /// The absolute end of the session.
    pub expires_at: Timestamp,
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum AuditOutcome {
    /// Refused: no valid CSRF token, a wrong password, not an administrator, throttled.
    Denied,
    /// Attempted but not done: invalid input, or an error on the server's side.
    Failed,
    /// Done.
    Success,
}

impl AuditOutcome {
    /// Every outcome, in the order the UI lists them.
    pub const ALL: [Self; 3] = [Self::Success, Self::Denied, Self::Failed];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Success => "success",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// One entry of the audit trail: who did what, to what, when, from where, and how it ended.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AuditEvent {
    /// When.
    pub at: Timestamp,
    /// The acting administrator's user id, if anyone was signed in or named.
    pub actor_id: Option<String>,
    /// Their username at the time.
    pub actor_name: Option<String>,
    /// The address the request came from.
    pub address: String,
    /// What was attempted (`client.create`, `key.rotate`, …).
    pub action: String,
    /// What it was done to (a client_id, a username, a token id, a path).
    pub target: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// More facts as a JSON object; never a secret.
    pub details: String,
}

/// An audit event as stored, with its position in the trail.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct StoredAuditEvent {
    /// Increases with every insert.
    pub id: i64,
    /// The event.
    pub event: AuditEvent,
}

/// Which audit events to list: each set field must appear (case-insensitively) in its column.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AuditFilter {
    /// Text in the action.
    pub action: Option<String>,
    /// Text in the actor's username.
    pub actor: Option<String>,
    /// Text in the target.
    pub target: Option<String>,
}

/// A grant of a client with the user it was granted by.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClientGrant {
    /// The grant.
    pub grant: GrantRecord,
    /// The user's username (`None` if the user is gone).
    pub username: Option<String>,
    /// Refresh tokens of the grant neither revoked nor expired.
    pub live_refresh_tokens: u64,
}

/// Which kind of token a [`TokenSummary`] counts.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum TokenKind {
    /// Access tokens.
    Access,
    /// Refresh tokens.
    Refresh,
}

/// Live tokens of a client of one kind, binding and format.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TokenSummary {
    /// Access or refresh tokens.
    pub kind: TokenKind,
    /// `dpop` or `mtls` for access tokens; `client` for refresh tokens (bound to the client).
    pub binding: String,
    /// `opaque` or `jwt`.
    pub format: String,
    /// How many are neither revoked nor expired.
    pub live: u64,
    /// The soonest expiry among them (absolute expiry for refresh tokens).
    pub soonest_expiry: Timestamp,
}

/// What revoking everything issued to a client revoked.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct ClientRevocation {
    /// Live access tokens revoked.
    pub access_tokens: u64,
    /// Live refresh tokens revoked.
    pub refresh_tokens: u64,
    /// Grants revoked.
    pub grants: u64,
}

/// A client registered with an initial access token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InitialAccessTokenUse {
    /// The token's id.
    pub token_id: String,
    /// The client it registered.
    pub client_id: String,
    /// When the client was registered.
    pub registered_at: Timestamp,
}

/// Storage operations of the admin UI.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Stores an admin session under the hash of its id.
    async fn insert_admin_session(
        &self,
        hash: &TokenHash,
        session: &AdminSessionRecord,
    ) -> Result<(), StoreError>;
    /// The session with this id hash if it is live at `now` (last seen after `idle_since`, not
    /// past its end), which records `now` as its last use. One statement: a session that has
    /// gone idle stays ended, whatever requests race its expiry.
    async fn touch_admin_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        idle_since: Timestamp,
    ) -> Result<Option<AdminSessionRecord>, StoreError>;
    /// Ends a session.
    async fn delete_admin_session(&self, hash: &TokenHash) -> Result<(), StoreError>;
    /// Ends every session of a user, admin and browser sessions alike, in one transaction (after
    /// the user was disabled or given a new password); returns how many there were.
    async fn end_sessions_of(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Appends an event to the audit trail.
    async fn insert_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Audit events matching `filter`, newest first, `limit` of them after skipping `offset`;
    /// and how many match in all.
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<StoredAuditEvent>, u64), StoreError>;
    /// Deletes audit events older than `before`; returns how many.
    async fn purge_audit_events(&self, before: Timestamp) -> Result<u64, StoreError>;
    /// At most `limit` audit events older than `before`; returns how many.
    async fn purge_audit_events_batch(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Clients whose client_id or metadata contains `search` (case-insensitively; all without
    /// one), ordered by client_id, `limit` of them after skipping `offset`; and how many match.
    async fn clients_page(
        &self,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<ClientRecord>, u64), StoreError>;
    /// Replaces a client's metadata (an administrator's edit; no registration token involved).
    /// `false` if there is no such client.
    async fn update_client_metadata(
        &self,
        client_id: &str,
        metadata: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Enables a disabled client. `false` if there is no such client.
    async fn enable_client(&self, client_id: &str, now: Timestamp) -> Result<bool, StoreError>;
    /// Enables a disabled user. `false` if there is no such user.
    async fn enable_user(&self, user_id: &str) -> Result<bool, StoreError>;
    /// The registration of a client registered over the registration endpoint.
    async fn client_registration(
        &self,
        client_id: &str,
    ) -> Result<Option<RegistrationRecord>, StoreError>;
    /// Every client registered with an initial access token, oldest first.
    async fn initial_access_token_uses(&self) -> Result<Vec<InitialAccessTokenUse>, StoreError>;

    /// A client's grants, newest first, at most `limit`, with their users and live refresh
    /// tokens at `now`.
    async fn client_grants(
        &self,
        client_id: &str,
        now: Timestamp,
        limit: u64,
    ) -> Result<Vec<ClientGrant>, StoreError>;
    /// A client's live tokens at `now`, counted by kind, binding and format.
    async fn client_token_summary(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Result<Vec<TokenSummary>, StoreError>;
    /// Revokes every live access and refresh token of a client and every grant to it, in one
    /// transaction.
    async fn revoke_client_tokens(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Result<ClientRevocation, StoreError>;
}

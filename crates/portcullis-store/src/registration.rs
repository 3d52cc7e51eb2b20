//! Storage for dynamic client registration (RFC 7591) and its management (RFC 7592): initial
//! access tokens and the registration of each dynamically registered client. Spending a use of an
//! initial access token, registering a client with its registration access token and replacing a
//! client's metadata while rotating that token are each one statement or one transaction in the
//! backend (`sql/registration.rs`), never composed by callers.

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;

use crate::{ClientRecord, StoreError};

/// An initial access token as stored (by hash).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InitialAccessTokenRecord {
    /// Identifier shown to administrators (never the token).
    pub id: String,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// What the holder may register: a `portcullis_core::registration::Policy` as JSON.
    pub policy: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Registrations left; `None` means unlimited.
    pub uses_left: Option<u32>,
    /// Set when revoked.
    pub revoked_at: Option<Timestamp>,
}

/// The registration of a dynamically registered client.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RegistrationRecord {
    /// The client.
    pub client_id: String,
    /// SHA-256 of its current registration access token.
    pub token_hash: TokenHash,
    /// The policy it was registered under (JSON), applied again on every update.
    pub policy: String,
    /// The software statement it was registered with, if any.
    pub software_statement: Option<String>,
    /// When the current registration access token was issued.
    pub token_issued_at: Timestamp,
    /// The id of the initial access token it was registered with, if any.
    pub initial_access_token_id: Option<String>,
}

/// A client and its registration, as found by a registration access token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RegisteredClient {
    /// The client.
    pub client: ClientRecord,
    /// Its registration.
    pub registration: RegistrationRecord,
}

/// A full replacement of a registered client's metadata (RFC 7592 §2.2).
#[derive(Clone, Copy, Debug)]
pub struct MetadataReplacement<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The new validated metadata, JSON.
    pub metadata: &'a str,
    /// The software statement that binds it from now on.
    pub software_statement: Option<&'a str>,
    /// The registration access token the update was authorized with.
    pub current: &'a TokenHash,
    /// The registration access token that replaces it.
    pub next: &'a TokenHash,
    /// The time of the update.
    pub now: Timestamp,
}

/// Storage operations of dynamic client registration.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Stores an initial access token; [`StoreError::Conflict`] if the id or hash is taken.
    async fn insert_initial_access_token(
        &self,
        token: &InitialAccessTokenRecord,
    ) -> Result<(), StoreError>;
    /// The initial access token with this hash, whatever its state (no use is spent).
    async fn initial_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<InitialAccessTokenRecord>, StoreError>;
    /// Every initial access token, oldest first.
    async fn initial_access_tokens(&self) -> Result<Vec<InitialAccessTokenRecord>, StoreError>;
    /// Revokes an initial access token (the first revocation time is kept). `false` if there is
    /// no such token.
    async fn revoke_initial_access_token(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Spends one use of a live initial access token (not revoked, not expired at `now`, a use
    /// left) and returns its policy; `None` if it cannot be used. One statement: of concurrent
    /// calls for the last use, on any number of processes, exactly one gets the policy.
    async fn use_initial_access_token(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError>;

    /// Registers a client with its registration in one transaction; [`StoreError::Conflict`] if
    /// the client_id or the token hash is taken (nothing is written then).
    async fn insert_registered_client(
        &self,
        client: &ClientRecord,
        registration: &RegistrationRecord,
    ) -> Result<(), StoreError>;
    /// The client (disabled or not) whose current registration access token has this hash.
    async fn client_by_registration_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RegisteredClient>, StoreError>;
    /// Replaces the client's registration access token `current` with `next`. `false`, and
    /// nothing changed, unless `current` is still the client's token: of concurrent rotations
    /// with one token, one wins.
    async fn rotate_registration_token(
        &self,
        client_id: &str,
        current: &TokenHash,
        next: &TokenHash,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Replaces a registered client's metadata and software statement and rotates its
    /// registration access token, in one transaction. `false`, and nothing changed, unless
    /// `current` is still the client's token.
    async fn replace_client_metadata(
        &self,
        update: &MetadataReplacement<'_>,
    ) -> Result<bool, StoreError>;
    /// Deletes a client with everything issued to it: registration, grants, codes, refresh and
    /// access tokens, pushed requests and consents (the foreign keys cascade). `false` if there
    /// is no such client.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
}

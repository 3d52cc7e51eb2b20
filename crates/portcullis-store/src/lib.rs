//! Storage for Portcullis: the [`Store`] trait and its Postgres and SQLite implementations.
//!
//! The trait speaks in atomic protocol operations, not CRUD: whatever must happen together (a
//! rotation retiring the previous key while adding the next) happens in one statement or
//! transaction inside the backend, so that several server processes sharing one database still
//! get exactly one winner. Secrets reach the store only as hashes, private keys only encrypted.
//!
//! [`open`] picks the backend from the URL scheme (`postgres://…` or `sqlite://…`). Both
//! backends run the same SQL where the dialects agree ([`sql`]), and one contract suite
//! (`tests/it`) runs against both.

pub mod admin;
mod batch;
pub mod flow;
mod health;
mod lanes;
mod postgres;
pub mod ratelimit;
pub mod registration;
pub mod security;
mod sql;
mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::keys::KeySchedule;
use portcullis_core::token::Grant;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A storage failure. Protocol outcomes (replays, unknown values) are never errors: they are
/// variants of each operation's result.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A concurrent writer won a race on a uniqueness rule (for example two rotations at once).
    #[error("conflicting concurrent change")]
    Conflict,
    /// A stored value could not be read back (a row that no code path writes).
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// The database refused a statement (not an outage: trying again will not help).
    #[error("database error: {0}")]
    Failed(String),
    /// The URL names no supported backend, or is malformed.
    #[error("{0}")]
    InvalidUrl(String),
    /// The database cannot be reached, or cannot do it right now: trying again later may work.
    /// While the database is known to be unreachable, every operation fails with this at once.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match health::classify(&e) {
            health::Class::Conflict => Self::Conflict,
            health::Class::Outage | health::Class::Transient => Self::Unavailable(e.to_string()),
            health::Class::Failure => Self::Failed(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(format!("migration failed: {e}"))
    }
}

/// A server signing key as stored: its schedule, public JWK and encrypted private JWK.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct StoredKey {
    /// Identifier, algorithm and lifecycle timestamps.
    pub schedule: KeySchedule,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    /// The private JWK encrypted under the key-encryption key (nonce ‖ ciphertext ‖ tag).
    pub private_jwk_enc: Vec<u8>,
}

/// A registered client as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClientRecord {
    /// The client identifier.
    pub client_id: String,
    /// The validated RFC 7591 metadata, as JSON text.
    pub metadata: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When it was disabled; a disabled client cannot authenticate.
    pub disabled_at: Option<Timestamp>,
}

/// The outcome of recording a single-use value.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum JtiUse {
    /// First use: the value is now spent.
    Fresh,
    /// Seen before: a replay.
    Replayed,
}

/// A single-use value to spend ([`Store::record_jti`], [`Store::issue_access_token`]): its key
/// (a hash that names its kind and issuer) and until when it stays spent.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Spend {
    /// The value's key.
    pub key: TokenHash,
    /// When the value expires (and its key may be forgotten).
    pub expires_at: Timestamp,
}

/// An access token as stored: its hash, format and what it grants.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AccessTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// `jwt` or `opaque`.
    pub format: String,
    /// What the token grants.
    pub grant: Grant,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// The grant it was issued from (none for client_credentials).
    pub grant_id: Option<String>,
}

/// The outcome of a revocation request for one token.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Revocation {
    /// The token belongs to another client: nothing was changed (R157).
    NotOwner,
    /// The token is (now) revoked.
    Revoked,
    /// No such token.
    Unknown,
}

/// A connection pool's state at one instant.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// The storage interface of Portcullis, implemented for Postgres and SQLite.
#[async_trait]
pub trait Store:
    flow::FlowStore
    + registration::RegistrationStore
    + admin::AdminStore
    + ratelimit::RateLimitStore
    + security::SecurityStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
    /// Applies the backend's embedded migrations; applying them again is harmless.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool's size now (for metrics; no database work).
    fn pool_stats(&self) -> PoolStats;

    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Adds the first key of its algorithm. Returns `false`, and writes nothing, when the
    /// algorithm already has a key (another process bootstrapped first).
    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError>;

    /// Adds `key` as the successor of every key of its algorithm that has none yet: those keys
    /// stop signing at `key`'s activation and leave the JWKS at `unpublish_at`. One transaction;
    /// a concurrent rotation of the same algorithm fails with [`StoreError::Conflict`].
    async fn rotate_signing_key(
        &self,
        key: &StoredKey,
        unpublish_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Registers a client; [`StoreError::Conflict`] if the client_id is taken.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;

    /// The client with this identifier, disabled or not.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Every client, ordered by client_id.
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;

    /// Disables a client. Returns `false` if there is no such client.
    async fn disable_client(&self, client_id: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Spends a single-use value (an assertion or DPoP proof `jti`, keyed by a hash that names
    /// its kind and issuer) until `expires_at`. Atomic across processes: of concurrent calls
    /// with one key, exactly one sees [`JtiUse::Fresh`].
    async fn record_jti(
        &self,
        key: &TokenHash,
        expires_at: Timestamp,
    ) -> Result<JtiUse, StoreError>;

    /// Stores an issued access token (by hash).
    async fn insert_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError>;

    /// Spends each of `spends` (as [`Self::record_jti`] would) and stores `token` only if every
    /// one of them was fresh, in one write: a request's own single-use values (its assertion's
    /// `jti`, its DPoP proof's) and the token it is issued. Answers each spend's use, in order;
    /// a replay leaves no token row behind.
    async fn issue_access_token(
        &self,
        token: &AccessTokenRecord,
        spends: &[Spend],
    ) -> Result<Vec<JtiUse>, StoreError>;

    /// The access token with this hash. Its `revoked_at` is also set when its grant is revoked
    /// (R74), in the same read: a token inserted after a replayed code revoked its grant (which
    /// the revocation's cascade could not see) is never reported live.
    async fn access_token(&self, hash: &TokenHash)
    -> Result<Option<AccessTokenRecord>, StoreError>;

    /// Revokes the access token with this hash if it was issued to `client_id` (R157).
    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> Result<Revocation, StoreError>;

    /// Spends `spend` (the introspecting request's assertion `jti`, as [`Self::record_jti`]
    /// would) and reads the access token as [`Self::access_token`] does, in one round trip:
    /// the spend's use, and the token (`None` when there is none, or when the spend was a
    /// replay on a backend that reads only after a fresh spend).
    async fn access_token_spending(
        &self,
        hash: &TokenHash,
        spend: &Spend,
    ) -> Result<(JtiUse, Option<AccessTokenRecord>), StoreError>;

    /// Spends `spend` (the revoking request's assertion `jti`, as [`Self::record_jti`] would)
    /// and, only if it was fresh, revokes the access token as [`Self::revoke_access_token`]
    /// does, in one write (committed synchronously). `None`: the spend was a replay and nothing
    /// was revoked.
    async fn revoke_access_token_spending(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
        spend: &Spend,
    ) -> Result<Option<Revocation>, StoreError>;

    /// Deletes rows whose lifetime ended before `now`: keys no longer published, spent `jti`s,
    /// access tokens, flow secrets, initial access tokens and admin sessions past their expiry.
    /// Returns the number of rows removed. (The audit trail is kept for its own retention period:
    /// [`admin::AdminStore::purge_audit_events`].)
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// One bounded round of [`Self::purge_expired`]: at most `limit` rows of each expired kind,
    /// one short statement per kind (on SQLite the write lock is held for one batch at a time).
    /// A kind that had fewer than `limit` rows to remove is finished for the pass `progress`
    /// tracks, and later rounds of that pass skip it (its rows that expire meanwhile wait for the
    /// next pass), so a long pass does not search the other tables again each round. Returns the
    /// rows removed; 0 when every kind of the pass is finished.
    async fn purge_expired_batch(
        &self,
        now: Timestamp,
        limit: u32,
        progress: &mut PurgeProgress,
    ) -> Result<u64, StoreError>;
}

/// Which kinds of expired rows one purge pass has finished ([`Store::purge_expired_batch`]).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct PurgeProgress(u32);

impl PurgeProgress {
    /// A pass with nothing finished yet.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn is_finished(self, kind: usize) -> bool {
        self.0 & (1 << kind) != 0
    }

    pub(crate) fn finish(&mut self, kind: usize) {
        self.0 |= 1 << kind;
    }
}

/// Opens the store named by `url` (`postgres://…`, `postgresql://…` or `sqlite://…`) without
/// migrating it; call [`Store::migrate`] next.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::InvalidUrl(
            "database URL must start with postgres:// or sqlite://".to_owned(),
        ))
    }
}

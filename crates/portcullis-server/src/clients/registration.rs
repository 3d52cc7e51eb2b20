//! Dynamic client registration outside the endpoints: initial access tokens as an administrator
//! issues them, with `portcullis initial-access-token create` or on the admin UI's initial access
//! tokens page. The directories trusted to sign software statements are read with the
//! configuration (`config::directories`).

use anyhow::bail;
use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::registration::Policy;
use portcullis_store::Store;
use portcullis_store::registration::InitialAccessTokenRecord;

use crate::secret::random_b64url;

/// Bytes of randomness in initial and registration access tokens (R171: at least 128 bits).
pub(crate) const TOKEN_BYTES: usize = 32;

/// How long a new initial access token lives and how often it may be used.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Registrations it allows; `None`: unlimited until it expires.
    pub uses: Option<u32>,
}

/// Issues an initial access token with `policy` and stores its hash. Returns the stored record
/// and the token, which exists nowhere else: hand it to the client's developer.
pub async fn create_initial_access_token(
    store: &dyn Store,
    policy: &Policy,
    lifetime: Lifetime,
    now: Timestamp,
) -> anyhow::Result<(InitialAccessTokenRecord, String)> {
    policy.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    if lifetime.expires_in < 1 {
        bail!("the token must live at least one second");
    }
    if lifetime.uses == Some(0) {
        bail!("the token must allow at least one use");
    }
    let token = random_b64url(TOKEN_BYTES).map_err(|e| anyhow::anyhow!("{e}"))?;
    let record = InitialAccessTokenRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        token_hash: TokenHash::of(token.as_bytes()),
        policy: serde_json::to_string(policy)?,
        created_at: now,
        expires_at: now.plus(lifetime.expires_in),
        uses_left: lifetime.uses,
        revoked_at: None,
    };
    store.insert_initial_access_token(&record).await?;
    Ok((record, token))
}

/// Whether an initial access token can still register a client at `now` (R162). Spending a
/// use is the store's single statement; this only lets a request fail before it is validated.
pub(crate) fn is_live(token: &InitialAccessTokenRecord, now: Timestamp) -> bool {
    token.revoked_at.is_none() && now < token.expires_at && token.uses_left != Some(0)
}

//! The SQL both backends share.
//!
//! Postgres and SQLite agree on everything Portcullis needs (`$N` placeholders, `RETURNING`,
//! `ON CONFLICT DO NOTHING`, integer times), so the [`Store`](crate::Store) implementation is
//! written once here as a macro and instantiated in `postgres.rs` and `sqlite.rs` for each pool
//! type. A statement that ever needs a dialect of its own moves into those files; nothing here
//! branches on the backend.

pub(crate) mod admin;
pub(crate) mod flow;
pub(crate) mod registration;

use portcullis_core::Timestamp;
use portcullis_core::hash::TokenHash;
use portcullis_core::keys::KeySchedule;
use portcullis_core::scope::Scope;
use portcullis_core::token::{Confirmation, Grant};

use crate::{AccessTokenRecord, ClientRecord, StoreError, StoredKey, alg_from_db};

/// A `signing_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_jwk_enc: Vec<u8>,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    unpublish_at: Option<i64>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            schedule: KeySchedule {
                kid: row.kid,
                alg: alg_from_db(&row.alg)?,
                created_at: Timestamp::from_unix(row.created_at),
                activates_at: Timestamp::from_unix(row.activates_at),
                retires_at: row.retires_at.map(Timestamp::from_unix),
                unpublish_at: row.unpublish_at.map(Timestamp::from_unix),
            },
            public_jwk: row.public_jwk,
            private_jwk_enc: row.private_jwk_enc,
        })
    }
}

/// A `clients` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    client_id: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
    disabled_at: Option<i64>,
}

impl From<ClientRow> for ClientRecord {
    fn from(row: ClientRow) -> Self {
        Self {
            client_id: row.client_id,
            metadata: row.metadata,
            created_at: Timestamp::from_unix(row.created_at),
            updated_at: Timestamp::from_unix(row.updated_at),
            disabled_at: row.disabled_at.map(Timestamp::from_unix),
        }
    }
}

/// An `access_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AccessTokenRow {
    token_hash: Vec<u8>,
    jti: String,
    client_id: String,
    subject: String,
    scope: String,
    audience: String,
    cnf_jkt: Option<String>,
    cnf_x5t: Option<String>,
    format: String,
    issued_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    grant_id: Option<String>,
}

impl TryFrom<AccessTokenRow> for AccessTokenRecord {
    type Error = StoreError;

    fn try_from(row: AccessTokenRow) -> Result<Self, StoreError> {
        let confirmation = match (row.cnf_jkt, row.cnf_x5t) {
            (Some(jkt), None) => Confirmation::Jkt(jkt),
            (None, Some(x5t)) => Confirmation::X5tS256(x5t),
            _ => {
                return Err(StoreError::Corrupt(
                    "access token without exactly one binding",
                ));
            }
        };
        Ok(Self {
            token_hash: TokenHash::from_bytes(&row.token_hash)
                .ok_or(StoreError::Corrupt("token hash length"))?,
            format: row.format,
            grant: Grant {
                jti: row.jti,
                client_id: row.client_id,
                subject: row.subject,
                scope: Scope::parse(&row.scope).ok_or(StoreError::Corrupt("stored scope"))?,
                audience: row.audience,
                confirmation,
                issued_at: Timestamp::from_unix(row.issued_at),
                expires_at: Timestamp::from_unix(row.expires_at),
            },
            revoked_at: row.revoked_at.map(Timestamp::from_unix),
            grant_id: row.grant_id,
        })
    }
}

/// The binding columns (`cnf_jkt`, `cnf_x5t`) of a confirmation.
pub(crate) fn binding(confirmation: &Confirmation) -> (Option<&str>, Option<&str>) {
    match confirmation {
        Confirmation::Jkt(jkt) => (Some(jkt.as_str()), None),
        Confirmation::X5tS256(x5t) => (None, Some(x5t.as_str())),
    }
}

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients \
     (client_id, metadata, created_at, updated_at, disabled_at) VALUES ($1, $2, $3, $4, $5)";

pub(crate) const SELECT_CLIENT: &str = "SELECT client_id, metadata, created_at, updated_at, \
     disabled_at FROM clients WHERE client_id = $1";

pub(crate) const SELECT_CLIENTS: &str = "SELECT client_id, metadata, created_at, updated_at, \
     disabled_at FROM clients ORDER BY client_id";

pub(crate) const DISABLE_CLIENT: &str = "UPDATE clients SET disabled_at = COALESCE(disabled_at, $2), \
     updated_at = $2 WHERE client_id = $1";

pub(crate) const INSERT_JTI: &str =
    "INSERT INTO used_jtis (key_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";

pub(crate) const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (token_hash, jti, \
     client_id, subject, scope, audience, cnf_jkt, cnf_x5t, format, issued_at, expires_at, grant_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub(crate) const SELECT_ACCESS_TOKEN: &str = "SELECT token_hash, jti, client_id, subject, scope, \
     audience, cnf_jkt, cnf_x5t, format, issued_at, expires_at, revoked_at, grant_id FROM access_tokens \
     WHERE token_hash = $1";

pub(crate) const REVOKE_ACCESS_TOKEN: &str = "UPDATE access_tokens \
     SET revoked_at = COALESCE(revoked_at, $3) WHERE token_hash = $1 AND client_id = $2";

pub(crate) const ACCESS_TOKEN_EXISTS: &str = "SELECT 1 FROM access_tokens WHERE token_hash = $1";

pub(crate) const PURGE_JTIS: &str = "DELETE FROM used_jtis WHERE expires_at <= $1";

pub(crate) const PURGE_ACCESS_TOKENS: &str = "DELETE FROM access_tokens WHERE expires_at <= $1";

pub(crate) const SELECT_KEYS: &str = "SELECT kid, alg, public_jwk, private_jwk_enc, created_at, \
     activates_at, retires_at, unpublish_at FROM signing_keys ORDER BY generation, kid";

pub(crate) const INSERT_KEY: &str = "INSERT INTO signing_keys \
     (kid, alg, generation, public_jwk, private_jwk_enc, created_at, activates_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

pub(crate) const MAX_GENERATION: &str =
    "SELECT COALESCE(MAX(generation), 0) FROM signing_keys WHERE alg = $1";

/// Every earlier key of the alg stops signing at the new key's activation and leaves the JWKS at
/// `$3`, or earlier if an earlier rotation said so: a second, urgent rotation can only shorten
/// the schedule of the keys before it (withdrawing a compromised key), never lengthen it.
pub(crate) const RETIRE_KEYS: &str = "UPDATE signing_keys SET \
     retires_at = CASE WHEN retires_at IS NULL OR retires_at > $2 THEN $2 ELSE retires_at END, \
     unpublish_at = CASE WHEN unpublish_at IS NULL OR unpublish_at > $3 THEN $3 ELSE unpublish_at END \
     WHERE alg = $1";

pub(crate) const PURGE_KEYS: &str =
    "DELETE FROM signing_keys WHERE unpublish_at IS NOT NULL AND unpublish_at <= $1";

/// Implements [`Store`](crate::Store) for a struct with `pool` (a sqlx pool) and a `MIGRATOR`
/// static in scope.
///
/// Migrations run with `ignore_missing`: a database already migrated by a newer release (an
/// applied migration this binary does not know) still opens, so old and new processes can share
/// it during a rolling upgrade; schema changes are expand/contract for that reason.
macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn migrate(&self) -> Result<(), $crate::StoreError> {
                let mut migrator = sqlx::migrate::Migrator {
                    migrations: MIGRATOR.migrations.clone(),
                    ..sqlx::migrate::Migrator::DEFAULT
                };
                migrator.set_ignore_missing(true);
                migrator.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<$crate::StoredKey>, $crate::StoreError> {
                let rows: Vec<$crate::sql::KeyRow> = sqlx::query_as($crate::sql::SELECT_KEYS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::StoredKey::try_from).collect()
            }

            async fn insert_first_signing_key(
                &self,
                key: &$crate::StoredKey,
            ) -> Result<bool, $crate::StoreError> {
                let s = &key.schedule;
                let done = sqlx::query($crate::sql::INSERT_KEY)
                    .bind(&s.kid)
                    .bind(s.alg.as_str())
                    .bind(1_i64)
                    .bind(&key.public_jwk)
                    .bind(&key.private_jwk_enc)
                    .bind(s.created_at.unix())
                    .bind(s.activates_at.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_signing_key(
                &self,
                key: &$crate::StoredKey,
                unpublish_at: portcullis_core::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let s = &key.schedule;
                let mut tx = self.pool.begin().await?;
                let (generation,): (i64,) = sqlx::query_as($crate::sql::MAX_GENERATION)
                    .bind(s.alg.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::RETIRE_KEYS)
                    .bind(s.alg.as_str())
                    .bind(s.activates_at.unix())
                    .bind(unpublish_at.unix())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query($crate::sql::INSERT_KEY)
                    .bind(&s.kid)
                    .bind(s.alg.as_str())
                    .bind(generation + 1)
                    .bind(&key.public_jwk)
                    .bind(&key.private_jwk_enc)
                    .bind(s.created_at.unix())
                    .bind(s.activates_at.unix())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    // A concurrent rotation took this generation; ours rolls back.
                    return Err($crate::StoreError::Conflict);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::INSERT_CLIENT)
                    .bind(&client.client_id)
                    .bind(&client.metadata)
                    .bind(client.created_at.unix())
                    .bind(client.updated_at.unix())
                    .bind(client.disabled_at.map(|t| t.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> Result<Option<$crate::ClientRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::ClientRow> =
                    sqlx::query_as($crate::sql::SELECT_CLIENT)
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Into::into))
            }

            async fn clients(&self) -> Result<Vec<$crate::ClientRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ClientRow> = sqlx::query_as($crate::sql::SELECT_CLIENTS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn disable_client(
                &self,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::DISABLE_CLIENT)
                    .bind(client_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_jti(
                &self,
                key: &portcullis_core::hash::TokenHash,
                expires_at: portcullis_core::Timestamp,
            ) -> Result<$crate::JtiUse, $crate::StoreError> {
                let done = sqlx::query($crate::sql::INSERT_JTI)
                    .bind(&key.as_bytes()[..])
                    .bind(expires_at.unix())
                    .execute(self.fast_pool())
                    .await?;
                Ok(if done.rows_affected() == 1 {
                    $crate::JtiUse::Fresh
                } else {
                    $crate::JtiUse::Replayed
                })
            }

            async fn insert_access_token(
                &self,
                token: &$crate::AccessTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                let g = &token.grant;
                let (jkt, x5t) = $crate::sql::binding(&g.confirmation);
                sqlx::query($crate::sql::INSERT_ACCESS_TOKEN)
                    .bind(&token.token_hash.as_bytes()[..])
                    .bind(&g.jti)
                    .bind(&g.client_id)
                    .bind(&g.subject)
                    .bind(g.scope.to_string())
                    .bind(&g.audience)
                    .bind(jkt)
                    .bind(x5t)
                    .bind(&token.format)
                    .bind(g.issued_at.unix())
                    .bind(g.expires_at.unix())
                    .bind(&token.grant_id)
                    .execute(self.fast_pool())
                    .await?;
                Ok(())
            }

            async fn access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::AccessTokenRecord>, $crate::StoreError> {
                let row: Option<$crate::sql::AccessTokenRow> =
                    sqlx::query_as($crate::sql::SELECT_ACCESS_TOKEN)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::AccessTokenRecord::try_from).transpose()
            }

            async fn revoke_access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                client_id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<$crate::Revocation, $crate::StoreError> {
                let done = sqlx::query($crate::sql::REVOKE_ACCESS_TOKEN)
                    .bind(&hash.as_bytes()[..])
                    .bind(client_id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 1 {
                    return Ok($crate::Revocation::Revoked);
                }
                // Ownership never changes, so this second look cannot race with the first.
                let exists = sqlx::query($crate::sql::ACCESS_TOKEN_EXISTS)
                    .bind(&hash.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(if exists.is_some() {
                    $crate::Revocation::NotOwner
                } else {
                    $crate::Revocation::Unknown
                })
            }

            async fn purge_expired(
                &self,
                now: portcullis_core::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let mut removed = 0;
                let own = [
                    $crate::sql::PURGE_KEYS,
                    $crate::sql::PURGE_JTIS,
                    $crate::sql::PURGE_ACCESS_TOKENS,
                ];
                for statement in own
                    .into_iter()
                    .chain($crate::sql::flow::PURGE)
                    .chain($crate::sql::registration::PURGE)
                    .chain($crate::sql::admin::PURGE)
                {
                    removed += sqlx::query(statement)
                        .bind(now.unix())
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use sql_store;

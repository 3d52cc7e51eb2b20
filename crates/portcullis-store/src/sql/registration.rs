//! The SQL of [`RegistrationStore`](crate::registration::RegistrationStore), shared by both
//! backends: the `initial_access_tokens` and `client_registrations` tables (rows, columns,
//! statements) and the trait's implementation as a macro.

use crate::StoreError;
use crate::registration::{InitialAccessTokenRecord, RegisteredClient, RegistrationRecord};
use crate::sql::clients::{ClientRow, client_columns};
use crate::sql::{hash, ts};

/// An `initial_access_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct InitialAccessTokenRow {
    id: String,
    token_hash: Vec<u8>,
    policy: String,
    created_at: i64,
    expires_at: i64,
    uses_left: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<InitialAccessTokenRow> for InitialAccessTokenRecord {
    type Error = StoreError;

    fn try_from(r: InitialAccessTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            token_hash: hash(&r.token_hash)?,
            policy: r.policy,
            created_at: ts(r.created_at),
            expires_at: ts(r.expires_at),
            uses_left: r
                .uses_left
                .map(u32::try_from)
                .transpose()
                .map_err(|_| StoreError::Corrupt("uses_left out of range"))?,
            revoked_at: r.revoked_at.map(ts),
        })
    }
}

/// The columns of an [`InitialAccessTokenRow`].
macro_rules! initial_access_token_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; id, token_hash, policy, created_at, expires_at,
            uses_left, revoked_at)
    };
}

/// A `client_registrations` row.
#[derive(sqlx::FromRow)]
pub(crate) struct RegistrationRow {
    client_id: String,
    token_hash: Vec<u8>,
    policy: String,
    software_statement: Option<String>,
    token_issued_at: i64,
    initial_access_token_id: Option<String>,
}

impl TryFrom<RegistrationRow> for RegistrationRecord {
    type Error = StoreError;

    fn try_from(r: RegistrationRow) -> Result<Self, StoreError> {
        Ok(Self {
            client_id: r.client_id,
            token_hash: hash(&r.token_hash)?,
            policy: r.policy,
            software_statement: r.software_statement,
            token_issued_at: ts(r.token_issued_at),
            initial_access_token_id: r.initial_access_token_id,
        })
    }
}

/// The columns of a [`RegistrationRow`], each prefixed with `$prefix` (a table alias and a dot)
/// if given.
macro_rules! registration_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; client_id, token_hash, policy, software_statement,
            token_issued_at, initial_access_token_id)
    };
}

pub(crate) use registration_columns;

/// A `client_registrations` row with its `clients` row (both read `client_id`, which the join
/// makes equal).
#[derive(sqlx::FromRow)]
pub(crate) struct RegisteredRow {
    #[sqlx(flatten)]
    client: ClientRow,
    #[sqlx(flatten)]
    registration: RegistrationRow,
}

impl TryFrom<RegisteredRow> for RegisteredClient {
    type Error = StoreError;

    fn try_from(r: RegisteredRow) -> Result<Self, StoreError> {
        Ok(Self {
            registration: r.registration.try_into()?,
            client: r.client.into(),
        })
    }
}

pub(crate) const INSERT_IAT: &str = "INSERT INTO initial_access_tokens \
     (id, token_hash, policy, created_at, expires_at, uses_left, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const IAT: &str = concat!(
    "SELECT ",
    initial_access_token_columns!(),
    " FROM initial_access_tokens WHERE token_hash = $1"
);
pub(crate) const IATS: &str = concat!(
    "SELECT ",
    initial_access_token_columns!(),
    " FROM initial_access_tokens ORDER BY created_at, id"
);
pub(crate) const REVOKE_IAT: &str = "UPDATE initial_access_tokens \
     SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
/// The single-use rule: the row is updated only while a use is left (`NULL - 1` stays `NULL`:
/// unlimited). A concurrent use of the last one waits for this row and then finds none left.
pub(crate) const USE_IAT: &str = "UPDATE initial_access_tokens SET uses_left = uses_left - 1 \
     WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
     AND (uses_left IS NULL OR uses_left > 0) RETURNING policy";

pub(crate) const INSERT_REGISTRATION: &str = "INSERT INTO client_registrations \
     (client_id, token_hash, policy, software_statement, token_issued_at, initial_access_token_id) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const REGISTERED_BY_TOKEN: &str = concat!(
    "SELECT ",
    client_columns!("c."),
    ", ",
    registration_columns!("r."),
    " FROM client_registrations r JOIN clients c ON c.client_id = r.client_id \
     WHERE r.token_hash = $1"
);
pub(crate) const ROTATE_REGISTRATION: &str = "UPDATE client_registrations \
     SET token_hash = $3, token_issued_at = $4 WHERE client_id = $1 AND token_hash = $2";
pub(crate) const ROTATE_REGISTRATION_WITH_STATEMENT: &str = "UPDATE client_registrations \
     SET token_hash = $3, token_issued_at = $4, software_statement = $5 \
     WHERE client_id = $1 AND token_hash = $2";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";

/// Implements [`RegistrationStore`](crate::registration::RegistrationStore) for a struct with a
/// `pool` field.
macro_rules! sql_registration_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::registration::RegistrationStore for $store {
            async fn insert_initial_access_token(
                &self,
                t: &$crate::registration::InitialAccessTokenRecord,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::registration::INSERT_IAT)
                    .bind(&t.id)
                    .bind(&t.token_hash.as_bytes()[..])
                    .bind(&t.policy)
                    .bind(t.created_at.unix())
                    .bind(t.expires_at.unix())
                    .bind(t.uses_left.map(i64::from))
                    .bind(t.revoked_at.map(|r| r.unix()))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn initial_access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::registration::InitialAccessTokenRecord>, $crate::StoreError>
            {
                let row: Option<$crate::sql::registration::InitialAccessTokenRow> =
                    sqlx::query_as($crate::sql::registration::IAT)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn initial_access_tokens(
                &self,
            ) -> Result<Vec<$crate::registration::InitialAccessTokenRecord>, $crate::StoreError>
            {
                let rows: Vec<$crate::sql::registration::InitialAccessTokenRow> =
                    sqlx::query_as($crate::sql::registration::IATS)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn revoke_initial_access_token(
                &self,
                id: &str,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::registration::REVOKE_IAT)
                    .bind(id)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_initial_access_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<Option<String>, $crate::StoreError> {
                let row: Option<(String,)> = sqlx::query_as($crate::sql::registration::USE_IAT)
                    .bind(&hash.as_bytes()[..])
                    .bind(now.unix())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(policy,)| policy))
            }

            async fn insert_registered_client(
                &self,
                c: &$crate::ClientRecord,
                r: &$crate::registration::RegistrationRecord,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($crate::sql::clients::INSERT_CLIENT)
                    .bind(&c.client_id)
                    .bind(&c.metadata)
                    .bind(c.created_at.unix())
                    .bind(c.updated_at.unix())
                    .bind(c.disabled_at.map(|t| t.unix()))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::registration::INSERT_REGISTRATION)
                    .bind(&r.client_id)
                    .bind(&r.token_hash.as_bytes()[..])
                    .bind(&r.policy)
                    .bind(&r.software_statement)
                    .bind(r.token_issued_at.unix())
                    .bind(&r.initial_access_token_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn client_by_registration_token(
                &self,
                hash: &portcullis_core::hash::TokenHash,
            ) -> Result<Option<$crate::registration::RegisteredClient>, $crate::StoreError> {
                let row: Option<$crate::sql::registration::RegisteredRow> =
                    sqlx::query_as($crate::sql::registration::REGISTERED_BY_TOKEN)
                        .bind(&hash.as_bytes()[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn rotate_registration_token(
                &self,
                client_id: &str,
                current: &portcullis_core::hash::TokenHash,
                next: &portcullis_core::hash::TokenHash,
                now: portcullis_core::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::registration::ROTATE_REGISTRATION)
                    .bind(client_id)
                    .bind(&current.as_bytes()[..])
                    .bind(&next.as_bytes()[..])
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn replace_client_metadata(
                &self,
                u: &$crate::registration::MetadataReplacement<'_>,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let rotated =
                    sqlx::query($crate::sql::registration::ROTATE_REGISTRATION_WITH_STATEMENT)
                        .bind(u.client_id)
                        .bind(&u.current.as_bytes()[..])
                        .bind(&u.next.as_bytes()[..])
                        .bind(u.now.unix())
                        .bind(u.software_statement)
                        .execute(&mut *tx)
                        .await?;
                if rotated.rows_affected() != 1 {
                    // Another update rotated the token first; this one changes nothing.
                    return Ok(false);
                }
                sqlx::query($crate::sql::clients::REPLACE_METADATA)
                    .bind(u.client_id)
                    .bind(u.metadata)
                    .bind(u.now.unix())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_client(&self, client_id: &str) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::registration::DELETE_CLIENT)
                    .bind(client_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use sql_registration_store;

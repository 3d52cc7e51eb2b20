//! The `signing_keys` table: its row, its columns and the statements behind the signing-key
//! operations of [`Store`](crate::Store) (bootstrap, rotation in one transaction, purge).

use portcullis_core::jose::Alg;
use portcullis_core::keys::KeySchedule;

use super::ts;
use crate::{StoreError, StoredKey};

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
                alg: Alg::parse(&row.alg)
                    .ok_or(StoreError::Corrupt("signing key with an unknown alg"))?,
                created_at: ts(row.created_at),
                activates_at: ts(row.activates_at),
                retires_at: row.retires_at.map(ts),
                unpublish_at: row.unpublish_at.map(ts),
            },
            public_jwk: row.public_jwk,
            private_jwk_enc: row.private_jwk_enc,
        })
    }
}

/// The columns of a [`KeyRow`].
macro_rules! key_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; kid, alg, public_jwk, private_jwk_enc, created_at,
            activates_at, retires_at, unpublish_at)
    };
}

pub(crate) const SELECT_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys ORDER BY generation, kid"
);

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

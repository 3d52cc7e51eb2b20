//! Refresh tokens: the `refresh_tokens` table (row, columns, statements). Revoking one revokes
//! its grant, through the cascade in [`grants`](super::grants).

use crate::StoreError;
use crate::flow::RefreshTokenRecord;
use crate::sql::{hash, ts};

/// A `refresh_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    token_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    issued_at: i64,
    last_used_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<RefreshRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(r: RefreshRow) -> Result<Self, StoreError> {
        Ok(Self {
            token_hash: hash(&r.token_hash)?,
            grant_id: r.grant_id,
            client_id: r.client_id,
            issued_at: ts(r.issued_at),
            last_used_at: ts(r.last_used_at),
            expires_at: ts(r.expires_at),
            revoked_at: r.revoked_at.map(ts),
        })
    }
}

/// The columns of a [`RefreshRow`].
macro_rules! refresh_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; token_hash, grant_id, client_id, issued_at, last_used_at,
            expires_at, revoked_at)
    };
}

pub(crate) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, issued_at, last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const REFRESH: &str = concat!(
    "SELECT ",
    refresh_columns!(),
    " FROM refresh_tokens WHERE token_hash = $1"
);
pub(crate) const TOUCH_REFRESH: &str =
    "UPDATE refresh_tokens SET last_used_at = $2 WHERE token_hash = $1";

//! Authorizations: the `grants`, `codes` and `consents` tables (rows, columns, statements),
//! including single-use redemption of a code (R74) and the revocation of grants with the tokens
//! issued from them.

use crate::StoreError;
use crate::flow::{CodeRecord, ConsentRecord, GrantRecord};
use crate::sql::{hash, ts};

/// A `grants` row.
#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    grant_id: String,
    user_id: String,
    client_id: String,
    scope: String,
    auth_time: i64,
    acr: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<GrantRow> for GrantRecord {
    fn from(r: GrantRow) -> Self {
        Self {
            grant_id: r.grant_id,
            user_id: r.user_id,
            client_id: r.client_id,
            scope: r.scope,
            auth_time: ts(r.auth_time),
            acr: r.acr,
            created_at: ts(r.created_at),
            revoked_at: r.revoked_at.map(ts),
        }
    }
}

/// The columns of a [`GrantRow`], each prefixed with `$prefix` (a table alias and a dot) if
/// given.
macro_rules! grant_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; grant_id, user_id, client_id, scope, auth_time, acr,
            created_at, revoked_at)
    };
}

pub(crate) use grant_columns;

/// A `codes` row (without `redeemed_at`).
#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    dpop_jkt: Option<String>,
    nonce: Option<String>,
    expires_at: i64,
}

impl TryFrom<CodeRow> for CodeRecord {
    type Error = StoreError;

    fn try_from(r: CodeRow) -> Result<Self, StoreError> {
        Ok(Self {
            code_hash: hash(&r.code_hash)?,
            grant_id: r.grant_id,
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            dpop_jkt: r.dpop_jkt,
            nonce: r.nonce,
            expires_at: ts(r.expires_at),
        })
    }
}

/// The columns of a [`CodeRow`].
macro_rules! code_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; code_hash, grant_id, client_id, redirect_uri,
            code_challenge, dpop_jkt, nonce, expires_at)
    };
}

/// A `consents` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ConsentRow {
    user_id: String,
    client_id: String,
    scope: String,
    granted_at: i64,
}

impl From<ConsentRow> for ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        Self {
            user_id: r.user_id,
            client_id: r.client_id,
            scope: r.scope,
            granted_at: ts(r.granted_at),
        }
    }
}

/// The columns of a [`ConsentRow`].
macro_rules! consent_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; user_id, client_id, scope, granted_at)
    };
}

/// Revokes grants and tokens, keeping the time of any earlier revocation: the access and refresh
/// tokens matching `$tokens`, then the grants matching `$grants`, at the placeholder `$at`. Every
/// revocation of grants with their tokens (a grant, a user's consent, everything of a client)
/// is this cascade, so all of them take their row locks in the same order.
macro_rules! revoke_cascade {
    (tokens: $tokens:literal, grants: $grants:literal, at: $at:literal) => {
        [
            concat!(
                "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ",
                $at,
                ") WHERE ",
                $tokens
            ),
            concat!(
                "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ",
                $at,
                ") WHERE ",
                $tokens
            ),
            concat!(
                "UPDATE grants SET revoked_at = COALESCE(revoked_at, ",
                $at,
                ") WHERE ",
                $grants
            ),
        ]
    };
}

pub(crate) use revoke_cascade;

pub(crate) const INSERT_GRANT: &str = "INSERT INTO grants (grant_id, user_id, client_id, scope, auth_time, acr, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const INSERT_CODE: &str = "INSERT INTO codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, dpop_jkt, nonce, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const UPSERT_CONSENT: &str = "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at";
pub(crate) const REDEEM_CODE: &str = concat!(
    "UPDATE codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2 \
     RETURNING ",
    code_columns!()
);
pub(crate) const CODE_STATE: &str = "SELECT grant_id, redeemed_at FROM codes WHERE code_hash = $1";
pub(crate) const GRANT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE grant_id = $1"
);
/// Grant `$1` and every token issued from it, revoked at `$2`.
pub(crate) const REVOKE_GRANT: [&str; 3] = revoke_cascade!(
    tokens: "grant_id = $1",
    grants: "grant_id = $1",
    at: "$2"
);

pub(crate) const CONSENT: &str = concat!(
    "SELECT ",
    consent_columns!(),
    " FROM consents WHERE user_id = $1 AND client_id = $2"
);
pub(crate) const CONSENTS: &str = concat!(
    "SELECT ",
    consent_columns!(),
    " FROM consents WHERE user_id = $1 ORDER BY client_id"
);
pub(crate) const DELETE_CONSENT: &str =
    "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";
/// Every grant of user `$1` to client `$2`, and every token issued from them, revoked at `$3`.
pub(crate) const REVOKE_USER_CLIENT: [&str; 3] = revoke_cascade!(
    tokens: "grant_id IN (SELECT grant_id FROM grants WHERE user_id = $1 AND client_id = $2)",
    grants: "user_id = $1 AND client_id = $2",
    at: "$3"
);

//! The `used_jtis` and `access_tokens` tables: the statements behind the single-use `jti`s and
//! the access tokens of [`Store`](crate::Store), and the access token row and columns.
//!
//! An access token is read together with the revocation of its grant (R74): a token inserted
//! just after a replayed code revoked its grant (the revocation cascade could not see it yet) is
//! still reported revoked, whatever the interleaving of the two transactions.

use portcullis_core::hash::TokenHash;
use portcullis_core::scope::Scope;
use portcullis_core::token::{Confirmation, Grant};

use super::ts;
use crate::{AccessTokenRecord, StoreError};

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

/// An `access_tokens` row with the revocation time of its grant, if it has one.
#[derive(sqlx::FromRow)]
pub(crate) struct AccessTokenReadRow {
    #[sqlx(flatten)]
    token: AccessTokenRow,
    grant_revoked_at: Option<i64>,
}

impl TryFrom<AccessTokenReadRow> for AccessTokenRecord {
    type Error = StoreError;

    fn try_from(row: AccessTokenReadRow) -> Result<Self, StoreError> {
        let mut record = Self::try_from(row.token)?;
        // R74: a token of a revoked grant is revoked, from its grant's revocation on.
        record.revoked_at = record.revoked_at.or(row.grant_revoked_at.map(ts));
        Ok(record)
    }
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
                issued_at: ts(row.issued_at),
                expires_at: ts(row.expires_at),
            },
            revoked_at: row.revoked_at.map(ts),
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

/// The row written for an issued access token (by the token writer, [`crate::batch`]).
pub(crate) fn row(token: &AccessTokenRecord) -> crate::batch::TokenRow {
    let g = &token.grant;
    let (jkt, x5t) = binding(&g.confirmation);
    crate::batch::TokenRow {
        token_hash: token.token_hash.as_bytes().to_vec(),
        jti: g.jti.clone(),
        client_id: g.client_id.clone(),
        subject: g.subject.clone(),
        scope: g.scope.to_string(),
        audience: g.audience.clone(),
        cnf_jkt: jkt.map(str::to_owned),
        cnf_x5t: x5t.map(str::to_owned),
        format: token.format.clone(),
        issued_at: g.issued_at.unix(),
        expires_at: g.expires_at.unix(),
        grant_id: token.grant_id.clone(),
    }
}

/// The columns of an [`AccessTokenRow`].
macro_rules! access_token_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; token_hash, jti, client_id, subject, scope, audience,
            cnf_jkt, cnf_x5t, format, issued_at, expires_at, revoked_at, grant_id)
    };
}

pub(crate) const INSERT_JTI: &str =
    "INSERT INTO used_jtis (key_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";

pub(crate) const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (token_hash, jti, \
     client_id, subject, scope, audience, cnf_jkt, cnf_x5t, format, issued_at, expires_at, grant_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Tokens whose hash matches `$condition`, each with its grant's revocation time (an
/// [`AccessTokenReadRow`]).
macro_rules! select_access_tokens {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            access_token_columns!("a."),
            ", g.revoked_at AS grant_revoked_at FROM access_tokens a \
             LEFT JOIN grants g ON g.grant_id = a.grant_id WHERE a.token_hash ",
            $condition
        )
    };
}

/// Token `$1`.
pub(crate) const SELECT_ACCESS_TOKEN: &str = select_access_tokens!("= $1");

/// The batched reads of the Postgres store (decisions 0018, 0019): item `i` reads token `$1[i]`
/// and spends key `$2[i]` (until `$3[i]`; NULL for none). One row per item, in order: `fresh`
/// (the item's spend came back from the insert, or it had none), then the token's columns, all
/// NULL when there is no such token.
pub(crate) const SELECT_ACCESS_TOKENS_SPENDING: &str = concat!(
    "WITH r AS (SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::int8[]) \
     WITH ORDINALITY AS r(h, k, e, i)), \
     j AS (INSERT INTO used_jtis (key_hash, expires_at) SELECT k, e FROM r WHERE k IS NOT NULL \
     ON CONFLICT DO NOTHING RETURNING key_hash) \
     SELECT (r.k IS NULL OR r.k IN (SELECT key_hash FROM j)) AS fresh, ",
    access_token_columns!("a."),
    ", g.revoked_at AS grant_revoked_at FROM r \
     LEFT JOIN access_tokens a ON a.token_hash = r.h \
     LEFT JOIN grants g ON g.grant_id = a.grant_id ORDER BY r.i"
);

pub(crate) const REVOKE_ACCESS_TOKEN: &str = "UPDATE access_tokens \
     SET revoked_at = COALESCE(revoked_at, $3) WHERE token_hash = $1 AND client_id = $2";

pub(crate) const ACCESS_TOKEN_EXISTS: &str = "SELECT 1 FROM access_tokens WHERE token_hash = $1";

//! Pushed authorization requests: the `pushed_requests` table (row, columns, statements). Taking a
//! request is one `DELETE … RETURNING`, so of concurrent takes exactly one gets it; extending one
//! is one `UPDATE` that only a request never extended matches, so it happens once.

use crate::flow::PushedRequest;
use crate::sql::ts;

/// A `pushed_requests` row (without its key, the request_uri's hash).
#[derive(sqlx::FromRow)]
pub(crate) struct PushedRow {
    client_id: String,
    request: String,
    expires_at: i64,
    extended_at: Option<i64>,
}

impl From<PushedRow> for PushedRequest {
    fn from(r: PushedRow) -> Self {
        Self {
            client_id: r.client_id,
            request: r.request,
            expires_at: ts(r.expires_at),
            extended_at: r.extended_at.map(ts),
        }
    }
}

/// The columns of a [`PushedRow`].
macro_rules! pushed_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; client_id, request, expires_at, extended_at)
    };
}

pub(crate) const INSERT_PUSHED: &str = "INSERT INTO pushed_requests (request_uri_hash, client_id, request, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const PUSHED: &str = concat!(
    "SELECT ",
    pushed_columns!(),
    " FROM pushed_requests WHERE request_uri_hash = $1"
);
pub(crate) const TAKE_PUSHED: &str = concat!(
    "DELETE FROM pushed_requests WHERE request_uri_hash = $1 AND client_id = $2 AND expires_at > $3 \
     RETURNING ",
    pushed_columns!()
);
/// Request `$1`, unexpired at `$3` and never extended, now lives until `$2` (never shortened).
pub(crate) const EXTEND_PUSHED: &str = "UPDATE pushed_requests SET expires_at = $2, extended_at = $3 \
     WHERE request_uri_hash = $1 AND expires_at > $3 AND extended_at IS NULL AND expires_at < $2";

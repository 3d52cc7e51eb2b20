//! The `clients` table: its row, its columns and the statements that more than one trait uses
//! (registering a client, replacing its metadata). Statements only one trait uses sit with that
//! trait's SQL.

use super::ts;
use crate::ClientRecord;

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
            created_at: ts(row.created_at),
            updated_at: ts(row.updated_at),
            disabled_at: row.disabled_at.map(ts),
        }
    }
}

/// The columns of a [`ClientRow`], each prefixed with `$prefix` (a table alias and a dot) if
/// given.
macro_rules! client_columns {
    ($($prefix:literal)?) => {
        $crate::sql::columns!($($prefix)?; client_id, metadata, created_at, updated_at, disabled_at)
    };
}

pub(crate) use client_columns;

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients \
     (client_id, metadata, created_at, updated_at, disabled_at) VALUES ($1, $2, $3, $4, $5)";

pub(crate) const SELECT_CLIENT: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients WHERE client_id = $1"
);

pub(crate) const SELECT_CLIENTS: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients ORDER BY client_id"
);

pub(crate) const DISABLE_CLIENT: &str = "UPDATE clients SET disabled_at = COALESCE(disabled_at, $2), \
     updated_at = $2 WHERE client_id = $1";

/// A new metadata document (a registration update or an administrator's edit).
pub(crate) const REPLACE_METADATA: &str =
    "UPDATE clients SET metadata = $2, updated_at = $3 WHERE client_id = $1";

//! The SQLite backend: the embedded default for a single server process.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;
use crate::batch::{Batch, Sink, Writer};
use crate::health::{GuardedPool, Health, Recovery};
use crate::lanes::Gather;
use crate::postgres::ACQUIRE_TIMEOUT;
use crate::sql::sql_backend;
use crate::sql::tokens::{INSERT_ACCESS_TOKEN, INSERT_JTI};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// SQLite serializes writers; a few connections let readers proceed under WAL.
const MAX_CONNECTIONS: u32 = 4;

/// [`Store`](crate::Store) on an SQLite file (WAL mode, foreign keys on).
///
/// The token endpoint's writes (spent `jti`s, access token rows) go through one writer
/// connection of their own ([`crate::batch`]): everything queued is written in one `BEGIN
/// IMMEDIATE` transaction, so a burst of token requests takes the file's write lock once instead
/// of once each (and never waits in the busy handler for its own siblings). That connection runs
/// with `synchronous = NORMAL`, the SQLite analogue of decision 0007: in WAL mode a process crash
/// loses nothing; a power loss may lose the last transactions, which fails safe for these two
/// tables (decision 0015).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: GuardedPool<sqlx::Sqlite>,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file named by `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let health = Health::of(&pool, Recovery::new());
        let sink = TokenWriter {
            options: options.synchronous(SqliteSynchronous::Normal),
            connection: None,
        };
        Ok(Self {
            pool: GuardedPool::new(pool, Arc::clone(&health)),
            writer: Writer::start(vec![Box::new(sink)], health, Gather::Queued),
        })
    }

    /// None: token reads and revocations go through the pool. SQLite answers in-process (there
    /// is no round trip to save) and lets readers run side by side under WAL.
    fn lanes(&self) -> Option<&crate::postgres::Lanes> {
        None
    }
}

/// The writer's connection, opened when first needed and again after it broke.
struct TokenWriter {
    options: SqliteConnectOptions,
    connection: Option<SqliteConnection>,
}

#[async_trait::async_trait]
impl Sink for TokenWriter {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            slot => slot.insert(SqliteConnection::connect_with(&self.options).await?),
        };
        let result = write(connection, batch).await;
        if result.is_err() {
            // Whatever the statement left open is rolled back with the connection.
            self.connection = None;
        }
        result
    }
}

/// One `BEGIN IMMEDIATE` transaction for the whole batch.
async fn write(
    connection: &mut SqliteConnection,
    batch: &Batch<'_>,
) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
    let mut fresh = HashSet::new();
    for jti in &batch.jtis {
        let done = sqlx::query(INSERT_JTI)
            .bind(jti.key.as_slice())
            .bind(jti.expires_at)
            .execute(&mut *transaction)
            .await?;
        if done.rows_affected() == 1 {
            fresh.insert(jti.key.clone());
        }
    }
    // A token row only when each key it needs was fresh in this transaction.
    for t in batch
        .tokens
        .iter()
        .filter(|t| t.needs.iter().all(|k| fresh.contains(*k)))
        .map(|t| t.row)
    {
        sqlx::query(INSERT_ACCESS_TOKEN)
            .bind(t.token_hash.as_slice())
            .bind(&t.jti)
            .bind(&t.client_id)
            .bind(&t.subject)
            .bind(&t.scope)
            .bind(&t.audience)
            .bind(t.cnf_jkt.as_deref())
            .bind(t.cnf_x5t.as_deref())
            .bind(&t.format)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.grant_id.as_deref())
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(fresh)
}

sql_backend!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{JtiRow, Op, TokenRow, write_ops};
    use crate::{JtiUse, Store as _};

    fn token(secret: &str, client_id: &str) -> Op {
        Op::Token {
            spends: Vec::new(),
            row: Box::new(TokenRow {
                token_hash: portcullis_core::hash::TokenHash::of(secret.as_bytes())
                    .as_bytes()
                    .to_vec(),
                jti: secret.to_owned(),
                client_id: client_id.to_owned(),
                subject: client_id.to_owned(),
                scope: "openid".to_owned(),
                audience: "https://as".to_owned(),
                cnf_jkt: Some("jkt".to_owned()),
                cnf_x5t: None,
                format: "opaque".to_owned(),
                issued_at: 1,
                expires_at: 1000,
                grant_id: None,
            }),
        }
    }

    fn jti(key: &[u8]) -> Op {
        Op::Jti(JtiRow {
            key: key.to_vec(),
            expires_at: 1000,
        })
    }

    /// Batches holding one `jti` several times, a fresh one, a `jti` spent before, valid token
    /// rows and one the database refuses: each operation gets its own answer.
    #[tokio::test]
    async fn one_batch_answers_each_operation_by_its_own_fate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let client = crate::ClientRecord {
            client_id: "c1".to_owned(),
            metadata: r#"{"client_id":"c1"}"#.to_owned(),
            created_at: portcullis_core::Timestamp::from_unix(1),
            updated_at: portcullis_core::Timestamp::from_unix(1),
            disabled_at: None,
        };
        store.insert_client(&client).await.unwrap();
        let sink: Box<dyn Sink> = Box::new(TokenWriter {
            options: SqliteConnectOptions::from_str(&url).unwrap(),
            connection: None,
        });
        let health = Health::of(store.pool.inner(), Recovery::new());
        let (sink, spent) = write_ops(sink, &health, vec![jti(b"old")]).await;
        assert_eq!(spent, vec![Ok(Some(JtiUse::Fresh))]);

        let fresh = Ok(Some(JtiUse::Fresh));
        let replayed = Ok(Some(JtiUse::Replayed));
        let ops = vec![
            jti(b"same"),
            token("t1", "c1"),
            jti(b"same"),
            jti(b"other"),
            jti(b"old"),
            jti(b"same"),
        ];
        let (sink, answers) = write_ops(sink, &health, ops).await;
        assert_eq!(answers[0], fresh, "first spend of a key in the batch");
        assert_eq!(answers[1], Ok(None));
        assert_eq!(answers[2], replayed, "second spend of the key in one batch");
        assert_eq!(answers[3], fresh);
        assert_eq!(answers[4], replayed, "a key spent in an earlier batch");
        assert_eq!(answers[5], replayed);

        // A row the database refuses fails the batch; each operation is then written alone.
        let ops = vec![
            jti(b"third"),
            token("t2", "ghost"),
            jti(b"third"),
            token("t3", "c1"),
        ];
        let (_, answers) = write_ops(sink, &health, ops).await;
        assert_eq!(answers[0], fresh);
        assert!(
            answers[1].is_err(),
            "a token of an unknown client is refused"
        );
        assert_eq!(answers[2], replayed);
        assert_eq!(answers[3], Ok(None), "the rest of the batch is stored");
        for secret in ["t1", "t3"] {
            let hash = portcullis_core::hash::TokenHash::of(secret.as_bytes());
            assert!(
                store.access_token(&hash).await.unwrap().is_some(),
                "{secret}"
            );
        }
    }
}

//! The Postgres backend: the production store, shared by any number of server processes.

use std::collections::HashSet;

use portcullis_core::hash::TokenHash;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgSslMode};
use sqlx::{Connection as _, FromRow as _, Row as _};

use crate::batch::{Batch, Sink, TokenRow, Writer};
use crate::health::{Class, GuardedPool, Health, Recovery, classify};
use crate::lanes::{Gather, Handler, Home, Lane};
use crate::sql::sql_backend;
use crate::sql::tokens::{AccessTokenReadRow, SELECT_ACCESS_TOKENS_SPENDING};
use crate::{AccessTokenRecord, JtiUse, Revocation, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connections per process. Each request on a hot path holds one for a single round trip.
const MAX_CONNECTIONS: u32 = 16;

/// Writer tasks (each with its own connection) for the token path's batched writes
/// ([`crate::batch`]). One: what arrives during its round trip is its next batch, so batches
/// grow with the load and Postgres's cost per request falls (two, one collecting while the other
/// wrote, made smaller batches and 8–11 % fewer token requests a second at 16 connections;
/// decision 0019).
const WRITERS: usize = 1;

/// Tasks (each with its own connection) reading access tokens in batches ([`crate::lanes`]);
/// one, for the same reason (+16 % introspections at 16 connections against two). Revocations
/// have one too: they commit synchronously, one flush per batch.
const READERS: usize = 1;

/// The name of the thread the revocation lane runs on ([`Home::Thread`]); one per store.
const REVOKER_THREAD: &str = "pc-revoker";

/// How long a statement waits for a connection. Short, because while Postgres refuses
/// connections the pool retries until this passes; once that has happened the database is marked
/// down and statements fail at once (`health`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// [`Store`](crate::Store) on Postgres.
///
/// `pool` commits synchronously (everything that must survive a crash once acknowledged:
/// revocations, grants, codes, keys, clients). Its connections are not pinged before use: a
/// broken one fails its statement, which marks the database down and is answered 503 like any
/// outage (`health`), instead of costing every statement an extra round trip.
///
/// `writer` batches the token endpoint's two writes (spent `jti`s, access token rows) on
/// connections of its own with `synchronous_commit = off`, where losing the last few hundred
/// milliseconds in a crash fails safe: a lost access token row makes that token invalid, and a
/// lost spent-`jti` row can only matter for an assertion or proof that was already used in that
/// instant and is still unexpired. Decision records 0007 and 0015.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: GuardedPool<sqlx::Postgres>,
    writer: Writer,
    lanes: Lanes,
}

/// The batched statements of the introspection and revocation paths ([`crate::lanes`],
/// decision 0018).
#[derive(Clone, Debug)]
pub(crate) struct Lanes {
    pub(crate) reads: Lane<TokenReader>,
    pub(crate) revocations: Lane<Revoker>,
}

impl PgStore {
    /// Connects to `url`, failing fast when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid Postgres URL: {e}")))?
            // Notices (such as the migrator's "relation _sqlx_migrations already exists,
            // skipping") are not for operators; warnings and errors still reach the log.
            .options([("client_min_messages", "warning")]);
        let options = plain_on_loopback(url, options);
        let recovery = Recovery::new();
        let main = || {
            let stale = Arc::clone(&recovery);
            PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                // A connection opened before the database last came back is closed, not used.
                .before_acquire(move |_, meta| {
                    let fresh = !stale.predates(meta.age);
                    Box::pin(async move { Ok(fresh) })
                })
                .connect_with(options.clone())
        };
        let pool = match main().await {
            Ok(pool) => pool,
            // 3D000 invalid_catalog_name: the database does not exist yet; a first start
            // creates it, as the SQLite backend creates its file.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
                create_database(&options).await?;
                main().await?
            }
            Err(e) => return Err(e.into()),
        };
        // One database: an outage seen by the pool or a writer makes both fail fast.
        let health = Health::of(&pool, Arc::clone(&recovery));
        let writer_options = options.clone().options([("synchronous_commit", "off")]);
        let sinks = (0..WRITERS)
            .map(|_| Box::new(TokenWriter(Own::new(&writer_options, &recovery))) as Box<dyn Sink>)
            .collect();
        let readers = (0..READERS)
            .map(|_| TokenReader(Own::new(&writer_options, &recovery)))
            .collect();
        let revokers = vec![Revoker(Own::new(&options, &recovery))];
        Ok(Self {
            pool: GuardedPool::new(pool, Arc::clone(&health)),
            writer: Writer::start(sinks, Arc::clone(&health), Gather::AfterYield),
            lanes: Lanes {
                reads: Lane::start(
                    readers,
                    Arc::clone(&health),
                    Gather::AfterYield,
                    Home::Runtime,
                ),
                revocations: Lane::start(
                    revokers,
                    health,
                    Gather::Queued,
                    Home::Thread(REVOKER_THREAD),
                ),
            },
        })
    }

    /// Token reads and revocations go through the lanes (decision 0018).
    fn lanes(&self) -> Option<&Lanes> {
        Some(&self.lanes)
    }
}

/// The statement that writes one batch: spends the `jti`s (returning the fresh ones) and
/// inserts the token rows, in one round trip and one commit. Token row `i` (its ordinal in
/// `$3…$14`) is inserted only if every key `$16[k]` with `$15[k] = i` was fresh in this same
/// statement (a data-modifying `WITH` sees its sibling's `RETURNING` rows, not its effects).
const WRITE_BATCH: &str = "WITH j AS (\
     INSERT INTO used_jtis (key_hash, expires_at) \
     SELECT * FROM unnest($1::bytea[], $2::int8[]) ON CONFLICT DO NOTHING RETURNING key_hash), \
     n AS (SELECT * FROM unnest($15::int8[], $16::bytea[]) AS n(i, k)), \
     t AS (INSERT INTO access_tokens (token_hash, jti, client_id, subject, scope, audience, \
     cnf_jkt, cnf_x5t, format, issued_at, expires_at, grant_id) \
     SELECT h, jti, c, s, sc, a, jkt, x5t, f, ia, ea, g \
     FROM unnest($3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[], $13::int8[], $14::text[]) \
     WITH ORDINALITY AS u(h, jti, c, s, sc, a, jkt, x5t, f, ia, ea, g, i) \
     WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.i = u.i \
     AND n.k NOT IN (SELECT key_hash FROM j))) \
     SELECT key_hash FROM j";

/// Revokes each token `$1[i]` owned by client `$2[i]` at `$3[i]` (keeping an earlier time), if
/// its request's spend `$4[i]` (until `$5[i]`; NULL for none) is fresh in this same statement;
/// and answers, in order, whether the spend was fresh, whether the token is now revoked for that
/// client and whether the token exists at all (ownership never changes, so the last two cannot
/// disagree).
const REVOKE_ACCESS_TOKENS: &str = "WITH r AS (\
     SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[], $4::bytea[], $5::int8[]) \
     WITH ORDINALITY AS r(h, c, t, k, e, i)), \
     j AS (INSERT INTO used_jtis (key_hash, expires_at) SELECT k, e FROM r WHERE k IS NOT NULL \
     ON CONFLICT DO NOTHING RETURNING key_hash), \
     ok AS (SELECT * FROM r WHERE r.k IS NULL OR r.k IN (SELECT key_hash FROM j)), \
     u AS (UPDATE access_tokens a SET revoked_at = COALESCE(a.revoked_at, ok.t) FROM ok \
     WHERE a.token_hash = ok.h AND a.client_id = ok.c RETURNING a.token_hash, a.client_id) \
     SELECT r.k IS NULL OR r.k IN (SELECT key_hash FROM j), \
     EXISTS (SELECT 1 FROM u WHERE u.token_hash = r.h AND u.client_id = r.c), \
     EXISTS (SELECT 1 FROM access_tokens a WHERE a.token_hash = r.h) FROM r ORDER BY r.i";

/// A connection of one batching task (with when it was opened), outside the pool: opened when
/// first needed, again after it broke, and again after the database came back from an outage.
struct Own {
    options: PgConnectOptions,
    connection: Option<(PgConnection, Instant)>,
    recovery: Arc<Recovery>,
}

impl Own {
    fn new(options: &PgConnectOptions, recovery: &Arc<Recovery>) -> Self {
        Self {
            options: options.clone(),
            connection: None,
            recovery: Arc::clone(recovery),
        }
    }

    /// The open connection, opened first if needed.
    async fn get(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if let Some((_, opened)) = &self.connection
            && self.recovery.predates(opened.elapsed())
        {
            self.connection = None;
        }
        let (connection, _) = match &mut self.connection {
            Some(open) => open,
            slot => slot.insert((
                tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&self.options))
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??,
                Instant::now(),
            )),
        };
        Ok(connection)
    }

    /// Passes `result` on, closing the connection after an outage (a fresh one next time).
    fn after<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(e) = &result
            && classify(e) == Class::Outage
        {
            self.connection = None;
        }
        result
    }
}

/// A token writer's connection ([`crate::batch`]).
struct TokenWriter(Own);

#[async_trait::async_trait]
impl Sink for TokenWriter {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
        let connection = self.0.get().await?;
        let tokens: Vec<&TokenRow> = batch.tokens.iter().map(|t| t.row).collect();
        let text = |f: fn(&TokenRow) -> &str| tokens.iter().map(|t| f(t)).collect::<Vec<_>>();
        let optional =
            |f: fn(&TokenRow) -> Option<&str>| tokens.iter().map(|t| f(t)).collect::<Vec<_>>();
        let number = |f: fn(&TokenRow) -> i64| tokens.iter().map(|t| f(t)).collect::<Vec<_>>();
        // (ordinal of the token row, key it needs), ordinals from 1 as WITH ORDINALITY counts.
        let (need_rows, need_keys): (Vec<i64>, Vec<&[u8]>) = (1_i64..)
            .zip(&batch.tokens)
            .flat_map(|(i, t)| t.needs.iter().map(move |k| (i, *k)))
            .unzip();
        let result = sqlx::query_scalar::<_, Vec<u8>>(WRITE_BATCH)
            .bind(
                batch
                    .jtis
                    .iter()
                    .map(|j| j.key.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.jtis.iter().map(|j| j.expires_at).collect::<Vec<_>>())
            .bind(
                tokens
                    .iter()
                    .map(|t| t.token_hash.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(text(|t| &t.jti))
            .bind(text(|t| &t.client_id))
            .bind(text(|t| &t.subject))
            .bind(text(|t| &t.scope))
            .bind(text(|t| &t.audience))
            .bind(optional(|t| t.cnf_jkt.as_deref()))
            .bind(optional(|t| t.cnf_x5t.as_deref()))
            .bind(text(|t| &t.format))
            .bind(number(|t| t.issued_at))
            .bind(number(|t| t.expires_at))
            .bind(optional(|t| t.grant_id.as_deref()))
            .bind(need_rows)
            .bind(need_keys)
            .fetch_all(&mut *connection)
            .await;
        self.0.after(result).map(|keys| keys.into_iter().collect())
    }
}

/// Which items of a batch repeat a spend an earlier item of the same batch carries: a replay
/// already, decided here, because the statement's `ON CONFLICT DO NOTHING` would let every copy
/// see the one insert as its own.
fn repeated_spends<'a>(spends: impl Iterator<Item = Option<&'a crate::Spend>>) -> Vec<bool> {
    let mut seen = HashSet::new();
    spends
        .map(|spend| spend.is_some_and(|s| !seen.insert(s.key)))
        .collect()
}

/// An access token to read, with the reading request's assertion `jti` to spend, if any.
pub(crate) struct Read {
    pub(crate) hash: TokenHash,
    pub(crate) spend: Option<crate::Spend>,
}

/// Reads access tokens by hash, a batch in one statement (introspection, and every protected
/// resource Portcullis serves itself), spending in the same statement the `jti` each read
/// carries (an introspection's caller assertion, decision 0019); answers each spend's use (fresh
/// when it had none) and the token, if any. The connection commits asynchronously: a spend here
/// is one of the token path's, decision 0007.
pub(crate) struct TokenReader(Own);

#[async_trait::async_trait]
impl Handler for TokenReader {
    type Item = Read;
    type Answer = (JtiUse, Option<AccessTokenRecord>);

    async fn handle(&mut self, items: &[Read]) -> Result<Vec<Self::Answer>, sqlx::Error> {
        // A repeated spend is sent without it and answered replayed.
        let repeated = repeated_spends(items.iter().map(|r| r.spend.as_ref()));
        let spends = || {
            items
                .iter()
                .zip(&repeated)
                .map(|(r, repeated)| r.spend.as_ref().filter(|_| !repeated))
        };
        let connection = self.0.get().await?;
        let result = sqlx::query(SELECT_ACCESS_TOKENS_SPENDING)
            .bind(
                items
                    .iter()
                    .map(|r| &r.hash.as_bytes()[..])
                    .collect::<Vec<_>>(),
            )
            .bind(
                spends()
                    .map(|s| s.map(|s| &s.key.as_bytes()[..]))
                    .collect::<Vec<_>>(),
            )
            .bind(
                spends()
                    .map(|s| s.map(|s| s.expires_at.unix()))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *connection)
            .await;
        let rows = self.0.after(result)?;
        if rows.len() != items.len() {
            return Err(sqlx::Error::Decode("a token read row is missing".into()));
        }
        rows.iter()
            .zip(repeated)
            .map(|(row, repeated)| {
                let fresh: bool = row.try_get("fresh")?;
                let used = if fresh && !repeated {
                    JtiUse::Fresh
                } else {
                    JtiUse::Replayed
                };
                let found = row.try_get::<Option<Vec<u8>>, _>("token_hash")?.is_some();
                let record = match found {
                    true => Some(
                        AccessTokenRecord::try_from(AccessTokenReadRow::from_row(row)?)
                            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
                    ),
                    false => None,
                };
                Ok((used, record))
            })
            .collect()
    }
}

/// An access token to revoke for the client that owns it, with the revoking request's assertion
/// `jti` to spend first, if any (the revocation happens only if that spend is fresh).
pub(crate) struct Revoke {
    pub(crate) hash: TokenHash,
    pub(crate) client_id: String,
    pub(crate) now: i64,
    pub(crate) spend: Option<crate::Spend>,
}

/// Revokes access tokens, a batch in one statement and one synchronous commit: once a
/// revocation is answered it survives a crash, and every process's next read sees it. Each
/// revocation's spend (its request's assertion `jti`) is written in the same statement, and the
/// revocation only if the spend was fresh (`None` answers a replay).
pub(crate) struct Revoker(Own);

#[async_trait::async_trait]
impl Handler for Revoker {
    type Item = Revoke;
    type Answer = Option<Revocation>;

    async fn handle(&mut self, items: &[Revoke]) -> Result<Vec<Self::Answer>, sqlx::Error> {
        // A repeated spend is not sent (its revocation neither) and answered replayed.
        let sent: Vec<bool> = repeated_spends(items.iter().map(|r| r.spend.as_ref()))
            .into_iter()
            .map(|repeated| !repeated)
            .collect();
        let batch: Vec<&Revoke> = items
            .iter()
            .zip(&sent)
            .filter(|(_, s)| **s)
            .map(|(r, _)| r)
            .collect();
        let connection = self.0.get().await?;
        let result = sqlx::query_as::<_, (bool, bool, bool)>(REVOKE_ACCESS_TOKENS)
            .bind(
                batch
                    .iter()
                    .map(|r| &r.hash.as_bytes()[..])
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.client_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|r| r.now).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|r| r.spend.as_ref().map(|s| &s.key.as_bytes()[..]))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.spend.as_ref().map(|s| s.expires_at.unix()))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *connection)
            .await;
        let rows = self.0.after(result)?;
        if rows.len() != batch.len() {
            return Err(sqlx::Error::Decode("a revocation row is missing".into()));
        }
        let mut rows = rows.into_iter();
        Ok(sent
            .iter()
            .map(|sent| match sent.then(|| rows.next()).flatten() {
                Some((true, true, _)) => Some(Revocation::Revoked),
                Some((true, false, true)) => Some(Revocation::NotOwner),
                Some((true, false, false)) => Some(Revocation::Unknown),
                // The spend was a replay (in the database, or earlier in this batch).
                Some((false, _, _)) | None => None,
            })
            .collect())
    }
}

/// Without an `sslmode` in the URL, sqlx tries TLS first (`prefer`). To a loopback address TLS
/// protects nothing (the bytes never leave the machine) and costs both sides CPU on every
/// statement, so there the default is a plain connection; an explicit `sslmode` is kept.
fn plain_on_loopback(url: &str, options: PgConnectOptions) -> PgConnectOptions {
    let loopback = match options.get_host() {
        "localhost" => true,
        host => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    };
    if loopback && !url.contains("sslmode=") {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

/// Creates the database `options` names, through the `postgres` maintenance database. A
/// concurrent creation by another process (42P04 duplicate_database) is fine.
async fn create_database(options: &PgConnectOptions) -> Result<(), StoreError> {
    let name = options.get_database().unwrap_or_default().to_owned();
    // Only plain identifiers: the name goes into SQL and cannot be a bind parameter.
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::InvalidUrl(
            "the Postgres database does not exist, and its name is not a plain identifier to create it"
                .to_owned(),
        ));
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let sql = format!("CREATE DATABASE \"{name}\"");
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created Postgres database");
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

sql_backend!(PgStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_connections_skip_tls_unless_the_url_asks_for_it() {
        let mode = |url: &str| {
            let options = PgConnectOptions::from_str(url).unwrap();
            format!("{:?}", plain_on_loopback(url, options).get_ssl_mode())
        };
        assert_eq!(mode("postgres://u@127.0.0.1:5432/d"), "Disable");
        assert_eq!(mode("postgres://u@localhost/d"), "Disable");
        assert_eq!(mode("postgres://u@[::1]:5432/d"), "Disable");
        assert_eq!(mode("postgres://u@db.internal:5432/d"), "Prefer");
        assert_eq!(mode("postgres://u@10.0.0.5/d"), "Prefer");
        assert_eq!(mode("postgres://u@127.0.0.1/d?sslmode=require"), "Require");
    }
}

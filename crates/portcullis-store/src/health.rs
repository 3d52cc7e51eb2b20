//! Failing fast while the database is unreachable.
//!
//! Every statement of a backend runs on a [`GuardedPool`]: a sqlx pool that watches the errors
//! its statements end with. An error that says the database cannot be reached (a broken or
//! refused connection, a pool that timed out opening one, a server shutting down) marks the
//! database down: from then on every statement fails at once with
//! [`StoreError::Unavailable`](crate::StoreError::Unavailable) instead of waiting for the pool's
//! acquire timeout, so that each request during an outage is answered within milliseconds and
//! holds no task or connection slot. A probe then opens a fresh connection every
//! [`PROBE_INTERVAL`] (outside the pool, so a busy pool never looks like an outage to it) and
//! marks the database up as soon as one answers. Connections opened before that moment are
//! never used again ([`Recovery`]): a database that restarted has ended them all, and each would
//! otherwise fail its next statement (Postgres's 57P01 `admin_shutdown`, queued on every
//! connection a fast shutdown closed) and mark the database down once more.
//!
//! Errors the database answers with (a constraint, a bad value) say nothing about its reach and
//! never mark it down; nor do transient ones (a lock timeout, a serialization failure), which
//! are still [`StoreError::Unavailable`](crate::StoreError::Unavailable) to the caller.
//! Statements inside a transaction run on its connection: their errors are not watched, but the
//! transaction's start is, and a broken connection fails them quickly anyway.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt as _, StreamExt as _, TryFutureExt as _, TryStreamExt as _};
use sqlx::{ConnectOptions as _, Connection as _, Database, Either, Execute, Executor, Pool};

/// How often the probe tries to reach a database marked down.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How long the probe waits for a connection and its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The message of the error every statement fails with while the database is down.
const DOWN: &str = "the database is unreachable (failing fast until it answers again)";

/// What a database error says about the database.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Class {
    /// A uniqueness rule refused the change (a concurrent writer won).
    Conflict,
    /// The database cannot be reached: it is marked down.
    Outage,
    /// The database is there but could not do it now (locked, busy, a serialization failure):
    /// trying again may work.
    Transient,
    /// The database refused the statement itself: trying again will not help.
    Failure,
}

/// Classifies a sqlx error.
pub(crate) fn classify(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Outage,
        sqlx::Error::Database(db) if db.is_unique_violation() => Class::Conflict,
        sqlx::Error::Database(db) => db
            .code()
            .map_or(Class::Failure, |code| database_code(&code)),
        _ => Class::Failure,
    }
}

/// Classifies a database's error code: a Postgres SQLSTATE (five characters), or an SQLite
/// (extended) result code (a number below 10,000).
fn database_code(code: &str) -> Class {
    if code.len() < 5
        && let Ok(sqlite) = code.parse::<i64>()
    {
        return match sqlite & 0xff {
            // SQLITE_IOERR, SQLITE_CANTOPEN: the file cannot be used.
            10 | 14 => Class::Outage,
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL.
            5 | 6 | 13 => Class::Transient,
            _ => Class::Failure,
        };
    }
    match code {
        // Class 08 connection exception; admin_shutdown, crash_shutdown, cannot_connect_now;
        // too_many_connections.
        c if c.starts_with("08") => Class::Outage,
        "57P01" | "57P02" | "57P03" | "53300" => Class::Outage,
        // serialization_failure, deadlock_detected, lock_not_available, insufficient resources.
        "40001" | "40P01" | "55P03" => Class::Transient,
        c if c.starts_with("53") => Class::Transient,
        _ => Class::Failure,
    }
}

/// Tries to reach the database on a connection of its own.
type Probe = Box<dyn Fn() -> BoxFuture<'static, Result<(), sqlx::Error>> + Send + Sync>;

/// When the database last came back after an outage: connections opened before then are stale.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// The clock's origin.
    start: Instant,
    /// Milliseconds from `start` to the last recovery, plus one; 0 while there was none.
    at: AtomicU64,
}

impl Recovery {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            at: AtomicU64::new(0),
        })
    }

    /// Records that the database answers again, now.
    fn mark(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.at.store(ms + 1, Ordering::Release);
    }

    /// Whether a connection opened `age` ago was opened before the last recovery (and is stale).
    pub(crate) fn predates(&self, age: Duration) -> bool {
        match self.at.load(Ordering::Acquire) {
            0 => false,
            at => {
                let recovered = Duration::from_millis(at - 1);
                age > self.start.elapsed().saturating_sub(recovered)
            }
        }
    }
}

/// Whether the database is marked down, shared by every pool on one database.
pub(crate) struct Health {
    down: AtomicBool,
    probing: AtomicBool,
    probe: Probe,
    recovery: Arc<Recovery>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Health {
    /// The health of the database that `pool` connects to (the probe uses its options); each
    /// recovery is recorded in `recovery`.
    pub(crate) fn of<DB: Database>(pool: &Pool<DB>, recovery: Arc<Recovery>) -> Arc<Self> {
        let options = pool.connect_options();
        let probe: Probe = Box::new(move || {
            let options = Arc::clone(&options);
            async move {
                let mut connection = options.connect().await?;
                connection.ping().await?;
                connection.close().await
            }
            .boxed()
        });
        Arc::new(Self {
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            probe,
            recovery,
        })
    }

    /// Whether the database is marked down.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Looks at the error a statement ended with: an outage marks the database down and starts
    /// the probe.
    pub(crate) fn observe(self: &Arc<Self>, e: &sqlx::Error) {
        if classify(e) != Class::Outage {
            return;
        }
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, "database unreachable: requests fail fast until it answers again");
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to probe from (never the case inside the server): stay up.
            self.down.store(false, Ordering::Release);
            self.probing.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(probe_until_up(Arc::downgrade(self)));
    }
}

/// Probes every [`PROBE_INTERVAL`] until the database answers, then marks it up. Ends early when
/// the store is gone.
async fn probe_until_up(health: Weak<Health>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(health) = health.upgrade() else {
            return;
        };
        let answered = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, (health.probe)()).await,
            Ok(Ok(()))
        );
        if answered {
            health.recovery.mark();
            health.probing.store(false, Ordering::Release);
            health.down.store(false, Ordering::Release);
            tracing::warn!("database reachable again");
            return;
        }
    }
}

/// The error every statement fails with while the database is down.
pub(crate) fn down() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotConnected, DOWN))
}

/// A sqlx pool whose statements fail fast while its database is marked down (see the module).
/// `&GuardedPool` is an [`Executor`] like `&Pool`, so the backends' statements run on it
/// unchanged.
pub(crate) struct GuardedPool<DB: Database> {
    pool: Pool<DB>,
    health: Arc<Health>,
}

impl<DB: Database> Clone for GuardedPool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            health: Arc::clone(&self.health),
        }
    }
}

impl<DB: Database> fmt::Debug for GuardedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedPool")
            .field("pool", &self.pool)
            .field("health", &self.health)
            .finish()
    }
}

impl<DB: Database> GuardedPool<DB> {
    /// `pool`, failing fast while `health` says its database is down.
    pub(crate) fn new(pool: Pool<DB>, health: Arc<Health>) -> Self {
        Self { pool, health }
    }

    /// The pool itself, for what is not a statement (running migrations).
    pub(crate) fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Starts a transaction, failing fast while the database is down.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        if self.health.is_down() {
            return Err(down());
        }
        let health = Arc::clone(&self.health);
        self.pool.begin().inspect_err(|e| health.observe(e)).await
    }
}

impl<'p, DB: Database> Executor<'p> for &'_ GuardedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Self::Database>,
    {
        if self.health.is_down() {
            return futures_util::stream::once(async { Err(down()) }).boxed();
        }
        let health = Arc::clone(&self.health);
        self.pool
            .fetch_many(query)
            .inspect_err(move |e| health.observe(e))
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Self::Database>,
    {
        if self.health.is_down() {
            return async { Err(down()) }.boxed();
        }
        let health = Arc::clone(&self.health);
        self.pool
            .fetch_optional(query)
            .inspect_err(move |e| health.observe(e))
            .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [<Self::Database as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<Self::Database as Database>::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        if self.health.is_down() {
            return async { Err(down()) }.boxed();
        }
        let health = Arc::clone(&self.health);
        self.pool
            .prepare_with(sql, parameters)
            .inspect_err(move |e| health.observe(e))
            .boxed()
    }

    // Required by sqlx's `offline` feature, which its `macros` feature turns on; only the query
    // macros call it, and Portcullis does not use them.
    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_codes_are_classified() {
        for (code, class) in [
            ("08006", Class::Outage),
            ("57P01", Class::Outage),
            ("53300", Class::Outage),
            ("40001", Class::Transient),
            ("53200", Class::Transient),
            ("22021", Class::Failure),
            ("23503", Class::Failure),
            ("5", Class::Transient),
            ("517", Class::Transient),
            ("10", Class::Outage),
            ("1", Class::Failure),
        ] {
            assert_eq!(database_code(code), class, "{code}");
        }
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Class::Outage);
        assert_eq!(classify(&down()), Class::Outage);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Class::Failure);
    }

    #[test]
    fn only_connections_opened_before_the_last_recovery_are_stale() {
        let recovery = Recovery::new();
        assert!(
            !recovery.predates(Duration::from_secs(3600)),
            "no outage yet"
        );
        std::thread::sleep(Duration::from_millis(30));
        recovery.mark();
        assert!(
            recovery.predates(Duration::from_millis(25)),
            "opened before"
        );
        assert!(!recovery.predates(Duration::ZERO), "opened after");
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !recovery.predates(Duration::from_millis(20)),
            "opened after"
        );
        assert!(
            recovery.predates(Duration::from_millis(40)),
            "opened before"
        );
    }
}

//! The token path's writes, batched: spent `jti`s and access token rows.
//!
//! Under load many token requests are in flight at once, and each used to send its own
//! statements, each its own round trip and commit. Here a few writer tasks per process each own
//! one connection (outside the pool, so no ping before or after each statement) and take what is
//! queued when they are free: up to [`MAX_BATCH`](crate::lanes::MAX_BATCH) operations, written
//! in one round trip and one commit (one statement on Postgres, one transaction on SQLite). Each waiter is answered from the
//! result for its own operation. Decision record 0015; the queue and its tasks are a
//! [`Lane`] ([`crate::lanes`]), as for the batched reads and revocations.
//!
//! What does not change:
//! - a `jti` is spent exactly once across processes: the database's primary key still decides
//!   (`ON CONFLICT DO NOTHING`, and the keys that came back are the fresh ones); inside one batch
//!   the first occurrence of a key goes to the database and later ones are replays, decided here
//!   before the statement is sent;
//! - each operation has its own fate: when a batch fails for a reason other than an outage (a
//!   token row its client no longer allows, say), its operations are written again one by one,
//!   so one bad row fails only its own request;
//! - an outage fails every waiter at once with [`StoreError::Unavailable`], and the database is
//!   marked down as for any other statement (`health`);
//! - the queue is bounded: when it is full the request fails with
//!   [`StoreError::Unavailable`] (a 503) instead of waiting without bound.

use std::collections::HashSet;
use std::sync::Arc;

use crate::health::Health;
use crate::lanes::{Handler, Lane};
use crate::{JtiUse, StoreError};

/// An access token row as written.
#[derive(Clone, Debug)]
pub(crate) struct TokenRow {
    pub(crate) token_hash: Vec<u8>,
    pub(crate) jti: String,
    pub(crate) client_id: String,
    pub(crate) subject: String,
    pub(crate) scope: String,
    pub(crate) audience: String,
    pub(crate) cnf_jkt: Option<String>,
    pub(crate) cnf_x5t: Option<String>,
    pub(crate) format: String,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) grant_id: Option<String>,
}

/// A spent `jti`: its key hash and when it may be forgotten.
#[derive(Clone, Debug)]
pub(crate) struct JtiRow {
    pub(crate) key: Vec<u8>,
    pub(crate) expires_at: i64,
}

/// One batch as the database sees it: distinct `jti` keys and token rows.
pub(crate) struct Batch<'a> {
    pub(crate) jtis: Vec<&'a JtiRow>,
    pub(crate) tokens: Vec<&'a TokenRow>,
}

/// Writes a batch in one round trip and one commit; returns the `jti` keys that were fresh.
#[async_trait::async_trait]
pub(crate) trait Sink: Send + 'static {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<HashSet<Vec<u8>>, sqlx::Error>;
}

pub(crate) enum Op {
    Jti(JtiRow),
    Token(Box<TokenRow>),
}

/// What an operation's waiter is told: a `jti`'s use, or that the token row is stored.
#[derive(Debug)]
pub(crate) enum Done {
    Jti(JtiUse),
    Token,
}

/// A writer task's sink as a lane's handler: a batch of operations in one write.
struct Writing(Box<dyn Sink>);

#[async_trait::async_trait]
impl Handler for Writing {
    type Item = Op;
    type Answer = Done;

    async fn handle(&mut self, ops: &[Op]) -> Result<Vec<Done>, sqlx::Error> {
        let fresh = self.0.write(&batch_of(ops)).await?;
        Ok(answers(ops, &fresh))
    }
}

/// The handle requests queue their writes on; cloned into every store handle.
#[derive(Clone, Debug)]
pub(crate) struct Writer(Lane<Writing>);

impl Writer {
    /// Starts one writer task per sink, sharing one queue. Needs a tokio runtime.
    pub(crate) fn start(sinks: Vec<Box<dyn Sink>>, health: Arc<Health>) -> Self {
        Self(Lane::start(
            sinks.into_iter().map(Writing).collect(),
            health,
        ))
    }

    /// Spends `key` until `expires_at`.
    pub(crate) async fn record_jti(
        &self,
        key: Vec<u8>,
        expires_at: i64,
    ) -> Result<JtiUse, StoreError> {
        match self.0.submit(Op::Jti(JtiRow { key, expires_at })).await? {
            Done::Jti(used) => Ok(used),
            Done::Token => Err(StoreError::Corrupt("writer answered a jti with a token")),
        }
    }

    /// Stores an access token row.
    pub(crate) async fn insert_access_token(&self, row: TokenRow) -> Result<(), StoreError> {
        match self.0.submit(Op::Token(Box::new(row))).await? {
            Done::Token => Ok(()),
            Done::Jti(_) => Err(StoreError::Corrupt("writer answered a token with a jti")),
        }
    }
}

/// The rows `ops` write: each `jti` key once (its first occurrence), every token row.
fn batch_of(ops: &[Op]) -> Batch<'_> {
    let mut seen = HashSet::new();
    let mut batch = Batch {
        jtis: Vec::new(),
        tokens: Vec::new(),
    };
    for op in ops {
        match op {
            Op::Jti(row) => {
                if seen.insert(row.key.as_slice()) {
                    batch.jtis.push(row);
                }
            }
            Op::Token(row) => batch.tokens.push(row),
        }
    }
    batch
}

/// Each operation's answer once its batch is written: a `jti` is fresh if the database took it
/// and no earlier operation of the batch had the same key.
fn answers(ops: &[Op], fresh: &HashSet<Vec<u8>>) -> Vec<Done> {
    let mut taken: HashSet<&[u8]> = HashSet::new();
    ops.iter()
        .map(|op| match op {
            Op::Jti(row) => {
                let first = taken.insert(row.key.as_slice());
                Done::Jti(if first && fresh.contains(&row.key) {
                    JtiUse::Fresh
                } else {
                    JtiUse::Replayed
                })
            }
            Op::Token(_) => Done::Token,
        })
        .collect()
}

/// Writes `ops` as one batch (as a writer would after taking them from the queue) and returns
/// each one's answer: `Some` use for a `jti`, `None` for a stored token.
#[cfg(test)]
pub(crate) async fn write_ops(
    sink: Box<dyn Sink>,
    health: &Arc<Health>,
    ops: Vec<Op>,
) -> (Box<dyn Sink>, Vec<Result<Option<JtiUse>, String>>) {
    let mut writing = Writing(sink);
    let results = crate::lanes::handle(&mut writing, health, &ops)
        .await
        .into_iter()
        .map(|answer| match answer {
            Ok(Done::Jti(used)) => Ok(Some(used)),
            Ok(Done::Token) => Ok(None),
            Err(e) => Err(e.to_string()),
        })
        .collect();
    (writing.0, results)
}

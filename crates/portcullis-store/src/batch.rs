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
use crate::lanes::{Gather, Handler, Home, Lane};
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

impl From<&crate::Spend> for JtiRow {
    fn from(spend: &crate::Spend) -> Self {
        Self {
            key: spend.key.as_bytes().to_vec(),
            expires_at: spend.expires_at.unix(),
        }
    }
}

/// One batch as the database sees it: distinct `jti` keys and token rows, each row with the keys
/// it needs (it is written only if every one of them is fresh in this same write).
pub(crate) struct Batch<'a> {
    pub(crate) jtis: Vec<&'a JtiRow>,
    pub(crate) tokens: Vec<BatchToken<'a>>,
}

/// A token row of a batch and the `jti` keys that must all be fresh for it to be written.
pub(crate) struct BatchToken<'a> {
    pub(crate) row: &'a TokenRow,
    pub(crate) needs: Vec<&'a [u8]>,
}

/// Writes a batch in one round trip and one commit; returns the `jti` keys that were fresh.
#[async_trait::async_trait]
pub(crate) trait Sink: Send + 'static {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<HashSet<Vec<u8>>, sqlx::Error>;
}

pub(crate) enum Op {
    Jti(JtiRow),
    /// A token row, written only if each of `spends` is fresh, spent by this same operation:
    /// the request's own single-use values (its assertion's `jti`, its DPoP proof's) and its
    /// token in one write, so that a replay never leaves a token row behind.
    Token {
        spends: Vec<JtiRow>,
        row: Box<TokenRow>,
    },
}

/// What an operation's waiter is told: a `jti`'s use, or each spend's use for a token row (the
/// row is stored exactly when all of them are fresh).
#[derive(Debug)]
pub(crate) enum Done {
    Jti(JtiUse),
    Token(Vec<JtiUse>),
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
    pub(crate) fn start(sinks: Vec<Box<dyn Sink>>, health: Arc<Health>, gather: Gather) -> Self {
        Self(Lane::start(
            sinks.into_iter().map(Writing).collect(),
            health,
            gather,
            Home::Runtime,
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
            Done::Token(_) => Err(StoreError::Corrupt("writer answered a jti with a token")),
        }
    }

    /// Spends each of `spends` and stores the token row only if every one was fresh; answers
    /// each spend's use, in order. With no spends the row is simply stored.
    pub(crate) async fn issue(
        &self,
        row: TokenRow,
        spends: Vec<JtiRow>,
    ) -> Result<Vec<JtiUse>, StoreError> {
        let count = spends.len();
        match self
            .0
            .submit(Op::Token {
                spends,
                row: Box::new(row),
            })
            .await?
        {
            Done::Token(used) if used.len() == count => Ok(used),
            Done::Token(_) => Err(StoreError::Corrupt("writer miscounted a token's spends")),
            Done::Jti(_) => Err(StoreError::Corrupt("writer answered a token with a jti")),
        }
    }
}

/// The rows `ops` write: each `jti` key once (its first occurrence), and every token row whose
/// spends are all first occurrences (one that repeats a key spent earlier in the batch is a
/// replay already: it is not sent).
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
            Op::Token { spends, row } => {
                let mut first = true;
                for spend in spends {
                    if seen.insert(spend.key.as_slice()) {
                        batch.jtis.push(spend);
                    } else {
                        first = false;
                    }
                }
                if first {
                    batch.tokens.push(BatchToken {
                        row,
                        needs: spends.iter().map(|s| s.key.as_slice()).collect(),
                    });
                }
            }
        }
    }
    batch
}

/// Each operation's answer once its batch is written: a `jti` is fresh if the database took it
/// and no earlier operation of the batch (nor an earlier spend of the same one) had the same key.
fn answers<'a>(ops: &'a [Op], fresh: &HashSet<Vec<u8>>) -> Vec<Done> {
    let mut taken: HashSet<&'a [u8]> = HashSet::new();
    let mut used = |row: &'a JtiRow| {
        let first = taken.insert(row.key.as_slice());
        if first && fresh.contains(&row.key) {
            JtiUse::Fresh
        } else {
            JtiUse::Replayed
        }
    };
    ops.iter()
        .map(|op| match op {
            Op::Jti(row) => Done::Jti(used(row)),
            Op::Token { spends, .. } => Done::Token(spends.iter().map(&mut used).collect()),
        })
        .collect()
}

/// Writes `ops` as one batch (as a writer would after taking them from the queue) and returns
/// each one's answer: `Some` use for a `jti`, `None` for a token without spends, and for a
/// token with spends the use of its last one.
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
            Ok(Done::Token(mut used)) => Ok(used.pop()),
            Err(e) => Err(e.to_string()),
        })
        .collect();
    (writing.0, results)
}

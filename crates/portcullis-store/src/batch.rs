//! The token path's writes, batched: spent `jti`s and access token rows.
//!
//! Under load many token requests are in flight at once, and each used to send its own
//! statements, each its own round trip and commit. Here a few writer tasks per process each own
//! one connection (outside the pool, so no ping before or after each statement) and take what is
//! queued when they are free: up to [`MAX_BATCH`] operations, written in one round trip and one
//! commit (one statement on Postgres, one transaction on SQLite). Each waiter is answered from the
//! result for its own operation. Decision record 0015.
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

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::health::{self, Class, Health};
use crate::{JtiUse, StoreError};

/// Most operations written in one batch.
pub(crate) const MAX_BATCH: usize = 256;

/// Operations waiting for a writer; beyond this a request fails with a 503.
const QUEUE: usize = 4096;

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

enum Done {
    Jti(JtiUse),
    Token,
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle requests queue their writes on; cloned into every store handle.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    health: Arc<Health>,
}

impl Writer {
    /// Starts one writer task per sink, sharing one queue. Needs a tokio runtime.
    pub(crate) fn start(sinks: Vec<Box<dyn Sink>>, health: Arc<Health>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for sink in sinks {
            tokio::spawn(run(sink, Arc::clone(&receiver), Arc::clone(&health)));
        }
        Self { queue, health }
    }

    /// Spends `key` until `expires_at`.
    pub(crate) async fn record_jti(
        &self,
        key: Vec<u8>,
        expires_at: i64,
    ) -> Result<JtiUse, StoreError> {
        match self.submit(Op::Jti(JtiRow { key, expires_at })).await? {
            Done::Jti(used) => Ok(used),
            Done::Token => Err(StoreError::Corrupt("writer answered a jti with a token")),
        }
    }

    /// Stores an access token row.
    pub(crate) async fn insert_access_token(&self, row: TokenRow) -> Result<(), StoreError> {
        match self.submit(Op::Token(Box::new(row))).await? {
            Done::Token => Ok(()),
            Done::Jti(_) => Err(StoreError::Corrupt("writer answered a token with a jti")),
        }
    }

    async fn submit(&self, op: Op) -> Result<Done, StoreError> {
        if self.health.is_down() {
            return Err(unavailable(&health::down()));
        }
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { op, reply }).map_err(|e| {
            StoreError::Unavailable(match e {
                mpsc::error::TrySendError::Full(_) => "the token writer's queue is full".into(),
                mpsc::error::TrySendError::Closed(_) => "the token writer has stopped".into(),
            })
        })?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the token writer has stopped".into()))?
    }
}

/// One writer: takes what is queued, writes it, answers, until the store is dropped.
async fn run(
    mut sink: Box<dyn Sink>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    health: Arc<Health>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        // Only one writer collects at a time; it lets go before it writes, so the next one
        // collects what arrives meanwhile.
        let received = receiver.lock().await.recv_many(&mut jobs, MAX_BATCH).await;
        if received == 0 {
            return;
        }
        write(sink.as_mut(), &health, &mut jobs).await;
    }
}

/// Writes `jobs` (emptying it) and answers each.
async fn write(sink: &mut dyn Sink, health: &Arc<Health>, jobs: &mut Vec<Job>) {
    if health.is_down() {
        let e = health::down();
        for job in jobs.drain(..) {
            let _ = job.reply.send(Err(unavailable(&e)));
        }
        return;
    }
    match sink.write(&batch_of(jobs)).await {
        Ok(fresh) => answer(jobs, &fresh),
        Err(e) => {
            health.observe(&e);
            if jobs.len() == 1 || health::classify(&e) == Class::Outage {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(unavailable_or_failed(&e)));
                }
                return;
            }
            // One operation may have failed the batch: each gets its own fate.
            let all: Vec<Job> = std::mem::take(jobs);
            for job in all {
                let mut one = vec![job];
                let result = sink.write(&batch_of(&one)).await;
                match result {
                    Ok(fresh) => answer(&mut one, &fresh),
                    Err(e) => {
                        health.observe(&e);
                        for job in one {
                            let _ = job.reply.send(Err(unavailable_or_failed(&e)));
                        }
                    }
                }
            }
        }
    }
}

/// The rows `jobs` write: each `jti` key once (its first occurrence), every token row.
fn batch_of(jobs: &[Job]) -> Batch<'_> {
    let mut seen = HashSet::new();
    let mut batch = Batch {
        jtis: Vec::new(),
        tokens: Vec::new(),
    };
    for job in jobs {
        match &job.op {
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

/// Answers each job of a written batch: a `jti` is fresh if the database took it and no earlier
/// job of the batch had the same key.
fn answer(jobs: &mut Vec<Job>, fresh: &HashSet<Vec<u8>>) {
    let mut taken: HashSet<Vec<u8>> = HashSet::new();
    for job in jobs.drain(..) {
        let done = match job.op {
            Op::Jti(row) => {
                let first = taken.insert(row.key.clone());
                Done::Jti(if first && fresh.contains(&row.key) {
                    JtiUse::Fresh
                } else {
                    JtiUse::Replayed
                })
            }
            Op::Token(_) => Done::Token,
        };
        let _ = job.reply.send(Ok(done));
    }
}

/// Writes `ops` as one batch (as a writer would after taking them from the queue) and returns
/// each one's answer: `Some` use for a `jti`, `None` for a stored token.
#[cfg(test)]
pub(crate) async fn write_ops(
    sink: &mut dyn Sink,
    health: &Arc<Health>,
    ops: Vec<Op>,
) -> Vec<Result<Option<JtiUse>, String>> {
    let (mut jobs, mut answers) = (Vec::new(), Vec::new());
    for op in ops {
        let (reply, answer) = oneshot::channel();
        jobs.push(Job { op, reply });
        answers.push(answer);
    }
    write(sink, health, &mut jobs).await;
    let mut results = Vec::new();
    for answer in answers {
        results.push(match answer.await.expect("every job is answered") {
            Ok(Done::Jti(used)) => Ok(Some(used)),
            Ok(Done::Token) => Ok(None),
            Err(e) => Err(e.to_string()),
        });
    }
    results
}

fn unavailable(e: &sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The error each waiter of a failed write gets, classified as any statement's.
fn unavailable_or_failed(e: &sqlx::Error) -> StoreError {
    match health::classify(e) {
        Class::Conflict => StoreError::Conflict,
        Class::Outage | Class::Transient => StoreError::Unavailable(e.to_string()),
        Class::Failure => StoreError::Failed(e.to_string()),
    }
}

//! Batched statements for the introspection and revocation paths, on Postgres (decision 0018).
//!
//! The same idea as the token path's writer ([`crate::batch`]), for operations that each have one
//! answer of their own: a *lane* is a bounded queue served by tasks that each own one connection
//! (outside the pool: no ping before or after a statement). A free task takes everything queued,
//! up to [`MAX_BATCH`] items, hands them to its [`Handler`] for one round trip (one statement and,
//! for a write, one commit), and answers each waiter from the result, in order.
//!
//! What a lane keeps exact:
//! - each item's answer is its own: a handler returns one answer per item, in the items' order,
//!   and a batch that fails for anything but an outage is handled again one item at a time, so a
//!   refused item fails only its own request;
//! - an outage fails every waiter at once with [`StoreError::Unavailable`] and marks the database
//!   down (`health`), as any other statement would;
//! - the queue is bounded: when it is full the request fails with [`StoreError::Unavailable`] (a
//!   503) instead of waiting without bound.

use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::StoreError;
use crate::health::{self, Class, Health};

/// Most items handled in one round trip.
pub(crate) const MAX_BATCH: usize = 256;

/// Items waiting for a task; beyond this a request fails with a 503.
const QUEUE: usize = 4096;

/// Does one batch of items in one round trip.
#[async_trait::async_trait]
pub(crate) trait Handler: Send + 'static {
    type Item: Send + Sync + 'static;
    type Answer: Send + 'static;

    /// One answer per item of `items`, in their order.
    async fn handle(&mut self, items: &[Self::Item]) -> Result<Vec<Self::Answer>, sqlx::Error>;
}

struct Job<H: Handler> {
    item: H::Item,
    reply: oneshot::Sender<Result<H::Answer, StoreError>>,
}

/// How a free task collects its next batch.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Gather {
    /// What is queued: the batch leaves at once.
    Queued,
    /// What is queued, then what the requests this worker thread already has runnable queue
    /// when they are let go first (one `yield_now`). Without it, at 16 connections a batch is
    /// mostly what arrived during the previous round trip, and each statement's fixed cost in
    /// Postgres is shared by fewer requests. Measured on the token writer and the reader (which
    /// commit asynchronously), Portcullis alone, three rounds interleaved: batches 4.4 → 6.2
    /// requests (s1o) and 4.0 → 5.4 (s3) at 16 connections, about 10 → 20 and 7 → 17 at 64,
    /// Postgres CPU per request −8 to −25 %, requests/s +7.6 % (s1o) and +5 % (s3) at 16 and
    /// +1 to +7 % at 64. Not for the revoker, whose round trip waits for a WAL flush: there the
    /// later start cost more than the larger batch saved (−21 % at 16 connections).
    AfterYield,
}

/// Where a lane's tasks run.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Home {
    /// On the runtime that starts the lane, among the requests.
    Runtime,
    /// On a thread of their own (named so), with a single-threaded runtime, ending when the lane
    /// does (every handle dropped). A task there is polled as soon as its round trip's answer
    /// arrives, instead of waiting its turn behind the requests queued on the shared runtime's
    /// workers: worth it for the revoker, whose round trips wait for a WAL flush, so that a
    /// quicker turn-around matters more than a larger batch. Measured, Portcullis alone, s4,
    /// three rounds interleaved with the build before: at 16 connections 10,815 / 11,044 /
    /// 10,789 revocations a second against 10,042 / 9,137 / 10,287 (+7.7 % median), a round trip
    /// of 420–470 µs instead of 660–740; at 64 connections 13,203 / 12,802 / 11,898 against
    /// 13,544 / 13,319 / 12,371 (−3.9 %: smaller batches). Not for the writer and the reader:
    /// there the smaller batches cost Postgres more than the quicker turn-around saved (s1o at
    /// 16 connections −12 to −15 %, docs/BENCHMARKS.md).
    Thread(&'static str),
}

impl Home {
    /// Runs `tasks` here. A thread that cannot be started, or a runtime that cannot be built on
    /// it, leaves the tasks on the calling runtime (with a warning): slower, never stopped.
    fn spawn(self, tasks: Vec<BoxFuture<'static, ()>>) {
        let Self::Thread(name) = self else {
            for task in tasks {
                tokio::spawn(task);
            }
            return;
        };
        let shared = tokio::runtime::Handle::current();
        let (hand_over, handed) = std::sync::mpsc::channel::<Vec<BoxFuture<'static, ()>>>();
        let started = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let Ok(tasks) = handed.recv() else { return };
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        runtime.block_on(futures_util::future::join_all(tasks));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, thread = name, "no runtime of its own: lane tasks run on the shared one");
                        for task in tasks {
                            shared.spawn(task);
                        }
                    }
                }
            });
        match started {
            Ok(_) => {
                // The thread waits for exactly this message: it cannot have gone.
                let _ = hand_over.send(tasks);
            }
            Err(e) => {
                tracing::warn!(error = %e, thread = name, "no thread of its own: lane tasks run on the shared one");
                for task in tasks {
                    tokio::spawn(task);
                }
            }
        }
    }
}

/// The handle requests queue their items on; cloned into every store handle.
pub(crate) struct Lane<H: Handler> {
    queue: mpsc::Sender<Job<H>>,
    health: Arc<Health>,
}

impl<H: Handler> Clone for Lane<H> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            health: Arc::clone(&self.health),
        }
    }
}

impl<H: Handler> std::fmt::Debug for Lane<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Lane<H> {
    /// Starts one task per handler, sharing one queue, each collecting as `gather` says, where
    /// `home` says. Needs a tokio runtime.
    pub(crate) fn start(handlers: Vec<H>, health: Arc<Health>, gather: Gather, home: Home) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let tasks = handlers
            .into_iter()
            .map(|handler| run(handler, Arc::clone(&receiver), Arc::clone(&health), gather).boxed())
            .collect();
        home.spawn(tasks);
        Self { queue, health }
    }

    /// Queues `item` and waits for its answer.
    pub(crate) async fn submit(&self, item: H::Item) -> Result<H::Answer, StoreError> {
        if self.health.is_down() {
            return Err(StoreError::Unavailable(health::down().to_string()));
        }
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { item, reply }).map_err(|e| {
            StoreError::Unavailable(match e {
                mpsc::error::TrySendError::Full(_) => "a statement queue is full".into(),
                mpsc::error::TrySendError::Closed(_) => "a statement queue has stopped".into(),
            })
        })?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("a statement queue has stopped".into()))?
    }
}

/// One task: takes what is queued, handles it, answers, until the store is dropped.
async fn run<H: Handler>(
    mut handler: H,
    receiver: Arc<Mutex<mpsc::Receiver<Job<H>>>>,
    health: Arc<Health>,
    gather: Gather,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        // One task collects at a time and lets go before its round trip, so the next one
        // collects what arrives meanwhile.
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                return;
            }
            if gather == Gather::AfterYield && jobs.len() < MAX_BATCH {
                tokio::task::yield_now().await;
                while jobs.len() < MAX_BATCH {
                    let Ok(job) = receiver.try_recv() else { break };
                    jobs.push(job);
                }
            }
        }
        let (items, replies): (Vec<_>, Vec<_>) = jobs.drain(..).map(|j| (j.item, j.reply)).unzip();
        let answers = handle(&mut handler, &health, &items).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

/// One answer per item: the batch in one round trip, or item by item when the batch failed for
/// a reason other than an outage.
pub(crate) async fn handle<H: Handler>(
    handler: &mut H,
    health: &Arc<Health>,
    items: &[H::Item],
) -> Vec<Result<H::Answer, StoreError>> {
    if health.is_down() {
        let e = health::down();
        return items.iter().map(|_| Err(failed(&e))).collect();
    }
    let e = match handler.handle(items).await {
        Ok(answers) if answers.len() == items.len() => {
            return answers.into_iter().map(Ok).collect();
        }
        Ok(_) => return items.iter().map(|_| Err(miscounted())).collect(),
        Err(e) => e,
    };
    health.observe(&e);
    if items.len() == 1 || health::classify(&e) == Class::Outage {
        return items.iter().map(|_| Err(failed(&e))).collect();
    }
    let mut answers = Vec::with_capacity(items.len());
    for one in items.chunks(1) {
        answers.push(match handler.handle(one).await {
            Ok(mut answer) if answer.len() == 1 => Ok(answer.remove(0)),
            Ok(_) => Err(miscounted()),
            Err(e) => {
                health.observe(&e);
                Err(failed(&e))
            }
        });
    }
    answers
}

/// A handler broke its contract of one answer per item.
fn miscounted() -> StoreError {
    StoreError::Corrupt("a batch answered the wrong number of items")
}

/// The error a waiter of a failed batch gets, classified as any statement's (also the token
/// writer's, [`crate::batch`]).
pub(crate) fn failed(e: &sqlx::Error) -> StoreError {
    match health::classify(e) {
        Class::Conflict => StoreError::Conflict,
        Class::Outage | Class::Transient => StoreError::Unavailable(e.to_string()),
        Class::Failure => StoreError::Failed(e.to_string()),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::health::Recovery;

    /// Answers each item with the name of the thread that handled it.
    struct Where;

    #[async_trait::async_trait]
    impl Handler for Where {
        type Item = ();
        type Answer = Option<String>;

        async fn handle(&mut self, items: &[()]) -> Result<Vec<Option<String>>, sqlx::Error> {
            let here = std::thread::current().name().map(str::to_owned);
            Ok(items.iter().map(|()| here.clone()).collect())
        }
    }

    /// This process's threads named `name`.
    fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == name)
            })
            .count()
    }

    /// `Home::Thread`: the lane's items are handled on a thread of that name, and the thread
    /// ends once the lane's last handle is dropped; `Home::Runtime` handles them elsewhere.
    #[tokio::test]
    async fn a_lane_on_a_thread_of_its_own_runs_there_and_the_thread_ends_with_the_lane() {
        let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap();
        let health = Health::of(&pool, Recovery::new());
        let name = "lane-home-test";
        let own = Lane::start(
            vec![Where],
            Arc::clone(&health),
            Gather::Queued,
            Home::Thread(name),
        );
        assert_eq!(own.submit(()).await.unwrap().as_deref(), Some(name));
        assert_eq!(own.clone().submit(()).await.unwrap().as_deref(), Some(name));
        assert_eq!(threads_named(name), 1);
        let shared = Lane::start(vec![Where], health, Gather::Queued, Home::Runtime);
        assert_ne!(shared.submit(()).await.unwrap().as_deref(), Some(name));

        drop(own);
        for _ in 0..500 {
            if threads_named(name) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the lane's thread outlived the lane");
    }
}

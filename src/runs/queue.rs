//! The job queue: apalis with apalis-sqlite in its own file (`.dango/jobs.db`), an explicit
//! queue name, a per-process worker name, a supervised worker and a poll strategy that
//! wakes at once on submit and otherwise re-arms a tokio interval.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::*;
use apalis_sqlite::{Config, SqliteConnectOptions, SqlitePool, SqliteStorage};
use futures::future::BoxFuture;
use futures::task::AtomicWaker;
use serde::{Deserialize, Serialize};

pub const QUEUE_NAME: &str = "dango-runs";
const POLL_INTERVAL: Duration = Duration::from_millis(500);
const CONCURRENT_RUNS: usize = 2;

/// What the queue carries: the id of a `job_runs` row, which holds everything else.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMessage {
    pub run_id: String,
}

#[derive(Default)]
struct WakeupInner {
    pending: AtomicBool,
    waker: AtomicWaker,
}

/// Wakes the worker's poll strategy when a run is submitted in this process.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<WakeupInner>);

impl Wakeup {
    fn wake(&self) {
        self.0.pending.store(true, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

/// Polls when woken by a submit, and on a re-arming interval otherwise (runs submitted
/// by another process, retries).
struct WakeOrTick {
    wakeup: Wakeup,
    interval: tokio::time::Interval,
}

impl PollStrategy for WakeOrTick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _snapshot: &PollSnapshot) -> Poll<Option<()>> {
        self.wakeup.0.waker.register(cx.waker());
        if self.wakeup.0.pending.swap(false, Ordering::SeqCst) {
            return Poll::Ready(Some(()));
        }
        match self.interval.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub struct JobQueue {
    storage: SqliteStorage<RunMessage>,
    wakeup: Wakeup,
    /// This process's executor once its worker runs, for runs that start at once.
    executor: std::sync::OnceLock<Executor>,
    /// Serializes "check for a conflicting run, then create one".
    pub(crate) submit_lock: tokio::sync::Mutex<()>,
}

impl JobQueue {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePool::connect_with(options).await?;
        SqliteStorage::setup(&pool).await?;
        let storage = SqliteStorage::new(&pool).with_config(Config::default().queue(QUEUE_NAME));
        Ok(Self {
            storage,
            wakeup: Wakeup::default(),
            executor: std::sync::OnceLock::new(),
            submit_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Hands a recorded run to the workers.
    pub async fn push(&self, run_id: &str) -> crate::Result<()> {
        let mut storage = self.storage.clone();
        storage
            .push(RunMessage {
                run_id: run_id.to_string(),
            })
            .await
            .map_err(|e| crate::Error::internal(anyhow::anyhow!("queueing run {run_id}: {e}")))?;
        self.wakeup.wake();
        Ok(())
    }

    /// Executes a recorded run at once in this process, beside the queue's runs: a
    /// script waits for nothing and may itself start syncs (which must not wait for its
    /// slot). Refused when this process has no worker.
    pub fn run_now(&self, run_id: &str) -> crate::Result<()> {
        let Some(executor) = self.executor.get() else {
            return Err(crate::Error::internal(anyhow::anyhow!(
                "run {run_id} cannot start: this process executes no runs"
            )));
        };
        tokio::spawn(executor.run(run_id.to_string()));
        Ok(())
    }

    /// Runs the worker until the process ends, restarting it if it ever stops; it hands
    /// each run's id to `execute`.
    pub fn spawn_worker(&self, execute: Executor) {
        let _ = self.executor.set(execute.clone());
        let storage = self.storage.clone();
        let wakeup = self.wakeup.clone();
        tokio::spawn(async move {
            loop {
                // A restarted worker must not reuse a registered name.
                let name = format!(
                    "dango-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                );
                let mut interval = tokio::time::interval(POLL_INTERVAL);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let backend = storage.clone().poll_with_strategy(WakeOrTick {
                    wakeup: wakeup.clone(),
                    interval,
                });
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(backend)
                    .data(execute.clone())
                    .concurrency(CONCURRENT_RUNS)
                    .build(handle_run);
                match worker.run().await {
                    Ok(()) => tracing::warn!("job worker {name} stopped; restarting"),
                    Err(err) => tracing::error!("job worker {name} failed: {err}; restarting"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// Takes a run from queued to its terminal state (`jobs::execute`); never fails.
#[derive(Clone)]
pub struct Executor(Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>);

impl Executor {
    pub fn new(execute: impl Fn(String) -> BoxFuture<'static, ()> + Send + Sync + 'static) -> Self {
        Self(Arc::new(execute))
    }

    fn run(&self, run_id: String) -> BoxFuture<'static, ()> {
        (self.0)(run_id)
    }
}

async fn handle_run(message: RunMessage, execute: Data<Executor>) -> Result<(), BoxDynError> {
    // Made before it is awaited, so the future borrows nothing of the worker's data.
    let run = execute.run(message.run_id);
    run.await;
    Ok(())
}

//! The runs executing in this process and how to stop one: cancelled by someone, or out
//! of time. Stopping interrupts the warehouse statement the run is in (DuckDB rolls its
//! transaction back, so a half-loaded source keeps its previous data) and the run ends
//! `cancelled` or `timeout` with what it finished before kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::RunStatus;
use crate::warehouse::Interrupter;

/// Why a run was stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    Cancelled { by: String },
    TimedOut { after: Duration },
}

impl StopReason {
    /// The terminal status it leads to.
    pub fn status(&self) -> RunStatus {
        match self {
            StopReason::Cancelled { .. } => RunStatus::Cancelled,
            StopReason::TimedOut { .. } => RunStatus::Timeout,
        }
    }

    pub fn message(&self) -> String {
        match self {
            StopReason::Cancelled { by } => format!("Cancelled by {by}"),
            StopReason::TimedOut { after } => {
                format!("Stopped after its time limit of {}", duration_text(*after))
            }
        }
    }
}

fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 60.0 && seconds % 60.0 == 0.0 {
        let minutes = seconds / 60.0;
        format!("{minutes} minute{}", if minutes == 1.0 { "" } else { "s" })
    } else {
        format!("{seconds} s")
    }
}

/// One run's stop switch.
#[derive(Default)]
pub struct RunControl {
    interrupter: Arc<Interrupter>,
    reason: OnceLock<StopReason>,
    stopped: Notify,
}

impl RunControl {
    /// A control nobody else holds (a run the CLI executes without a server).
    pub fn unattended() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// What the run's warehouse work registers its connections with.
    pub fn interrupter(&self) -> &Arc<Interrupter> {
        &self.interrupter
    }

    /// Stops the run; false when it was stopped already (the first reason stands).
    pub fn stop(&self, reason: StopReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        self.interrupter.interrupt();
        self.stopped.notify_waiters();
        first
    }

    pub fn reason(&self) -> Option<&StopReason> {
        self.reason.get()
    }

    /// Resolves once the run is stopped.
    pub async fn stopped(&self) {
        loop {
            let notified = self.stopped.notified();
            if self.reason.get().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Waits for `work`, stopping it at `limit`; once stopped (by the limit or by
    /// someone), interrupts again every 50 ms until the work ends, because an interrupt
    /// that lands between two statements is lost.
    pub async fn supervise<T>(
        &self,
        limit: Option<Duration>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let deadline = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = &mut work => return done,
            _ = deadline => {
                if let Some(after) = limit {
                    self.stop(StopReason::TimedOut { after });
                }
            }
            _ = self.stopped() => {}
        }
        self.interrupter.interrupt_until(work).await
    }
}

/// The runs this process is executing, by id.
#[derive(Default)]
pub struct RunControls {
    running: Mutex<HashMap<String, Arc<RunControl>>>,
}

/// Keeps a run in [`RunControls`] while it executes.
pub struct Registered<'a> {
    controls: &'a RunControls,
    run_id: String,
    control: Arc<RunControl>,
}

impl Registered<'_> {
    pub fn control(&self) -> &Arc<RunControl> {
        &self.control
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.controls
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.run_id);
    }
}

impl RunControls {
    pub fn register(&self, run_id: &str) -> Registered<'_> {
        let control = RunControl::unattended();
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_string(), control.clone());
        Registered {
            controls: self,
            run_id: run_id.to_string(),
            control,
        }
    }

    /// The control of a run executing here.
    pub fn get(&self, run_id: &str) -> Option<Arc<RunControl>> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(run_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limit_stops_work_that_outlives_it() {
        let control = RunControl::unattended();
        let finished = control
            .supervise(Some(Duration::from_millis(20)), async {
                control.stopped().await;
                "stopped"
            })
            .await;
        assert_eq!(finished, "stopped");
        assert_eq!(
            control.reason().map(StopReason::status),
            Some(RunStatus::Timeout)
        );
        assert!(control.interrupter().is_stopped());
    }

    #[tokio::test]
    async fn the_first_reason_stands() {
        let control = RunControl::unattended();
        assert!(control.stop(StopReason::Cancelled { by: "ann".into() }));
        assert!(!control.stop(StopReason::TimedOut {
            after: Duration::from_secs(60)
        }));
        assert_eq!(
            control.reason().map(StopReason::message).as_deref(),
            Some("Cancelled by ann")
        );
        let done = control.supervise(None, async { 7 }).await;
        assert_eq!(done, 7);
    }

    #[test]
    fn registered_runs_leave_the_registry_when_they_end() {
        let controls = RunControls::default();
        {
            let registered = controls.register("r1");
            assert!(controls.get("r1").is_some());
            registered
                .control()
                .stop(StopReason::Cancelled { by: "x".into() });
        }
        assert!(controls.get("r1").is_none());
        assert_eq!(
            StopReason::TimedOut {
                after: Duration::from_secs(120)
            }
            .message(),
            "Stopped after its time limit of 2 minutes"
        );
    }
}

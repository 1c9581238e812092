//! Stopping work that runs on warehouse connections: a query past its deadline, a run
//! that is cancelled or times out. The work registers each connection it uses; stopping
//! interrupts the statement running on every one of them (DuckDB rolls back what that
//! statement's transaction wrote) and refuses connections from then on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use duckdb::{Connection, InterruptHandle};

/// One piece of work's stop switch, shared by the work and whoever may stop it.
#[derive(Default)]
pub struct Interrupter {
    stopped: AtomicBool,
    next_id: AtomicU64,
    /// The connections in use right now.
    handles: Mutex<Vec<(u64, Arc<InterruptHandle>)>>,
}

/// While alive, stopping interrupts the connection it was taken for; dropped when that
/// connection goes back (it may then serve someone else, out of this work's reach).
pub struct Registration {
    interrupter: Arc<Interrupter>,
    id: u64,
}

impl Interrupter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Puts `conn` within reach of [`Interrupter::interrupt`]; `None` once stopped (the work
    /// must not start anything new).
    pub fn register(self: &Arc<Self>, conn: &Connection) -> Option<Registration> {
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock, so a stop cannot slip between the check and the push.
        if self.is_stopped() {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        handles.push((id, conn.interrupt_handle()));
        Some(Registration {
            interrupter: self.clone(),
            id,
        })
    }

    /// Stops the work: interrupts every registered connection's statement. Safe to call
    /// again (an interrupt that lands between two statements is lost, so a stopper that
    /// waits for the work calls this until it ends).
    pub fn interrupt(&self) {
        let handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        self.stopped.store(true, Ordering::Release);
        for (_, handle) in handles.iter() {
            handle.interrupt();
        }
    }

    /// Interrupts, then again every 50 ms, until `work` ends (an interrupt that lands
    /// between two statements is lost); returns what it returned.
    pub async fn interrupt_until<F: std::future::Future>(
        &self,
        mut work: std::pin::Pin<&mut F>,
    ) -> F::Output {
        loop {
            self.interrupt();
            let pause = std::time::Duration::from_millis(50);
            if let Ok(done) = tokio::time::timeout(pause, work.as_mut()).await {
                return done;
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut handles = self
            .interrupter
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        handles.retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a plain thread stands for the stopper
    fn stopping_interrupts_a_running_statement_and_refuses_new_connections() {
        let conn = Connection::open_in_memory().expect("open");
        let interrupter = Interrupter::new();
        let registration = interrupter.register(&conn).expect("not stopped yet");
        let stopper = interrupter.clone();
        let stopping = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            stopper.interrupt();
        });
        let result = conn.query_row(
            "SELECT count(*) FROM range(100000000000) a, range(1000) b",
            [],
            |row| row.get::<_, i64>(0),
        );
        stopping.join().expect("stopper");
        let message = result.expect_err("interrupted").to_string();
        assert!(message.contains("nterrupt"), "{message}");
        drop(registration);
        assert!(interrupter.register(&conn).is_none());
        // The connection itself is fine afterwards.
        let one: i64 = conn
            .query_row("SELECT 1", [], |r| r.get(0))
            .expect("select");
        assert_eq!(one, 1);
    }
}

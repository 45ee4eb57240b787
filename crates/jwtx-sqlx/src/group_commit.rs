//! Group commit of refresh-token rotations (SQLite).
//!
//! Each rotation used to be a transaction of its own, and each commit an fsync
//! (`synchronous=FULL`): concurrent refreshes queued on the one write connection, an fsync
//! apiece. Here rotations that arrive while a batch is being written wait together and go into
//! the next transaction, one after another: each is judged on its session as the ones before it
//! left it (`SqliteStore::rotate_batch`), so each keeps its own atomic judgement (reuse detection and the grace window are
//! exactly those of one rotation at a time), and the batch commits with one fsync. No caller
//! hears of its rotation before the commit that holds it; a failure fails every rotation of
//! the batch, none of which was stored.
//!
//! The batch is written by a task of its own, so a caller that goes away (a client that
//! disconnects) never cancels the others' transaction.

use std::sync::{Mutex, PoisonError};

use jwtx::store::{Rotation, RotationPolicy, StoreError};
use tokio::sync::oneshot;

/// Rotations written in one transaction at most: bounds the time the write lock is held and
/// the work one fsync waits for.
pub(crate) const MAX_BATCH: usize = 64;

/// One rotation waiting for its batch.
pub(crate) struct Job {
    pub(crate) session: String,
    pub(crate) presented_jti: String,
    pub(crate) new_jti: String,
    pub(crate) policy: RotationPolicy,
    answer: oneshot::Sender<Result<Rotation, StoreError>>,
}

impl Job {
    /// A rotation and where its outcome goes.
    pub(crate) fn new(
        session: &str,
        presented_jti: &str,
        new_jti: &str,
        policy: RotationPolicy,
    ) -> (Job, oneshot::Receiver<Result<Rotation, StoreError>>) {
        let (answer, outcome) = oneshot::channel();
        let job = Job {
            session: session.to_owned(),
            presented_jti: presented_jti.to_owned(),
            new_jti: new_jti.to_owned(),
            policy,
            answer,
        };
        (job, outcome)
    }

    /// Tells the caller (who may have gone: then nobody listens).
    pub(crate) fn answer(self, outcome: Result<Rotation, StoreError>) {
        let _ = self.answer.send(outcome);
    }
}

/// The rotations waiting, and whether a writer task is at work.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Job>,
    writing: bool,
}

impl Queue {
    /// Queues `job`; true when no writer is at work, so the caller must start one.
    pub(crate) fn push(&self, job: Job) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.waiting.push(job);
        !std::mem::replace(&mut state.writing, true)
    }

    /// The writer's view of the queue, for the task a [`push`](Self::push) said to start.
    pub(crate) fn writer(&self) -> Writer<'_> {
        Writer {
            queue: self,
            stopped: false,
        }
    }
}

/// The one writer at work. Dropped before the queue ran dry (its task cancelled when the
/// runtime shut down), it fails the rotations still waiting and lets the next
/// [`push`](Queue::push) start another writer, so nothing waits forever.
pub(crate) struct Writer<'a> {
    queue: &'a Queue,
    stopped: bool,
}

impl Writer<'_> {
    /// The next batch, oldest first; `None` when nothing waits, and then the writer stops
    /// (the next [`push`](Queue::push) starts another).
    pub(crate) fn next_batch(&mut self) -> Option<Vec<Job>> {
        let mut state = self
            .queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.waiting.is_empty() {
            state.writing = false;
            self.stopped = true;
            return None;
        }
        let n = state.waiting.len().min(MAX_BATCH);
        Some(state.waiting.drain(..n).collect())
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let waiting = {
            let mut state = self
                .queue
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.writing = false;
            std::mem::take(&mut state.waiting)
        };
        for job in waiting {
            job.answer(Err(writer_gone()));
        }
    }
}

/// What the caller hears when the writer task went away without answering (the runtime shut
/// down): nothing was stored.
pub(crate) fn writer_gone() -> StoreError {
    StoreError::unavailable(
        "rotate: the store's writer stopped before answering; nothing was stored",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: usize) -> (Job, oneshot::Receiver<Result<Rotation, StoreError>>) {
        let policy = RotationPolicy {
            now: 1_000,
            grace: 10,
            idle_timeout: 100,
        };
        Job::new(&format!("s{n}"), "old", "new", policy)
    }

    #[test]
    fn one_writer_at_a_time_in_bounded_batches() {
        let q = Queue::default();
        let (first, _) = job(0);
        assert!(q.push(first), "the first job starts a writer");
        let mut outcomes = Vec::new();
        for n in 1..=MAX_BATCH + 5 {
            let (j, o) = job(n);
            assert!(!q.push(j), "a writer is at work");
            outcomes.push(o);
        }
        let mut writer = q.writer();
        let batch = writer.next_batch().unwrap();
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(batch[0].session, "s0");
        assert_eq!(writer.next_batch().unwrap().len(), 6);
        assert!(writer.next_batch().is_none(), "empty: the writer stops");
        drop(writer);
        let (j, mut later) = job(99);
        assert!(q.push(j), "and the next job starts another");
        assert!(
            later.try_recv().is_err(),
            "a stopped writer's drop fails nothing"
        );
        drop(batch);
        // Dropped without an answer: the caller hears it was not stored.
        let mut first = outcomes.remove(0);
        assert!(first.try_recv().is_err());

        // A writer dropped at work (its task cancelled) fails what waits and frees the queue.
        let writer = q.writer();
        drop(writer);
        assert!(matches!(
            later.try_recv(),
            Ok(Err(StoreError::Unavailable { .. }))
        ));
        let (j, _) = job(100);
        assert!(q.push(j), "a new writer can start");
    }
}

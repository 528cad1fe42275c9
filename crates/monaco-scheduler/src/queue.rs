//! The queue of jobs waiting for a worker.
//!
//! The queue holds the jobs themselves (not just their ids) so that a
//! broker-backed implementation can carry them to workers on other nodes.
//! Pushing never waits: a full queue is refused at once, so a client gets a
//! quick "try again later" instead of a hang. Workers are the only callers of
//! [`JobQueue::pop`]; closing the queue is how they learn to stop.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use monaco_core::ExecutionId;
use monaco_sandbox::SandboxJob;
use tokio::sync::Notify;

/// A job could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// As many jobs as the queue holds are already waiting.
    #[error("the queue is full")]
    Full,
    /// The queue was closed (the scheduler is shutting down).
    #[error("the queue is closed")]
    Closed,
}

/// First-in, first-out storage of jobs waiting for a worker.
pub trait JobQueue: Send + Sync + 'static {
    /// Adds a job at the back, without waiting.
    fn push(&self, job: SandboxJob) -> Result<(), PushError> {
        self.push_all(vec![job])
    }

    /// Adds the jobs at the back in order, all or none: either the queue
    /// has room for every one of them, or it takes none.
    fn push_all(&self, jobs: Vec<SandboxJob>) -> Result<(), PushError>;

    /// Waits for the job at the front; `None` once the queue is closed.
    fn pop(&self) -> impl Future<Output = Option<SandboxJob>> + Send;

    /// Takes a waiting job out of the queue, if it is still there.
    fn remove(&self, id: ExecutionId) -> Option<SandboxJob>;

    /// How many jobs are waiting.
    fn len(&self) -> usize;

    /// Whether no job is waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses further pushes, ends every `pop`, and returns the jobs that
    /// were still waiting, front first.
    fn close(&self) -> Vec<SandboxJob>;
}

/// A bounded in-memory [`JobQueue`] for a single node.
#[derive(Debug)]
pub struct MemoryQueue {
    capacity: usize,
    state: Mutex<QueueState>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<SandboxJob>,
    closed: bool,
}

impl MemoryQueue {
    /// An empty queue that holds at most `capacity` jobs.
    pub fn new(capacity: usize) -> Self {
        MemoryQueue {
            capacity,
            state: Mutex::default(),
            wake: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        // The lock is never held across code that can panic; recover anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl JobQueue for MemoryQueue {
    fn push_all(&self, jobs: Vec<SandboxJob>) -> Result<(), PushError> {
        {
            // One lock for the check and the pushes, so that no other push
            // takes the room in between.
            let mut state = self.state();
            if state.closed {
                return Err(PushError::Closed);
            }
            if jobs.len() > self.capacity.saturating_sub(state.jobs.len()) {
                return Err(PushError::Full);
            }
            if jobs.is_empty() {
                return Ok(());
            }
            state.jobs.extend(jobs);
        }
        // One wake-up is enough: a worker that pops passes the turn on
        // while jobs remain.
        self.wake.notify_one();
        Ok(())
    }

    async fn pop(&self) -> Option<SandboxJob> {
        loop {
            // Register for a wake-up before looking, so that a push between
            // the look and the wait is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                if state.closed {
                    return None;
                }
                if let Some(job) = state.jobs.pop_front() {
                    if !state.jobs.is_empty() {
                        // Pass the turn on: another idle worker may take the next.
                        self.wake.notify_one();
                    }
                    return Some(job);
                }
            }
            notified.await;
        }
    }

    fn remove(&self, id: ExecutionId) -> Option<SandboxJob> {
        let mut state = self.state();
        let at = state.jobs.iter().position(|job| job.id == id)?;
        state.jobs.remove(at)
    }

    fn len(&self) -> usize {
        self.state().jobs.len()
    }

    fn close(&self) -> Vec<SandboxJob> {
        let jobs = {
            let mut state = self.state();
            state.closed = true;
            state.jobs.drain(..).collect()
        };
        self.wake.notify_waiters();
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::job;

    #[tokio::test]
    async fn pops_in_order_and_refuses_beyond_capacity() {
        let q = MemoryQueue::new(2);
        let (a, b) = (ExecutionId::new(), ExecutionId::new());
        q.push(job(a)).unwrap();
        q.push(job(b)).unwrap();
        assert_eq!(q.push(job(ExecutionId::new())), Err(PushError::Full));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().await.map(|j| j.id), Some(a));
        assert_eq!(q.pop().await.map(|j| j.id), Some(b));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn push_all_takes_every_job_or_none() {
        let q = MemoryQueue::new(3);
        let waiting = ExecutionId::new();
        q.push(job(waiting)).unwrap();
        let three = [ExecutionId::new(), ExecutionId::new(), ExecutionId::new()];
        assert_eq!(
            q.push_all(three.iter().map(|&id| job(id)).collect()),
            Err(PushError::Full)
        );
        assert_eq!(q.len(), 1, "nothing of a batch that does not fit is queued");
        q.push_all(three[..2].iter().map(|&id| job(id)).collect())
            .unwrap();
        assert_eq!(q.push(job(ExecutionId::new())), Err(PushError::Full));
        for want in [waiting, three[0], three[1]] {
            assert_eq!(q.pop().await.map(|j| j.id), Some(want));
        }
        q.close();
        assert_eq!(q.push_all(Vec::new()), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn remove_takes_a_job_out_of_the_middle() {
        let q = MemoryQueue::new(3);
        let ids = [ExecutionId::new(), ExecutionId::new(), ExecutionId::new()];
        for id in ids {
            q.push(job(id)).unwrap();
        }
        assert_eq!(q.remove(ids[1]).map(|j| j.id), Some(ids[1]));
        assert!(q.remove(ids[1]).is_none());
        assert_eq!(q.pop().await.map(|j| j.id), Some(ids[0]));
        assert_eq!(q.pop().await.map(|j| j.id), Some(ids[2]));
    }

    #[tokio::test]
    async fn close_returns_waiting_jobs_and_wakes_idle_poppers() {
        let q = std::sync::Arc::new(MemoryQueue::new(3));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await.map(|j| j.id) }
        });
        // Let the waiter go idle, then hand it a job; it must wake up.
        tokio::task::yield_now().await;
        let first = ExecutionId::new();
        q.push(job(first)).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(first));

        let left = ExecutionId::new();
        q.push(job(left)).unwrap();
        let idle = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await.map(|j| j.id) }
        });
        let closed = q.close();
        assert_eq!(closed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![left]);
        // `idle` either took nothing (closed first) or would have taken `left`
        // before the close; the close returned `left`, so it took nothing.
        assert_eq!(idle.await.unwrap(), None);
        assert_eq!(q.push(job(ExecutionId::new())), Err(PushError::Closed));
        assert_eq!(q.pop().await.map(|j| j.id), None);
    }
}

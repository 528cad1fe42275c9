//! The scheduler over the in-memory store: the store contract
//! ([`crate::contract`]), and what only an in-memory store does with time
//! paused (the TTL, the grace period).

use std::future::Future;
use std::pin::Pin;

use super::*;
use crate::contract::*;
use monaco_sandbox::fake::{ok, Act, FakeSandbox, Script};

fn memory(
    fake: Arc<FakeSandbox>,
    config: SchedulerConfig,
) -> Pin<Box<dyn Future<Output = Scheduler<FakeSandbox>>>> {
    Box::pin(async move { Scheduler::new(fake, config) })
}

crate::store_contract!(memory);

#[tokio::test(start_paused = true)]
async fn finished_executions_are_forgotten_after_the_ttl() {
    let fake = Arc::new(FakeSandbox::new());
    let ttl = Duration::from_secs(60);
    let s = Scheduler::new(
        Arc::clone(&fake),
        SchedulerConfig {
            finished_ttl: ttl,
            ..config(1, 10)
        },
    );
    let id = submit(&s, &fake, Script::default()).await;
    assert_eq!(outcome_of(&s, id).await, ok());
    let mut unread = s.events(id, 0).await.unwrap().unwrap();

    tokio::time::sleep(ttl - Duration::from_secs(1)).await;
    assert!(
        s.snapshot(id).await.unwrap().is_some(),
        "kept until the TTL"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        s.snapshot(id).await.unwrap().is_none(),
        "forgotten after the TTL"
    );
    assert!(s.events(id, 0).await.unwrap().is_none());
    assert!(unread.next().await.is_none(), "an open subscription ends");
}

#[tokio::test(start_paused = true)]
async fn shutdown_kills_what_still_runs_after_the_grace_period() {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = Scheduler::new(Arc::clone(&fake), config(2, 10));
    let (_never_opened, blocking) = gated();
    let gated = submit(&s, &fake, blocking).await;
    let echo = submit(&s, &fake, script(vec![Act::Echo])).await;
    assert!(starts.recv().await.is_some());
    assert!(starts.recv().await.is_some());

    // Time is paused: the grace period elapses as soon as everything waits.
    s.shutdown(Duration::from_secs(5)).await;
    for id in [gated, echo] {
        let snap = s.snapshot(id).await.unwrap().unwrap();
        assert_eq!(snap.outcome, Some(ExecutionOutcome::cancelled()));
        assert_eq!(fake.inputs(id), vec![InputCommand::Kill]);
    }
    assert_eq!(s.running().await, 0);
}

/// In memory, shutting down cancels what waits: nobody else would run it
/// (a shared store leaves it for the cluster's other workers).
#[tokio::test]
async fn shutdown_lets_running_executions_finish_within_the_grace_period() {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = Scheduler::new(Arc::clone(&fake), config(1, 10));
    let (gate, blocking) = gated();
    let running = submit(&s, &fake, blocking).await;
    assert_eq!(starts.recv().await, Some(running));
    let queued = submit(&s, &fake, Script::default()).await;

    let shutdown = tokio::spawn({
        let s = s.clone();
        async move { s.shutdown(Duration::from_secs(3600)).await }
    });
    // Shutdown cancels what waits first.
    assert_eq!(outcome_of(&s, queued).await, ExecutionOutcome::cancelled());
    let refused = s.submit(job(ExecutionId::new()), meta()).await;
    assert_eq!(refused, Err(SubmitError::ShuttingDown));

    gate.notify_one();
    shutdown.await.unwrap();
    assert_eq!(outcome_of(&s, running).await, ok());
    assert!(fake.inputs(running).is_empty(), "nothing was killed");
    assert_eq!(s.running().await, 0);
    assert!(starts.try_recv().is_err(), "the queued one never started");
}

//! The scheduler's behaviour against a scripted fake sandbox, written once
//! for every [`ExecutionStore`]: each test takes a [`Maker`] that builds a
//! scheduler over the store under test, and [`store_contract!`] turns them
//! into `#[tokio::test]`s. The in-memory store runs them in this crate's
//! tests; a shared store runs them in its own (`monaco-redis`).
//! (Enabled by the `contract` feature; no containers, no sleeps.) The
//! tests are their names; they and their helpers go undocumented.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use monaco_core::protocol::JobStep;
use monaco_core::{
    ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, Limits, OutputChunk, Status,
    StepKind, Stream, Verdict,
};
use monaco_sandbox::fake::{ok, Act, FakeSandbox, Script, Start};
use monaco_sandbox::{InputCommand, SandboxJob};
use tokio::sync::Notify;

use std::time::Duration;

#[allow(unused_imports)]
use crate::ExecutionStore;
use crate::{
    CancelError, EventSubscription, ExecutionMeta, InputError, Scheduler, SchedulerConfig,
    SubmitError,
};

/// Builds a scheduler over the store under test (a fresh, empty one).
pub type Maker =
    fn(Arc<FakeSandbox>, SchedulerConfig) -> Pin<Box<dyn Future<Output = Scheduler<FakeSandbox>>>>;

/// A job that runs nothing in particular (the fake sandbox ignores it).
pub fn job(id: ExecutionId) -> SandboxJob {
    SandboxJob {
        id,
        language: "fake".into(),
        image: "fake:latest".into(),
        files: Vec::new(),
        compile: None,
        run: JobStep {
            argv: vec!["run".into()],
            env: Vec::new(),
            limits: Limits::default().run,
        },
        tty: false,
        stdin: Vec::new(),
        interactive: true,
        tmp_bytes: 1024,
        cases: None,
        expected: None,
        checker: None,
        separate_checker: None,
    }
}

pub fn finished(outcome: ExecutionOutcome) -> ExecutionEvent {
    ExecutionEvent::Finished(Box::new(outcome))
}

pub fn out(step: StepKind, stream: Stream, data: &[u8]) -> ExecutionEvent {
    ExecutionEvent::Output(OutputChunk {
        step,
        stream,
        data: data.to_vec(),
        case: None,
    })
}

pub fn status(status: Status) -> ExecutionEvent {
    ExecutionEvent::Status { status }
}

pub fn config(workers: usize, queue_capacity: usize) -> SchedulerConfig {
    SchedulerConfig {
        workers,
        queue_capacity,
        ..SchedulerConfig::default()
    }
}

pub fn meta() -> ExecutionMeta {
    ExecutionMeta {
        language: "python".into(),
        code: "print(input())".into(),
        input: "world".into(),
        test_names: Vec::new(),
        owner: None,
    }
}

pub fn gated() -> (Arc<Notify>, Script) {
    let gate = Arc::new(Notify::new());
    let script = Script {
        acts: vec![Act::Gate(Arc::clone(&gate))],
        ..Script::default()
    };
    (gate, script)
}

pub fn script(acts: Vec<Act>) -> Script {
    Script {
        acts,
        ..Script::default()
    }
}

/// Submits a new execution that plays `script`.
pub async fn submit(s: &Scheduler<FakeSandbox>, fake: &FakeSandbox, script: Script) -> ExecutionId {
    let id = ExecutionId::new();
    fake.script(id, script);
    s.submit(job(id), meta()).await.unwrap()
}

/// Every event of a subscription until it ends, checking the indices.
pub async fn drain(mut sub: EventSubscription, first: usize) -> Vec<ExecutionEvent> {
    let mut all = Vec::new();
    while let Some((index, event)) = sub.next().await {
        assert_eq!(index, first + all.len(), "indices are consecutive");
        all.push(event);
    }
    all
}

/// The whole log, once the execution has finished.
pub async fn log_of(s: &Scheduler<FakeSandbox>, id: ExecutionId) -> Vec<ExecutionEvent> {
    drain(s.events(id, 0).await.unwrap().unwrap(), 0).await
}

/// How the execution ended (waits for it).
pub async fn outcome_of(s: &Scheduler<FakeSandbox>, id: ExecutionId) -> ExecutionOutcome {
    match log_of(s, id).await.pop() {
        Some(ExecutionEvent::Finished(outcome)) => *outcome,
        other => panic!("the log ends with {other:?}, not Finished"),
    }
}

/// Reads a live subscription up to the next output event.
pub async fn next_output(sub: &mut EventSubscription) -> Vec<u8> {
    loop {
        match sub.next().await {
            Some((_, ExecutionEvent::Output(chunk))) => return chunk.data,
            Some(_) => {}
            None => panic!("the subscription ended before any output"),
        }
    }
}

pub async fn one_worker_starts_executions_in_submission_order(make: Maker) {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(submit(&s, &fake, Script::default()).await);
    }
    for &id in &ids {
        assert_eq!(outcome_of(&s, id).await, ok());
    }
    let mut started = Vec::new();
    while let Ok(id) = starts.try_recv() {
        started.push(id);
    }
    assert_eq!(started, ids);
}

pub async fn a_full_queue_refuses_and_running_executions_do_not_count(make: Maker) {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = make(Arc::clone(&fake), config(1, 2)).await;
    let (gate, blocking) = gated();
    let running = submit(&s, &fake, blocking).await;
    assert_eq!(starts.recv().await, Some(running));
    assert_eq!(s.running().await, 1);

    let waiting = [
        submit(&s, &fake, Script::default()).await,
        submit(&s, &fake, Script::default()).await,
    ];
    assert_eq!(s.queue_depth().await, 2);
    let refused = ExecutionId::new();
    assert_eq!(
        s.submit(job(refused), meta()).await,
        Err(SubmitError::QueueFull)
    );
    assert!(
        s.snapshot(refused).await.unwrap().is_none(),
        "a refused execution is not kept"
    );

    gate.notify_one();
    for id in [running, waiting[0], waiting[1]] {
        assert_eq!(outcome_of(&s, id).await, ok());
    }
    assert_eq!((s.queue_depth().await, s.running().await), (0, 0));
    let later = submit(&s, &fake, Script::default()).await;
    assert_eq!(outcome_of(&s, later).await, ok());
}

pub async fn a_duplicate_id_is_refused(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let id = submit(&s, &fake, Script::default()).await;
    assert_eq!(
        s.submit(job(id), meta()).await,
        Err(SubmitError::DuplicateId(id))
    );
    assert_eq!(outcome_of(&s, id).await, ok());
}

pub async fn a_batch_is_queued_whole_or_not_at_all(make: Maker) {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = make(Arc::clone(&fake), config(1, 3)).await;
    let (gate, blocking) = gated();
    let running = submit(&s, &fake, blocking).await;
    assert_eq!(starts.recv().await, Some(running));
    let batch = |ids: &[ExecutionId]| ids.iter().map(|&id| (job(id), meta())).collect();

    let four: Vec<_> = (0..4).map(|_| ExecutionId::new()).collect();
    assert_eq!(
        s.submit_all(batch(&four)).await,
        Err(SubmitError::QueueFull)
    );
    let clashing = [ExecutionId::new(), running];
    assert_eq!(
        s.submit_all(batch(&clashing)).await,
        Err(SubmitError::DuplicateId(running))
    );
    assert_eq!(s.queue_depth().await, 0);
    for id in four.iter().chain(&clashing[..1]) {
        assert!(
            s.snapshot(*id).await.unwrap().is_none(),
            "nothing of a refused batch is kept"
        );
    }

    let three = &four[..3];
    assert_eq!(s.submit_all(batch(three)).await, Ok(three.to_vec()));
    assert_eq!(s.queue_depth().await, 3);
    gate.notify_one();
    for &id in [running].iter().chain(three) {
        assert_eq!(outcome_of(&s, id).await, ok());
    }
}

pub async fn a_late_subscriber_replays_the_whole_log_from_any_index(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let acts = vec![
        Act::Emit(ExecutionEvent::StepStarted {
            step: StepKind::Run,
        }),
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"hi\n")),
        Act::Emit(out(StepKind::Run, Stream::Stderr, b"oops\n")),
    ];
    let id = submit(&s, &fake, script(acts)).await;
    let expected = vec![
        status(Status::Queued),
        status(Status::Running),
        ExecutionEvent::StepStarted {
            step: StepKind::Run,
        },
        out(StepKind::Run, Stream::Stdout, b"hi\n"),
        out(StepKind::Run, Stream::Stderr, b"oops\n"),
        status(Status::Completed),
        finished(ok()),
    ];
    assert_eq!(log_of(&s, id).await, expected, "first subscriber");
    // Finished now: everything comes from the replay.
    assert_eq!(log_of(&s, id).await, expected, "late subscriber");
    assert_eq!(
        drain(s.events(id, 3).await.unwrap().unwrap(), 3).await,
        expected[3..]
    );
    assert!(s
        .events(id, 100)
        .await
        .unwrap()
        .unwrap()
        .next()
        .await
        .is_none());
}

pub async fn two_subscribers_both_get_every_event(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let gate = Arc::new(Notify::new());
    let acts = vec![
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"one")),
        Act::Gate(Arc::clone(&gate)),
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"two")),
    ];
    let id = submit(&s, &fake, script(acts)).await;
    let first = tokio::spawn(drain(s.events(id, 0).await.unwrap().unwrap(), 0));
    let second = tokio::spawn(drain(s.events(id, 0).await.unwrap().unwrap(), 0));
    gate.notify_one();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first, second);
    assert_eq!(first.len(), 6, "{first:?}");
    assert_eq!(first[2], out(StepKind::Run, Stream::Stdout, b"one"));
    assert_eq!(first[3], out(StepKind::Run, Stream::Stdout, b"two"));
}

pub async fn a_live_subscriber_gets_events_as_they_happen(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let gate = Arc::new(Notify::new());
    let acts = vec![
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"first")),
        Act::Gate(Arc::clone(&gate)),
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"second")),
    ];
    let id = submit(&s, &fake, script(acts)).await;
    let mut sub = s.events(id, 0).await.unwrap().unwrap();
    assert_eq!(next_output(&mut sub).await, b"first");
    // The job is held at the gate: this output arrived while it runs.
    assert_eq!(s.status(id).await.unwrap(), Some(Status::Running));
    gate.notify_one();
    assert_eq!(next_output(&mut sub).await, b"second");
    assert_eq!(sub.next().await.unwrap().1, status(Status::Completed));
    assert_eq!(sub.next().await.unwrap().1, finished(ok()));
    assert!(sub.next().await.is_none());
}

pub async fn a_waiter_gets_the_result_a_snapshot_shows(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let gate = Arc::new(Notify::new());
    let acts = vec![
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"before")),
        Act::Gate(Arc::clone(&gate)),
        Act::Emit(out(StepKind::Run, Stream::Stderr, b"after")),
    ];
    let id = submit(&s, &fake, script(acts)).await;
    // The waiter starts first; the gate opens once the run has begun.
    let (waited, ()) = tokio::join!(s.wait(id), async {
        let mut sub = s.events(id, 0).await.unwrap().unwrap();
        assert_eq!(next_output(&mut sub).await, b"before");
        gate.notify_one();
    });
    let waited = waited.unwrap().expect("a known execution");
    assert_eq!(waited.status, Status::Completed);
    assert_eq!(waited.outcome, Some(ok()));
    assert_eq!(
        (&waited.stdout[..], &waited.stderr[..]),
        (&b"before"[..], &b"after"[..])
    );
    assert!(waited.started_at.is_some() && waited.completed_at.is_some());
    let snapshot = s.snapshot(id).await.unwrap();
    assert_eq!(Some(&waited), snapshot.as_ref());
    // Finished already: the same at once.
    assert_eq!(s.wait(id).await.unwrap(), snapshot);
    assert_eq!(s.wait(ExecutionId::new()).await.unwrap(), None);
}

pub async fn input_sent_while_queued_is_delivered_in_order_after_the_start(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let (gate, blocking) = gated();
    let first = submit(&s, &fake, blocking).await;
    let echo = submit(&s, &fake, script(vec![Act::Echo])).await;
    assert_eq!(s.status(echo).await.unwrap(), Some(Status::Queued));
    let sent = [
        InputCommand::Bytes(b"a".to_vec()),
        InputCommand::Bytes(b"b".to_vec()),
        InputCommand::Close,
    ];
    for cmd in sent.clone() {
        s.send_input(echo, cmd).await.unwrap();
    }

    gate.notify_one();
    assert_eq!(outcome_of(&s, first).await, ok());
    assert_eq!(outcome_of(&s, echo).await, ok());
    assert_eq!(fake.inputs(echo), sent);
    assert_eq!(s.snapshot(echo).await.unwrap().unwrap().stdout, b"ab");

    let late = InputCommand::Bytes(b"c".to_vec());
    assert_eq!(
        s.send_input(echo, late.clone()).await,
        Err(InputError::Finished)
    );
    let unknown = ExecutionId::new();
    assert_eq!(s.send_input(unknown, late).await, Err(InputError::NotFound));
}

pub async fn cancelling_a_queued_execution_ends_it_before_it_starts(make: Maker) {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let (gate, blocking) = gated();
    let first = submit(&s, &fake, blocking).await;
    assert_eq!(starts.recv().await, Some(first));
    let cancelled = submit(&s, &fake, Script::default()).await;
    assert_eq!(s.queue_depth().await, 1);

    s.cancel(cancelled).await.unwrap();
    assert_eq!(s.queue_depth().await, 0);
    assert_eq!(
        log_of(&s, cancelled).await,
        vec![
            status(Status::Queued),
            status(Status::Failed),
            finished(ExecutionOutcome::cancelled()),
        ]
    );
    let snap = s.snapshot(cancelled).await.unwrap().unwrap();
    assert_eq!(snap.status, Status::Failed);
    assert!(snap.started_at.is_none() && snap.completed_at.is_some());

    gate.notify_one();
    let after = submit(&s, &fake, Script::default()).await;
    assert_eq!(outcome_of(&s, after).await, ok());
    assert_eq!(
        starts.recv().await,
        Some(after),
        "the cancelled one never started"
    );

    assert_eq!(s.cancel(cancelled).await, Err(CancelError::Finished));
    assert_eq!(
        s.cancel(ExecutionId::new()).await,
        Err(CancelError::NotFound)
    );
}

pub async fn cancelling_a_running_execution_kills_it_in_the_sandbox(make: Maker) {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let id = submit(&s, &fake, script(vec![Act::Echo])).await;
    let mut sub = s.events(id, 0).await.unwrap().unwrap();
    assert_eq!(starts.recv().await, Some(id));
    s.send_input(id, InputCommand::Bytes(b"x".to_vec()))
        .await
        .unwrap();
    assert_eq!(next_output(&mut sub).await, b"x");

    s.cancel(id).await.unwrap();
    let outcome = outcome_of(&s, id).await;
    assert_eq!(
        (outcome.status, outcome.verdict),
        (Status::Failed, Verdict::Cancelled)
    );
    assert_eq!(fake.inputs(id).last(), Some(&InputCommand::Kill));
    assert_eq!(s.running().await, 0);
}

pub async fn a_start_error_fails_the_execution_with_its_code(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let failing = Script {
        start: Start::Fail,
        ..Script::default()
    };
    let id = submit(&s, &fake, failing).await;
    let log = log_of(&s, id).await;
    assert_eq!(
        log[..3],
        [
            status(Status::Queued),
            status(Status::Running),
            status(Status::Failed)
        ]
    );
    let ExecutionEvent::Finished(outcome) = &log[3] else {
        panic!("expected Finished, got {:?}", log[3]);
    };
    assert_eq!(outcome.verdict, Verdict::InternalError);
    assert_eq!(outcome.error_code, Some(ErrorCode::DockerUnavailable));
    assert_eq!(s.running().await, 0);
}

pub async fn a_stream_that_ends_without_an_outcome_fails_as_lost(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let acts = vec![
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"partial")),
        Act::Lose,
    ];
    let id = submit(&s, &fake, script(acts)).await;
    let outcome = outcome_of(&s, id).await;
    assert_eq!(outcome.status, Status::Failed);
    assert_eq!(outcome.verdict, Verdict::InternalError);
    assert_eq!(outcome.error_code, Some(ErrorCode::SandboxLost));
    assert_eq!(s.snapshot(id).await.unwrap().unwrap().stdout, b"partial");
}

pub async fn a_panic_fails_the_execution_and_the_worker_goes_on(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let panicking = Script {
        start: Start::Panic,
        ..Script::default()
    };
    let broken = submit(&s, &fake, panicking).await;
    let next = submit(&s, &fake, Script::default()).await;
    let outcome = outcome_of(&s, broken).await;
    assert_eq!(outcome.verdict, Verdict::InternalError);
    assert_eq!(outcome.error_code, Some(ErrorCode::SchedulerPanic));
    assert!(outcome.message.unwrap().contains("the fake sandbox broke"));
    assert_eq!(outcome_of(&s, next).await, ok());
    assert_eq!(s.running().await, 0);
}

pub async fn the_snapshot_collects_output_by_step_and_stream(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(1, 10)).await;
    let runtime_error = ExecutionOutcome {
        status: Verdict::RuntimeError.final_status(),
        verdict: Verdict::RuntimeError,
        ..ok()
    };
    let acts = vec![
        Act::Emit(out(StepKind::Compile, Stream::Stdout, b"c1 ")),
        Act::Emit(out(StepKind::Compile, Stream::Stderr, b"c2")),
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"o1 ")),
        Act::Emit(out(StepKind::Run, Stream::Stderr, b"e")),
        Act::Emit(out(StepKind::Run, Stream::Stdout, b"o2")),
        Act::Finish(runtime_error.clone()),
    ];
    let id = submit(&s, &fake, script(acts)).await;
    assert_eq!(outcome_of(&s, id).await, runtime_error);
    let snap = s.snapshot(id).await.unwrap().unwrap();
    assert_eq!(snap.id, id);
    assert_eq!(snap.meta, meta());
    // A program error is a failed execution (the original's meaning).
    assert_eq!(snap.status, Status::Failed);
    assert_eq!(snap.outcome, Some(runtime_error));
    assert_eq!(snap.compile_output, b"c1 c2");
    assert_eq!(snap.stdout, b"o1 o2");
    assert_eq!(snap.stderr, b"e");
    let (started, completed) = (snap.started_at.unwrap(), snap.completed_at.unwrap());
    assert!(snap.queued_at <= started && started <= completed);
}

pub async fn the_oldest_finished_executions_are_forgotten_beyond_the_maximum(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(
        Arc::clone(&fake),
        SchedulerConfig {
            max_finished: 2,
            ..config(1, 10)
        },
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = submit(&s, &fake, Script::default()).await;
        assert_eq!(outcome_of(&s, id).await, ok());
        ids.push(id);
    }
    // The log closes before the retention counts it: give the store a
    // moment (on a multi-threaded runtime) to forget the oldest.
    for _ in 0..1000 {
        if s.snapshot(ids[0]).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(s.snapshot(ids[0]).await.unwrap().is_none());
    assert!(s.snapshot(ids[1]).await.unwrap().is_some());
    assert!(s.snapshot(ids[2]).await.unwrap().is_some());
}

pub async fn shutdown_refuses_new_executions(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(2, 10)).await;
    assert!(s.healthy().await);
    s.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        s.submit(job(ExecutionId::new()), meta()).await,
        Err(SubmitError::ShuttingDown)
    );
}

pub async fn under_concurrency_every_execution_finishes_exactly_once(make: Maker) {
    let fake = Arc::new(FakeSandbox::new());
    let s = make(Arc::clone(&fake), config(3, 1000)).await;
    let mut clients = Vec::new();
    for n in 0..200 {
        let echo = n % 2 == 0;
        let script = match n % 8 {
            0 | 2 | 4 | 6 => script(vec![Act::Echo]),
            1 => Script::default(),
            3 => script(vec![Act::Lose]),
            5 => Script {
                start: Start::Fail,
                ..Script::default()
            },
            _ => Script {
                start: Start::Panic,
                ..Script::default()
            },
        };
        let id = submit(&s, &fake, script).await;
        let s = s.clone();
        // Input, then either EOF or a cancel, racing the workers.
        clients.push(tokio::spawn(async move {
            let _ = s.send_input(id, InputCommand::Bytes(b"x".to_vec())).await;
            if echo && n % 4 == 0 {
                let _ = s.send_input(id, InputCommand::Close).await;
            } else {
                let _ = s.cancel(id).await;
            }
            let log = log_of(&s, id).await;
            assert_eq!(log.first(), Some(&status(Status::Queued)));
            let finished_count = log
                .iter()
                .filter(|e| matches!(e, ExecutionEvent::Finished(_)))
                .count();
            assert_eq!(finished_count, 1, "{log:?}");
            let [.., ExecutionEvent::Status { status }, ExecutionEvent::Finished(outcome)] =
                &log[..]
            else {
                panic!("the log does not end with a status and Finished: {log:?}");
            };
            assert_eq!(*status, outcome.status);
            assert!(status.is_final());
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!((s.queue_depth().await, s.running().await), (0, 0));
}

/// Every test of this module as a `#[tokio::test]` over `$make` (a [`Maker`]).
#[macro_export]
macro_rules! store_contract {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn one_worker_starts_executions_in_submission_order() {
            $crate::contract::one_worker_starts_executions_in_submission_order($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_full_queue_refuses_and_running_executions_do_not_count() {
            $crate::contract::a_full_queue_refuses_and_running_executions_do_not_count($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_duplicate_id_is_refused() {
            $crate::contract::a_duplicate_id_is_refused($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_batch_is_queued_whole_or_not_at_all() {
            $crate::contract::a_batch_is_queued_whole_or_not_at_all($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_late_subscriber_replays_the_whole_log_from_any_index() {
            $crate::contract::a_late_subscriber_replays_the_whole_log_from_any_index($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn two_subscribers_both_get_every_event() {
            $crate::contract::two_subscribers_both_get_every_event($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_live_subscriber_gets_events_as_they_happen() {
            $crate::contract::a_live_subscriber_gets_events_as_they_happen($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_waiter_gets_the_result_a_snapshot_shows() {
            $crate::contract::a_waiter_gets_the_result_a_snapshot_shows($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn input_sent_while_queued_is_delivered_in_order_after_the_start() {
            $crate::contract::input_sent_while_queued_is_delivered_in_order_after_the_start($make)
                .await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn cancelling_a_queued_execution_ends_it_before_it_starts() {
            $crate::contract::cancelling_a_queued_execution_ends_it_before_it_starts($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn cancelling_a_running_execution_kills_it_in_the_sandbox() {
            $crate::contract::cancelling_a_running_execution_kills_it_in_the_sandbox($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_start_error_fails_the_execution_with_its_code() {
            $crate::contract::a_start_error_fails_the_execution_with_its_code($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_stream_that_ends_without_an_outcome_fails_as_lost() {
            $crate::contract::a_stream_that_ends_without_an_outcome_fails_as_lost($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_panic_fails_the_execution_and_the_worker_goes_on() {
            $crate::contract::a_panic_fails_the_execution_and_the_worker_goes_on($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_snapshot_collects_output_by_step_and_stream() {
            $crate::contract::the_snapshot_collects_output_by_step_and_stream($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_oldest_finished_executions_are_forgotten_beyond_the_maximum() {
            $crate::contract::the_oldest_finished_executions_are_forgotten_beyond_the_maximum($make)
                .await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn shutdown_refuses_new_executions() {
            $crate::contract::shutdown_refuses_new_executions($make).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn under_concurrency_every_execution_finishes_exactly_once() {
            $crate::contract::under_concurrency_every_execution_finishes_exactly_once($make).await
        }
    };
}

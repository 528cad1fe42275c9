//! The Lua scripts against a real redis-server (`scripts/test-redis.sh`
//! starts one and sets `MONACO_REDIS_URL`; with `MONACO_REQUIRE_REDIS=1` a
//! missing server fails the tests instead of skipping them).

use monaco_redis::{event_entry_id, Changed, Created, Ending, Guard, Keys, Scripts};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

async fn connect() -> Option<ConnectionManager> {
    let Ok(url) = std::env::var("MONACO_REDIS_URL") else {
        assert!(
            std::env::var("MONACO_REQUIRE_REDIS").as_deref() != Ok("1"),
            "MONACO_REQUIRE_REDIS=1 but MONACO_REDIS_URL is not set"
        );
        eprintln!("SKIPPED: no redis-server (set MONACO_REDIS_URL; scripts/test-redis.sh does)");
        return None;
    };
    let client = redis::Client::open(url).expect("a valid MONACO_REDIS_URL");
    Some(
        ConnectionManager::new(client)
            .await
            .expect("redis-server answers"),
    )
}

/// Keys of their own for each test, so tests run side by side.
fn keys(test: &str) -> Keys {
    Keys::new(&format!("test-{test}-{}", std::process::id()))
}

const ENDING: Ending<'static> = Ending {
    status: "completed",
    status_event: r#"{"type":"status","status":"completed"}"#,
    finished_event: r#"{"type":"finished"}"#,
    outcome: r#"{"status":"completed"}"#,
};

async fn log(
    con: &mut ConnectionManager,
    keys: &Keys,
    id: &str,
    from: u64,
) -> Vec<(String, String)> {
    let reply: redis::streams::StreamRangeReply = con
        .xrange(keys.events(id), format!("{from}-0"), "+")
        .await
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|entry| {
            let event: String = entry.get("event").unwrap();
            (entry.id, event)
        })
        .collect()
}

#[tokio::test]
async fn an_execution_goes_queued_running_finished_once() {
    let Some(mut con) = connect().await else {
        return;
    };
    let (keys, s) = (keys("life"), Scripts::default());
    let q = r#"{"type":"status","status":"queued"}"#;
    assert_eq!(
        s.create(&mut con, &keys, "a", "{}", "job-a", 10, q)
            .await
            .unwrap(),
        Created::Queued
    );
    assert_eq!(
        s.create(&mut con, &keys, "a", "{}", "job-a", 10, q)
            .await
            .unwrap(),
        Created::Duplicate
    );
    let queued: u64 = con.get(keys.queued()).await.unwrap();
    assert_eq!(queued, 1);
    let jobs: u64 = con.xlen(keys.jobs()).await.unwrap();
    assert_eq!(jobs, 1, "a duplicate adds no job");

    let epoch = s
        .begin(&mut con, &keys, "a", "w1", "running")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.begin(&mut con, &keys, "a", "w2", "running")
            .await
            .unwrap(),
        None
    );
    let queued: u64 = con.get(keys.queued()).await.unwrap();
    assert_eq!(queued, 0, "a running execution no longer counts as queued");
    assert_eq!(
        s.append(&mut con, &keys, "a", epoch, "out").await.unwrap(),
        Changed::Done(2, vec![])
    );
    assert_eq!(
        s.append(&mut con, &keys, "a", epoch + 1, "x")
            .await
            .unwrap(),
        Changed::Fenced
    );
    assert_eq!(
        s.finish(&mut con, &keys, "a", Guard::Queued, &ENDING, 60, 1, 100)
            .await
            .unwrap(),
        Changed::WrongState,
        "a cancel for queued executions leaves a running one alone"
    );
    assert!(matches!(
        s.finish(
            &mut con,
            &keys,
            "a",
            Guard::Epoch(epoch),
            &ENDING,
            60,
            1,
            100
        )
        .await
        .unwrap(),
        Changed::Done(_, _)
    ));
    assert_eq!(
        s.finish(
            &mut con,
            &keys,
            "a",
            Guard::Epoch(epoch),
            &ENDING,
            60,
            1,
            100
        )
        .await
        .unwrap(),
        Changed::WrongState
    );
    assert_eq!(
        s.append(&mut con, &keys, "a", epoch, "late").await.unwrap(),
        Changed::WrongState
    );

    let all = log(&mut con, &keys, "a", 0).await;
    let ids: Vec<_> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        ids,
        (0..5).map(event_entry_id).collect::<Vec<_>>(),
        "entry ids are the indices"
    );
    assert_eq!(all[2].1, "out");
    assert_eq!(all[4].1, ENDING.finished_event);
    let tail = log(&mut con, &keys, "a", 3).await;
    assert_eq!(tail.len(), 2, "replay from index 3");
    let ttl: i64 = con.ttl(keys.execution("a")).await.unwrap();
    assert!((1..=60).contains(&ttl), "the result expires: {ttl}");
}

#[tokio::test]
async fn capacity_is_cluster_wide_and_cancel_frees_it() {
    let Some(mut con) = connect().await else {
        return;
    };
    let (keys, s) = (keys("cap"), Scripts::default());
    for id in ["a", "b"] {
        assert_eq!(
            s.create(&mut con, &keys, id, "{}", "j", 2, "q")
                .await
                .unwrap(),
            Created::Queued
        );
    }
    assert_eq!(
        s.create(&mut con, &keys, "c", "{}", "j", 2, "q")
            .await
            .unwrap(),
        Created::Full
    );
    assert!(matches!(
        s.finish(&mut con, &keys, "a", Guard::Queued, &ENDING, 60, 1, 100)
            .await
            .unwrap(),
        Changed::Done(_, _)
    ));
    assert_eq!(
        s.begin(&mut con, &keys, "a", "w", "r").await.unwrap(),
        None,
        "a cancelled one never begins"
    );
    assert_eq!(
        s.create(&mut con, &keys, "c", "{}", "j", 2, "q")
            .await
            .unwrap(),
        Created::Queued
    );
}

#[tokio::test]
async fn finished_results_are_bounded_oldest_first() {
    let Some(mut con) = connect().await else {
        return;
    };
    let (keys, s) = (keys("max"), Scripts::default());
    let mut evicted = Vec::new();
    for (t, id) in ["a", "b", "c"].into_iter().enumerate() {
        s.create(&mut con, &keys, id, "{}", "j", 10, "q")
            .await
            .unwrap();
        match s
            .finish(&mut con, &keys, id, Guard::Queued, &ENDING, 60, t as u64, 2)
            .await
            .unwrap()
        {
            Changed::Done(_, gone) => evicted.extend(gone),
            other => panic!("finish: {other:?}"),
        }
    }
    assert_eq!(evicted, vec!["a".to_string()]);
}

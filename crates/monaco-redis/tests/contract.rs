//! The scheduler's store contract (`monaco_scheduler::contract`) over a
//! real Redis: every test the in-memory store passes, the cluster store
//! passes too. `scripts/test-redis.sh` starts a redis-server of its own and
//! sets `MONACO_REDIS_URL`; without it the tests fail and say so. Each
//! scheduler gets keys of its own (a fresh prefix), so the tests run side
//! by side.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use monaco_redis::{RedisConfig, RedisStore};
use monaco_sandbox::fake::FakeSandbox;
use monaco_scheduler::{Scheduler, SchedulerConfig};

fn redis(
    fake: Arc<FakeSandbox>,
    config: SchedulerConfig,
) -> Pin<Box<dyn Future<Output = Scheduler<FakeSandbox>>>> {
    Box::pin(async move {
        let Ok(url) = std::env::var("MONACO_REDIS_URL") else {
            panic!(
                "no redis-server for the cluster store's contract: set MONACO_REDIS_URL \
                 (scripts/test-redis.sh starts one and sets it)"
            );
        };
        let store = RedisStore::connect(RedisConfig {
            url,
            prefix: format!("test-{}", uuid::Uuid::new_v4()),
            instance: "contract".into(),
            queue_capacity: config.queue_capacity,
            finished_ttl: config.finished_ttl,
            max_finished: config.max_finished,
        })
        .await
        .expect("the test's redis-server answers and does not evict");
        store.run_languages(["fake".to_string()]);
        Scheduler::with_store(
            fake,
            &config,
            Arc::new(store),
            monaco_core::observe::no_observer(),
        )
    })
}

monaco_scheduler::store_contract!(redis);

//! The warm pool against a real engine: a warm container serves exactly one
//! job and is destroyed after it, the pool refills, and draining it leaves
//! nothing behind.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::ListContainersOptions;
use monaco_core::Verdict;
use monaco_sandbox::{DockerConfig, PoolConfig};
use support::{docker_or_skip_with, Program};

/// Containers of `instance` that wait in the pool.
async fn warm_of(h: &support::Harness, instance: &str) -> Vec<String> {
    let instance = format!("monaco.instance={instance}");
    let filters = HashMap::from([("label", vec!["monaco.pool=warm", instance.as_str()])]);
    h.sandbox
        .docker()
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        }))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// If the test fails, the runtime that would remove the pool's containers
/// is gone: remove them with the CLI.
struct RemoveInstanceOnPanic(String);

impl Drop for RemoveInstanceOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let filter = format!("label=monaco.instance={}", self.0);
        if let Ok(out) = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
    }
}

#[tokio::test]
async fn warm_containers_serve_one_job_each_and_drain_cleanly() {
    let instance = format!("pool-test-{}", std::process::id());
    let config = DockerConfig {
        instance: instance.clone(),
        pool: PoolConfig {
            max_per_spec: 1,
            max_total: 2,
            ..PoolConfig::default()
        },
        ..support::config()
    };
    let Some(h) = docker_or_skip_with(config).await else {
        return;
    };
    let _cleanup = RemoveInstanceOnPanic(instance.clone());
    // Each run reports whether it sees a mark left by an earlier run, then
    // leaves one in every writable place.
    let code = "import os\n\
        seen = [p for p in ('/tmp/mark', '/work/mark') if os.path.exists(p)]\n\
        print('seen', seen)\n\
        for p in ('/tmp/mark', '/work/mark'):\n    open(p, 'w').write('x')\n";
    let program = Program::new("python", code);
    h.sandbox.prewarm(&program.job());
    eventually("a warm container", async || h.sandbox.warm_ready() == 1).await;
    let first_warm = warm_of(&h, &instance).await;

    for round in 0..3 {
        let run = h.run(&program).await;
        assert_eq!(
            run.outcome.verdict,
            Verdict::Ok,
            "round {round}: {}",
            run.stderr_text()
        );
        assert_eq!(
            run.stdout_text(),
            "seen []\n",
            "round {round}: a container was reused"
        );
        // The pool refills with a new container, never the used one.
        eventually(
            &format!("the pool to refill after round {round}"),
            async || {
                let now = warm_of(&h, &instance).await;
                h.sandbox.warm_ready() == 1 && now.len() == 1 && now != first_warm
            },
        )
        .await;
    }
    // The warm container that served round 0 is gone.
    assert!(!warm_of(&h, &instance).await.contains(&first_warm[0]));

    h.sandbox.drain_pool().await;
    assert_eq!(h.sandbox.warm_containers(), 0);
    assert!(
        warm_of(&h, &instance).await.is_empty(),
        "drained pool left containers"
    );
    h.finish().await;
}

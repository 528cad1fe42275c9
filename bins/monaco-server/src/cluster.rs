//! A node of a cluster: the executions live in Redis (`MONACO_BROKER_URL`),
//! and the node's role says whether it accepts them, runs them, or both.

use std::sync::Arc;
use std::time::Duration;

use monaco_executor::{DockerSandbox, Executor, ExecutorBuilder, Sandbox};
use monaco_redis::{RedisConfig, RedisStore};
use monaco_sandbox::{ActiveExecution, SandboxError, SandboxJob};

use crate::settings::Settings;

type Error = Box<dyn std::error::Error>;

async fn store(settings: &Settings) -> Result<Arc<RedisStore>, Error> {
    let url = settings
        .broker_url
        .as_ref()
        .map(|u| u.0.clone())
        .ok_or("MONACO_BROKER_URL is not set")?;
    let store = RedisStore::connect(RedisConfig {
        url,
        prefix: "monaco".into(),
        instance: settings.instance.clone(),
        queue_capacity: settings.queue_capacity,
        finished_ttl: Duration::from_secs(settings.result_ttl),
        max_finished: settings.max_results,
    })
    .await?;
    Ok(Arc::new(store))
}

/// A node that runs the cluster's executions (role `worker`, or `all` with
/// a broker): its own Docker engine, and only the languages whose images
/// that engine has.
pub async fn worker(
    settings: &Settings,
    builder: ExecutorBuilder,
) -> Result<Executor<DockerSandbox>, Error> {
    let store = store(settings).await?;
    let executor = builder.store(store.clone()).build().await?;
    let mut runs = Vec::new();
    for language in executor.languages() {
        if executor.sandbox().has_image(language.image()).await {
            runs.push(language.id().to_string());
        } else {
            tracing::warn!(
                language = language.id(),
                image = language.image(),
                "image missing: this worker leaves the language's jobs to others"
            );
        }
    }
    if runs.is_empty() {
        return Err(
            "this worker's Docker engine has none of the images languages.toml names".into(),
        );
    }
    tracing::info!(languages = runs.len(), instance = %settings.instance, "worker ready");
    store.run_languages(runs);
    Ok(executor)
}

/// A node that only accepts executions (role `api`): no Docker, no workers.
pub async fn api(
    settings: &Settings,
    builder: ExecutorBuilder,
) -> Result<Executor<NoSandbox>, Error> {
    let store = store(settings).await?;
    Ok(builder
        .store(store)
        .workers(0)
        .build_with(NoSandbox)
        .await?)
}

/// The sandbox of a node that runs nothing: its workers are elsewhere.
pub struct NoSandbox;

impl Sandbox for NoSandbox {
    async fn start(&self, _job: SandboxJob) -> Result<ActiveExecution, SandboxError> {
        // Never called: this node has no workers.
        Err(SandboxError::InvalidJob(
            "this node runs no jobs (MONACO_ROLE=api)".into(),
        ))
    }

    async fn healthy(&self) -> bool {
        true
    }
}
